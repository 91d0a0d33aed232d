//! Which run may publish, when several run at once.
//!
//! - **Batches publish in order.** A run never replaces marts published from a newer batch;
//!   "newer" is [`batch_order`]: batch ids compared with their digit runs as numbers
//!   (`2026-11-9` < `2026-11-10`, `b9` < `b10`), the rest byte by byte, and the plain byte order
//!   between ids that are equal that way (`b-01` / `b-1`), so two different ids never tie.
//! - **The newest execution of a batch wins.** Of two executions of the same batch (a file
//!   re-landed while the first ran), the one started later (`audit.runs.started_at`, then the
//!   execution name) is the batch: the older one stops at its next load, commit, gate or publish.
//!   A newer execution that failed or was superseded itself does not count, nor does one still
//!   "running" past the execution's own timeout (killed before it could say so).
//! - **One publish at a time** ([`acquire_publish_lock`]): the check and the publish happen
//!   under a lock row in `audit.publish_lock`, so two runs cannot both pass the check and then
//!   publish in the wrong order. A lock older than the Publish state's timeout is free (its
//!   holder was killed).
//!
//! A run stopped this way ends with `Landfall.Superseded`: recorded in `audit.runs` (status
//! `superseded`, the reason in `error_cause`), in the summary and in a notice, never an error.
//! `force_publish` in the execution input skips both order checks (a deliberate backfill).

use crate::build::RunVars;
use crate::error::{PipelineError, Result};
use crate::warehouse::{Warehouse, sql_str};
use std::cmp::Ordering;

/// The state machine's `TimeoutSeconds`: a run "running" for longer was killed, timed out or
/// aborted (a test checks this against statemachine.asl.json).
pub const EXECUTION_TIMEOUT_SECONDS: i64 = 43200;
/// The Publish state's `TimeoutSeconds`: a publish lock held longer belongs to a dead Lambda.
pub const PUBLISH_LOCK_TTL_SECONDS: i64 = 300;

/// Compare two batch ids: digit runs by value, everything else by bytes; ids equal that way
/// by bytes. Total: `Equal` only for identical ids.
pub fn batch_order(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            xa.cmp(xb)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// SQL: the run ids of the executions of `run_id`'s batch that are newer than it and still
/// count (running within the execution timeout, or succeeded).
pub fn newer_runs_sql(run_id: &str) -> String {
    format!(
        "select n.run_id from audit.runs n join audit.runs m on n.batch = m.batch \
         where m.run_id = {me} and n.run_id <> m.run_id \
         and (n.started_at > m.started_at or (n.started_at = m.started_at and n.run_id > m.run_id)) \
         and (n.status = 'succeeded' or (n.status = 'running' \
              and n.started_at > current_timestamp::timestamp - interval '{EXECUTION_TIMEOUT_SECONDS} second'))",
        me = sql_str(run_id)
    )
}

/// Why `run` must not go on, if it must not: a newer execution of its batch, or (`publishing`,
/// without `force_publish`) a newer batch published.
pub async fn superseded_by(wh: &dyn Warehouse, run: &RunVars, publishing: bool) -> Result<Option<String>> {
    if run.force_publish {
        return Ok(None);
    }
    // Both questions at once when publishing: they are independent.
    let active_sql = "select batch, run_id from audit.publishes where active";
    let (newer, active) = if publishing {
        let (n, a) = futures_util::future::join(wh.query(&newer_runs_sql(&run.run_id)), wh.query(active_sql)).await;
        (n?, Some(a?))
    } else {
        (wh.query(&newer_runs_sql(&run.run_id)).await?, None)
    };
    if let Some(other) = newer.scalar().and_then(|v| v.as_str()) {
        return Ok(Some(format!(
            "execution {other} of the same batch '{}' started later: it loads the batch's files as they are now, and this run stops",
            run.batch
        )));
    }
    let Some(active) = active else {
        return Ok(None);
    };
    if let Some(r) = active.rows.first()
        && let Some(batch) = r[0].as_str()
        && batch_order(batch, &run.batch) == Ordering::Greater
    {
        return Ok(Some(format!(
            "batch '{batch}' (run {}) is published and newer than batch '{}': the older batch is not published over it; start it again with \"force_publish\": true (landfall backfill --force-publish) to publish it anyway",
            r[1].as_str().unwrap_or("?"),
            run.batch
        )));
    }
    Ok(None)
}

/// Stop `run` as superseded: record it (status `superseded`, the reason) and drop its raw
/// rows unless they are the batch's committed load, then return the error that ends it.
pub async fn supersede(wh: &dyn Warehouse, run: &RunVars, state: &str, reason: String) -> PipelineError {
    let err = PipelineError::superseded(format!("batch '{}' was not published: {reason}", run.batch));
    if let Err(e) = crate::audit::finish_unpublished(wh, run, "superseded", state, &err).await {
        tracing::error!(error = %e, "could not record the superseded run in the warehouse");
    }
    err
}

/// Fail with `Landfall.Superseded` when `run` must not go on.
pub async fn ensure_current(wh: &dyn Warehouse, run: &RunVars, state: &str, publishing: bool) -> Result<()> {
    match superseded_by(wh, run, publishing).await? {
        Some(reason) => Err(supersede(wh, run, state, reason).await),
        None => Ok(()),
    }
}

/// Take the publish lock for `run_id`, or fail with `Landfall.Transient` naming the holder
/// (the ASL retries Publish with backoff). Re-entrant: a retried Publish of the holder gets it.
pub async fn acquire_publish_lock(wh: &dyn Warehouse, run_id: &str) -> Result<()> {
    take_publish_lock(wh, run_id).await?;
    check_publish_lock(wh, run_id).await
}

/// The first half of [`acquire_publish_lock`]: take the lock where it is free, expired or
/// already this run's. Whether it was taken is [`check_publish_lock`]'s to say; reads that
/// must see every publish before this one may go beside that check (they start after this).
pub async fn take_publish_lock(wh: &dyn Warehouse, run_id: &str) -> Result<()> {
    let me = sql_str(run_id);
    wh.transaction(&[
        "insert into audit.publish_lock (name, holder, acquired_at) select 'publish', null, null where not exists (select 1 from audit.publish_lock)".to_string(),
        format!(
            "update audit.publish_lock set holder = {me}, acquired_at = current_timestamp::timestamp \
             where holder is null or holder = {me} or acquired_at < current_timestamp::timestamp - interval '{PUBLISH_LOCK_TTL_SECONDS} second'"
        ),
    ])
    .await
}

/// Does `run_id` hold the publish lock? `Landfall.Transient` naming the holder if not.
pub async fn check_publish_lock(wh: &dyn Warehouse, run_id: &str) -> Result<()> {
    let t = wh
        .query("select holder, cast(acquired_at as varchar) from audit.publish_lock")
        .await?;
    match t.rows.iter().find(|r| r[0].as_str() != Some(run_id)) {
        None if !t.rows.is_empty() => Ok(()),
        other => Err(PipelineError::transient(format!(
            "another run is publishing: run {} holds the publish lock since {}; this publish waits its turn",
            other.and_then(|r| r[0].as_str()).unwrap_or("?"),
            other.and_then(|r| r[1].as_str()).unwrap_or("?")
        ))),
    }
}

/// Give the publish lock back (only if `run_id` holds it).
pub async fn release_publish_lock(wh: &dyn Warehouse, run_id: &str) -> Result<()> {
    wh.execute(&format!(
        "update audit.publish_lock set holder = null, acquired_at = null where holder = {}",
        sql_str(run_id)
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_order_by_their_numbers_then_their_bytes() {
        use Ordering::*;
        for (a, b, o) in [
            ("2026-11-25", "2026-11-26", Less),
            ("2026-11-9", "2026-11-10", Less),
            ("2026-12-01", "2026-11-30", Greater),
            ("b9", "b10", Less),
            ("b10", "b10", Equal),
            ("b-01", "b-1", Less),
            ("b-1", "b-01", Greater),
            ("2026-11-26", "2026-11-26.1", Less),
            ("2026-11-26a", "2026-11-26b", Less),
            ("a", "b", Less),
            ("batch_7", "batch_007", Greater),
        ] {
            assert_eq!(batch_order(a, b), o, "{a} vs {b}");
            assert_eq!(batch_order(b, a), o.reverse(), "{b} vs {a}");
        }
    }
}
