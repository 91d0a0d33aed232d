//! The notify Lambda: NotifySuccess / NotifyFailure of the state machine, and EventBridge's
//! "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED), to SNS and —
//! when the SSM parameter `slack_webhook_url` exists (read on the first alert) — Slack. One
//! channel failing does not stop the other, and with `LANDING_BUCKET` each channel gets an
//! alert once (a ledger under the bucket's `alerts/`): a retry resends only where it failed. With `SNOWFLAKE_ACCOUNT` set, a failure is also
//! recorded in `audit.runs` (and the run's pending raw rows dropped), best effort: the alert
//! goes out even when Snowflake cannot be reached. With `LANDING_BUCKET` too, the run's HTML
//! report is written to `reports/<batch>/<execution>.html` there and the alert links it.
//! On an EventBridge schedule it looks at the landing area instead and alerts, once each,
//! half-landed batches and a feed with no complete batch for too long (`landfall_core::lateness`).
//! Environment: `ALERT_TOPIC_ARN`, `LANDFALL_HALF_LANDED_AFTER_MINUTES`, `LANDFALL_NO_BATCH_WITHIN_HOURS`,
//! `LANDFALL_ENV`, `LANDFALL_SSM_PREFIX`, `LANDFALL_NOTIFY_SUCCESS` (`true` to announce
//! successes), and the warehouse Lambdas' `SNOWFLAKE_*` variables.

use crate::warehouse::Session;
use crate::{LambdaError, SlackFromSsm, env, environment, init_tracing, ssm_prefix};
use lambda_runtime::{LambdaEvent, service_fn};
use landfall_aws::{sdk_config, sns::SnsAlerts, ssm::Secrets};
use landfall_core::alerts::{Alerts, FanOut, OncePerChannel};
use landfall_core::functions::{self, NotifySettings};
use landfall_core::warehouse::Warehouse;
use serde_json::Value;
use std::time::Duration;
use tracing::Instrument;

/// The whole `main` of the notify Lambda: clients built once, then one alert (or one look at
/// the landing area) per invocation.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    // Boxed: the invocation's future is deep, and a main holding it whole would exceed the
    // compiler's query depth.
    Box::pin(run()).await
}

async fn run() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let environment = environment();
    let channels: Vec<Box<dyn Alerts>> = vec![
        Box::new(SnsAlerts::new(&sdk, env("ALERT_TOPIC_ARN").map_err(|e| e.message)?)),
        Box::new(SlackFromSsm::new(Secrets::new(&sdk, ssm_prefix()), "slack_webhook_url")),
    ];
    // Reports go to the landing bucket's reports/ (with Snowflake configured: the report is read
    // from the warehouse), and the bucket's alerts/ remembers what each channel delivered.
    let reports = std::env::var("LANDING_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .map(|b| landfall_aws::s3::S3Landing::new(&sdk, b, landfall_core::trigger::LANDING_PREFIX));
    let fan: Box<dyn Alerts + '_> = match &reports {
        Some(ledger) => Box::new(OncePerChannel { channels, ledger }),
        None => Box::new(FanOut(channels)),
    };
    let project: std::sync::LazyLock<_> = std::sync::LazyLock::new(crate::project::deployed_project as fn() -> _);
    let reporter = reports.as_ref().map(|r| landfall_report::ToSink(r));
    let report_sink = reporter
        .as_ref()
        .map(|r| (r as &dyn landfall_core::reporting::RunReport, &project));
    let settings = NotifySettings {
        pipeline: "landfall",
        environment: &environment,
        alerts: &*fan,
        // The Slack URL never reaches a message (SlackWebhook leaves it out; redact() strips
        // webhook paths anyway), so there is no literal secret to list here.
        secrets: vec![],
        notify_success: std::env::var("LANDFALL_NOTIFY_SUCCESS").is_ok_and(|v| v == "true"),
        report_base: None,
        report_sink,
    };
    let session = std::env::var("SNOWFLAKE_ACCOUNT")
        .is_ok_and(|v| !v.is_empty())
        .then(|| Session::from_env(Secrets::new(&sdk, ssm_prefix())));
    let thresholds = landing_thresholds();
    let (settings, session, reports, thresholds, project) = (&settings, &session, &reports, &thresholds, &project);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        let execution = payload
            .get("execution")
            .or_else(|| payload.pointer("/detail/name"))
            .and_then(Value::as_str)
            .unwrap_or("-")
            .rsplit(':')
            .next()
            .unwrap_or("-")
            .to_string();
        let batch = payload
            .pointer("/state/batch")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string();
        let span = tracing::info_span!("invocation", function = "notify", execution = %execution, batch = %batch);
        let state = landfall_core::metrics::state_of("notify", &payload);
        let retries = payload.get("retry").and_then(Value::as_u64).unwrap_or(0) as u32;
        let started = std::time::Instant::now();
        async move {
            let result = if let Some(now_ms) = crate::events::scheduled_time(&payload) {
                // The scheduled look at the landing area: half-landed and late batches.
                match (&reports, &thresholds) {
                    (Some(bucket), Ok(t)) => {
                        // Complete means every file of the embedded project's contract.
                        let contract = match &**project {
                            Ok(p) => landfall_core::contract::Contract::of(p),
                            Err(e) => Err(e.clone()),
                        };
                        match (contract, bucket.list_landed().await) {
                            (Ok(contract), Ok(objects)) => {
                                landfall_core::lateness::check(
                                    &contract,
                                    settings.alerts,
                                    settings.pipeline,
                                    settings.environment,
                                    &objects,
                                    now_ms,
                                    t,
                                )
                                .await
                            }
                            (Err(e), _) | (_, Err(e)) => Err(e),
                        }
                    }
                    (None, _) => Err(landfall_core::PipelineError::config(
                        "the scheduled landing check needs LANDING_BUCKET",
                    )),
                    (_, Err(e)) => Err(e.clone()),
                }
            } else {
                // The warehouse: to mark a failure in audit.runs, and for the run report.
                let change = (payload.get("detail-type").and_then(Value::as_str)
                    == Some("Step Functions Execution Status Change"))
                .then(|| crate::events::execution_status_change(payload.clone()));
                let wants = match &change {
                    Some(Ok(c)) => matches!(c.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED"),
                    Some(Err(_)) => false,
                    None => {
                        payload.get("status").and_then(Value::as_str) == Some("failed")
                            || settings.report_sink.is_some()
                    }
                };
                let remaining = Duration::from_millis(
                    event
                        .context
                        .deadline
                        .saturating_sub(landfall_core::pipeline::unix_millis()),
                );
                let wh = match session {
                    Some(s) if wants => alert_warehouse(s, &execution, remaining).await,
                    _ => None,
                };
                let wh = wh.as_deref();
                match change {
                    Some(Ok(change)) => functions::notify_status_change(settings, wh, &change).await,
                    Some(Err(e)) => Err(e),
                    None => Box::pin(functions::notify(settings, wh, payload)).await,
                }
            };
            if let Err(e) = &result {
                tracing::error!(error = %e.name, "{}", e.message);
            }
            crate::print_emf(
                &state,
                result.as_ref(),
                started.elapsed().as_millis() as u64,
                retries,
                &execution,
                &batch,
            );
            result.map_err(LambdaError::from)
        }
        .instrument(span)
        .await
    }))
    .await
}

/// The warehouse for an alert, within 20 s: without it the alert still goes out (no
/// `audit.runs` update, no report).
async fn alert_warehouse(s: &Session, execution: &str, remaining: Duration) -> Option<std::sync::Arc<dyn Warehouse>> {
    match tokio::time::timeout(Duration::from_secs(20), s.get()).await {
        Ok(Ok(wh)) => {
            wh.set_query_tag(&format!("landfall:notify:{execution}"));
            wh.set_deadline(Some(
                tokio::time::Instant::now() + remaining.saturating_sub(Duration::from_secs(15)),
            ));
            Some(wh)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e.name, "the alert goes out without the warehouse (no audit.runs update, no report): {}", e.message);
            None
        }
        Err(_) => {
            tracing::warn!(
                "the alert goes out without the warehouse (no audit.runs update, no report): Snowflake did not answer within 20 s"
            );
            None
        }
    }
}

/// `LANDFALL_HALF_LANDED_AFTER_MINUTES` (default 120) and `LANDFALL_NO_BATCH_WITHIN_HOURS`
/// (default 26): when the scheduled look alerts.
fn landing_thresholds() -> landfall_core::Result<landfall_core::lateness::Thresholds> {
    let number = |name: &str, default: u64| -> landfall_core::Result<u64> {
        match std::env::var(name).ok().filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                landfall_core::PipelineError::config(format!("{name} must be a whole number, found '{v}'"))
            }),
        }
    };
    Ok(landfall_core::lateness::Thresholds {
        half_landed_after: Duration::from_secs(60 * number("LANDFALL_HALF_LANDED_AFTER_MINUTES", 120)?),
        no_batch_within: Duration::from_secs(3600 * number("LANDFALL_NO_BATCH_WITHIN_HOURS", 26)?),
    })
}
