//! # landfall-lambda
//!
//! What every Landfall Lambda binary shares, so each `main` stays a few lines: JSON logs,
//! configuration from the environment the SAM template sets, and the mapping of a
//! [`PipelineError`] to the runtime's error type — the ASL error name (`Landfall.Transient`, …),
//! which is what the state machine's `ErrorEquals` matches.

use lambda_runtime::Diagnostic;
use landfall_core::PipelineError;
use landfall_core::alerts::redact;

/// JSON logs on stdout (CloudWatch); `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .without_time()
        .init();
}

/// Print the state's CloudWatch EMF line on stdout (CloudWatch Logs extracts the metrics).
pub fn print_emf(
    state: &str,
    result: Result<&serde_json::Value, &PipelineError>,
    duration_ms: u64,
    retries: u32,
    execution: &str,
    batch: &str,
) {
    let m = landfall_core::metrics::for_state(state, result, duration_ms, retries);
    println!(
        "{}",
        landfall_core::metrics::emf_line(
            &environment(),
            &m,
            landfall_core::pipeline::unix_millis(),
            &[("execution", execution), ("batch", batch)]
        )
    );
}

/// A required environment variable, or `Landfall.Config` naming it.
pub fn env(name: &str) -> Result<String, PipelineError> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        PipelineError::config(format!(
            "the environment variable {name} is not set (the SAM template sets it)"
        ))
    })
}

/// `LANDFALL_ENV` (default `dev`).
pub fn environment() -> String {
    std::env::var("LANDFALL_ENV").unwrap_or_else(|_| "dev".into())
}

/// `LANDFALL_SSM_PREFIX` (default `/landfall/<env>/`).
pub fn ssm_prefix() -> String {
    std::env::var("LANDFALL_SSM_PREFIX").unwrap_or_else(|_| format!("/landfall/{}/", environment()))
}

/// An error as the Lambda runtime reports it: the ASL error name as `errorType`, the message
/// (secrets redacted) as `errorMessage`.
#[derive(Debug)]
pub struct LambdaError {
    pub error: PipelineError,
    pub secrets: Vec<String>,
}

impl From<PipelineError> for LambdaError {
    fn from(error: PipelineError) -> Self {
        Self { error, secrets: vec![] }
    }
}

impl From<LambdaError> for Diagnostic {
    fn from(e: LambdaError) -> Self {
        Diagnostic {
            error_type: e.error.name.as_str().to_string(),
            error_message: redact(&e.error.message, &e.secrets),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_is_the_asl_name_and_secrets_are_redacted() {
        let d: Diagnostic = LambdaError {
            error: PipelineError::config("login failed for key s3cr3tkey"),
            secrets: vec!["s3cr3tkey".into()],
        }
        .into();
        assert_eq!(d.error_type, "Landfall.Config");
        assert!(!d.error_message.contains("s3cr3tkey"));
    }
}

pub mod emulator;
pub mod events;
#[cfg(feature = "warehouse")]
pub mod notify;
pub mod project;
pub mod trigger;
#[cfg(feature = "warehouse")]
pub mod warehouse;

/// The Slack channel whose webhook URL is an SSM SecureString, read on the first alert (not at
/// init, so a cold start makes no SSM round trip) and kept for the container's life. Without
/// the parameter, alerts go to the other channels only.
pub struct SlackFromSsm {
    secrets: landfall_aws::ssm::Secrets,
    parameter: &'static str,
    channel: tokio::sync::OnceCell<Option<landfall_slack::SlackWebhook>>,
}

impl SlackFromSsm {
    pub fn new(secrets: landfall_aws::ssm::Secrets, parameter: &'static str) -> Self {
        Self {
            secrets,
            parameter,
            channel: tokio::sync::OnceCell::new(),
        }
    }
}

#[async_trait::async_trait]
impl landfall_core::alerts::Alerts for SlackFromSsm {
    fn name(&self) -> &str {
        "slack"
    }

    async fn send(&self, alert: &landfall_core::alerts::Alert) -> landfall_core::Result<()> {
        let channel = self
            .channel
            .get_or_try_init(|| async {
                match self.secrets.get_optional(self.parameter).await? {
                    Some(url) => Ok::<_, PipelineError>(Some(landfall_slack::SlackWebhook::new(url))),
                    None => {
                        tracing::warn!(parameter = %self.secrets.parameter_name(self.parameter), "no Slack webhook configured: alerts go to SNS only");
                        Ok(None)
                    }
                }
            })
            .await?;
        match channel {
            Some(c) => c.send(alert).await,
            None => Ok(()),
        }
    }
}
