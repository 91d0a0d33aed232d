//! The notify Lambda: NotifySuccess / NotifyFailure of the state machine, and EventBridge's
//! "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED), to SNS and —
//! when the SSM parameter `slack_webhook_url` exists (read on the first alert) — Slack. One channel failing does not stop
//! the other. Environment: `ALERT_TOPIC_ARN`, `LANDFALL_ENV`, `LANDFALL_SSM_PREFIX`,
//! `LANDFALL_NOTIFY_SUCCESS` (`true` to announce successes).

use lambda_runtime::{LambdaEvent, service_fn};
use landfall_aws::{sdk_config, sns::SnsAlerts, ssm::Secrets};
use landfall_core::alerts::{Alerts, FanOut};
use landfall_core::functions::{self, NotifySettings};
use landfall_lambda::{LambdaError, SlackFromSsm, env, environment, init_tracing, ssm_prefix};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let environment = environment();
    let channels: Vec<Box<dyn Alerts>> = vec![
        Box::new(SnsAlerts::new(&sdk, env("ALERT_TOPIC_ARN").map_err(|e| e.message)?)),
        Box::new(SlackFromSsm::new(Secrets::new(&sdk, ssm_prefix()), "slack_webhook_url")),
    ];
    let fan = FanOut(channels);
    let settings = NotifySettings {
        pipeline: "landfall",
        environment: &environment,
        alerts: &fan,
        // The Slack URL never reaches a message (SlackWebhook leaves it out; redact() strips
        // webhook paths anyway), so there is no literal secret to list here.
        secrets: vec![],
        notify_success: std::env::var("LANDFALL_NOTIFY_SUCCESS").is_ok_and(|v| v == "true"),
    };
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        let result =
            if payload.get("detail-type").and_then(Value::as_str) == Some("Step Functions Execution Status Change") {
                functions::notify_status_change(settings, payload).await
            } else {
                functions::notify(settings, None, payload).await
            };
        result.map_err(LambdaError::from)
    }))
    .await
}
