//! Cleaning up after runs: each run builds in schemas of its own (`build_<schema>__<tag>`,
//! crate::build), which stay after it ends so a failed or superseded run can be inspected and
//! a published one reported on. [`sweep`], after every publish, drops them once their run
//! ended more than the retention ago — never the schemas of the run whose marts are live, of a
//! run still going, or that no run in `audit.runs` claims. It also ends runs that died
//! without saying so (killed, timed out, aborted: still "running" past the execution's
//! timeout): marked failed, their pending raw rows dropped.

use crate::build::{BUILD_PREFIX, LANDING_TABLE_PREFIX, RunVars, TAG_SEPARATOR};
use crate::error::{PipelineError, Result};
use crate::succession::EXECUTION_TIMEOUT_SECONDS;
use crate::warehouse::{Warehouse, sql_str};

/// `LANDFALL_BUILD_RETENTION_HOURS`: how long an ended run's build schemas are kept (default 72).
pub const RETENTION_ENV: &str = "LANDFALL_BUILD_RETENTION_HOURS";
pub const DEFAULT_RETENTION_HOURS: i64 = 72;

/// The configured retention; an unreadable value falls back to the default (and says so).
pub fn retention_hours() -> i64 {
    match std::env::var(RETENTION_ENV).ok().filter(|v| !v.trim().is_empty()) {
        None => DEFAULT_RETENTION_HOURS,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!("{RETENTION_ENV}='{v}' is not a whole number of hours: keeping build schemas {DEFAULT_RETENTION_HOURS} h");
            DEFAULT_RETENTION_HOURS
        }),
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Swept {
    /// Runs found dead and marked failed.
    pub abandoned: Vec<String>,
    /// Build schemas dropped.
    pub dropped: Vec<String>,
    /// Landing tables of ended runs dropped (a load that died before its commit leaves one).
    pub landing_tables: Vec<String>,
}

/// End dead runs, then drop the build schemas of runs that ended over `retention_hours` ago.
pub async fn sweep(wh: &dyn Warehouse, retention_hours: i64) -> Result<Swept> {
    let mut out = Swept::default();
    // The dead runs, and the build schemas of runs whose retention is over, asked at once.
    let dead_sql = format!(
        "select run_id, batch from audit.runs where status = 'running' \
         and started_at < current_timestamp::timestamp - interval '{EXECUTION_TIMEOUT_SECONDS} second'"
    );
    // A schema belongs to the run whose tag ends its name (`build_<schema>__<tag>`); the
    // names are checked again below, exactly ([`owned`]).
    let expired_sql = format!(
        "select s.catalog_name, s.schema_name, lower(r.build_tag) \
         from information_schema.schemata s join audit.runs r on {} \
         where r.status <> 'running' \
           and r.finished_at < current_timestamp::timestamp - interval '{age} second' \
           and r.run_id not in (select run_id from audit.publishes where active)",
        tagged_by_run("s.schema_name", BUILD_PREFIX),
        age = retention_hours.max(0) * 3600
    );
    // A landing table is a copy of a file on its way to raw: once its run ended it is of no
    // use, whatever the retention.
    let landing_sql = format!(
        "select t.table_schema, t.table_name, lower(r.build_tag) \
         from information_schema.tables t join audit.runs r on {} \
         where r.status <> 'running'",
        tagged_by_run("t.table_name", LANDING_TABLE_PREFIX)
    );
    let (dead, expired, landing) =
        futures_util::future::join3(wh.query(&dead_sql), wh.query(&expired_sql), wh.query(&landing_sql)).await;
    let (dead, expired, landing) = (dead?, expired?, landing?);
    for r in &dead.rows {
        let run = RunVars {
            run_id: r[0].as_str().unwrap_or_default().to_string(),
            batch: r[1].as_str().unwrap_or_default().to_string(),
            ..RunVars::default()
        };
        let err = PipelineError::transient(
            "abandoned: the execution never ended within the state machine's timeout (killed, timed out or aborted)",
        );
        crate::audit::finish_unpublished(wh, &run, "failed", "?", &err).await?;
        out.abandoned.push(run.run_id);
    }
    // A private build catalog (DuckDB's in-memory `scratch`) goes with its process.
    let private = wh.build_catalog().map(str::to_ascii_lowercase);
    let mut drops = Vec::new();
    for r in &expired.rows {
        let (Some(catalog), Some(schema), Some(tag)) = (r[0].as_str(), r[1].as_str(), r[2].as_str()) else {
            continue;
        };
        if private.as_deref() == Some(catalog.to_ascii_lowercase().as_str()) {
            continue;
        }
        if owned(schema, BUILD_PREFIX, tag) && !out.dropped.iter().any(|d| d == schema) {
            drops.push(format!("drop schema if exists {schema} cascade"));
            out.dropped.push(schema.to_string());
        }
    }
    for r in &landing.rows {
        let (Some(schema), Some(table), Some(tag)) = (r[0].as_str(), r[1].as_str(), r[2].as_str()) else {
            continue;
        };
        let name = format!("{schema}.{table}");
        if owned(table, LANDING_TABLE_PREFIX, tag) && !out.landing_tables.contains(&name) {
            drops.push(format!("drop table if exists {name}"));
            out.landing_tables.push(name);
        }
    }
    wh.execute_ddl(&drops).await?;
    Ok(out)
}

/// The join condition and filter for names `<prefix>…__<tag>` in `column` owned by run `r`
/// (a `like` on the prefix, whose `_` matches any character: [`owned`] checks exactly).
fn tagged_by_run(column: &str, prefix: &str) -> String {
    format!(
        "right(lower({column}), length(r.build_tag) + {}) = {} || lower(r.build_tag) and lower({column}) like {}",
        TAG_SEPARATOR.len(),
        sql_str(TAG_SEPARATOR),
        sql_str(&format!("{prefix}%"))
    )
}

/// Is `name` exactly `<prefix>…__<tag>`?
fn owned(name: &str, prefix: &str, tag: &str) -> bool {
    name.to_ascii_lowercase()
        .rsplit_once(TAG_SEPARATOR)
        .is_some_and(|(base, t)| base.starts_with(prefix) && t == tag)
}
