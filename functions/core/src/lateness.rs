//! Files that never arrive: the scheduled look at the landing area. A batch with some of its
//! files but not all, for longer than a configured age, is "half-landed"; no complete batch for
//! longer than a configured period means the feed is late. Each is alerted once (the alert
//! ledger keys them by batch, and by the last complete batch), through the notify channels.
//! The decision is pure ([`findings`]); listing the bucket is the caller's.

use crate::alerts::{Alert, Alerts};
use crate::contract::Contract;
use crate::error::Result;
use crate::trigger::landing_file;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// One object under `landing/`, as a listing returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The full key, `landing/<batch>/<file>`.
    pub key: String,
    /// When it was written (milliseconds since the epoch).
    pub modified_ms: u64,
}

/// The thresholds (per environment, from the template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub half_landed_after: Duration,
    pub no_batch_within: Duration,
}

/// What the look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    HalfLanded {
        batch: String,
        present: Vec<String>,
        missing: Vec<String>,
        /// When its first file landed.
        since_ms: u64,
    },
    Late {
        /// The newest complete batch and when it completed, if any ever did.
        last_complete: Option<(String, u64)>,
    },
}

/// Decide, at `now_ms`, what is half-landed past its age and whether the feed is late: a
/// batch is complete when every file of `contract` is there.
pub fn findings(contract: &Contract, objects: &[Landed], now_ms: u64, t: &Thresholds) -> Vec<Finding> {
    let mut batches: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for o in objects {
        if let Some((batch, file)) = landing_file(contract, &o.key) {
            batches.entry(batch).or_default().insert(file, o.modified_ms);
        }
    }
    let mut out = Vec::new();
    let mut last_complete: Option<(String, u64)> = None;
    for (batch, files) in &batches {
        let since = files.values().copied().min().unwrap_or(now_ms);
        if contract.files.iter().all(|f| files.contains_key(&f.name)) {
            let done = files.values().copied().max().unwrap_or(0);
            if last_complete.as_ref().is_none_or(|(_, t)| done > *t) {
                last_complete = Some((batch.clone(), done));
            }
        } else if now_ms.saturating_sub(since) >= t.half_landed_after.as_millis() as u64 {
            out.push(Finding::HalfLanded {
                batch: batch.clone(),
                present: contract
                    .files
                    .iter()
                    .filter(|f| files.contains_key(&f.name))
                    .map(|f| f.file.clone())
                    .collect(),
                missing: contract
                    .files
                    .iter()
                    .filter(|f| !files.contains_key(&f.name))
                    .map(|f| f.file.clone())
                    .collect(),
                since_ms: since,
            });
        }
    }
    let late = match &last_complete {
        Some((_, done)) => now_ms.saturating_sub(*done) >= t.no_batch_within.as_millis() as u64,
        None => true,
    };
    if late {
        out.push(Finding::Late { last_complete });
    }
    out
}

fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

fn hours(d: Duration) -> String {
    let m = d.as_secs() / 60;
    if m.is_multiple_of(60) {
        format!("{} h", m / 60)
    } else {
        format!("{m} min")
    }
}

/// The alert for a finding. Its `execution` and `failed_state` are what the ledger keys on: one
/// alert per half-landed batch, one per stretch without a complete batch.
pub fn alert(f: &Finding, pipeline: &str, environment: &str, t: &Thresholds, now_ms: u64) -> Alert {
    let (batch, execution, error, cause) = match f {
        Finding::HalfLanded {
            batch,
            present,
            missing,
            since_ms,
        } => (
            batch.clone(),
            format!("landing-{batch}"),
            "Landfall.HalfLanded",
            format!(
                "batch {batch} has {} but not {} since {} (more than {}): the run starts when every file is there",
                present.join(", "),
                missing.join(", "),
                rfc3339(*since_ms),
                hours(t.half_landed_after)
            ),
        ),
        Finding::Late { last_complete } => match last_complete {
            Some((b, done)) => (
                b.clone(),
                format!("landing-late-after-{b}"),
                "Landfall.Late",
                format!(
                    "no complete batch landed for more than {}: the last one was {b}, complete at {}",
                    hours(t.no_batch_within),
                    rfc3339(*done)
                ),
            ),
            None => (
                String::new(),
                "landing-late-never".into(),
                "Landfall.Late",
                format!("no complete batch has ever landed (checked at {})", rfc3339(now_ms)),
            ),
        },
    };
    Alert {
        status: "failed".into(),
        pipeline: pipeline.into(),
        environment: environment.into(),
        batch,
        execution,
        failed_state: Some("landing".into()),
        error: Some(error.into()),
        cause: Some(cause),
        failing_tests: vec![],
        link: None,
        report: None,
        at: rfc3339(now_ms),
    }
}

/// Look and alert; the answer lists the findings.
pub async fn check(
    contract: &Contract,
    alerts: &dyn Alerts,
    pipeline: &str,
    environment: &str,
    objects: &[Landed],
    now_ms: u64,
    t: &Thresholds,
) -> Result<Value> {
    let found = findings(contract, objects, now_ms, t);
    let mut sent = Vec::new();
    for f in &found {
        let a = alert(f, pipeline, environment, t, now_ms);
        alerts.send(&a).await?;
        sent.push(json!({"error": a.error, "batch": a.batch, "cause": a.cause}));
    }
    Ok(json!({"checked": objects.len(), "findings": sent}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    fn t() -> Thresholds {
        Thresholds {
            half_landed_after: Duration::from_secs(2 * 3600),
            no_batch_within: Duration::from_secs(26 * 3600),
        }
    }

    fn landed(key: &str, at: u64) -> Landed {
        Landed {
            key: key.into(),
            modified_ms: at,
        }
    }

    #[test]
    fn half_landed_past_its_age_and_late_feeds() {
        let objects = vec![
            landed("landing/b1/titles.csv", 10 * H),
            landed("landing/b1/credits.csv", 11 * H),
            landed("landing/b2/titles.csv", 30 * H),
            landed("landing/b3/credits.csv", 35 * H),
            landed("landing/b3/notes.txt", 35 * H),
            landed("reports/b4/titles.csv", 0),
        ];
        // At 36 h: b2 waits 6 h (past 2 h), b3 1 h (not yet); the last complete batch (b1, 11 h)
        // is 25 h old (within 26 h).
        let c = crate::contract::tests::two_files();
        let f = findings(&c, &objects, 36 * H, &t());
        assert_eq!(
            f,
            vec![Finding::HalfLanded {
                batch: "b2".into(),
                present: vec!["titles.csv".into()],
                missing: vec!["credits.csv".into()],
                since_ms: 30 * H,
            }]
        );
        // At 38 h: b3 too, and the feed is late.
        let f = findings(&c, &objects, 38 * H, &t());
        assert_eq!(f.len(), 3, "{f:?}");
        assert_eq!(
            f[2],
            Finding::Late {
                last_complete: Some(("b1".into(), 11 * H))
            }
        );
        let a = alert(&f[0], "landfall", "prod", &t(), 38 * H);
        assert_eq!(a.execution, "landing-b2");
        let cause = a.cause.unwrap();
        assert!(
            cause.contains("titles.csv") && cause.contains("not credits.csv") && cause.contains("1970-01-02T06:00:00Z"),
            "{cause}"
        );
        // An empty landing area is late from the start.
        assert_eq!(findings(&c, &[], 0, &t()), vec![Finding::Late { last_complete: None }]);
    }
}
