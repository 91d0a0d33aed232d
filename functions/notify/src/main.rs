//! The notify Lambda: NotifySuccess / NotifyFailure of the state machine, and EventBridge's
//! "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED), to SNS and —
//! when the SSM parameter `slack_webhook_url` exists — Slack. One channel failing does not stop
//! the other. Environment: `ALERT_TOPIC_ARN`, `LANDFALL_ENV`, `LANDFALL_SSM_PREFIX`,
//! `LANDFALL_NOTIFY_SUCCESS` (`true` to announce successes).

use lambda_runtime::{LambdaEvent, service_fn};
use landfall_aws::{sdk_config, sns::SnsAlerts, ssm::Secrets};
use landfall_core::alerts::{Alerts, FanOut, SlackWebhook};
use landfall_core::functions::{self, NotifySettings};
use landfall_lambda::{LambdaError, env, environment, init_tracing, ssm_prefix};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let environment = environment();
    let secrets = Secrets::new(&sdk, ssm_prefix());
    let mut channels: Vec<Box<dyn Alerts>> = vec![Box::new(SnsAlerts::new(
        &sdk,
        env("ALERT_TOPIC_ARN").map_err(|e| e.message)?,
    ))];
    let mut redact = Vec::new();
    match secrets.get_optional("slack_webhook_url").await {
        Ok(Some(url)) => {
            redact.push(url.clone());
            channels.push(Box::new(SlackWebhook::new(url)));
        }
        Ok(None) => {
            tracing::warn!(parameter = %secrets.parameter_name("slack_webhook_url"), "no Slack webhook configured: alerts go to SNS only")
        }
        Err(e) => tracing::error!(error = %e.message, "cannot read the Slack webhook parameter: alerts go to SNS only"),
    }
    let fan = FanOut(channels);
    let settings = NotifySettings {
        pipeline: "landfall",
        environment: &environment,
        alerts: &fan,
        secrets: redact.clone(),
        notify_success: std::env::var("LANDFALL_NOTIFY_SUCCESS").is_ok_and(|v| v == "true"),
    };
    let (settings, redact) = (&settings, &redact);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        let result =
            if payload.get("detail-type").and_then(Value::as_str) == Some("Step Functions Execution Status Change") {
                functions::notify_status_change(settings, payload).await
            } else {
                functions::notify(settings, None, payload).await
            };
        result.map_err(|error| LambdaError {
            error,
            secrets: redact.clone(),
        })
    }))
    .await
}
