//! The transform Lambda: `BuildStaging`, `BuildIntermediate`, `BuildMarts` (the event's `layer`
//! says which) — the models of the embedded `transform/` project, built in Snowflake.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::warehouse::serve("transform", |deps, event| {
        Box::pin(landfall_core::functions::transform(deps, event))
    })
    .await
}
