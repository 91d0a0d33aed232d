//! Running one execution of `statemachine.asl.json` in-process: the local ASL engine
//! (`landfall-asl`) walks the definition and its Task states call the pipeline's functions
//! directly. The run summary that `landfall run --json` prints is built from the execution
//! history and the functions' results.

use crate::alerts::FailingTest;
use crate::build::RunVars;
use crate::error::{ErrorName, PipelineError, Result};
use crate::functions::{self, NotifySettings};
use crate::handlers::{CheckedFiles, Deps, LoadedFile, QualityOutcome};
use crate::quality::{TestCounts, TestStatus};
use async_trait::async_trait;
use landfall_asl::{AslError, Clock, Engine, EventKind, Machine, RealClock, TaskCall, Tasks, VirtualClock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use crate::clock::{now_rfc3339, unix_millis};
pub use crate::definition::STATE_MACHINE;

pub type RunSettings<'a> = NotifySettings<'a>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    /// `succeeded`, `failed`.
    pub status: String,
    pub duration_ms: u64,
    pub attempts: u32,
    /// The delays the ASL's Retry asked for before each retry (waited only with `--real-time`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_delays_ms: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub name: ErrorName,
    pub cause: String,
}

/// The one JSON document `landfall run --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Why the run ended without publishing by the ordering rules (status `superseded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded: Option<String>,
    pub warnings: Vec<String>,
    pub steps: Vec<StepRecord>,
    /// Per Task state, the numbers the Lambdas publish as CloudWatch EMF metrics.
    pub metrics: Vec<crate::metrics::StateMetrics>,
    /// Where the run's HTML report was written.
    pub report: Option<String>,
    pub duration_ms: u64,
}

impl RunSummary {
    /// The summary of a run that never started (bad flags, no SQL project, the warehouse
    /// locked): status `error`, the reason in `error`, nothing loaded or published.
    pub fn not_started(batch: &str, err: &PipelineError) -> RunSummary {
        RunSummary {
            status: "error".into(),
            batch: batch.to_string(),
            error: Some(ErrorSummary {
                name: err.name,
                cause: err.message.clone(),
            }),
            ..RunSummary::default()
        }
    }
}

/// Who hears about progress (a progress bar, log lines, nothing).
pub trait Observer: Send + Sync {
    fn step_started(&self, _name: &str, _attempt: u32) {}
    fn step_finished(&self, _step: &StepRecord) {}
}

/// Called around every Task invocation: lets a test hold one execution between states while
/// another goes on (two executions interleaved step by step), or stop one there for good.
#[async_trait]
pub trait TaskHook: Send + Sync {
    /// Before `state`'s attempt runs.
    async fn before(&self, _state: &str) {}
    /// After it ended, either way.
    async fn after(&self, _state: &str) {}
}

/// How the local engine runs.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The execution's name (default: `<batch>-<time>-<random>`).
    pub run_id: Option<String>,
    /// See [`TaskHook`].
    pub hook: Option<Arc<dyn TaskHook>>,
    /// `LANDFALL_FAULTS`: make a Task fail with `Landfall.Transient` on its first N attempts.
    pub faults: HashMap<String, u32>,
    /// Wait the ASL's Wait and Retry delays for real (default: record them, skip the wait).
    pub real_time: bool,
    /// The definition to run (default: [`STATE_MACHINE`]).
    pub definition: Option<String>,
}

/// Parse `LANDFALL_FAULTS` (`State:N,State:N`).
pub fn parse_faults(spec: &str) -> Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (state, n) = item.split_once(':').ok_or_else(|| {
            PipelineError::config(format!(
                "LANDFALL_FAULTS: '{item}' should be State:N, e.g. BuildMarts:2"
            ))
        })?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| PipelineError::config(format!("LANDFALL_FAULTS: '{item}': N must be a whole number")))?;
        out.insert(state.trim().to_string(), n);
    }
    Ok(out)
}

/// The substitutions that make the deployed definition run locally: every function's ARN.
pub fn local_substitutions() -> BTreeMap<String, String> {
    functions::FUNCTIONS
        .iter()
        .map(|f| {
            (
                functions::substitution_key(f),
                format!("arn:aws:lambda:local:000000000000:function:landfall-{f}"),
            )
        })
        .collect()
}

/// Load a definition for local execution (substitutions applied, unsupported features refused).
pub fn load_definition(text: &str) -> Result<Machine> {
    let substituted =
        landfall_asl::substitute(text, &local_substitutions()).map_err(|e| PipelineError::config(e.to_string()))?;
    let v: Value = serde_json::from_str(&substituted)
        .map_err(|e| PipelineError::config(format!("the state machine is not valid JSON: {e}")))?;
    Machine::parse(&v).map_err(|e| PipelineError::config(e.to_string()))
}

pub fn new_run_id(batch: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]");
    let stamp = now.format(&fmt).unwrap_or_default();
    let nanos = now.unix_timestamp_nanos() as u64;
    let r = ((nanos >> 16) ^ nanos ^ (std::process::id() as u64).wrapping_mul(0x9e37_79b9)) as u16;
    // Execution names allow letters, digits, '-' and '_' (80 characters at most).
    let b: String = batch
        .chars()
        .take(50)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{b}-{stamp}-{r:04x}")
}

/// Task states, dispatched to the pipeline's functions in-process.
struct LocalTasks<'a> {
    deps: Deps<'a>,
    settings: &'a RunSettings<'a>,
    faults: HashMap<String, u32>,
    observer: &'a dyn Observer,
    hook: Option<Arc<dyn TaskHook>>,
    /// Successful results and errors, by state name, for the summary.
    results: Mutex<Vec<(String, std::result::Result<Value, PipelineError>)>>,
}

impl LocalTasks<'_> {
    async fn dispatch(&self, function: &str, input: Value) -> Result<Value> {
        match function {
            "load" => functions::load(self.deps, input).await,
            "transform" => functions::transform(self.deps, input).await,
            "quality" => functions::quality(self.deps, input).await,
            "publish" => functions::publish(self.deps, input).await,
            "notify" => functions::notify(self.settings, Some(self.deps.warehouse), input).await,
            other => Err(PipelineError::config(format!(
                "the state machine calls an unknown function '{other}'"
            ))),
        }
    }
}

#[async_trait]
impl Tasks for LocalTasks<'_> {
    async fn invoke(&self, call: TaskCall<'_>) -> std::result::Result<Value, AslError> {
        let function = call
            .resource
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .trim_start_matches("landfall-")
            .to_string();
        // A file's load is named for the file: `LoadFile[titles]` (Map iterations share the
        // state's name).
        let file = call.input.get("file").and_then(Value::as_str);
        let label = match file {
            Some(f) => crate::handlers::file_step(call.state, f),
            None => call.state.to_string(),
        };
        if let Some(h) = &self.hook {
            h.before(&label).await;
        }
        self.observer.step_started(&label, call.attempt);
        let started = Instant::now();
        let fault = self.faults.get(&label).or_else(|| self.faults.get(call.state));
        let result = match fault {
            Some(n) if call.attempt <= *n => Err(PipelineError::transient(format!(
                "fault injected by LANDFALL_FAULTS into {label} (attempt {} of the first {n})",
                call.attempt
            ))),
            _ => self.dispatch(&function, call.input.clone()).await,
        };
        self.observer.step_finished(&StepRecord {
            name: label.clone(),
            status: if result.is_ok() { "succeeded" } else { "failed" }.into(),
            duration_ms: started.elapsed().as_millis() as u64,
            attempts: call.attempt,
            retry_delays_ms: vec![],
        });
        // A poll answers for its state (`step`: PollBuildMarts is BuildMarts).
        let step = call.input.get("step").and_then(Value::as_str).unwrap_or(call.state);
        let state = match file {
            Some(f) => crate::handlers::file_step(step, f),
            None => step.to_string(),
        };
        self.results.lock().unwrap().push((state, result.clone()));
        if let Some(h) = &self.hook {
            h.after(&label).await;
        }
        result.map_err(|e| AslError::new(e.name.as_str(), e.message))
    }
}

/// Run one execution: `input` is the execution input (`{bucket, batch, full_refresh}`).
pub async fn run(
    deps: Deps<'_>,
    settings: &RunSettings<'_>,
    input: &Value,
    observer: &dyn Observer,
    options: &RunOptions,
) -> Result<RunSummary> {
    let started = Instant::now();
    let machine = load_definition(options.definition.as_deref().unwrap_or(STATE_MACHINE))?;
    let batch = input
        .get("batch")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let run_id = options.run_id.clone().unwrap_or_else(|| new_run_id(&batch));
    let tasks = LocalTasks {
        deps,
        settings,
        faults: options.faults.clone(),
        observer,
        hook: options.hook.clone(),
        results: Mutex::new(vec![]),
    };
    let clock: Arc<dyn Clock> = if options.real_time {
        Arc::new(RealClock::default())
    } else {
        Arc::new(VirtualClock::default())
    };
    let tasks = Arc::new(tasks);
    let engine = Engine::new(machine, "landfall", tasks.clone(), clock);
    let ex = engine.execute(&run_id, input.clone()).await;
    drop(engine);
    let tasks = Arc::try_unwrap(tasks).ok().expect("the engine is done with the tasks");
    let results = tasks.results.into_inner().unwrap();
    // Every landing file is named in the summary's rejects, none rejected or not.
    let files: Vec<String> = crate::contract::Contract::of(deps.project)
        .map(|c| c.names().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    let summary = summarize(
        &ex,
        &results,
        &files,
        run_id,
        batch,
        started.elapsed().as_millis() as u64,
    );
    // The timeline for the run report. Best effort: a run that could not even open the
    // warehouse has nothing to record it in.
    if let Err(e) = crate::audit::record_steps(deps.warehouse, &summary.run_id, &step_rows(&summary)).await {
        tracing::warn!(error = %e, "the run's steps were not recorded for its report");
    }
    Ok(summary)
}

/// The summary's steps as `audit.run_steps` rows.
pub fn step_rows(s: &RunSummary) -> Vec<crate::audit::StepRow> {
    s.steps
        .iter()
        .map(|st| crate::audit::StepRow {
            state: st.name.clone(),
            status: st.status.clone(),
            attempts: st.attempts,
            duration_ms: st.duration_ms,
            error_name: (st.status == "failed" && s.failed_state.as_deref() == st.name.rsplit('/').next())
                .then(|| s.error.as_ref().map(|e| e.name.as_str().to_string()))
                .flatten(),
        })
        .collect()
}

/// A state's name in the summary, from its path: the state's own name, and inside an
/// iteration of the LoadRaw Map the file it loads (`LoadRaw/1/LoadFile` → `LoadFile[credits]`).
fn step_name(path: &str, items: &[String]) -> String {
    let mut segments = path.rsplit('/');
    let leaf = segments.next().unwrap_or(path);
    match segments
        .find_map(|s| s.parse::<usize>().ok())
        .and_then(|i| items.get(i))
    {
        Some(file) => crate::handlers::file_step(leaf, file),
        None => leaf.to_string(),
    }
}

fn summarize(
    ex: &landfall_asl::Execution,
    results: &[(String, std::result::Result<Value, PipelineError>)],
    files: &[String],
    run_id: String,
    batch: String,
    duration_ms: u64,
) -> RunSummary {
    let ok = |state: &str| {
        results
            .iter()
            .rev()
            .find(|(s, r)| s == state && r.is_ok())
            .and_then(|(_, r)| r.as_ref().ok().cloned())
    };
    let mut s = RunSummary {
        status: if ex.succeeded() && ok("Publish").is_some() {
            "succeeded"
        } else {
            "failed"
        }
        .into(),
        run_id,
        batch,
        published: ok("Publish").is_some(),
        duration_ms,
        ..RunSummary::default()
    };
    if let Some(run) = ok("ValidateInput").and_then(|v| serde_json::from_value::<RunVars>(v).ok()) {
        s.batch = run.batch;
    }
    // The files in CheckFiles' order: the items of the LoadRaw Map, which name its iterations.
    let mut items: Vec<String> = Vec::new();
    if let Some(c) = ok("CheckFiles").and_then(|v| serde_json::from_value::<CheckedFiles>(v).ok()) {
        s.warnings.extend(c.warnings);
        items = c.files.into_iter().map(|f| f.file).collect();
    }
    // Every file's load, whatever the contract calls its state (in order: a retry's answer
    // replaces an earlier one).
    for (_, r) in results.iter().filter(|(st, _)| st.starts_with("Load")) {
        if let Some(l) = r
            .as_ref()
            .ok()
            .and_then(|v| serde_json::from_value::<LoadedFile>(v.clone()).ok())
        {
            s.loaded.insert(l.file, l.rows);
        }
    }
    let quality = ok("RunQualityChecks")
        .and_then(|v| serde_json::from_value::<QualityOutcome>(v).ok())
        .or_else(|| {
            results
                .iter()
                .rev()
                .find(|(st, _)| st == "RunQualityChecks")
                .and_then(|(_, r)| r.as_ref().err())
                .and_then(|e| e.details.clone())
                .and_then(|d| serde_json::from_value::<QualityOutcome>(d).ok())
        });
    if let Some(q) = quality {
        s.tests = q.tests.clone();
        s.rejected = q.rejected.clone();
        for f in files {
            s.rejected.entry(f.clone()).or_insert(0);
        }
        s.failing_tests = q
            .results
            .iter()
            .filter(|r| r.status == TestStatus::Fail)
            .map(|r| FailingTest {
                name: r.name.clone(),
                failures: r.failures,
            })
            .collect();
        for r in q.results.iter().filter(|r| r.status == TestStatus::Warn) {
            s.warnings.push(format!("test {} warned: {}", r.name, r.message));
        }
    }
    // The error: the innermost state that failed with the error a Catch took (or that ended the run).
    let caught = ex.history.iter().find_map(|e| match &e.kind {
        EventKind::Caught { error, .. } => Some(error.clone()),
        _ => None,
    });
    let target = caught.or_else(|| ex.output.as_ref().err().map(|e| e.error.clone()));
    if let Some(why) = results
        .iter()
        .find_map(|(_, r)| r.as_ref().ok().and_then(functions::superseded_in))
    {
        s.status = "superseded".into();
        s.published = false;
        s.superseded = Some(why);
    }
    if let Some(err_name) = target {
        if let Some((path, cause)) = ex.history.iter().find_map(|e| match &e.kind {
            EventKind::StateFailed { error, cause } if error == &err_name => Some((e.state.clone(), cause.clone())),
            _ => None,
        }) {
            let name = ErrorName::parse(&err_name).unwrap_or(match err_name.as_str() {
                "States.Runtime" => ErrorName::Config,
                _ => ErrorName::Transient,
            });
            let cause = if ErrorName::parse(&err_name).is_some() {
                cause
            } else {
                format!("{err_name}: {cause}")
            };
            s.error = Some(ErrorSummary { name, cause });
            s.failed_state = Some(crate::inflight::polled_state(&step_name(&path, &items)).to_string());
        } else if let Err(e) = &ex.output {
            // The execution itself ended it (its TimeoutSeconds): no state failed.
            s.error = Some(ErrorSummary {
                name: ErrorName::Transient,
                cause: format!("{}: {}", e.error, e.cause),
            });
            s.failed_state = Some("execution".into());
        }
        s.status = "failed".into();
    }
    if let Some(e) = results
        .iter()
        .rev()
        .find(|(st, _)| st == "NotifyFailure")
        .and_then(|(_, r)| r.as_ref().err())
    {
        s.warnings.push(format!("alert delivery failed: {}", e.message));
    }
    s.steps = ex
        .states()
        .into_iter()
        .map(|r| StepRecord {
            name: step_name(&r.path, &items),
            status: r.status,
            duration_ms: r.duration_ms,
            attempts: r.attempts,
            retry_delays_ms: r.retry_delays_ms,
        })
        .collect();
    s.metrics = s
        .steps
        .iter()
        .filter_map(|step| {
            let leaf = step.name.rsplit('/').next().unwrap_or(&step.name);
            let (_, r) = results.iter().rev().find(|(st, _)| st == leaf)?;
            Some(crate::metrics::for_state(
                leaf,
                r.as_ref(),
                step.duration_ms,
                step.attempts.saturating_sub(1),
            ))
        })
        .collect();
    s
}
