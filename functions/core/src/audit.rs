//! The `audit` schema: what every run did, kept in the warehouse next to the data.
//!
//! `audit.runs` (one row per run), `audit.test_results` (one row per test per run),
//! `audit.loads` (one row per file per run), `audit.raw_commits` (which load of a batch raw
//! holds), `audit.publishes` (every publish, the active one flagged). The `data_health` mart
//! and `landfall rollback` read these tables.

use crate::error::Result;
use crate::warehouse::{Warehouse, sql_str};

pub const DDL: &[&str] = &[
    "create schema if not exists audit",
    "create schema if not exists raw",
    "create table if not exists audit.runs (
        run_id varchar, batch varchar, started_at timestamp, finished_at timestamp, status varchar,
        failed_state varchar, error_name varchar, error_cause varchar, rows_loaded bigint,
        rows_rejected bigint, column_test_coverage double, published boolean)",
    "create table if not exists audit.test_results (
        run_id varchar, test_name varchar, test_kind varchar, model varchar, column_name varchar,
        severity varchar, status varchar, failures bigint, message varchar, executed_at timestamp)",
    "create table if not exists audit.loads (
        run_id varchar, batch varchar, file varchar, source varchar, etag varchar, rows bigint, loaded_at timestamp)",
    "create table if not exists audit.raw_commits (batch varchar, load_id varchar, committed_at timestamp)",
    "create table if not exists audit.publishes (
        publish_seq bigint, run_id varchar, batch varchar, published_at timestamp, active boolean, models varchar)",
];

pub async fn ensure(wh: &dyn Warehouse) -> Result<()> {
    wh.execute(&DDL.join(";\n")).await
}

pub fn opt(s: Option<&str>) -> String {
    s.map(sql_str).unwrap_or_else(|| "null".into())
}

/// Record a run's start (or restart under the same id).
pub async fn run_started(wh: &dyn Warehouse, run_id: &str, batch: &str) -> Result<()> {
    wh.transaction(&[
        format!("delete from audit.runs where run_id = {}", sql_str(run_id)),
        format!(
            "insert into audit.runs (run_id, batch, started_at, status, published) values ({}, {}, current_timestamp::timestamp, 'running', false)",
            sql_str(run_id),
            sql_str(batch)
        ),
    ])
    .await
}

/// The committed load of a batch, if any.
pub async fn committed_load(wh: &dyn Warehouse, batch: &str) -> Result<Option<String>> {
    let t = wh
        .query(&format!(
            "select load_id from audit.raw_commits where batch = {}",
            sql_str(batch)
        ))
        .await?;
    Ok(t.scalar().and_then(|v| v.as_str()).map(str::to_string))
}
