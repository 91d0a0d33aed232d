//! The notify Lambda: NotifySuccess / NotifyFailure / NotifySuperseded of the state machine,
//! EventBridge's execution status changes, and the scheduled look at the landing area, to SNS
//! and Slack (see `landfall_lambda::notify`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::notify::serve().await
}
