//! # landfall-snowflake
//!
//! The [`Warehouse`] on Snowflake, for real scale. One firn session per Lambda container,
//! key-pair (JWT) auth first and a password as the fallback, every statement tagged with the
//! execution (`QUERY_TAG`) and bounded twice: by `STATEMENT_TIMEOUT_IN_SECONDS` on the server
//! and by the invocation's deadline here (a statement still running when the Lambda's time is
//! nearly up is cancelled on Snowflake and reported as `Landfall.Transient`, so the state's
//! `Retry` runs it again instead of the Lambda being killed mid-wait). Statements that run
//! past Snowflake's 45 s synchronous window come back as "still running" (code 333334) and are
//! polled by firn until they finish.
//!
//! Loads never pass data through the Lambda: `COPY INTO` reads the file from the external
//! stage over the landing bucket. Publishing swaps a cloned schema in (`ALTER SCHEMA … SWAP
//! WITH`), because Snowflake DDL commits implicitly and cannot sit in a transaction.
//!
//! What it does not do: read credentials (the Lambda glue reads SSM and passes a [`Config`]),
//! or know which statements make up the pipeline (`landfall-core` does).

pub mod convert;
pub mod sql;

use async_trait::async_trait;
use firn::{AuthArgs, AuthType, SecretString, SnowflakeApi, SnowflakeApiBuilder, SnowflakeApiError};
use landfall_core::inflight::Status;
use landfall_core::warehouse::{LoadOutcome, LoadSpec, Table, Warehouse, as_i64, sql_str};
use landfall_core::{PipelineError, Result};
use landfall_dbt::Relation;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How the service user proves who it is.
pub enum Credentials {
    /// An RSA private key in PEM (PKCS#8); the user's public key is registered in Snowflake.
    KeyPair { private_key_pem: String },
    /// A password: only where key pairs cannot be used (Snowflake is retiring them for services).
    Password { password: String },
}

/// Everything a session needs. Secrets live only in `credentials`.
pub struct Config {
    /// Account identifier, e.g. `myorg-myaccount`.
    pub account: String,
    pub user: String,
    pub credentials: Credentials,
    pub role: Option<String>,
    pub warehouse: Option<String>,
    pub database: String,
    /// Another endpoint than `https://<account>.snowflakecomputing.com` (private link, tests).
    pub base_url: Option<String>,
    /// The external stage over the landing prefix, e.g. `raw.landing`.
    pub stage: String,
    /// Server-side bound on every statement.
    pub statement_timeout: Duration,
}

/// Said in every error of refused credentials; [`is_auth_failure`] looks for it.
const REFUSED: &str = "the credentials were refused: check the SSM parameters";

/// Snowflake answers these codes when it refuses the credentials.
const AUTH_CODES: &[&str] = &[
    "390100", "390101", "390102", "390144", "390186", "394304", "390318", "390302",
];

pub struct SnowflakeWarehouse {
    api: SnowflakeApi,
    database: String,
    stage: String,
    statement_timeout: Duration,
    query_tag: Mutex<String>,
    deadline: Mutex<Option<Instant>>,
    /// Statements sent (each at least one request to Snowflake), for the benchmark's figures.
    statements: std::sync::atomic::AtomicU64,
    /// Requests of asynchronous statements beyond their submission (status, results, cancel).
    follow_ups: std::sync::atomic::AtomicU64,
    /// A transaction has the session to itself: a statement sent while one is open would join
    /// it, and a DDL statement would commit it halfway. Everything else shares it.
    session: tokio::sync::RwLock<()>,
    /// The longest chain of requests so far that ran one after another (each request counts
    /// one more than the longest chain finished before it started), for the benchmark.
    chain: std::sync::atomic::AtomicU64,
}

/// Server-side bound on a statement submitted asynchronously: the execution's own timeout
/// (the state's poll budget is the tighter bound, and cancels it).
const LONG_STATEMENT_TIMEOUT_SECONDS: i64 = landfall_core::succession::EXECUTION_TIMEOUT_SECONDS;

impl SnowflakeWarehouse {
    /// Open a session (logs in on the first statement, which this runs).
    pub async fn connect(cfg: Config) -> Result<Self> {
        let auth_type = match &cfg.credentials {
            Credentials::KeyPair { private_key_pem } => AuthType::Certificate {
                private_key_pem: SecretString::from(private_key_pem.clone()),
            },
            Credentials::Password { password } => AuthType::Password {
                password: SecretString::from(password.clone()),
                passcode: None,
            },
        };
        let mut auth = AuthArgs::new(cfg.account.clone(), cfg.user.clone(), auth_type);
        auth.role = cfg.role.clone();
        auth.warehouse = cfg.warehouse.clone();
        auth.database = Some(cfg.database.clone());
        if let Some(u) = &cfg.base_url {
            auth.base_url = Some(
                url::Url::parse(u)
                    .map_err(|e| PipelineError::config(format!("Snowflake URL '{u}' is not a URL: {e}")))?,
            );
        }
        let api = SnowflakeApiBuilder::new(auth)
            .with_application("landfall")
            .with_connect_timeout(Duration::from_secs(10))
            .with_login_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| classify("connecting to Snowflake", e))?;
        let wh = Self {
            api,
            database: cfg.database,
            stage: cfg.stage,
            statement_timeout: cfg.statement_timeout,
            query_tag: Mutex::new("landfall".into()),
            deadline: Mutex::new(None),
            statements: Default::default(),
            follow_ups: Default::default(),
            session: tokio::sync::RwLock::new(()),
            chain: Default::default(),
        };
        wh.run("select current_version()")
            .await
            .map_err(|e| e.context("logging in to Snowflake"))?;
        Ok(wh)
    }

    /// Tag the following statements (the execution name), for Snowflake's query history.
    pub fn set_query_tag(&self, tag: &str) {
        *self.query_tag.lock().unwrap() = tag.chars().take(2000).collect();
    }

    /// Statements still running at `deadline` are cancelled and fail as `Landfall.Transient`.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.lock().unwrap() = deadline;
    }

    /// Statements this session has sent so far (each one request, more when Snowflake makes
    /// the client poll a long one).
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests sent for asynchronous statements after their submission (status polls, result
    /// fetches, cancels): with [`statements_sent`](Self::statements_sent), the round trips.
    pub fn follow_ups_sent(&self) -> u64 {
        self.follow_ups.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn follow_up(&self) {
        self.follow_ups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The longest chain of one-after-another requests since the last call, and start anew:
    /// concurrent requests do not lengthen it.
    pub fn take_chain(&self) -> u64 {
        self.chain.swap(0, std::sync::atomic::Ordering::Relaxed)
    }

    /// One request to Snowflake, counted in the chain.
    async fn request<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        use std::sync::atomic::Ordering::Relaxed;
        let depth = self.chain.load(Relaxed) + 1;
        let out = f.await;
        self.chain.fetch_max(depth, Relaxed);
        out
    }

    /// Run one statement beside the others (never inside another's transaction).
    async fn run(&self, sql: &str) -> Result<firn::QueryResult> {
        let _shared = self.session.read().await;
        self.run_alone(sql).await
    }

    /// Run one statement with the session parameters, within the deadline.
    async fn run_alone(&self, sql: &str) -> Result<firn::QueryResult> {
        self.statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = self.query_tag.lock().unwrap().clone();
        let deadline = *self.deadline.lock().unwrap();
        let request_id = uuid::Uuid::new_v4();
        let fut = self
            .api
            .query(sql)
            .request_id(request_id)
            .with_session_param("QUERY_TAG", tag)
            .with_session_param("STATEMENT_TIMEOUT_IN_SECONDS", self.statement_timeout.as_secs())
            .execute();
        let what = first_line(sql);
        let fut = self.request(fut);
        let r = match deadline {
            None => fut.await,
            // Past the deadline nothing starts (a timeout polls its future once first, and a
            // fast answer would slip through).
            Some(d) if d <= Instant::now() => {
                return Err(PipelineError::transient(format!(
                    "{what}: not started, this invocation's time ran out; the state's Retry runs it again"
                )));
            }
            Some(d) => match tokio::time::timeout_at(d, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let cancelled = self.api.cancel_query(request_id).await.is_ok();
                    return Err(PipelineError::transient(format!(
                        "{what}: still running when this invocation's time ran out; {} on Snowflake, and the state's Retry runs it again",
                        if cancelled {
                            "cancelled"
                        } else {
                            "cancelling failed, it may still run"
                        }
                    )));
                }
            },
        };
        r.map_err(|e| classify(&what, e))
    }

    async fn run_table(&self, sql: &str) -> Result<Table> {
        let r = self.run(sql).await?;
        convert::to_table(r)
            .map_err(|e| PipelineError::transient(format!("{}: reading the result: {e}", first_line(sql))))
    }

    /// The statements that replace `targets` with copies of `sources` so readers see all old or
    /// all new tables (per schema: a clone of it, the copies cloned in, one swap).
    fn swap_statements(copies: &[(String, String)]) -> Vec<String> {
        let mut by_schema: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (src, dst) in copies {
            let schema = dst.split_once('.').map(|(s, _)| s).unwrap_or("public");
            by_schema
                .entry(schema.to_string())
                .or_default()
                .push((src.clone(), dst.clone()));
        }
        by_schema
            .iter()
            .flat_map(|(schema, copies)| sql::swap_publish(schema, copies))
            .collect()
    }
}

fn first_line(sql: &str) -> String {
    let l = sql.trim().lines().next().unwrap_or("").trim();
    landfall_core::alerts::truncate(l, 120)
}

/// Map a client error to the pipeline's vocabulary: refused credentials are `Config` (the
/// Lambda re-reads SSM and tries once more), SQL errors are `Config` (a broken model or
/// setup), load errors are `BadInput`, and the network and a busy warehouse are `Transient`.
fn classify(what: &str, e: SnowflakeApiError) -> PipelineError {
    match &e {
        SnowflakeApiError::ApiError(code, msg) => {
            let msg = format!("{what}: Snowflake error {code}: {msg}");
            if AUTH_CODES.contains(&code.as_str()) {
                PipelineError::config(format!("{msg} ({REFUSED})"))
            } else if code.starts_with("100") {
                PipelineError::bad_input(msg)
            } else if ["000625", "000630", "000604", "390112", "000606"].contains(&code.as_str()) {
                PipelineError::transient(msg)
            } else {
                PipelineError::config(msg)
            }
        }
        SnowflakeApiError::AuthError(a) => {
            let m = a.to_string();
            if m.contains("timed out") || matches!(a, firn::AuthError::RequestError(_)) {
                PipelineError::transient(format!("{what}: {m}"))
            } else {
                PipelineError::config(format!("{what}: {m} ({REFUSED})"))
            }
        }
        SnowflakeApiError::ConfigError(c) => PipelineError::config(format!("{what}: {c}")),
        _ => PipelineError::transient(format!("{what}: {e}")),
    }
}

/// Is this the error of refused credentials (worth re-reading SSM once)?
pub fn is_auth_failure(e: &PipelineError) -> bool {
    e.message.contains(REFUSED)
}

/// `<database>.` for a relation in another database (Snowflake's information_schema is per
/// database), else nothing: the session's database.
fn catalog_prefix(rel: &Relation) -> String {
    rel.database.as_deref().map(|d| format!("{d}.")).unwrap_or_default()
}

#[async_trait]
impl Warehouse for SnowflakeWarehouse {
    fn target_type(&self) -> &'static str {
        "snowflake"
    }

    fn database(&self) -> String {
        self.database.clone()
    }

    fn asynchronous(&self) -> Option<&dyn landfall_core::inflight::AsyncStatements> {
        Some(self)
    }

    async fn execute(&self, script: &str) -> Result<()> {
        for s in sql::split_statements(script) {
            self.run(&s).await?;
        }
        Ok(())
    }

    async fn query(&self, sql: &str) -> Result<Table> {
        self.run_table(sql).await
    }

    /// DML in one transaction, sent as one request (a Snowflake Scripting block that rolls back
    /// and re-raises on the first error). Snowflake commits implicitly around DDL, so callers
    /// keep DDL out of transactions (publishing goes through a schema swap instead).
    async fn transaction(&self, statements: &[String]) -> Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let _alone = self.session.write().await;
        self.run_alone(&sql::transaction_block(statements)).await.map(|_| ())
    }

    /// `COPY INTO` a landing table from the stage (Snowflake reads the file itself); see [`load_via`].
    async fn load_csv(&self, spec: &LoadSpec) -> Result<LoadOutcome> {
        load_via(self, &self.stage, spec).await
    }

    async fn relation_exists(&self, rel: &Relation) -> Result<bool> {
        let t = self
            .query(&format!(
                "select count(*) from {}information_schema.tables where upper(table_schema) = upper({}) and upper(table_name) = upper({})",
                catalog_prefix(rel),
                sql_str(&rel.schema),
                sql_str(&rel.name)
            ))
            .await?;
        Ok(t.scalar_i64() > 0)
    }

    /// The result's row type of the query read as no rows: Snowflake's type family (`FIXED`,
    /// `TEXT`, `TIMESTAMP_NTZ`, …), which is what dbt-snowflake compares a contract by.
    async fn describe(&self, sql: &str) -> Result<Vec<landfall_core::warehouse::ResultColumn>> {
        let r = self.run(&landfall_core::warehouse::empty_subquery(sql)).await?;
        Ok(r.metadata.column_schema.iter().map(convert::result_column).collect())
    }

    async fn columns(&self, rel: &Relation) -> Result<Vec<String>> {
        let t = self
            .query(&format!(
                "select column_name from {}information_schema.columns where upper(table_schema) = upper({}) and upper(table_name) = upper({}) order by ordinal_position",
                catalog_prefix(rel),
                sql_str(&rel.schema),
                sql_str(&rel.name)
            ))
            .await?;
        Ok(t.rows
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_str()))
            .map(convert::column_name)
            .collect())
    }

    /// One `information_schema` query per database instead of one per relation.
    async fn columns_of(&self, rels: &[Relation]) -> Result<Vec<Vec<String>>> {
        let mut out = vec![Vec::new(); rels.len()];
        let mut by_catalog: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in rels.iter().enumerate() {
            by_catalog.entry(catalog_prefix(r)).or_default().push(i);
        }
        for (catalog, idx) in by_catalog {
            let which = idx
                .iter()
                .map(|&i| {
                    format!(
                        "(upper(table_schema) = upper({}) and upper(table_name) = upper({}))",
                        sql_str(&rels[i].schema),
                        sql_str(&rels[i].name)
                    )
                })
                .collect::<Vec<_>>()
                .join(" or ");
            let t = self
                .query(&format!(
                    "select upper(table_schema), upper(table_name), column_name from {catalog}information_schema.columns where {which} order by 1, 2, ordinal_position"
                ))
                .await?;
            for r in &t.rows {
                let (Some(s), Some(n), Some(c)) = (r[0].as_str(), r[1].as_str(), r[2].as_str()) else {
                    continue;
                };
                for &i in &idx {
                    if rels[i].schema.eq_ignore_ascii_case(s) && rels[i].name.eq_ignore_ascii_case(n) {
                        out[i].push(convert::column_name(c));
                    }
                }
            }
        }
        Ok(out)
    }

    /// DDL commits implicitly on Snowflake: `prepare` (new tables nobody reads yet), the
    /// swap, then `then` in a transaction, all in one request (a Scripting block that stops at
    /// the first error).
    async fn publish_tables(&self, prepare: &[String], copies: &[(String, String)], then: &[String]) -> Result<()> {
        let mut all: Vec<String> = prepare.to_vec();
        all.extend(Self::swap_statements(copies));
        if !then.is_empty() {
            all.push("begin transaction".into());
            all.extend(then.iter().cloned());
            all.push("commit".into());
        }
        let _alone = self.session.write().await;
        self.run_alone(&sql::script_block(&all)).await.map(|_| ())
    }

    /// In order, in one request (a Scripting block).
    async fn execute_ddl(&self, statements: &[String]) -> Result<()> {
        match statements {
            [] => Ok(()),
            [one] => self.run(one).await.map(|_| ()),
            many => self.run(&sql::script_block(many)).await.map(|_| ()),
        }
    }
}

/// `COPY INTO` a landing table from the stage (Snowflake reads the file itself), check every
/// file's result row, then replace the batch's raw rows in one transaction. The landing table
/// takes the file's columns as `CheckFiles` read them, so extra columns load as text like on
/// DuckDB, and a record with another field count is an error
/// (`error_on_column_count_mismatch`, sql::csv_format). Statements go through `via`: the
/// session itself, or its journal (crate::inflight), which submits the COPY asynchronously.
pub async fn load_via(via: &dyn Warehouse, stage: &str, spec: &LoadSpec) -> Result<LoadOutcome> {
    let (schema, _) = spec.table.split_once('.').unwrap_or(("raw", &spec.table));
    let file_cols: Vec<String> = if spec.file_columns.is_empty() {
        spec.expected_columns.iter().map(|c| sql::ident(c)).collect()
    } else {
        spec.file_columns.iter().map(|c| sql::ident(c)).collect()
    };
    let extra: Vec<String> = spec
        .file_columns
        .iter()
        .filter(|c| {
            !spec
                .expected_columns
                .iter()
                .chain(&spec.optional_columns)
                .any(|e| e.eq_ignore_ascii_case(c))
        })
        .cloned()
        .collect();
    let expected: Vec<String> = spec
        .expected_columns
        .iter()
        .chain(&spec.optional_columns)
        .map(|c| sql::ident(c))
        .collect();
    // The schema, the raw table (and its new columns) and the landing table, in one request.
    let mut ddl = vec![
        format!("create schema if not exists {schema}"),
        sql::raw_ddl(&spec.table, &expected),
    ];
    // Optional columns too: the table may predate them in the contract.
    ddl.extend(spec.optional_columns.iter().chain(&extra).map(|x| {
        format!(
            "alter table {} add column if not exists {} varchar",
            spec.table,
            sql::ident(x)
        )
    }));
    ddl.push(sql::landing_ddl(&spec.table, &spec.load_id, &file_cols));
    via.execute_ddl(&ddl).await?;
    let copy = sql::copy_into(
        &spec.table,
        &spec.load_id,
        &file_cols,
        stage,
        &spec.dialect,
        &spec.location,
    );
    let result = via.query_long(&copy).await.map_err(|e| {
        if e.name == landfall_core::ErrorName::BadInput {
            PipelineError::bad_input(format!(
                "{}: Snowflake rejected the file: {}",
                spec.display_name, e.message
            ))
        } else if e.name == landfall_core::ErrorName::Pending {
            e
        } else {
            e.context(format!("{}: loading", spec.display_name))
        }
    })?;
    let rows = check_copy_result(&spec.display_name, &result)?;
    let landing = sql::landing_table(&spec.table, &spec.load_id);
    let col_list = file_cols.join(", ");
    let stmts = vec![
        format!("delete from {} where {}", spec.table, spec.replaced_rows()),
        format!(
            "insert into {table} ({col_list}, _batch, _source_file, _source_etag, _row_number, _loaded_at, _load_id)
             select {col_list}, {batch}, {file}, {etag}, _row_number, current_timestamp::timestamp, {load_id} from {landing}",
            table = spec.table,
            batch = sql_str(&spec.batch),
            file = sql_str(&spec.display_name),
            etag = sql_str(&spec.etag),
            load_id = sql_str(&spec.load_id),
        ),
    ];
    // The audit row and the landing table go in the same request. On Snowflake a DDL statement
    // inside a transaction first commits it: the delete, the insert and the audit row commit
    // together, then the drop runs (a failed drop leaves the rows loaded and the table for the
    // next load to replace).
    let mut stmts = stmts;
    stmts.extend(spec.audit_row(rows));
    stmts.push(format!("drop table if exists {landing}"));
    via.transaction(&stmts).await?;
    Ok(LoadOutcome {
        rows,
        extra_columns: extra,
    })
}

/// Snowflake's asynchronous submission (`asyncExec`): the statement is tagged and bounded like
/// any other, its id comes back at once, and `/monitoring/queries/<id>` says where it is.
#[async_trait]
impl landfall_core::inflight::AsyncStatements for SnowflakeWarehouse {
    async fn submit(&self, sql: &str) -> Result<String> {
        self.statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = self.query_tag.lock().unwrap().clone();
        let _shared = self.session.read().await;
        let submitted = self
            .api
            .query(sql)
            .with_session_param("QUERY_TAG", tag)
            .with_session_param("STATEMENT_TIMEOUT_IN_SECONDS", LONG_STATEMENT_TIMEOUT_SECONDS)
            .submit_async();
        self.request(submitted)
            .await
            .map(|h| h.query_id)
            .map_err(|e| classify(&first_line(sql), e))
    }

    async fn status(&self, id: &str) -> Result<Status> {
        use firn::QueryStatus as Q;
        self.follow_up();
        let s = self
            .request(self.api.query_status(id))
            .await
            .map_err(|e| classify(&format!("status of statement {id}"), e))?;
        Ok(match s {
            Q::Success => Status::Succeeded,
            Q::FailedWithError | Q::FailedWithIncident | Q::Aborted => {
                // The status says only that it failed; the result says why.
                self.follow_up();
                let e = match self.request(self.api.fetch_results(id)).await {
                    Err(SnowflakeApiError::QueryCancelled) => {
                        PipelineError::transient(format!("statement {id} was cancelled on Snowflake"))
                    }
                    Err(e) => classify(&format!("statement {id}"), e),
                    Ok(_) => PipelineError::transient(format!("statement {id} ended {s:?}")),
                };
                Status::Failed(e)
            }
            // Not yet visible, or between states: still going.
            _ => Status::Running,
        })
    }

    async fn rows(&self, id: &str) -> Result<Table> {
        self.follow_up();
        let r = self
            .request(self.api.fetch_results(id))
            .await
            .map_err(|e| classify(&format!("result of statement {id}"), e))?;
        convert::to_table(r).map_err(|e| PipelineError::transient(format!("statement {id}: reading the result: {e}")))
    }

    /// The status and the result fetched side by side: a finished query costs one round trip
    /// in the chain. A fetch still waiting on a running query is dropped (firn would poll it).
    async fn outcome(&self, id: &str) -> Result<(Status, Option<Table>)> {
        use futures_util::FutureExt;
        use futures_util::future::{Either, select};
        let status = self.status(id).boxed();
        let fetch = self.rows(id).boxed();
        match select(status, fetch).await {
            Either::Left((status, fetch)) => match status? {
                Status::Succeeded => Ok((Status::Succeeded, Some(fetch.await?))),
                other => Ok((other, None)),
            },
            Either::Right((Ok(rows), _)) => Ok((Status::Succeeded, Some(rows))),
            // The result answered with the statement's error: the status says it properly.
            Either::Right((Err(_), status)) => Ok((status.await?, None)),
        }
    }

    async fn cancel(&self, id: &str) -> Result<()> {
        self.follow_up();
        self.request(self.api.cancel_query_by_id(id))
            .await
            .map_err(|e| classify(&format!("cancelling statement {id}"), e))
    }

    fn statements(&self, script: &str) -> Vec<String> {
        sql::split_statements(script)
    }

    /// Every statement is tagged `landfall:<env>:<execution>` (the Lambda sets it per
    /// invocation): the run's are in the user's query history under that tag.
    async fn running(&self, run_id: &str) -> Result<Vec<String>> {
        let t = self.run_table(&sql::running_statements(run_id)).await?;
        Ok(t.rows
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_string))
            .collect())
    }

    async fn load_csv_via(&self, via: &dyn Warehouse, spec: &LoadSpec) -> Result<LoadOutcome> {
        load_via(via, &self.stage, spec).await
    }
}

/// COPY answers one row per file: `file, status, rows_parsed, rows_loaded, …, first_error, …`.
/// A statement that succeeded is not enough: every file must be `LOADED` with every parsed row
/// loaded.
pub fn check_copy_result(display: &str, t: &Table) -> Result<u64> {
    if t.rows.is_empty() {
        return Err(PipelineError::bad_input(format!(
            "{display}: COPY found no file to load (is the stage pointing at the landing prefix?)"
        )));
    }
    let col = |name: &str, fallback: usize| t.column(name).unwrap_or(fallback);
    let (status_i, parsed_i, loaded_i, err_i, line_i) = (
        col("status", 1),
        col("rows_parsed", 2),
        col("rows_loaded", 3),
        col("first_error", 6),
        col("first_error_line", 7),
    );
    let mut total = 0;
    for r in &t.rows {
        let status = r
            .get(status_i)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_ascii_uppercase();
        let parsed = r.get(parsed_i).and_then(as_i64).unwrap_or(-1);
        let loaded = r.get(loaded_i).and_then(as_i64).unwrap_or(-2);
        if status != "LOADED" || parsed != loaded {
            let first = r.get(err_i).and_then(|v| v.as_str()).unwrap_or("no error reported");
            let line = r
                .get(line_i)
                .and_then(as_i64)
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            return Err(PipelineError::bad_input(format!(
                "{display}: COPY status {status}, {loaded} of {parsed} rows loaded{line}: {first}"
            )));
        }
        total += loaded as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copy_table(rows: Vec<Vec<serde_json::Value>>) -> Table {
        Table {
            columns: [
                "file",
                "status",
                "rows_parsed",
                "rows_loaded",
                "error_limit",
                "errors_seen",
                "first_error",
                "first_error_line",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }
    }

    #[test]
    fn copy_results_are_checked_row_by_row() {
        let ok = copy_table(vec![vec![
            json!("s3://b/x.csv"),
            json!("LOADED"),
            json!("3"),
            json!("3"),
        ]]);
        assert_eq!(check_copy_result("x.csv", &ok).unwrap(), 3);
        let partial = copy_table(vec![vec![
            json!("s3://b/x.csv"),
            json!("PARTIALLY_LOADED"),
            json!(5),
            json!(4),
            json!(1),
            json!(1),
            json!("Number of columns in file (3) does not match"),
            json!(4),
        ]]);
        let e = check_copy_result("x.csv", &partial).unwrap_err();
        assert_eq!(e.name, landfall_core::ErrorName::BadInput);
        assert!(
            e.message.contains("4 of 5 rows loaded at line 4: Number of columns"),
            "{}",
            e.message
        );
        let skipped = copy_table(vec![vec![json!("x"), json!("LOAD_SKIPPED"), json!(0), json!(0)]]);
        assert!(check_copy_result("x.csv", &skipped).is_err());
        assert!(check_copy_result("x.csv", &copy_table(vec![])).is_err());
    }

    #[test]
    fn refused_credentials_are_config_and_a_busy_warehouse_is_transient() {
        let e = classify(
            "login",
            SnowflakeApiError::ApiError("390144".into(), "JWT token is invalid".into()),
        );
        assert_eq!(e.name, landfall_core::ErrorName::Config);
        assert!(is_auth_failure(&e));
        let e = classify(
            "q",
            SnowflakeApiError::ApiError("000630".into(), "Statement reached its timeout".into()),
        );
        assert_eq!(e.name, landfall_core::ErrorName::Transient);
        let e = classify(
            "q",
            SnowflakeApiError::ApiError("100038".into(), "Numeric value 'x' is not recognized".into()),
        );
        assert_eq!(e.name, landfall_core::ErrorName::BadInput);
        let e = classify(
            "q",
            SnowflakeApiError::ApiError("002003".into(), "Object does not exist".into()),
        );
        assert_eq!(e.name, landfall_core::ErrorName::Config);
    }
}
