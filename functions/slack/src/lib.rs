//! Alerts to Slack: the channel posts the alert's Block Kit payload (landfall_core::alerts
//! builds the content, as for every channel).

use async_trait::async_trait;
use landfall_core::alerts::{Alert, Alerts};
use landfall_core::{PipelineError, Result};
use std::time::Duration;

/// A Slack incoming webhook: Block Kit over HTTPS, with a timeout and retries on 429 and 5xx
/// that honour `Retry-After`. The URL is a secret and never appears in errors.
pub struct SlackWebhook {
    url: String,
    client: reqwest::Client,
    max_attempts: u32,
}

impl SlackWebhook {
    pub fn new(url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client builds");
        Self {
            url: url.into(),
            client,
            max_attempts: 4,
        }
    }
}

#[async_trait]
impl Alerts for SlackWebhook {
    fn name(&self) -> &str {
        "slack"
    }
    async fn send(&self, alert: &Alert) -> Result<()> {
        let payload = alert.slack_payload();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self.client.post(&self.url).json(&payload).send().await;
            let retry_after = match res {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    let wait = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(1 << (attempt - 1));
                    if attempt >= self.max_attempts {
                        return Err(PipelineError::transient(format!(
                            "Slack webhook answered {} after {attempt} attempts",
                            r.status()
                        )));
                    }
                    wait.min(30)
                }
                Ok(r) => {
                    return Err(PipelineError::config(format!(
                        "Slack webhook refused the alert: HTTP {}",
                        r.status()
                    )));
                }
                Err(e) => {
                    if attempt >= self.max_attempts {
                        // reqwest's error text includes the URL: leave it out.
                        let kind = if e.is_timeout() {
                            "timed out"
                        } else if e.is_connect() {
                            "could not connect"
                        } else {
                            "request failed"
                        };
                        return Err(PipelineError::transient(format!(
                            "Slack webhook {kind} after {attempt} attempts"
                        )));
                    }
                    1 << (attempt - 1)
                }
            };
            tokio::time::sleep(Duration::from_secs(retry_after)).await;
        }
    }
}
