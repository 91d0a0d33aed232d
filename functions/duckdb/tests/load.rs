//! The DuckDB adapter against real files: loads, replaces, rejects bad files without writing.

use landfall_core::ErrorName;
use landfall_core::warehouse::{LoadSpec, Warehouse};
use landfall_duckdb::{DuckOptions, DuckWarehouse};
use serde_json::json;

#[path = "../../../tests/support/datasets.rs"]
mod datasets;

const CREDITS: &[&str] = &["person_id", "id", "name", "character", "role"];

fn spec(loc: &std::path::Path, batch: &str) -> LoadSpec {
    LoadSpec {
        file_columns: vec![],
        table: "raw.credits".into(),
        location: loc.to_string_lossy().into_owned(),
        display_name: loc.to_string_lossy().into_owned(),
        batch: batch.into(),
        etag: "e1".into(),
        expected_columns: CREDITS.iter().map(|s| s.to_string()).collect(),
        load_id: format!("load-{batch}"),
        keep_load_id: None,
        spare_newer_than: None,
    }
}

/// Credits load in file order (record numbers as in the file), a reload replaces the batch's
/// rows, a second batch adds its own.
async fn loads_credits_in_file_order_and_replaces_on_reload(data: &datasets::Landed) {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let path = data.credits_csv();
    let out = wh.load_csv(&spec(&path, "b1")).await.unwrap();
    assert_eq!(out.rows, data.credits);
    let t = wh
        .query("select _row_number, person_id from raw.credits where role = 'JUNK' order by 1")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!(data.junk_records[0]), json!("0000000")],
            vec![json!(data.junk_records[1]), json!("100000")]
        ]
    );
    // Reload: same count, no duplicates.
    wh.load_csv(&spec(&path, "b1")).await.unwrap();
    assert_eq!(
        wh.query("select count(*) from raw.credits").await.unwrap().scalar_i64() as u64,
        data.credits
    );
    wh.load_csv(&spec(&path, "b2")).await.unwrap();
    assert_eq!(
        wh.query("select count(*) from raw.credits").await.unwrap().scalar_i64() as u64,
        2 * data.credits
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_generated_credits_in_file_order_and_replaces_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    loads_credits_in_file_order_and_replaces_on_reload(&datasets::generated(dir.path(), 2000, 11)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real export in ../shared/data/netflix: run by `make conformance`"]
async fn loads_real_credits_in_file_order_and_replaces_on_reload() {
    loads_credits_in_file_order_and_replaces_on_reload(&datasets::real()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "person_id,id,name,character,role\n1,tm1,A,B,ACTOR\n").unwrap();
    wh.load_csv(&spec(&good, "b1")).await.unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "person_id,id,name,character,role\n2,tm1,A,\"B,ACTOR\n3,tm2,C,D,ACTOR\n",
    )
    .unwrap();
    let e = wh.load_csv(&spec(&bad, "b1")).await.unwrap_err();
    assert_eq!(e.name, ErrorName::BadInput);
    assert!(e.message.contains("bad.csv line 2"), "{}", e.message);
    let t = wh.query("select person_id from raw.credits").await.unwrap();
    assert_eq!(t.rows, vec![vec![json!("1")]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prelude_macros_behave_like_snowflake() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let t = wh
        .query("select iff(1 < 2, 'y', 'n'), nvl(null, 3), zeroifnull(null), div0(1, 0), try_to_number('12.0'), try_to_number('x'), nvl2(1, 'a', 'b'), equal_null(null, null), array_size([1,2,3])")
        .await
        .unwrap();
    assert_eq!(t.rows[0][0], "y");
    assert_eq!(t.rows[0][1], 3);
    assert_eq!(t.rows[0][2], 0);
    assert_eq!(t.rows[0][4], 12);
    assert_eq!(t.rows[0][5], serde_json::Value::Null);
    assert_eq!(t.rows[0][6], "a");
    assert_eq!(t.rows[0][7], true);
    assert_eq!(t.rows[0][8], 3);
}
