//! The publish Lambda: `Publish` — the audited marts replace the published ones in one schema
//! swap, the previous version kept in `archive` for `landfall rollback`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::warehouse::serve("publish", |deps, event| {
        Box::pin(landfall_core::functions::publish(deps, event))
    })
    .await
}
