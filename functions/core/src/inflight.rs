//! Warehouse work that outlives the Lambda: statements submitted asynchronously, a handle in
//! the state data, and the state machine polling (Wait → poll → Choice) until they finish.
//!
//! A warehouse state's function is re-run on every poll with the [`Journal`] it answered last
//! time. [`Suspending`] wraps the engine and replays the function against the journal: a
//! statement already finished is answered from it (no round trip), one still running makes
//! the function stop with [`ErrorName::Pending`], and a new one is submitted and recorded. So
//! the handlers stay plain sequential code, and a statement may run for hours while each
//! invocation lasts as long as its submissions and status checks.
//!
//! Replay needs the same statements on every invocation. Everything the
//! handlers learn from the warehouse goes through the journal (query answers, whether a
//! relation exists, its columns), so a model that became incremental meanwhile is still
//! rendered as it was when its statement was submitted. Statements are keyed by their text
//! and how often the same text came before, so concurrent statements may replay in any order.

use crate::error::{ErrorName, PipelineError, Result};
use crate::warehouse::{LoadOutcome, LoadSpec, Table, Warehouse};
use async_trait::async_trait;
use landfall_dbt::Relation;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub use crate::warehouse::{AsyncStatements, Status};

/// What a warehouse state carries from one invocation to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// The state's `$$.State.EnteredTime` when it first submitted (the budget counts from it).
    pub started: String,
    /// Polls answered so far (the wait grows with them).
    pub polls: u32,
    pub entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "lowercase")]
pub enum Entry {
    /// Submitted, not yet seen finished.
    Running { id: String },
    /// Finished; a query's rows.
    Done {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rows: Option<Table>,
    },
    /// A short call's answer (bookkeeping, catalog lookups), kept so replays see the same.
    Memo { value: Value },
    /// Failed, with the warehouse's error: a replay answers it without asking again (the
    /// gate then finds the broken test one by one), a retry of a transient one resubmits.
    Failed { error: PipelineError },
}

/// How the state machine polls a warehouse state: its ASL Parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Poll {
    /// The journal of the previous invocation (`$.<result>.pending.journal`); none at first.
    #[serde(default)]
    pub resume: Option<Journal>,
    /// `$$.State.EnteredTime` of this invocation's state.
    #[serde(default)]
    pub entered: Option<String>,
    /// Longest the state's statements may run, from its first submission.
    #[serde(default)]
    pub budget_seconds: Option<u64>,
    /// The wait between polls doubles from 1 s up to this.
    #[serde(default)]
    pub max_wait_seconds: Option<u64>,
    /// `$$.State.RetryCount`: on a retry a statement that failed transiently is resubmitted.
    #[serde(default)]
    pub retry: u32,
}

impl Poll {
    /// The poll settings of a state's event (absent fields: a state that never polls). A
    /// journal that does not read is an error: starting afresh would submit everything again.
    pub fn of(event: &Value) -> Result<Self> {
        serde_json::from_value(event.clone())
            .map_err(|e| PipelineError::config(format!("the state's poll settings or journal do not read: {e}")))
    }
}

/// The state a poll state polls for: `PollBuildMarts` is BuildMarts's (statemachine.asl.json
/// names them so; a test pins it).
pub fn polled_state(state: &str) -> &str {
    state.strip_prefix("Poll").unwrap_or(state)
}

/// Statements in flight together on one session.
pub const IN_FLIGHT: usize = 8;

/// The field of a state's answer that holds its handle while statements run.
pub const PENDING: &str = "pending";

fn pending() -> PipelineError {
    PipelineError::new(ErrorName::Pending, "statements are still running on the warehouse")
}

/// FNV-1a, 64 bits: a statement's key in the journal.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn first_line(sql: &str) -> String {
    crate::alerts::truncate(sql.trim().lines().next().unwrap_or("").trim(), 120)
}

/// The engine seen through the journal (module docs).
pub struct Suspending<'a> {
    inner: &'a dyn Warehouse,
    statements: &'a dyn AsyncStatements,
    journal: Mutex<Journal>,
    seen: Mutex<HashMap<u64, u32>>,
    resubmit_failed: bool,
}

impl<'a> Suspending<'a> {
    /// For a warehouse state on an engine that submits asynchronously; `None` elsewhere (the
    /// state then runs to the end in one invocation, as on DuckDB).
    pub fn begin(inner: &'a dyn Warehouse, poll: &Poll) -> Option<Self> {
        let statements = inner.asynchronous()?;
        let mut journal = poll.resume.clone().unwrap_or_default();
        if journal.started.is_empty() {
            journal.started = poll.entered.clone().unwrap_or_default();
        }
        Some(Self {
            inner,
            statements,
            journal: Mutex::new(journal),
            seen: Mutex::new(HashMap::new()),
            resubmit_failed: poll.retry > 0,
        })
    }

    fn key(&self, kind: &str, text: &str) -> String {
        let h = fnv64(&format!("{kind}:{text}"));
        let mut seen = self.seen.lock().unwrap();
        let n = seen.entry(h).or_insert(0);
        *n += 1;
        format!("{h:016x}#{}", *n - 1)
    }

    fn entry(&self, key: &str) -> Option<Entry> {
        self.journal.lock().unwrap().entries.get(key).cloned()
    }

    fn put(&self, key: String, e: Entry) {
        self.journal.lock().unwrap().entries.insert(key, e);
    }

    /// A short call, answered from the journal once it has run.
    async fn memo<T: Serialize + DeserializeOwned>(
        &self,
        kind: &str,
        text: &str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let key = self.key(kind, text);
        if let Some(Entry::Memo { value }) = self.entry(&key) {
            return serde_json::from_value(value)
                .map_err(|e| PipelineError::config(format!("the state's journal does not read back: {e}")));
        }
        let v = call.await?;
        let value = serde_json::to_value(&v)
            .map_err(|e| PipelineError::config(format!("cannot keep an answer in the journal: {e}")))?;
        self.put(key, Entry::Memo { value });
        Ok(v)
    }

    /// A long statement: answered when finished, submitted when new, pending while running.
    async fn long(&self, sql: &str, rows: bool) -> Result<Option<Table>> {
        let key = self.key("long", sql);
        let retried = |e: &PipelineError| self.resubmit_failed && e.name == ErrorName::Transient;
        match self.entry(&key) {
            Some(Entry::Done { rows }) => return Ok(rows),
            Some(Entry::Failed { error }) if !retried(&error) => return Err(error),
            Some(Entry::Running { id }) => match self.check(&id, rows).await? {
                (Status::Running, _) => return Err(pending()),
                (Status::Succeeded, t) => {
                    self.put(key, Entry::Done { rows: t.clone() });
                    return Ok(t);
                }
                (Status::Failed(e), _) if retried(&e) => {}
                (Status::Failed(e), _) => {
                    let error = e.context(first_line(sql));
                    self.put(key, Entry::Failed { error: error.clone() });
                    return Err(error);
                }
            },
            _ => {}
        }
        let id = self.statements.submit(sql).await?;
        self.put(key, Entry::Running { id });
        Err(pending())
    }

    /// A submitted statement's status, with a query's rows when it succeeded.
    async fn check(&self, id: &str, rows: bool) -> Result<(Status, Option<Table>)> {
        if rows {
            self.statements.outcome(id).await
        } else {
            Ok((self.statements.status(id).await?, None))
        }
    }

    fn running(&self) -> Vec<String> {
        self.journal
            .lock()
            .unwrap()
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Running { id } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Cancel every statement still running (best effort: a failed state leaves nothing
    /// working on the warehouse).
    async fn cancel_running(&self) {
        for id in self.running() {
            if let Err(e) = self.statements.cancel(&id).await {
                tracing::warn!(error = %e.name, query_id = %id, "a statement was not cancelled: {}", e.message);
            }
        }
    }

    /// The state's answer: the function's own when it finished, else the handle to poll. Past
    /// the budget the running statements are cancelled and the state fails with
    /// `Landfall.StatementTimeout`.
    pub async fn finish(self, poll: &Poll, result: Result<Value>) -> Result<Value> {
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.name == ErrorName::Pending => {}
            Err(e) => {
                self.cancel_running().await;
                return Err(e);
            }
        }
        let started = self.journal.lock().unwrap().started.clone();
        if let (Some(budget), Some(waited)) = (poll.budget_seconds, elapsed_seconds(&started, poll.entered.as_deref()))
            && waited > budget as i64
        {
            let n = self.running().len();
            self.cancel_running().await;
            return Err(PipelineError::new(
                ErrorName::StatementTimeout,
                format!(
                    "{n} statement{} still running after {waited} s, past the state's budget of {budget} s (budget_seconds in statemachine.asl.json); cancelled on the warehouse",
                    if n == 1 { " was" } else { "s were" }
                ),
            ));
        }
        let mut journal = self.journal.into_inner().unwrap();
        journal.polls += 1;
        let wait = wait_seconds(journal.polls, poll.max_wait_seconds.unwrap_or(60));
        let running = journal
            .entries
            .values()
            .filter(|e| matches!(e, Entry::Running { .. }))
            .count();
        Ok(serde_json::json!({ PENDING: {"journal": journal, "wait_seconds": wait, "running": running} }))
    }
}

/// The wait before poll number `polls` (1-based): 1 s, doubling, at most `max` (at least 1).
pub fn wait_seconds(polls: u32, max: u64) -> u64 {
    (1u64 << polls.saturating_sub(1).min(20)).min(max.max(1))
}

/// Seconds from `from` to `to` (RFC 3339), if both read.
fn elapsed_seconds(from: &str, to: Option<&str>) -> Option<i64> {
    let f = time::format_description::well_known::Rfc3339;
    let a = time::OffsetDateTime::parse(from, &f).ok()?;
    let b = time::OffsetDateTime::parse(to?, &f).ok()?;
    Some((b - a).whole_seconds())
}

/// Cancel whatever a dead or failed run still has running on the warehouse. Nothing to do on
/// an engine without asynchronous submission.
pub async fn cancel_run(wh: &dyn Warehouse, run_id: &str) -> Result<usize> {
    let Some(statements) = wh.asynchronous() else {
        return Ok(0);
    };
    let running = statements.running(run_id).await?;
    for id in &running {
        statements.cancel(id).await?;
    }
    Ok(running.len())
}

#[async_trait]
impl Warehouse for Suspending<'_> {
    fn target_type(&self) -> &'static str {
        self.inner.target_type()
    }
    fn database(&self) -> String {
        self.inner.database()
    }
    fn concurrency(&self) -> usize {
        IN_FLIGHT
    }
    fn build_catalog(&self) -> Option<&str> {
        self.inner.build_catalog()
    }
    async fn execute(&self, script: &str) -> Result<()> {
        for s in self.statements.statements(script) {
            self.memo("exec", &s, self.inner.execute(&s)).await?;
        }
        Ok(())
    }
    async fn query(&self, sql: &str) -> Result<Table> {
        self.memo("query", sql, self.inner.query(sql)).await
    }
    async fn execute_ddl(&self, statements: &[String]) -> Result<()> {
        self.memo("ddl", &statements.join(";\n"), self.inner.execute_ddl(statements))
            .await
    }
    async fn execute_long(&self, script: &str) -> Result<()> {
        for s in self.statements.statements(script) {
            self.long(&s, false).await?;
        }
        Ok(())
    }
    async fn query_long(&self, sql: &str) -> Result<Table> {
        Ok(self.long(sql, true).await?.unwrap_or_default())
    }
    async fn transaction(&self, statements: &[String]) -> Result<()> {
        self.memo(
            "transaction",
            &statements.join(";\n"),
            self.inner.transaction(statements),
        )
        .await
    }
    async fn load_csv(&self, spec: &LoadSpec) -> Result<LoadOutcome> {
        self.statements.load_csv_via(self, spec).await
    }
    async fn relation_exists(&self, rel: &Relation) -> Result<bool> {
        self.memo("exists", &rel.to_string(), self.inner.relation_exists(rel))
            .await
    }
    async fn columns(&self, rel: &Relation) -> Result<Vec<String>> {
        self.memo("columns", &rel.to_string(), self.inner.columns(rel)).await
    }
    async fn describe(&self, sql: &str) -> Result<Vec<crate::warehouse::ResultColumn>> {
        self.memo("describe", sql, self.inner.describe(sql)).await
    }
    async fn columns_of(&self, rels: &[Relation]) -> Result<Vec<Vec<String>>> {
        let text = rels.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(",");
        self.memo("columns_of", &text, self.inner.columns_of(rels)).await
    }
    async fn publish_tables(&self, prepare: &[String], copies: &[(String, String)], then: &[String]) -> Result<()> {
        let text = format!("{prepare:?}{copies:?}{then:?}");
        self.memo("publish", &text, self.inner.publish_tables(prepare, copies, then))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_keys_count_repeats() {
        let waits: Vec<u64> = (1..=9).map(|p| wait_seconds(p, 60)).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(wait_seconds(1, 0), 1);
        assert_eq!(wait_seconds(u32::MAX, 60), 60);
        assert_eq!(polled_state("PollBuildMarts"), "BuildMarts");
        assert_eq!(polled_state("Publish"), "Publish");
    }

    #[test]
    fn budgets_count_from_the_first_entry() {
        assert_eq!(
            elapsed_seconds("2026-12-02T00:00:00Z", Some("2026-12-02T01:00:05Z")),
            Some(3605)
        );
        assert_eq!(elapsed_seconds("", Some("2026-12-02T01:00:05Z")), None);
    }
}
