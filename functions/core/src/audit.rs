//! The `audit` schema: what every run did, kept in the warehouse next to the data.
//!
//! `audit.runs` (one row per run), `audit.test_results` (one row per test per run),
//! `audit.loads` (one row per file per run), `audit.raw_commits` (which load of a batch raw
//! holds), `audit.publishes` (every publish, the active one flagged), `audit.publish_lock`
//! (who is publishing now, crate::succession). The `data_health` mart
//! and `landfall rollback` read these tables.

use crate::build::RunVars;
use crate::error::{PipelineError, Result};
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
    // Added after the first release: warehouses created before get the column here.
    "alter table audit.test_results add column if not exists sample_rows varchar",
    "create table if not exists audit.run_steps (
        run_id varchar, state varchar, status varchar, attempts bigint, duration_ms bigint,
        error_name varchar, finished_at timestamp)",
    // Per-run build schemas (crate::build::build_tag) and the publish lock (crate::succession).
    "alter table audit.runs add column if not exists build_tag varchar",
    "create table if not exists audit.publish_lock (name varchar, holder varchar, acquired_at timestamp)",
    // The raw table a load wrote (crate::contract): a failed run's pending rows are found by it.
    "alter table audit.loads add column if not exists raw_table varchar",
];

/// The audit tables, as [`DDL`] creates them.
const TABLES: &[&str] = &[
    "runs",
    "test_results",
    "loads",
    "raw_commits",
    "publishes",
    "run_steps",
    "publish_lock",
];
/// Columns added to a table after its first release, `(table, column)`: present once [`DDL`] ran.
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("test_results", "sample_rows"),
    ("runs", "build_tag"),
    ("loads", "raw_table"),
];

/// Create the audit schema where it is missing. One read when it is all there: every DDL
/// statement is a commit on DuckDB and a metadata round trip on Snowflake.
pub async fn ensure(wh: &dyn Warehouse) -> Result<()> {
    if present(wh).await {
        return Ok(());
    }
    create(wh).await
}

/// `ensure`, then `statements` in one transaction: one round trip where the audit schema is
/// all there (every run but a warehouse's first). The transaction first reads every audit
/// table and added column (no rows); only when it fails does the DDL run, and the transaction
/// again. So `statements` must be safe to run twice (delete, then insert).
pub async fn ensured_transaction(wh: &dyn Warehouse, statements: &[String]) -> Result<()> {
    let mut probed = probes();
    probed.extend_from_slice(statements);
    if wh.transaction(&probed).await.is_ok() {
        return Ok(());
    }
    ensure(wh).await?;
    wh.transaction(statements).await
}

/// One statement writing no rows per audit table, naming the columns added after its first
/// release: it fails where anything [`DDL`] makes is missing. An insert of nothing, not a read
/// (a Snowflake Scripting block has no result to discard) nor an update or delete (which
/// would lock the table on Snowflake until the transaction ends; inserts do not block).
fn probes() -> Vec<String> {
    TABLES
        .iter()
        .map(|t| {
            let cols: Vec<&str> = ADDED_COLUMNS
                .iter()
                .filter(|(at, _)| at == t)
                .map(|(_, c)| *c)
                .collect();
            if cols.is_empty() {
                format!("insert into audit.{t} select * from audit.{t} where 1 = 0")
            } else {
                let cols = cols.join(", ");
                format!("insert into audit.{t} ({cols}) select {cols} from audit.{t} where 1 = 0")
            }
        })
        .collect()
}

/// Is every audit table and every added column there?
async fn present(wh: &dyn Warehouse) -> bool {
    let names = TABLES.iter().map(|t| sql_str(t)).collect::<Vec<_>>().join(", ");
    let added = ADDED_COLUMNS
        .iter()
        .map(|(t, c)| {
            format!(
                "(lower(table_name) = {} and lower(column_name) = {})",
                sql_str(t),
                sql_str(c)
            )
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let found = wh
        .query(&format!(
            "select count(distinct case when lower(table_name) in ({names}) then lower(table_name) end), \
                    count(case when {added} then 1 end) \
             from information_schema.columns where lower(table_schema) = 'audit'"
        ))
        .await
        .ok()
        .and_then(|t| t.rows.first().cloned());
    matches!(found, Some(r) if r.len() == 2
        && crate::warehouse::as_i64(&r[0]) == Some(TABLES.len() as i64)
        && crate::warehouse::as_i64(&r[1]) == Some(ADDED_COLUMNS.len() as i64))
}

async fn create(wh: &dyn Warehouse) -> Result<()> {
    wh.execute_ddl(&DDL.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .await
}

pub fn opt(s: Option<&str>) -> String {
    s.map(sql_str).unwrap_or_else(|| "null".into())
}

/// Record a run's start (or restart under the same id), creating the audit schema where it
/// is missing ([`ensured_transaction`]).
pub async fn run_started(wh: &dyn Warehouse, run_id: &str, batch: &str) -> Result<()> {
    ensured_transaction(wh, &[
        format!("delete from audit.runs where run_id = {}", sql_str(run_id)),
        format!(
            "insert into audit.runs (run_id, batch, started_at, status, published, build_tag) values ({}, {}, current_timestamp::timestamp, 'running', false, {})",
            sql_str(run_id),
            sql_str(batch),
            sql_str(&crate::build::build_tag(run_id))
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

/// One state of a run, for the report's timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepRow {
    pub state: String,
    pub status: String,
    pub attempts: u32,
    pub duration_ms: u64,
    pub error_name: Option<String>,
}

/// Record states of a run (replacing earlier rows of the same states: a retried Lambda
/// invocation records its latest attempt).
pub async fn record_steps(wh: &dyn Warehouse, run_id: &str, steps: &[StepRow]) -> Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = steps.iter().map(|s| sql_str(&s.state)).collect();
    let values: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "({}, {}, {}, {}, {}, {}, current_timestamp::timestamp)",
                sql_str(run_id),
                sql_str(&s.state),
                sql_str(&s.status),
                s.attempts,
                s.duration_ms,
                opt(s.error_name.as_deref())
            )
        })
        .collect();
    wh.transaction(&[
        format!(
            "delete from audit.run_steps where run_id = {} and state in ({})",
            sql_str(run_id),
            names.join(", ")
        ),
        format!(
            "insert into audit.run_steps (run_id, state, status, attempts, duration_ms, error_name, finished_at) values {}",
            values.join(", ")
        ),
    ])
    .await
}

/// End a run that publishes nothing (`failed` or `superseded`): its uncommitted raw rows go and
/// `audit.runs` says why, in one transaction.
pub async fn finish_unpublished(
    wh: &dyn Warehouse,
    run: &RunVars,
    status: &str,
    state: &str,
    err: &PipelineError,
) -> Result<()> {
    ensure(wh).await?;
    // Whatever the run still has running on the warehouse stops (crate::inflight).
    match crate::inflight::cancel_run(wh, &run.run_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(cancelled = n, "the run's running statements were cancelled"),
        Err(e) => tracing::warn!(error = %e.name, "the run's statements were not cancelled: {}", e.message),
    }
    // The run's raw rows are where its loads recorded them: each load's audit row commits with
    // its rows (LoadSpec::audit_row).
    let tables_sql = format!(
        "select distinct raw_table from audit.loads where run_id = {} and raw_table is not null order by 1",
        sql_str(&run.run_id)
    );
    let (committed, tables) = futures_util::future::join(committed_load(wh, &run.batch), wh.query(&tables_sql)).await;
    let (committed, tables) = (committed?, tables?);
    let mut stmts = Vec::new();
    if committed.as_deref() != Some(run.run_id.as_str()) {
        for t in tables.rows.iter().filter_map(|r| r[0].as_str()) {
            stmts.push(format!("delete from {t} where _load_id = {}", sql_str(&run.run_id)));
        }
    }
    stmts.push(format!(
        "update audit.runs set status = {}, failed_state = {}, error_name = {}, error_cause = {}, finished_at = current_timestamp::timestamp where run_id = {}",
        sql_str(status),
        sql_str(state),
        sql_str(err.name.as_str()),
        sql_str(&crate::alerts::truncate(&err.message, 4000)),
        sql_str(&run.run_id)
    ));
    wh.transaction(&stmts).await
}
