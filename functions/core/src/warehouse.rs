//! The `Warehouse` trait: the one seam between the pipeline and a SQL engine.
//!
//! Like ripgrep's `Matcher`, the trait lives here and engines implement it elsewhere
//! (`landfall-duckdb`, the Snowflake adapter); handlers never know which engine runs.
//! Everything the pipeline needs from an engine is SQL text plus three operations an engine
//! does its own way: loading a CSV object into raw, running statements atomically, and the
//! atomic publish of audited marts.

use crate::error::{PipelineError, Result};
use async_trait::async_trait;
use landfall_dbt::Relation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A query result: column names and rows of JSON values (numbers, strings, booleans, nulls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The first column of the first row, if any.
    pub fn scalar(&self) -> Option<&Value> {
        self.rows.first().and_then(|r| r.first())
    }
    pub fn scalar_i64(&self) -> i64 {
        self.scalar().and_then(as_i64).unwrap_or(0)
    }
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Read an integer out of a JSON value that may be a number or a numeric string.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The columns every raw table has after the file's own (DESIGN.md §3, plus `_load_id`).
pub const RAW_LINEAGE_COLUMNS: &[&str] = &[
    "_batch varchar",
    "_source_file varchar",
    "_source_etag varchar",
    "_row_number bigint",
    "_loaded_at timestamp",
    "_load_id varchar",
];

/// One CSV object to load into a raw table, replacing the batch's previous rows.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Fully qualified raw table, e.g. `raw.titles`.
    pub table: String,
    /// Where the engine reads the file: a local path for DuckDB, a stage path for Snowflake.
    pub location: String,
    /// What errors call the file (its URL or path).
    pub display_name: String,
    pub batch: String,
    pub etag: String,
    /// Columns the contract requires; extra columns in the file are loaded too.
    pub expected_columns: Vec<String>,
    /// Columns the contract knows but the file may lack: the raw table has them (null when
    /// the file does not), and a file that has them loads them like the required ones.
    pub optional_columns: Vec<String>,
    /// The file's header as `CheckFiles` read it (empty: not known, read the file's own).
    /// Engines that never see the bytes (Snowflake's COPY) shape the load from it.
    pub file_columns: Vec<String>,
    /// This load's id, kept in `_load_id` on every row until the batch is committed.
    pub load_id: String,
    /// The batch's committed load, which stays; any other rows of the batch (leftovers of a
    /// failed run) are removed. `None`: nothing of this batch is committed yet.
    pub keep_load_id: Option<String>,
    /// A query of the load ids whose rows are spared: a slow older load never deletes a newer
    /// execution's (crate::succession::newer_runs_sql). `None`: no audit to ask.
    pub spared_loads: Option<String>,
    /// The file's name in the contract (`titles`): the load is recorded in `audit.loads` under
    /// it, in the transaction that writes the rows ([`LoadSpec::audit_row`]). `None`: no audit.
    pub record_as: Option<String>,
    /// How the file is written (its contract's dialect).
    pub dialect: crate::csvcheck::Dialect,
}

impl LoadSpec {
    /// `where` clause of the raw rows this load replaces: the batch's rows other than its
    /// committed load, except a newer execution's.
    pub fn replaced_rows(&self) -> String {
        let mut w = format!(
            "_batch = {} and _load_id is distinct from {}",
            sql_str(&self.batch),
            self.keep_load_id
                .as_deref()
                .map(sql_str)
                .unwrap_or_else(|| "null".into())
        );
        if let Some(spared) = &self.spared_loads {
            w += &format!(" and _load_id not in ({spared})");
        }
        w
    }

    /// The `audit.loads` row of this load of `rows` rows, for the engine to insert with them.
    pub fn audit_row(&self, rows: u64) -> Option<String> {
        self.record_as.as_ref().map(|file| {
            format!(
                "insert into audit.loads (run_id, batch, file, source, etag, rows, loaded_at, raw_table) values ({}, {}, {}, {}, {}, {rows}, current_timestamp::timestamp, {})",
                sql_str(&self.load_id),
                sql_str(&self.batch),
                sql_str(file),
                sql_str(&self.display_name),
                sql_str(&self.etag),
                sql_str(&self.table),
            )
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadOutcome {
    pub rows: u64,
    /// Columns found in the file beyond the contract.
    pub extra_columns: Vec<String>,
}

#[async_trait]
pub trait Warehouse: Send + Sync {
    /// `target.type` for the SQL project: `duckdb` or `snowflake`.
    fn target_type(&self) -> &'static str;
    /// The database name for `target.database`.
    fn database(&self) -> String;
    /// How many independent statements the pipeline may run at once (tests of a gate,
    /// models of a layer whose inputs are built). One: strictly in order.
    fn concurrency(&self) -> usize {
        1
    }
    /// Run one or more statements that return nothing of interest.
    async fn execute(&self, sql: &str) -> Result<()>;
    /// Run DDL statements in order, with as few commits as the engine allows: Snowflake commits
    /// each by itself (and fakesnow refuses DDL inside `begin`), DuckDB takes them in one
    /// transaction (one WAL flush instead of one per statement).
    async fn execute_ddl(&self, statements: &[String]) -> Result<()> {
        self.execute(&statements.join(";\n")).await
    }
    /// Run a query and fetch its rows.
    async fn query(&self, sql: &str) -> Result<Table>;
    /// Work that may run long — a model build, a COPY, a test over a big table — as opposed
    /// to bookkeeping. An engine that submits statements asynchronously lets it outlive the
    /// invocation (crate::inflight); the default runs it like [`execute`](Self::execute).
    async fn execute_long(&self, sql: &str) -> Result<()> {
        self.execute(sql).await
    }
    /// [`query`](Self::query) for work that may run long (see [`execute_long`](Self::execute_long)).
    async fn query_long(&self, sql: &str) -> Result<Table> {
        self.query(sql).await
    }
    /// The engine's asynchronous submission, where it has one (Snowflake): warehouse states
    /// then return a handle instead of waiting (crate::inflight). DuckDB answers at once.
    fn asynchronous(&self) -> Option<&dyn AsyncStatements> {
        None
    }
    /// Run statements in one transaction: all take effect or none.
    async fn transaction(&self, statements: &[String]) -> Result<()>;
    /// Load one CSV object into a raw table as text, replacing the batch's rows atomically.
    async fn load_csv(&self, spec: &LoadSpec) -> Result<LoadOutcome>;
    /// Does a table or view exist?
    async fn relation_exists(&self, rel: &Relation) -> Result<bool>;
    /// Column names of a relation, in order.
    async fn columns(&self, rel: &Relation) -> Result<Vec<String>>;
    /// The columns a query returns, as the engine reports them for a result (dbt's
    /// `get_column_schema_from_query`), without reading any row: what an enforced contract is
    /// checked with and what unit test fixtures are cast to.
    async fn describe(&self, sql: &str) -> Result<Vec<ResultColumn>>;
    /// [`columns`](Self::columns) of several relations, in their order (empty for one that
    /// does not exist). Engines where a statement is a round trip answer in one.
    async fn columns_of(&self, rels: &[Relation]) -> Result<Vec<Vec<String>>> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // Collected first: a stream over the closure trips rustc's higher-ranked `Send` check.
        let jobs: Vec<_> = rels.iter().map(|r| self.columns(r)).collect();
        stream::iter(jobs)
            .buffered(self.concurrency().max(1))
            .try_collect()
            .await
    }
    /// The database build relations live in when it is not the warehouse's own: `landfall
    /// run` keeps a run's builds in memory on DuckDB (they are scratch until published).
    fn build_catalog(&self) -> Option<&str> {
        None
    }
    /// Make each `(source, target)` copy visible at once — readers see all old or all new
    /// tables — then run `then` (bookkeeping DML) atomically with it where the engine can.
    /// The default is one transaction of `create or replace table … as select`, which DuckDB
    /// makes atomic; Snowflake commits DDL implicitly and swaps a cloned schema in instead.
    /// `prepare` (schemas, the archive copies) runs first; engines that can put it in the same
    /// transaction do (one commit, one WAL flush on DuckDB).
    async fn publish_tables(&self, prepare: &[String], copies: &[(String, String)], then: &[String]) -> Result<()> {
        let mut stmts: Vec<String> = prepare.to_vec();
        stmts.extend(
            copies
                .iter()
                .map(|(src, dst)| format!("create or replace table {dst} as select * from {src}")),
        );
        stmts.extend(then.iter().cloned());
        self.transaction(&stmts).await
    }
}

/// Run `jobs` up to the warehouse's [`concurrency`](Warehouse::concurrency) at once; results
/// in the jobs' order. Every job runs to its end (a job dropped mid-way could leave a
/// submitted statement nobody follows, crate::inflight); then the first error is returned,
/// a real one before `Pending`. The jobs come boxed: a stream of closures' futures trips
/// rustc's higher-ranked `Send` check.
pub async fn side_by_side<'a, T: Send + 'a>(
    wh: &dyn Warehouse,
    jobs: Vec<futures_util::future::BoxFuture<'a, Result<T>>>,
) -> Result<Vec<T>> {
    use futures_util::stream::{self, StreamExt};
    let all: Vec<Result<T>> = stream::iter(jobs).buffered(wh.concurrency().max(1)).collect().await;
    first_error(all)
}

/// All the values, or the first real error, or the first `Pending` (crate::inflight).
fn first_error<T>(all: Vec<Result<T>>) -> Result<Vec<T>> {
    let mut pending = None;
    let mut out = Vec::with_capacity(all.len());
    for r in all {
        match r {
            Ok(v) => out.push(v),
            Err(e) if e.name == crate::error::ErrorName::Pending => {
                pending.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match pending {
        Some(p) => Err(p),
        None => Ok(out),
    }
}

pub use landfall_dbt::compile::{portable_ident, sql_str};

/// A column of a query's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultColumn {
    pub name: String,
    /// A type SQL can cast to: `VARCHAR`, `DECIMAL(10,2)`, `NUMBER(38,0)`.
    pub data_type: String,
    /// What dbt's adapter compares a contract by: DuckDB's type name, Snowflake's type
    /// family (`FIXED`, `TEXT`, …).
    pub family: String,
}

/// `sql` wrapped so that it reads no row, as dbt's `get_empty_subquery_sql`.
pub fn empty_subquery(sql: &str) -> String {
    format!("select * from (\n{sql}\n) as __dbt_sbq\nwhere false\nlimit 0")
}

/// Where a submitted statement is.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Running,
    Succeeded,
    /// With the engine's error (classified, message as the warehouse said it).
    Failed(PipelineError),
}

/// An engine's asynchronous submission (Snowflake's `asyncExec`, firn's `submit_async`);
/// crate::inflight journals and replays it.
#[async_trait]
pub trait AsyncStatements: Send + Sync {
    /// Start one statement; its id at once.
    async fn submit(&self, sql: &str) -> Result<String>;
    async fn status(&self, id: &str) -> Result<Status>;
    /// The rows of a statement that succeeded.
    async fn rows(&self, id: &str) -> Result<Table>;
    /// Where a query is, and its rows once it succeeded. An engine may ask both at once (one
    /// round trip in the chain instead of two); the default asks one after the other.
    async fn outcome(&self, id: &str) -> Result<(Status, Option<Table>)> {
        match self.status(id).await? {
            Status::Succeeded => Ok((Status::Succeeded, Some(self.rows(id).await?))),
            other => Ok((other, None)),
        }
    }
    /// Stop a statement (harmless for one that finished).
    async fn cancel(&self, id: &str) -> Result<()>;
    /// A script's statements, one per submission.
    fn statements(&self, script: &str) -> Vec<String>;
    /// The ids of `run_id`'s statements still running (Snowflake: its query history by the
    /// run's query tag), whichever session or Lambda submitted them.
    async fn running(&self, run_id: &str) -> Result<Vec<String>>;
    /// The engine's load, issuing its statements through `via` (so the COPY is submitted and
    /// polled like any long statement).
    async fn load_csv_via(&self, via: &dyn Warehouse, spec: &LoadSpec) -> Result<LoadOutcome>;
}
