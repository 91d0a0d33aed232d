//! The real publish binary on the Runtime API emulator, against moto and fakesnow. fakesnow
//! cannot clone or swap a schema, so the publish runs up to the swap: the archive copy is made,
//! and the error names the exact statement real Snowflake runs (the statements themselves are
//! checked in `landfall-snowflake`'s `sql.rs`; see docs/decisions.md).

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
async fn publish_archives_then_swaps_the_marts_schema() {
    let env = WarehouseEnv::start("PUBLISH_LAMBDA", "2026-11-26").await;
    let wh = env.warehouse().await;
    let run = run_vars("2026-11-26-p", "2026-11-26");
    env.run_until(&wh, &run, "publish").await;
    let a = env.invoke(
        env!("CARGO_BIN_EXE_publish"),
        vec![json!({"run": run_json(&run)}), json!({"nothing": true})],
        &[],
    );
    let (t, body) = err(&a[0]);
    assert!(
        body.contains("create or replace schema marts__landfall_next clone marts"),
        "the publish reached the schema clone and swap: {body}"
    );
    assert_eq!(t, "Landfall.Config");
    let archived = wh
        .query("select count(*) from archive.genre_content_share__v1")
        .await
        .unwrap()
        .scalar_i64();
    let built = wh
        .query("select count(*) from build_marts.genre_content_share")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(archived, built, "the version is archived before the swap");
    let active = wh
        .query("select count(*) from audit.publishes where active")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(
        active, 0,
        "nothing is recorded as published when the swap did not happen"
    );
    let (t, _) = err(&a[1]);
    assert_eq!(t, "Landfall.BadInput");
}
