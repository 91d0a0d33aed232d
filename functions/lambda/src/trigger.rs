//! The trigger function: whatever wiring delivered the news of a landed file (see
//! [`crate::events`]), every completed batch version gets exactly one execution
//! (`landfall_core::trigger`), a batch being complete when every file of the embedded project's
//! landing contract is there. Environment: `LANDING_BUCKET`, `STATE_MACHINE_ARN`,
//! `LANDFALL_ENV`.

use crate::events::{Created, TriggerDelivery, trigger_delivery};
use crate::{LambdaError, env, init_tracing};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::{LambdaEvent, service_fn};
use landfall_aws::{s3::S3Landing, sdk_config, sfn::StepFunctions};
use landfall_core::contract::Contract;
use landfall_core::storage::Storage;
use landfall_core::trigger::{Executions, LANDING_PREFIX, TriggerOutcome, on_object_created};
use landfall_core::{PipelineError, Result};
use serde_json::{Value, json};
use tracing::Instrument;

/// What one invocation did: the answer for Lambda, and every object's outcome (for the logs
/// and the metrics).
#[derive(Debug)]
pub struct Handled {
    pub response: Value,
    pub outcomes: Vec<TriggerOutcome>,
    /// SQS messages reported back for another delivery.
    pub failed_messages: Vec<String>,
}

impl Handled {
    /// What the metrics read (`outcomes`, `batchItemFailures`).
    pub fn metrics_view(&self) -> Value {
        json!({
            "outcomes": self.outcomes,
            "batchItemFailures": self.failed_messages,
        })
    }
}

async fn each(
    contract: &Contract,
    storage: &dyn Storage,
    executions: &dyn Executions,
    bucket: &str,
    created: Created,
    outcomes: &mut Vec<TriggerOutcome>,
) -> Result<()> {
    outcomes.extend(created.ignored.into_iter().map(TriggerOutcome::ignored));
    for object in created.objects {
        let batch = landfall_core::trigger::landing_file(contract, &object.key)
            .map(|(b, _)| b)
            .unwrap_or_else(|| "-".into());
        let span = tracing::info_span!("object", key = %object.key, batch = %batch);
        let outcome = on_object_created(contract, storage, executions, bucket, &object)
            .instrument(span.clone())
            .await?;
        span.in_scope(|| {
            tracing::info!(
                action = %outcome.action,
                execution = outcome.execution_name.as_deref().unwrap_or("-"),
                "{}",
                outcome.reason
            )
        });
        outcomes.push(outcome);
    }
    Ok(())
}

/// Handle one invocation's event. A direct delivery fails as a whole (Lambda retries the
/// asynchronous invocation); through SQS, only the messages that failed are reported back
/// (`batchItemFailures`) and come again, the others are done.
pub async fn handle(
    contract: &Contract,
    storage: &dyn Storage,
    executions: &dyn Executions,
    bucket: &str,
    event: Value,
) -> Result<Handled> {
    let mut outcomes = Vec::new();
    match trigger_delivery(event)? {
        TriggerDelivery::Direct(created) => {
            each(contract, storage, executions, bucket, created, &mut outcomes).await?;
            Ok(Handled {
                response: json!({ "outcomes": outcomes }),
                outcomes,
                failed_messages: vec![],
            })
        }
        TriggerDelivery::Queue(messages) => {
            let mut failed = Vec::new();
            for m in messages {
                let result = match m.created {
                    Ok(created) => each(contract, storage, executions, bucket, created, &mut outcomes).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    // A message that can never succeed (not an S3 notification) also comes
                    // back, until the queue's redrive policy moves it to the dead-letter queue:
                    // nothing is dropped silently.
                    tracing::error!(error = %e.name, message = %m.message_id, "{}", e.message);
                    failed.push(m.message_id);
                }
            }
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failed
                .iter()
                .map(|id| {
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = id.clone();
                    f
                })
                .collect();
            Ok(Handled {
                response: serde_json::to_value(&response).map_err(|e| PipelineError::config(e.to_string()))?,
                outcomes,
                failed_messages: failed,
            })
        }
    }
}

/// The trigger Lambda's runtime loop: clients built once, every invocation in a span, one EMF
/// line each (`ExecutionsStarted`, `MessagesFailed`).
pub async fn serve() -> std::result::Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let bucket = env("LANDING_BUCKET").map_err(|e| e.message)?;
    let storage = S3Landing::new(&sdk, &bucket, LANDING_PREFIX);
    let executions = StepFunctions::new(&sdk, env("STATE_MACHINE_ARN").map_err(|e| e.message)?);
    // Read on the first invocation, not at init: a broken project is that invocation's
    // `Landfall.Config`, and init stays milliseconds.
    let contract = std::sync::LazyLock::new(crate::project::deployed_contract);
    let (storage, executions, bucket, contract) = (&storage, &executions, bucket.as_str(), &contract);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let span = tracing::info_span!("invocation", function = "trigger", request = %event.context.request_id);
        async move {
            let started = std::time::Instant::now();
            let result = match &**contract {
                Ok(c) => handle(c, storage, executions, bucket, event.payload).await,
                Err(e) => Err(e.clone()),
            };
            let view = result.as_ref().map(Handled::metrics_view);
            let batches: Vec<&str> = result
                .as_ref()
                .map(|h| h.outcomes.iter().filter_map(|o| o.batch.as_deref()).collect())
                .unwrap_or_default();
            let execution = result
                .as_ref()
                .ok()
                .and_then(|h| h.outcomes.iter().find_map(|o| o.execution_name.clone()))
                .unwrap_or_else(|| "-".into());
            crate::print_emf(
                "Trigger",
                view.as_ref().map_err(|e| *e),
                started.elapsed().as_millis() as u64,
                0,
                &execution,
                batches.first().copied().unwrap_or("-"),
            );
            let handled = result.map_err(|e| {
                tracing::error!(error = %e.name, "{}", e.message);
                LambdaError::from(e)
            })?;
            Ok::<Value, LambdaError>(handled.response)
        }
        .instrument(span)
    }))
    .await
}
