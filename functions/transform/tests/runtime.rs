//! The real transform binary on the Runtime API emulator, against moto and fakesnow: the
//! three build states with the payloads the state machine sends, models built in Snowflake.

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
async fn transform_builds_each_layer_the_state_names() {
    let env = WarehouseEnv::start("TRANSFORM_LAMBDA", "2026-11-26").await;
    let wh = env.warehouse().await;
    let run = run_vars("2026-11-26-t", "2026-11-26");
    env.run_until(&wh, &run, "transform").await;
    let r = run_json(&run);
    let (a, _) = env.invoke_polled(
        env!("CARGO_BIN_EXE_transform"),
        vec![
            json!({"layer": "staging", "commit_raw": true, "run": r}),
            json!({"layer": "intermediate", "commit_raw": false, "run": r}),
            json!({"layer": "marts", "commit_raw": false, "run": r}),
            json!({"layer": "nonsense", "commit_raw": false, "run": r}),
        ],
        &[],
    );
    let staging = ok(&a[0]);
    let names: Vec<&str> = staging
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(
        names.contains(&"stg_titles") && names.contains(&"stg_credits"),
        "{names:?}"
    );
    let marts = ok(&a[2]);
    assert!(
        marts.as_array().unwrap().iter().any(|m| m["relation"]
            == json!(format!(
                "{}.genre_content_share",
                landfall_core::build::build_schema("marts", &run.run_id)
            ))),
        "{marts}"
    );
    let (t, body) = err(&a[3]);
    assert_eq!(t, "Landfall.Config", "{body}");
    assert!(body.contains("nonsense"), "{body}");
    // The models are there, built from this batch, and raw is committed to this run's load.
    let n = wh
        .query(&format!(
            "select count(*) from {}.stg_titles",
            landfall_core::build::build_schema("staging", &run.run_id)
        ))
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(n as u64, env.data.titles);
    let c = wh
        .query("select load_id from audit.raw_commits where batch = '2026-11-26'")
        .await
        .unwrap();
    assert_eq!(c.scalar(), Some(&json!("2026-11-26-t")));
}
