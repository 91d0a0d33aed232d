//! Landfall on a feed that is not the flagship's: `landfall init` scaffolds a project from
//! sample files that `landfall run` publishes and real dbt builds alike, and a second project
//! (tests/fixtures/shop: three files, semicolons, a quoted header, orders referring to
//! customers) keeps every bad-input guarantee.

mod support;

#[path = "support/shop.rs"]
mod shop;

use shop::land_shop;
use std::path::{Path, PathBuf};
use support::{Fixture, assert_failed, assert_ok, step_names};

fn shop_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/shop")
}

fn landfall(f: &Fixture, args: &[&str]) -> std::process::Output {
    f.cmd().args(args).output().unwrap()
}

/// `landfall init` on three samples writes the contract (each header, its sniffed dialect),
/// typed staging models and not_null tests; `landfall run` publishes them; real dbt builds the
/// scaffolded project over a copy of the warehouse to the same rows.
#[test]
fn init_scaffolds_a_project_that_landfall_publishes_and_dbt_builds_alike() {
    let f = Fixture::new();
    let samples = f.dir.path().join("samples");
    land_shop(&samples, 6);
    let project = f.dir.path().join("my_shop");
    let s = |n: &str| samples.join(n).to_string_lossy().into_owned();
    let out = landfall(
        &f,
        &[
            "init",
            project.to_str().unwrap(),
            "--from",
            &s("customers.csv"),
            "--from",
            &s("orders.csv"),
            "--from",
            &s("products.csv"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("orders.csv: table raw.orders, 4 columns, 15 sample rows, delimiter ';'"),
        "{stdout}"
    );
    let sources = std::fs::read_to_string(project.join("models/staging/_sources.yml")).unwrap();
    assert!(
        sources.contains(r#"required: ["Order ID", "Customer ID", "Amount", "Note"]"#)
            && sources
                .contains(r#"dialect: {delimiter: ";", quote: "\"", escape: "\"", header: true, encoding: utf-8}"#),
        "{sources}"
    );
    let stg = std::fs::read_to_string(project.join("models/staging/stg_orders.sql")).unwrap();
    assert!(
        stg.contains(r#"try_cast(nullif(trim("Amount"), '') as double) as amount"#),
        "{stg}"
    );
    assert!(stg.contains(r#"nullif(trim("Note"), '') as note"#), "{stg}");
    let tests = std::fs::read_to_string(project.join("models/staging/_staging.yml")).unwrap();
    let note = tests.split("- name: note").nth(1).unwrap();
    assert!(
        !note.trim_start().starts_with("data_tests"),
        "a column with empty values has no not_null"
    );

    // A second init into the same folder refuses to overwrite it.
    let again = landfall(&f, &["init", project.to_str().unwrap(), "--from", &s("orders.csv")]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    land_shop(&f.batch_dir("b1"), 6);
    let o = f.run_project("b1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(
        o.summary["loaded"],
        serde_json::json!({"customers": 6, "orders": 15, "products": 2})
    );
    assert!(
        o.summary["tests"]["passed"].as_u64().unwrap() >= 10,
        "{}",
        o.summary["tests"]
    );
    let ours = f.query("select * exclude (source_row) from staging.stg_orders order by all");
    assert_eq!(ours.rows.len(), 15);
    assert_eq!(ours.columns, ["order_id", "customer_id", "amount", "note"]);
    let typed = f.query("select typeof(order_id), typeof(amount), typeof(note) from staging.stg_orders limit 1");
    assert_eq!(typed.rows[0], ["BIGINT", "DOUBLE", "VARCHAR"]);
    let vip = f.query("select typeof(vip), typeof(signed_up), count(*) filter (where name like '%;%') from staging.stg_customers group by all");
    assert_eq!(
        vip.rows[0],
        [
            serde_json::json!("BOOLEAN"),
            serde_json::json!("DATE"),
            serde_json::json!(2)
        ]
    );

    // Real dbt builds the scaffolded project over a copy of the warehouse: the same rows.
    let copy = f.dir.path().join("dbt.duckdb");
    support::dbt_ok(&f, &project, &copy, &["build", "--vars", "{batch: b1}"]);
    let theirs = support::query_file(
        &copy,
        "select * exclude (source_row) from staging.stg_orders order by all",
    );
    assert_eq!(theirs, ours, "dbt and landfall built different rows");
}

/// The shop project end to end: it publishes its mart, and every bad input is refused naming
/// the file (and line and column where there is one), with one alert and the published mart
/// untouched: a missing file, a renamed header column, a malformed row; an order of an unknown
/// customer fails the relationship test at the gate.
#[test]
fn the_shop_feed_publishes_and_keeps_every_bad_input_guarantee() {
    let f = Fixture::new();
    let project = shop_project();
    land_shop(&f.batch_dir("b1"), 8);
    let o = f.run_project("b1", &project, &[], &[]);
    assert_ok(&o);
    let names = step_names(&o);
    for file in ["customers", "orders", "products"] {
        assert!(names.contains(&format!("LoadFile[{file}]")), "{names:?}");
    }
    let mart = || f.query("select * from marts.customer_revenue order by customer_id");
    let published = mart();
    assert_eq!(published.rows.len(), 8);
    assert_eq!(published.rows[7][2], 0, "the last customer has no orders");
    let alerts = || f.alerts_sent().len();
    assert_eq!(alerts(), 0);

    let refused = |batch: &str, change: &dyn Fn(&Path), name: &str, says: &[&str]| {
        land_shop(&f.batch_dir(batch), 9);
        change(&f.batch_dir(batch));
        let before = alerts();
        let o = f.run_project(batch, &project, &[], &[]);
        let cause = assert_failed(&o, name);
        for s in says {
            assert!(cause.contains(s), "{batch}: {cause}");
        }
        assert_eq!(alerts(), before + 1, "{batch}: one alert");
        assert_eq!(mart(), published, "{batch}: the published mart is untouched");
        // A file refused before the batch commits leaves nothing of it in raw.
        for t in ["customers", "orders", "products"]
            .iter()
            .filter(|_| name == "Landfall.BadInput")
        {
            let n = f
                .query(&format!("select count(*) from raw.{t} where _batch = '{batch}'"))
                .scalar_i64();
            assert_eq!(n, 0, "{batch}: raw.{t} holds none of it");
        }
    };
    refused(
        "missing",
        &|d| std::fs::remove_file(d.join("products.csv")).unwrap(),
        "Landfall.BadInput",
        &["products.csv: missing", "customers.csv, orders.csv, products.csv"],
    );
    refused(
        "renamed",
        &|d| {
            let p = d.join("orders.csv");
            let t = std::fs::read_to_string(&p)
                .unwrap()
                .replacen("\"Amount\"", "\"Total\"", 1);
            std::fs::write(p, t).unwrap();
        },
        "Landfall.BadInput",
        &["orders.csv line 1", "'Amount'", "'Total'"],
    );
    refused(
        "malformed",
        &|d| {
            let p = d.join("customers.csv");
            let mut t = std::fs::read_to_string(&p).unwrap();
            t += "99;\"never closed;2026-01-01;true\n";
            std::fs::write(p, t).unwrap();
        },
        "Landfall.BadInput",
        &["customers.csv line 11, column 4", "never closed"],
    );
    refused(
        "orphan",
        &|d| {
            let p = d.join("orders.csv");
            let mut t = std::fs::read_to_string(&p).unwrap();
            t += "999;4242;1.00;who is this\n";
            std::fs::write(p, t).unwrap();
        },
        "Landfall.QualityGate",
        &["relationships_stg_orders_customer_id"],
    );
}
