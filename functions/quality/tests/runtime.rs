//! The real quality binary on the Runtime API emulator, against moto and fakesnow: every data
//! test of `transform/` runs in Snowflake and is recorded; a failing one is the gate.

#[path = "../../aws/tests/support/mod.rs"]
mod moto;
#[path = "../../snowflake/tests/support/mod.rs"]
mod snow;
#[path = "../../lambda/tests/support/warehouse_env.rs"]
mod warehouse_env;

use landfall_core::warehouse::Warehouse;
use serde_json::json;
use warehouse_env::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quality_passes_a_sound_batch_and_gates_a_broken_one() {
    let env = WarehouseEnv::start("QUALITY_LAMBDA", "2026-11-26").await;
    let wh = env.warehouse().await;
    let run = run_vars("2026-11-26-q", "2026-11-26");
    env.run_until(&wh, &run, "quality").await;
    let bin = env!("CARGO_BIN_EXE_quality");
    let (a, _) = env.invoke_polled(bin, vec![json!({"run": run_json(&run)})], &[]);
    let q = ok(&a[0]);
    assert_eq!(q["tests"]["failed"], json!(0), "{q}");
    assert!(q["tests"]["passed"].as_u64().unwrap() >= 30, "{q}");
    assert_eq!(q["rejected"]["credits"], json!(2));
    let recorded = wh
        .query("select count(*) from audit.test_results where run_id = '2026-11-26-q'")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(
        recorded as u64,
        q["tests"]["passed"].as_u64().unwrap() + q["tests"]["warned"].as_u64().unwrap()
    );

    // Break a mart behind the gate's back: a duplicated genre row fails its unique test.
    let marts = landfall_core::build::build_schema("marts", &run.run_id);
    wh.execute(&format!(
        "insert into {marts}.genre_content_share select * from {marts}.genre_content_share limit 1"
    ))
    .await
    .unwrap();
    let (a, logs) = env.invoke_polled(
        bin,
        vec![json!({"run": run_json(&run), "step": "RunQualityChecks", "retry": 0})],
        &[],
    );
    let (t, body) = err(&a[0]);
    // The gate's EMF line counts the failed test and marks the state failed.
    let emf: serde_json::Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .expect("an EMF line");
    assert_eq!(emf["state"], json!("RunQualityChecks"));
    assert_eq!(emf["Failed"], json!(1.0));
    assert!(emf["TestsFailed"].as_f64().unwrap() >= 1.0, "{emf}");
    assert_eq!(emf["RowsRejected"], json!(2.0));
    assert_eq!(t, "Landfall.QualityGate", "{body}");
    assert!(body.contains("genre_content_share"), "{body}");
}
