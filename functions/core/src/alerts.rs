//! Alerts: what a failure (or, optionally, a success) tells people, and the channels it goes to.
//!
//! The content is DESIGN.md §7's list, built once here so every channel says the same thing;
//! channels only format and deliver. Causes pass through [`redact`] and are truncated before
//! they leave the process, so a secret that slipped into an error message stops here.

use crate::error::{PipelineError, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Longest cause an alert carries, in characters.
pub const MAX_CAUSE_CHARS: usize = 1500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingTest {
    pub name: String,
    pub failures: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `failed` or `succeeded`.
    pub status: String,
    pub pipeline: String,
    pub environment: String,
    pub batch: String,
    pub execution: String,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub failing_tests: Vec<FailingTest>,
    pub link: Option<String>,
    /// Where the run's report is (a file locally, the S3 console on AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub at: String,
}

impl Alert {
    /// A subject line of at most 100 characters (SNS's limit).
    pub fn subject(&self) -> String {
        let s = match (&self.status[..], &self.error) {
            ("failed", Some(e)) => format!(
                "[{}] {} failed: {} in {}",
                self.environment,
                self.pipeline,
                e,
                self.failed_state.as_deref().unwrap_or("?")
            ),
            _ => format!(
                "[{}] {} {} for batch {}",
                self.environment, self.pipeline, self.status, self.batch
            ),
        };
        truncate(&s, 100)
    }

    /// Plain-text body for e-mail-like channels.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}\npipeline: {}\nenvironment: {}\nbatch: {}\nexecution: {}\n",
            self.subject(),
            self.pipeline,
            self.environment,
            self.batch,
            self.execution
        );
        if let Some(s) = &self.failed_state {
            out += &format!("failed state: {s}\n");
        }
        if let Some(e) = &self.error {
            out += &format!("error: {e}\n");
        }
        if let Some(c) = &self.cause {
            out += &format!("cause: {c}\n");
        }
        if !self.failing_tests.is_empty() {
            out += "failing tests:\n";
            for t in &self.failing_tests {
                out += &format!("  - {} ({} failing rows)\n", t.name, t.failures);
            }
        }
        if let Some(l) = &self.link {
            out += &format!("execution: {l}\n");
        }
        if let Some(r) = &self.report {
            out += &format!("report: {r}\n");
        }
        out
    }

    /// Slack Block Kit payload (with a plain `text` fallback for notifications).
    pub fn slack_payload(&self) -> serde_json::Value {
        let mut fields = vec![
            format!("*Batch*\n{}", self.batch),
            format!("*Environment*\n{}", self.environment),
            format!("*Execution*\n{}", self.execution),
        ];
        if let Some(s) = &self.failed_state {
            fields.push(format!("*Failed state*\n{s}"));
        }
        if let Some(e) = &self.error {
            fields.push(format!("*Error*\n{e}"));
        }
        let mut blocks = vec![
            serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&self.subject(), 150)}}),
            serde_json::json!({"type": "section", "fields": fields.iter().map(|f| serde_json::json!({"type": "mrkdwn", "text": f})).collect::<Vec<_>>()}),
        ];
        if let Some(c) = &self.cause {
            blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Cause*\n```{}```", truncate(c, 2900))}}));
        }
        if !self.failing_tests.is_empty() {
            let list = self
                .failing_tests
                .iter()
                .map(|t| format!("• `{}`: {} failing rows", t.name, t.failures))
                .collect::<Vec<_>>()
                .join("\n");
            blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Failing tests*\n{}", truncate(&list, 2900))}}));
        }
        let mut links = Vec::new();
        if let Some(l) = &self.link {
            links.push(serde_json::json!({"type": "mrkdwn", "text": format!("<{l}|Open the execution>")}));
        }
        if let Some(r) = &self.report {
            links.push(serde_json::json!({"type": "mrkdwn", "text": if r.starts_with("http") { format!("<{r}|Open the run report>") } else { format!("Run report: `{r}`") }}));
        }
        if !links.is_empty() {
            blocks.push(serde_json::json!({"type": "context", "elements": links}));
        }
        serde_json::json!({"text": self.subject(), "blocks": blocks})
    }
}

/// Cut a string to at most `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Remove things that look like secrets: `password=…`, `token: …`, private keys, URLs' userinfo,
/// Slack webhook paths, AWS secret keys, and any literal value passed in `known`.
pub fn redact(text: &str, known: &[String]) -> String {
    let mut out = text.to_string();
    for k in known.iter().filter(|k| k.len() >= 4) {
        out = out.replace(k.as_str(), "[REDACTED]");
    }
    // key=value / key: value for secret-ish keys
    let keys = [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "private_key",
        "privatekey",
        "api_key",
        "apikey",
        "authorization",
    ];
    let lower = out.to_lowercase();
    let mut result = String::with_capacity(out.len());
    let bytes = out.as_bytes();
    let mut i = 0;
    while i < out.len() {
        let mut matched = false;
        for k in keys {
            if lower[i..].starts_with(k) {
                let mut j = i + k.len();
                while j < out.len() && matches!(bytes[j], b' ' | b'"' | b'\'') {
                    j += 1;
                }
                if j < out.len() && matches!(bytes[j], b'=' | b':') {
                    j += 1;
                    while j < out.len() && matches!(bytes[j], b' ' | b'"' | b'\'') {
                        j += 1;
                    }
                    let start = j;
                    while j < out.len() && !matches!(bytes[j], b' ' | b'"' | b'\'' | b',' | b';' | b'&' | b'\n' | b'}')
                    {
                        j += 1;
                    }
                    if j > start {
                        result.push_str(&out[i..start]);
                        result.push_str("[REDACTED]");
                        i = j;
                        matched = true;
                        break;
                    }
                }
            }
        }
        if !matched {
            let ch = out[i..].chars().next().unwrap();
            result.push(ch);
            i += ch.len_utf8();
        }
    }
    let mut out = result;
    // PEM blocks
    while let Some(start) = out.find("-----BEGIN") {
        let end = out[start..]
            .find("-----END")
            .and_then(|e| out[start + e + 8..].find("-----").map(|f| start + e + 8 + f + 5));
        let end = end.unwrap_or(out.len());
        out.replace_range(start..end, "[REDACTED KEY]");
    }
    // userinfo in URLs: scheme://user:pass@host
    let mut from = 0;
    while let Some(p) = out[from..].find("://") {
        let s = from + p + 3;
        let rest = &out[s..];
        let stop = rest.find(|c: char| c == '/' || c.is_whitespace()).unwrap_or(rest.len());
        if let Some(at) = rest[..stop].find('@') {
            out.replace_range(s..s + at, "[REDACTED]");
        }
        from = s;
    }
    // Slack webhook secrets
    if let Some(p) = out.find("hooks.slack.com/services/") {
        let s = p + "hooks.slack.com/services/".len();
        let e = out[s..]
            .find(|c: char| c.is_whitespace() || c == '"')
            .map(|e| s + e)
            .unwrap_or(out.len());
        out.replace_range(s..e, "[REDACTED]");
    }
    out
}

/// A channel that delivers alerts.
#[async_trait]
pub trait Alerts: Send + Sync {
    /// Channel name for logs and errors.
    fn name(&self) -> &str;
    async fn send(&self, alert: &Alert) -> Result<()>;
}

/// Sends to every channel; one failing channel does not stop the others.
pub struct FanOut(pub Vec<Box<dyn Alerts>>);

#[async_trait]
impl Alerts for FanOut {
    fn name(&self) -> &str {
        "fan-out"
    }
    async fn send(&self, alert: &Alert) -> Result<()> {
        send_all(&self.0, None, alert).await
    }
}

/// Where a deployment remembers which alerts each channel has delivered, so a retried or
/// redelivered notify never sends the same alert twice on a channel that already has it.
#[async_trait]
pub trait Ledger: Send + Sync {
    async fn seen(&self, key: &str) -> Result<bool>;
    async fn record(&self, key: &str) -> Result<()>;
}

/// [`FanOut`] with a [`Ledger`]: each channel gets an alert at most once (per execution, status
/// and failed state). When one channel fails, the error makes the state machine retry the
/// notify Task, and the retry sends only to the channels that do not have it yet.
pub struct OncePerChannel<'a> {
    pub channels: Vec<Box<dyn Alerts>>,
    pub ledger: &'a dyn Ledger,
}

impl OncePerChannel<'_> {
    /// `alerts/<execution>/<status>-<failed state>-<channel>`: outside `landing/`.
    pub fn key(alert: &Alert, channel: &str) -> String {
        let clean = |s: &str| {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        };
        format!(
            "alerts/{}/{}-{}-{}",
            clean(&alert.execution),
            clean(&alert.status),
            clean(alert.failed_state.as_deref().unwrap_or("none")),
            clean(channel)
        )
    }
}

#[async_trait]
impl Alerts for OncePerChannel<'_> {
    fn name(&self) -> &str {
        "once-per-channel"
    }
    async fn send(&self, alert: &Alert) -> Result<()> {
        send_all(&self.channels, Some(self.ledger), alert).await
    }
}

/// Send to every channel (skipping, with a ledger, those that have the alert already); one
/// failing channel does not stop the others, and makes the whole a `Transient` error.
async fn send_all(channels: &[Box<dyn Alerts>], ledger: Option<&dyn Ledger>, alert: &Alert) -> Result<()> {
    let mut errors = Vec::new();
    for ch in channels {
        let key = OncePerChannel::key(alert, ch.name());
        if let Some(l) = ledger {
            // A ledger that cannot be read must not cost the alert: send (a duplicate at worst).
            match l.seen(&key).await {
                Ok(true) => {
                    tracing::info!(channel = ch.name(), "alert already delivered on this channel");
                    continue;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(channel = ch.name(), error = %e, "alert ledger unreadable"),
            }
        }
        match ch.send(alert).await {
            Ok(()) => {
                if let Some(l) = ledger
                    && let Err(e) = l.record(&key).await
                {
                    tracing::warn!(channel = ch.name(), error = %e, "alert sent, but not recorded as sent");
                }
            }
            Err(e) => {
                tracing::error!(channel = ch.name(), error = %e, "alert channel failed");
                errors.push(format!("{}: {}", ch.name(), e.message));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::transient(format!(
            "alert delivery failed on {}",
            errors.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A channel that fails its first `fail` sends and counts what it delivered.
    struct Flaky {
        name: &'static str,
        fail: Mutex<u32>,
        delivered: Mutex<u32>,
    }

    #[async_trait]
    impl Alerts for std::sync::Arc<Flaky> {
        fn name(&self) -> &str {
            self.name
        }
        async fn send(&self, _: &Alert) -> Result<()> {
            let mut f = self.fail.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(PipelineError::transient(format!("{} is down", self.name)));
            }
            *self.delivered.lock().unwrap() += 1;
            Ok(())
        }
    }

    #[derive(Default)]
    struct Memory(Mutex<std::collections::BTreeSet<String>>);

    #[async_trait]
    impl Ledger for Memory {
        async fn seen(&self, key: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().contains(key))
        }
        async fn record(&self, key: &str) -> Result<()> {
            self.0.lock().unwrap().insert(key.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_retry_sends_only_where_the_alert_is_missing() {
        let flaky = |name, fail| {
            std::sync::Arc::new(Flaky {
                name,
                fail: Mutex::new(fail),
                delivered: Mutex::new(0),
            })
        };
        let (sns, slack) = (flaky("sns", 0), flaky("slack", 1));
        let ledger = Memory::default();
        let once = OncePerChannel {
            channels: vec![Box::new(sns.clone()), Box::new(slack.clone())],
            ledger: &ledger,
        };
        let alert = Alert {
            status: "failed".into(),
            pipeline: "landfall".into(),
            environment: "test".into(),
            batch: "b1".into(),
            execution: "b1-abc".into(),
            failed_state: Some("CheckFiles".into()),
            error: Some("Landfall.BadInput".into()),
            cause: Some("x".into()),
            failing_tests: vec![],
            link: None,
            report: None,
            at: "now".into(),
        };
        let e = once.send(&alert).await.unwrap_err();
        assert_eq!(e.name, crate::error::ErrorName::Transient);
        assert!(e.message.contains("slack"), "{}", e.message);
        once.send(&alert).await.unwrap();
        once.send(&alert).await.unwrap();
        assert_eq!(*sns.delivered.lock().unwrap(), 1, "SNS had it from the first try");
        assert_eq!(*slack.delivered.lock().unwrap(), 1, "Slack got it on the retry, once");
        assert_eq!(
            OncePerChannel::key(&alert, "sns"),
            "alerts/b1-abc/failed-CheckFiles-sns"
        );
        // Another failed state of the same execution is another alert.
        let other = Alert {
            failed_state: Some("Publish".into()),
            ..alert.clone()
        };
        once.send(&other).await.unwrap();
        assert_eq!(*sns.delivered.lock().unwrap(), 2);
    }

    #[test]
    fn redacts_secret_shapes() {
        let s = "login failed: password=hunter22 token: abc.def user https://bob:pw@host/x key -----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY----- https://hooks.slack.com/services/T0/B0/XYZ";
        let r = redact(s, &["s3cr3t-value".into()]);
        for secret in ["hunter22", "abc.def", "bob:pw", "MIIB", "T0/B0/XYZ"] {
            assert!(!r.contains(secret), "{secret} leaked: {r}");
        }
        assert!(r.contains("login failed"));
        assert_eq!(
            redact("the s3cr3t-value is here", &["s3cr3t-value".into()]),
            "the [REDACTED] is here"
        );
    }

    #[test]
    fn subject_is_at_most_100_chars() {
        let a = Alert {
            status: "failed".into(),
            pipeline: "landfall".into(),
            environment: "dev".into(),
            batch: "b".repeat(200),
            execution: "x".into(),
            failed_state: Some("S".repeat(200)),
            error: Some("Landfall.BadInput".into()),
            cause: None,
            failing_tests: vec![],
            link: None,
            report: None,
            at: "now".into(),
        };
        assert!(a.subject().chars().count() <= 100);
    }
}
