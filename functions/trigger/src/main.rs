//! The trigger Lambda: S3 "Object Created" (via EventBridge) → one Step Functions execution per
//! batch version (see `landfall_core::trigger`). Environment: `LANDING_BUCKET`,
//! `STATE_MACHINE_ARN`, `LANDFALL_ENV`, `LANDFALL_SSM_PREFIX`.

use lambda_runtime::{LambdaEvent, service_fn};
use landfall_aws::{s3::S3Landing, sdk_config, sfn::StepFunctions};
use landfall_core::trigger::{LANDING_PREFIX, trigger};
use landfall_lambda::{LambdaError, env, init_tracing};
use serde_json::Value;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let bucket = env("LANDING_BUCKET").map_err(|e| e.message)?;
    let storage = S3Landing::new(&sdk, &bucket, LANDING_PREFIX);
    let executions = StepFunctions::new(&sdk, env("STATE_MACHINE_ARN").map_err(|e| e.message)?);
    let (storage, executions, bucket) = (&storage, &executions, bucket.as_str());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        // Every line of this invocation names the object (and so the batch) it is about.
        let key = event
            .payload
            .pointer("/detail/object/key")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string();
        let batch = key.split('/').nth(1).unwrap_or("-").to_string();
        let span = tracing::info_span!("invocation", function = "trigger", key = %key, batch = %batch);
        async move {
            let started = std::time::Instant::now();
            let result = trigger(storage, executions, bucket, &event.payload).await;
            let value = result
                .as_ref()
                .map(|o| serde_json::to_value(o).expect("outcome serializes"));
            let execution = result
                .as_ref()
                .ok()
                .and_then(|o| o.execution_name.clone())
                .unwrap_or_else(|| "-".into());
            landfall_lambda::print_emf(
                "Trigger",
                value.as_ref().map_err(|e| *e),
                started.elapsed().as_millis() as u64,
                0,
                &execution,
                &batch,
            );
            let outcome = result.map_err(|e| {
                tracing::error!(error = %e.name, "{}", e.message);
                LambdaError::from(e)
            })?;
            tracing::info!(
                action = %outcome.action,
                batch = outcome.batch.as_deref().unwrap_or("-"),
                execution = outcome.execution_name.as_deref().unwrap_or("-"),
                "{}",
                outcome.reason
            );
            Ok::<Value, LambdaError>(serde_json::to_value(outcome).expect("outcome serializes"))
        }
        .instrument(span)
    }))
    .await
}
