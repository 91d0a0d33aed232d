//! The quality Lambda: `RunQualityChecks` — every data test, recorded in `audit.test_results`;
//! an error-severity failure is `Landfall.QualityGate` and nothing is published.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    landfall_lambda::warehouse::serve("quality", |deps, event| {
        Box::pin(landfall_core::functions::quality(deps, event))
    })
    .await
}
