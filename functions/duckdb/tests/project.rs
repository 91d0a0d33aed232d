//! The dbt-compatible project runner on DuckDB, on small projects written here: view and
//! incremental materializations, `is_incremental()`, `this`, vars, old- and new-style tests
//! with `severity`, `where`, `warn_if` / `error_if`, custom generic tests, singular tests.

use landfall_core::build::{self, RunVars};
use landfall_core::quality::{self, TestStatus};
use landfall_core::warehouse::Warehouse;
use landfall_dbt::Project;
use landfall_duckdb::{DuckOptions, DuckWarehouse};
use serde_json::json;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn project(root: &Path) {
    write(
        root,
        "dbt_project.yml",
        "name: p\nvars:\n  factor: 10\nmodels:\n  p:\n    base:\n      +materialized: view\n      +schema: s1\n    agg:\n      +schema: s2\n",
    );
    write(
        root,
        "macros/m.sql",
        "{% macro times(x) %}{{ x }} * {{ var('factor') }}{% endmacro %}\n{% test positive(model, column_name) %}select * from {{ model }} where {{ column_name }} <= 0{% endtest %}\n",
    );
    write(
        root,
        "models/sources.yml",
        "version: 2\nsources:\n  - name: src\n    schema: main\n    tables:\n      - name: events\n",
    );
    write(
        root,
        "models/base/events_v.sql",
        "select id, {{ times('amount') }} as amount, batch from {{ source('src', 'events') }} where batch = '{{ var(\"batch\") }}'",
    );
    write(
        root,
        "models/agg/events_inc.sql",
        "{{ config(materialized='incremental', unique_key='id') }}\nselect id, amount, batch, {{ 'true' if is_incremental() else 'false' }} as incremental_run from {{ ref('events_v') }}\n{% if is_incremental() %}where id >= (select max(id) from {{ this }}) {% endif %}",
    );
    write(
        root,
        "models/agg/schema.yml",
        "version: 2\nmodels:\n  - name: events_inc\n    columns:\n      - name: id\n        tests:\n          - unique\n          - not_null\n      - name: amount\n        data_tests:\n          - positive:\n              config:\n                severity: warn\n          - accepted_values:\n              arguments:\n                values: [10, 20, 30]\n                quote: false\n              config:\n                where: \"id < 3\"\n                error_if: '>5'\n                warn_if: '>0'\n",
    );
    write(
        root,
        "tests/no_big_amounts.sql",
        "select * from {{ ref('events_inc') }} where amount > 1000",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_incremental_and_every_test_flavour() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let p = Project::load(dir.path()).unwrap();
    assert_eq!(
        p.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["events_v", "events_inc"]
    );
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    wh.execute("create table main.events (id int, amount int, batch varchar); insert into main.events values (1, 1, 'a'), (2, 2, 'a'), (2, 3, 'b'), (3, -1, 'b')")
        .await
        .unwrap();
    let models: Vec<_> = p.models.iter().collect();

    let run_a = RunVars {
        run_id: "r1".into(),
        batch: "a".into(),
        full_refresh: false,
        bucket: String::new(),
        ..Default::default()
    };
    build::build_models(&p, &wh, &run_a, &models).await.unwrap();
    // The view is the run's own; the incremental model is shared by every run (it grows).
    let t = wh
        .query(&format!(
            "select table_type from information_schema.tables where table_schema = '{}' and table_name = 'events_v'",
            build::build_schema("s1", "r1")
        ))
        .await
        .unwrap();
    assert_eq!(t.rows[0][0], json!("VIEW"));
    let t = wh
        .query("select id, amount, incremental_run from build_s2.events_inc order by id")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!(1), json!(10), json!(false)],
            vec![json!(2), json!(20), json!(false)]
        ]
    );

    // Second batch: incremental merges on the unique key (id 2 replaced, id 3 added).
    let run_b = RunVars {
        run_id: "r2".into(),
        batch: "b".into(),
        full_refresh: false,
        bucket: String::new(),
        ..Default::default()
    };
    build::build_models(&p, &wh, &run_b, &models).await.unwrap();
    let t = wh
        .query("select id, amount, batch, incremental_run from build_s2.events_inc order by id")
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![
            vec![json!(1), json!(10), json!("a"), json!(false)],
            vec![json!(2), json!(30), json!("b"), json!(true)],
            vec![json!(3), json!(-10), json!("b"), json!(true)],
        ]
    );

    let results = quality::run_tests(&p, &wh, &run_b).await.unwrap();
    let by = |name: &str| {
        results
            .iter()
            .find(|r| r.name.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {results:#?}"))
    };
    assert_eq!(by("unique_events_inc_id").status, TestStatus::Pass);
    assert_eq!(by("not_null_events_inc_id").status, TestStatus::Pass);
    // custom generic test, severity warn: one non-positive amount
    let pos = by("positive_events_inc_amount");
    assert_eq!((pos.status, pos.failures), (TestStatus::Warn, 1));
    // accepted_values with where (id < 3 → amounts 10 and 30, both accepted) passes
    assert_eq!(by("accepted_values_events_inc_amount").status, TestStatus::Pass);
    assert_eq!(by("no_big_amounts").status, TestStatus::Pass);
    assert!(quality::gate(&results).is_ok());

    // full refresh rebuilds from scratch
    let run_c = RunVars {
        run_id: "r3".into(),
        batch: "b".into(),
        full_refresh: true,
        bucket: String::new(),
        ..Default::default()
    };
    build::build_models(&p, &wh, &run_c, &models).await.unwrap();
    assert_eq!(
        wh.query("select count(*) from build_s2.events_inc")
            .await
            .unwrap()
            .scalar_i64(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_if_and_warn_if_thresholds_decide_the_status() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dbt_project.yml",
        "name: q\nmodels:\n  q:\n    +materialized: table\n",
    );
    write(
        dir.path(),
        "models/t.sql",
        "select * from (values (1), (null), (null), (null)) v(x)",
    );
    write(
        dir.path(),
        "models/t.yml",
        "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: x\n        data_tests:\n          - not_null:\n              config:\n                error_if: '>5'\n                warn_if: '>2'\n",
    );
    let p = Project::load(dir.path()).unwrap();
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
    let run = RunVars {
        run_id: "r".into(),
        batch: "b".into(),
        full_refresh: false,
        bucket: String::new(),
        ..Default::default()
    };
    build::build_models(&p, &wh, &run, &p.models.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let r = quality::run_tests(&p, &wh, &run).await.unwrap();
    assert_eq!((r[0].status, r[0].failures), (TestStatus::Warn, 3));
}

#[test]
fn broken_projects_are_config_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "dbt_project.yml", "name: q\n");
    write(dir.path(), "models/a.sql", "select * from {{ ref('nope') }}");
    let e = landfall_core::PipelineError::from(Project::load(dir.path()).unwrap_err());
    assert_eq!(e.name, landfall_core::ErrorName::Config);
    assert!(
        e.message.contains("models/a.sql") && e.message.contains("nope"),
        "{}",
        e.message
    );
    write(dir.path(), "models/a.sql", "select 1 {% if %}");
    let e = Project::load(dir.path()).unwrap_err();
    assert!(e.message.contains("models/a.sql line 1"), "{}", e.message);
    write(dir.path(), "models/a.sql", "select * from {{ ref('b') }}");
    write(dir.path(), "models/b.sql", "select * from {{ ref('a') }}");
    let e = Project::load(dir.path()).unwrap_err();
    assert!(e.message.contains("cycle"), "{}", e.message);
}

/// A diamond of models built four at a time in the in-memory catalog: each starts once its
/// refs are built, results come back in the project's order, a failing model stops its
/// dependants, and `keep_builds` copies into the file what it is asked to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_build_side_by_side_in_ref_order_and_builds_are_kept_on_request() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dbt_project.yml",
        "name: d\nmodels:\n  d:\n    +schema: s\n    +materialized: table\n",
    );
    write(dir.path(), "models/a.sql", "select range as i from range(200000)");
    write(dir.path(), "models/b.sql", "select i * 2 as i from {{ ref('a') }}");
    write(dir.path(), "models/c.sql", "select i + 1 as i from {{ ref('a') }}");
    write(
        dir.path(),
        "models/d.sql",
        "select (select sum(i) from {{ ref('b') }}) + (select sum(i) from {{ ref('c') }}) as total",
    );
    let p = Project::load(dir.path()).unwrap();
    let opts = DuckOptions {
        threads: Some(4),
        scratch_builds: true,
        ..Default::default()
    };
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &opts).unwrap();
    assert_eq!(wh.concurrency(), 4);
    let run = RunVars {
        run_id: "r".into(),
        batch: "b".into(),
        full_refresh: false,
        bucket: String::new(),
        ..Default::default()
    };
    let models: Vec<_> = p.models.iter().collect();
    let built = build::build_models(&p, &wh, &run, &models).await.unwrap();
    let names: Vec<_> = built.iter().map(|m| m.name.as_str()).collect();
    let given: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, given);
    assert!(
        built.iter().all(|m| m
            .relation
            .starts_with(&format!("scratch.{}.", build::build_schema("s", "r")))),
        "{built:?}"
    );
    let n: i64 = 200000 * 199999 / 2;
    let s = build::build_schema("s", "r");
    let total = wh.query(&format!("select total from scratch.{s}.d")).await.unwrap();
    assert_eq!(total.scalar_i64(), 2 * n + (n + 200000));
    // nothing of the build is in the file until kept
    let in_file =
        "select count(*) from duckdb_tables() where database_name = current_database() and schema_name = 'build_s'";
    assert_eq!(wh.query(in_file).await.unwrap().scalar_i64(), 0);
    assert_eq!(wh.keep_builds("r", &["build_s.c".into()], false).await.unwrap(), 1);
    assert_eq!(
        wh.query("select count(*) from build_s.c").await.unwrap().scalar_i64(),
        200000
    );
    assert_eq!(wh.query(in_file).await.unwrap().scalar_i64(), 1);
    assert_eq!(wh.keep_builds("r", &[], true).await.unwrap(), 4);
    assert_eq!(wh.query(in_file).await.unwrap().scalar_i64(), 4);

    // b fails: d (which needs it) never starts, the error names b
    write(dir.path(), "models/b.sql", "select no_such_column from {{ ref('a') }}");
    let p = Project::load(dir.path()).unwrap();
    wh.execute(&format!("drop table scratch.{s}.d")).await.unwrap();
    let e = build::build_models(&p, &wh, &run, &p.models.iter().collect::<Vec<_>>())
        .await
        .unwrap_err();
    assert!(e.message.contains("model b"), "{}", e.message);
    let d = wh
        .query("select count(*) from duckdb_tables() where database_name = 'scratch' and table_name = 'd'")
        .await
        .unwrap();
    assert_eq!(d.scalar_i64(), 0);
}

/// The gate's counts come from one `union all` per connection: on one connection (as on
/// Snowflake) every test is answered by a single statement, each test keeps its own count and
/// sample; a broken test among them is named in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_counts_every_test_in_one_statement_and_names_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "dbt_project.yml",
        "name: q\nmodels:\n  q:\n    +materialized: table\n",
    );
    write(
        dir.path(),
        "models/t.sql",
        "select * from (values (1, 'a'), (2, null), (2, 'c')) v(id, name)",
    );
    write(
        dir.path(),
        "models/t.yml",
        "version: 2\nmodels:\n  - name: t\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n      - name: name\n        data_tests:\n          - not_null:\n              config: {severity: warn}\n",
    );
    write(
        dir.path(),
        "tests/no_threes.sql",
        "select * from {{ ref('t') }} where id = 3",
    );
    let sql_log = dir.path().join("sql.log");
    let opts = DuckOptions {
        threads: Some(1),
        sql_log: Some(sql_log.clone()),
        ..DuckOptions::default()
    };
    let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &opts).unwrap();
    assert_eq!(wh.concurrency(), 1);
    let p = Project::load(dir.path()).unwrap();
    let run = RunVars {
        run_id: "r".into(),
        batch: "b".into(),
        ..Default::default()
    };
    build::build_models(&p, &wh, &run, &p.models.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let before = std::fs::read_to_string(&sql_log).unwrap().len();
    let r = quality::run_tests(&p, &wh, &run).await.unwrap();
    let by = |n: &str| {
        r.iter()
            .find(|t| t.name.starts_with(n))
            .unwrap_or_else(|| panic!("{n}: {r:?}"))
    };
    assert_eq!(
        (by("unique_t_id").status, by("unique_t_id").failures),
        (TestStatus::Fail, 1)
    );
    assert_eq!(by("not_null_t_id").status, TestStatus::Pass);
    assert_eq!(
        (by("not_null_t_name").status, by("not_null_t_name").failures),
        (TestStatus::Warn, 1)
    );
    assert_eq!(by("no_threes").status, TestStatus::Pass);
    assert_eq!(
        by("unique_t_id").sample.as_ref().unwrap().rows.len(),
        1,
        "a failing test keeps its sample"
    );
    let log = std::fs::read_to_string(&sql_log).unwrap()[before..].to_string();
    let statements: Vec<&str> = log
        .split(landfall_duckdb::SQL_LOG_SEPARATOR)
        .filter(|s| !s.trim().is_empty())
        .collect();
    // One statement for the four counts, then one sample per test with failing rows.
    assert_eq!(statements.len(), 3, "{statements:#?}");
    assert_eq!(statements[0].matches("union all").count(), 3, "{}", statements[0]);

    write(
        dir.path(),
        "tests/broken.sql",
        "select no_such_column from {{ ref('t') }}",
    );
    let p = Project::load(dir.path()).unwrap();
    let e = quality::run_tests(&p, &wh, &run).await.unwrap_err();
    assert!(e.message.contains("test broken"), "{}", e.message);
}
