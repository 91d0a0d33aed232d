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
        spared_loads: None,
        record_as: None,
        optional_columns: vec![],
        dialect: Default::default(),
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

/// Dates and timestamps come back written as Python writes them, which is what dbt renders
/// for a value a template's `run_query` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_and_timestamps_read_as_dbt_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let t = wh
        .query("select date '2026-12-03', timestamp '2026-12-03 17:50:58.569509', timestamp '1969-12-31 23:59:59', date '1900-02-28'")
        .await
        .unwrap();
    assert_eq!(
        t.rows[0],
        [
            "2026-12-03",
            "2026-12-03 17:50:58.569509",
            "1969-12-31 23:59:59",
            "1900-02-28"
        ]
    );
}

/// A load recorded in the audit writes its `audit.loads` row in the transaction of its rows:
/// neither is written without the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_row_commits_with_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    landfall_core::audit::ensure(&wh).await.unwrap();
    let recorded = |path: &std::path::Path, batch: &str| LoadSpec {
        record_as: Some("credits".into()),
        ..spec(path, batch)
    };
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "person_id,id,name,character,role\n1,tm1,A,B,ACTOR\n2,tm1,C,D,ACTOR\n",
    )
    .unwrap();
    wh.load_csv(&recorded(&good, "b1")).await.unwrap();
    let rows = "select run_id, batch, file, source, etag, rows from audit.loads order by batch";
    let expected = vec![
        json!("load-b1"),
        json!("b1"),
        json!("credits"),
        json!(good.to_string_lossy()),
        json!("e1"),
        json!(2),
    ];
    assert_eq!(wh.query(rows).await.unwrap().rows, vec![expected.clone()]);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "person_id,id,name,character,role\n3,tm2,\"C,D,ACTOR\n").unwrap();
    assert!(wh.load_csv(&recorded(&bad, "b2")).await.is_err());
    assert_eq!(wh.query(rows).await.unwrap().rows, vec![expected]);
    // And the other way round: where the audit row cannot be written, the rows are not either.
    wh.execute("drop table audit.loads").await.unwrap();
    assert!(wh.load_csv(&recorded(&good, "b3")).await.is_err());
    let b3 = wh
        .query("select count(*) from raw.credits where _batch = 'b3'")
        .await
        .unwrap();
    assert_eq!(b3.scalar_i64(), 0);
}

/// A warehouse whose audit schema predates a column (here `runs.build_tag` and
/// `test_results.sample_rows`) gets it when the next run starts, in one statement when nothing
/// is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_start_completes_an_older_audit_schema() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let old: Vec<String> = landfall_core::audit::DDL
        .iter()
        .filter(|s| !s.starts_with("alter table"))
        .map(|s| s.replace(", sample_rows varchar", ""))
        .collect();
    wh.execute_ddl(&old).await.unwrap();
    let has = |t: &'static str, c: &'static str| {
        let wh = &wh;
        async move {
            wh.columns(&landfall_dbt::render::Relation::new("audit", t))
                .await
                .unwrap()
                .iter()
                .any(|x| x == c)
        }
    };
    assert!(!has("runs", "build_tag").await && !has("test_results", "sample_rows").await);
    landfall_core::audit::run_started(&wh, "run-1", "b1").await.unwrap();
    assert!(has("runs", "build_tag").await && has("test_results", "sample_rows").await);
    let t = wh
        .query("select run_id, status, build_tag is not null from audit.runs")
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![json!("run-1"), json!("running"), json!(true)]]);
    // Started again under the same id: still one row.
    landfall_core::audit::run_started(&wh, "run-1", "b1").await.unwrap();
    assert_eq!(
        wh.query("select count(*) from audit.runs").await.unwrap().scalar_i64(),
        1
    );
}

/// A contract's optional column: the raw table has it, a file without it loads (the column
/// null), a file with it loads it, and neither reports it as an extra column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optional_column_may_be_missing_and_loads_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let with_optional = |path: &std::path::Path, batch: &str| LoadSpec {
        optional_columns: vec!["billing".into()],
        ..spec(path, batch)
    };
    let without = dir.path().join("without.csv");
    std::fs::write(&without, "person_id,id,name,character,role\n1,tm1,A,B,ACTOR\n").unwrap();
    let out = wh.load_csv(&with_optional(&without, "b1")).await.unwrap();
    assert_eq!((out.rows, out.extra_columns.len()), (1, 0));
    let with = dir.path().join("with.csv");
    std::fs::write(
        &with,
        "billing,person_id,id,name,character,role,note\n3,2,tm1,C,D,ACTOR,x\n",
    )
    .unwrap();
    let out = wh.load_csv(&with_optional(&with, "b2")).await.unwrap();
    assert_eq!(out.extra_columns, vec!["note".to_string()]);
    let t = wh
        .query("select _batch, person_id, billing from raw.credits order by _batch")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!("b1"), json!("1"), serde_json::Value::Null],
            vec![json!("b2"), json!("2"), json!("3")]
        ]
    );
    // Required columns stay required.
    let short = dir.path().join("short.csv");
    std::fs::write(&short, "person_id,id,name,character\n4,tm1,E,F\n").unwrap();
    let e = wh.load_csv(&with_optional(&short, "b3")).await.unwrap_err();
    assert_eq!(e.name, ErrorName::BadInput);
    assert!(e.message.contains("role"), "{}", e.message);
}

/// A file in another dialect loads as its contract declares it: semicolons with commas in the
/// data, a backslash escape, a quoted header, no header at all (the contract's columns, in
/// order); what the dialect cannot read is refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_dialect_loads_semicolons_escapes_and_files_without_a_header() {
    use landfall_core::csvcheck::Dialect;
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let in_dialect = |path: &std::path::Path, batch: &str, dialect: Dialect| LoadSpec {
        table: "raw.people".into(),
        expected_columns: vec!["id".into(), "name".into(), "note".into()],
        dialect,
        ..spec(path, batch)
    };
    let semi = Dialect {
        delimiter: b';',
        escape: b'\\',
        ..Dialect::default()
    };
    let f = dir.path().join("semi.csv");
    std::fs::write(
        &f,
        "\"note\";\"id\";\"name\"\n\"a, b; \\\"c\\\" \\\\ d\";1;Zoë\n2,5;2;\"x\"\n",
    )
    .unwrap();
    assert_eq!(wh.load_csv(&in_dialect(&f, "b1", semi.clone())).await.unwrap().rows, 2);
    let t = wh
        .query("select id, name, note from raw.people where _batch = 'b1' order by _row_number")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!("1"), json!("Zoë"), json!("a, b; \"c\" \\ d")],
            vec![json!("2"), json!("x"), json!("2,5")],
        ]
    );

    let headless = Dialect {
        header: false,
        ..Dialect::default()
    };
    let f = dir.path().join("headless.csv");
    std::fs::write(&f, "1,Ann,\"first, row\"\n2,Bo,\n").unwrap();
    assert_eq!(
        wh.load_csv(&in_dialect(&f, "b2", headless.clone())).await.unwrap().rows,
        2
    );
    let t = wh
        .query("select id, name, note, _row_number from raw.people where _batch = 'b2' order by _row_number")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!("1"), json!("Ann"), json!("first, row"), json!(1)],
            vec![json!("2"), json!("Bo"), serde_json::Value::Null, json!(2)],
        ]
    );

    // Read as commas, the semicolon file is one field per record: refused, nothing written.
    let f = dir.path().join("semi_as_commas.csv");
    std::fs::write(&f, "id;name;note\n3;C;x\n").unwrap();
    let e = wh
        .load_csv(&in_dialect(&f, "b3", Dialect::default()))
        .await
        .unwrap_err();
    assert_eq!(e.name, ErrorName::BadInput);
    assert!(
        e.message.contains("lacks the expected columns 'id', 'name', 'note'"),
        "{}",
        e.message
    );
    let e = wh.load_csv(&in_dialect(&f, "b3", headless)).await.unwrap_err();
    assert!(
        e.message
            .contains("expected 3 fields, the declared columns id, name, note (the file has no header), found 1"),
        "{}",
        e.message
    );
    let f = dir.path().join("bad_escape.csv");
    std::fs::write(&f, "id;name;note\n3;C;\"a\\tb\"\n").unwrap();
    let e = wh.load_csv(&in_dialect(&f, "b3", semi)).await.unwrap_err();
    assert!(
        e.message.contains("line 2, column 8") && e.message.contains("only the quote or the escape itself"),
        "{}",
        e.message
    );
    let n = wh
        .query("select count(*) from raw.people where _batch = 'b3'")
        .await
        .unwrap();
    assert_eq!(n.scalar_i64(), 0);
}
