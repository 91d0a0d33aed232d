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
async fn publish_archives_then_swaps_the_marts_schema_in() {
    let env = WarehouseEnv::start("PUBLISH_LAMBDA", "2026-11-26").await;
    let wh = env.warehouse().await;
    let run = run_vars("2026-11-26-p", "2026-11-26");
    env.run_until(&wh, &run, "publish").await;
    let a = env.invoke(
        env!("CARGO_BIN_EXE_publish"),
        vec![json!({"run": run_json(&run)}), json!({"nothing": true})],
        &[],
    );
    // The wrapper emulates the schema clone and `SWAP WITH` (infra/local/fakesnow_server.py).
    let published = ok(&a[0]);
    assert_eq!(published["publish_seq"], json!(1), "{published}");
    assert_eq!(published["relations"].as_array().unwrap().len(), 5, "{published}");
    let count = |sql: String| {
        let wh = &wh;
        async move { wh.query(&sql).await.unwrap().scalar_i64() }
    };
    let built = count(format!(
        "select count(*) from {}.genre_content_share",
        landfall_core::build::build_schema("marts", &run.run_id)
    ))
    .await;
    assert!(built > 0);
    assert_eq!(
        count("select count(*) from archive.genre_content_share__v1".into()).await,
        built,
        "the version is archived"
    );
    assert_eq!(
        count("select count(*) from marts.genre_content_share".into()).await,
        built,
        "the marts are swapped in"
    );
    assert_eq!(
        count("select count(*) from marts.title_popularity".into()).await as u64,
        env.data.titles
    );
    assert_eq!(
        count("select count(*) from audit.publishes where active".into()).await,
        1
    );
    // The clone used for the swap is gone.
    let left = wh
        .query("select count(*) from information_schema.schemata where lower(schema_name) = 'marts__landfall_next'")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(left, 0);
    let (t, _) = err(&a[1]);
    assert_eq!(t, "Landfall.BadInput");
}
