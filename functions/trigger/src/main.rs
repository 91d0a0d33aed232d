//! The trigger Lambda: S3 "Object Created" (through EventBridge, an S3 notification or SQS) →
//! one Step Functions execution per batch version (see `landfall_lambda::trigger`).
//! Environment: `LANDING_BUCKET`, `STATE_MACHINE_ARN`, `LANDFALL_ENV`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::trigger::serve().await
}
