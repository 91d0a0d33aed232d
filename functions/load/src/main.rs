//! The load Lambda: `ValidateInput`, `CheckFiles`, `LoadFile` (the event's
//! `action` says which). Files go from the landing bucket into Snowflake's raw schema by
//! `COPY INTO` from the stage; no data passes through the Lambda.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::warehouse::serve("load", |deps, event| {
        Box::pin(landfall_core::functions::load(deps, event))
    })
    .await
}
