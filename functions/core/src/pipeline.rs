//! Running one execution end to end in-process, step by step, and the run summary that
//! `landfall run --json` prints.
//!
//! The steps carry the state names of `statemachine.asl.json` (DESIGN.md §1) so the summary,
//! the audit tables and the alerts speak the same language locally and on AWS.

use crate::alerts::{Alert, Alerts, FailingTest, redact, truncate};
use crate::audit;
use crate::build::RunVars;
use crate::error::{ErrorName, PipelineError, Result};
use crate::handlers::{self, Deps, ExecutionInput, QualityOutcome};
use crate::quality::{TestCounts, TestStatus};
use crate::storage::SOURCE_FILES;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    /// `succeeded`, `failed`.
    pub status: String,
    pub duration_ms: u64,
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub name: ErrorName,
    pub cause: String,
}

/// The one JSON document `landfall run --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub status: String,
    pub run_id: String,
    pub batch: String,
    pub error: Option<ErrorSummary>,
    pub failed_state: Option<String>,
    pub loaded: BTreeMap<String, u64>,
    pub rejected: BTreeMap<String, i64>,
    pub tests: TestCounts,
    pub failing_tests: Vec<FailingTest>,
    pub published: bool,
    pub warnings: Vec<String>,
    pub steps: Vec<StepRecord>,
    pub duration_ms: u64,
}

/// Who hears about progress (a progress bar, log lines, nothing).
pub trait Observer: Send + Sync {
    fn step_started(&self, _name: &str) {}
    fn step_finished(&self, _step: &StepRecord) {}
}

pub struct Silent;
impl Observer for Silent {}

/// Settings that do not change per run.
pub struct RunSettings<'a> {
    pub pipeline: &'a str,
    pub environment: &'a str,
    pub alerts: &'a dyn Alerts,
    /// Values that must never appear in an alert.
    pub secrets: Vec<String>,
    pub notify_success: bool,
}

pub fn new_run_id(batch: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]");
    let stamp = now.format(&fmt).unwrap_or_default();
    let nanos = now.unix_timestamp_nanos() as u64;
    let r = ((nanos >> 16) ^ nanos ^ (std::process::id() as u64).wrapping_mul(0x9e37_79b9)) as u16;
    format!("{batch}-{stamp}-{r:04x}")
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

struct Steps<'a> {
    records: Vec<StepRecord>,
    observer: &'a dyn Observer,
}

impl Steps<'_> {
    async fn run<T>(&mut self, name: &str, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.observer.step_started(name);
        let t = Instant::now();
        let r = fut.await;
        let rec = StepRecord {
            name: name.to_string(),
            status: if r.is_ok() { "succeeded" } else { "failed" }.into(),
            duration_ms: t.elapsed().as_millis() as u64,
            attempts: 1,
        };
        self.observer.step_finished(&rec);
        self.records.push(rec);
        r
    }
}

/// Run one execution: `input` is the execution input (`{bucket, batch, full_refresh}`).
pub async fn run(deps: Deps<'_>, settings: &RunSettings<'_>, input: &Value, observer: &dyn Observer) -> RunSummary {
    let started = Instant::now();
    let mut steps = Steps {
        records: vec![],
        observer,
    };
    let mut summary = RunSummary {
        status: "failed".into(),
        run_id: String::new(),
        batch: input
            .get("batch")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        error: None,
        failed_state: None,
        loaded: BTreeMap::new(),
        rejected: BTreeMap::new(),
        tests: TestCounts::default(),
        failing_tests: vec![],
        published: false,
        warnings: vec![],
        steps: vec![],
        duration_ms: 0,
    };
    let mut state = String::from("ValidateInput");
    let mut run_vars: Option<RunVars> = None;
    let result: Result<()> = async {
        let input: ExecutionInput = steps
            .run("ValidateInput", async { handlers::validate_input(input) })
            .await?;
        let run = RunVars {
            run_id: new_run_id(&input.batch),
            batch: input.batch.clone(),
            full_refresh: input.full_refresh,
        };
        summary.run_id = run.run_id.clone();
        run_vars = Some(run.clone());
        audit::ensure(deps.warehouse).await?;
        audit::run_started(deps.warehouse, &run.run_id, &run.batch).await?;

        state = "CheckFiles".into();
        let checked = steps.run("CheckFiles", handlers::check_files(deps, &input)).await?;
        summary.warnings.extend(checked.warnings.iter().cloned());

        // LoadRaw: both files side by side, as the Parallel state runs them.
        state = "LoadRaw".into();
        let (t_info, c_info) = (&checked.files["titles"], &checked.files["credits"]);
        let t0 = Instant::now();
        observer.step_started("LoadTitles");
        observer.step_started("LoadCredits");
        let timed = |file: &'static str, info| {
            let run = &run;
            async move {
                let t = Instant::now();
                let r = handlers::load_file(deps, run, file, info).await;
                (r, t.elapsed().as_millis() as u64)
            }
        };
        let ((rt, dt), (rc, dc)) = tokio::join!(timed("titles", t_info), timed("credits", c_info));
        let _ = t0;
        for (name, r, d) in [
            ("LoadTitles", rt.as_ref().err(), dt),
            ("LoadCredits", rc.as_ref().err(), dc),
        ] {
            let rec = StepRecord {
                name: name.into(),
                status: if r.is_none() { "succeeded" } else { "failed" }.into(),
                duration_ms: d,
                attempts: 1,
            };
            observer.step_finished(&rec);
            steps.records.push(rec);
        }
        if rt.is_err() {
            state = "LoadTitles".into();
        } else if rc.is_err() {
            state = "LoadCredits".into();
        }
        let (lt, lc) = (rt?, rc?);
        for l in [&lt, &lc] {
            summary.loaded.insert(l.file.clone(), l.rows);
        }

        let layers = [
            ("BuildStaging", "staging"),
            ("BuildIntermediate", "intermediate"),
            ("BuildMarts", "marts"),
        ];
        for (i, (st, layer)) in layers.iter().enumerate() {
            state = st.to_string();
            steps.run(st, handlers::build_layer(deps, &run, layer, i == 0)).await?;
        }

        state = "RunQualityChecks".into();
        let q: std::result::Result<QualityOutcome, PipelineError> =
            steps.run("RunQualityChecks", handlers::run_quality(deps, &run)).await;
        let q = match q {
            Ok(q) => q,
            Err(e) => {
                if let Some(d) = e
                    .details
                    .clone()
                    .and_then(|d| serde_json::from_value::<QualityOutcome>(d).ok())
                {
                    absorb_quality(&mut summary, &d);
                }
                return Err(e);
            }
        };
        absorb_quality(&mut summary, &q);

        state = "Publish".into();
        steps.run("Publish", handlers::publish(deps, &run)).await?;
        summary.published = true;
        handlers::on_success(deps.warehouse, &run).await?;
        Ok(())
    }
    .await;

    match result {
        Ok(()) => {
            summary.status = "succeeded".into();
            if settings.notify_success {
                let alert = make_alert(settings, &summary, None, None);
                let _ = steps
                    .run("NotifySuccess", async { settings.alerts.send(&alert).await })
                    .await;
            }
        }
        Err(e) => {
            let cause = truncate(&redact(&e.message, &settings.secrets), crate::alerts::MAX_CAUSE_CHARS);
            summary.error = Some(ErrorSummary {
                name: e.name,
                cause: cause.clone(),
            });
            summary.failed_state = Some(state.clone());
            let fail_state = state.clone();
            let notify = async {
                if let Some(run) = &run_vars {
                    if let Err(err) = handlers::on_failure(deps.warehouse, run, &fail_state, &e).await {
                        tracing::error!(error = %err, "could not record the failure in the warehouse");
                    }
                }
                let alert = make_alert(settings, &summary, Some(&fail_state), Some(&e));
                settings.alerts.send(&alert).await
            };
            if let Err(err) = steps.run("NotifyFailure", notify).await {
                summary.warnings.push(format!("alert delivery failed: {}", err.message));
            }
        }
    }
    summary.steps = steps.records;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    summary
}

fn absorb_quality(summary: &mut RunSummary, q: &QualityOutcome) {
    summary.tests = q.tests.clone();
    summary.rejected = q.rejected.clone();
    for f in SOURCE_FILES {
        summary.rejected.entry(f.to_string()).or_insert(0);
    }
    summary.failing_tests = q
        .results
        .iter()
        .filter(|r| r.status == TestStatus::Fail)
        .map(|r| FailingTest {
            name: r.name.clone(),
            failures: r.failures,
        })
        .collect();
    for r in q.results.iter().filter(|r| r.status == TestStatus::Warn) {
        summary.warnings.push(format!("test {} warned: {}", r.name, r.message));
    }
}

fn make_alert(
    settings: &RunSettings<'_>,
    summary: &RunSummary,
    state: Option<&str>,
    e: Option<&PipelineError>,
) -> Alert {
    Alert {
        status: if e.is_some() { "failed" } else { "succeeded" }.into(),
        pipeline: settings.pipeline.into(),
        environment: settings.environment.into(),
        batch: summary.batch.clone(),
        execution: summary.run_id.clone(),
        failed_state: state.map(str::to_string),
        error: e.map(|e| e.name.to_string()),
        cause: e.map(|e| truncate(&redact(&e.message, &settings.secrets), crate::alerts::MAX_CAUSE_CHARS)),
        failing_tests: summary.failing_tests.clone(),
        link: None,
        at: now_rfc3339(),
    }
}
