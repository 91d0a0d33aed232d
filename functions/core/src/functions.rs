//! The pipeline's functions — one per Lambda (`load`, `transform`, `quality`, `publish`,
//! `notify`) — taking and returning the JSON the state machine passes. The Lambda binaries and
//! the local ASL engine call these same functions, so a state behaves identically in both.

use crate::alerts::{Alert, Alerts, FailingTest, redact, truncate};
use crate::build::RunVars;
use crate::error::{ErrorName, PipelineError, Result};
use crate::handlers::{self, Deps};
use crate::inflight::{Poll, Suspending};
use crate::storage::ObjectInfo;
use crate::warehouse::{Warehouse, sql_str};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Lambda functions of the state machine: `${<Name>FunctionArn}` in the definition.
pub const FUNCTIONS: [&str; 5] = ["load", "transform", "quality", "publish", "notify"];

/// The substitution key of a function in `statemachine.asl.json` (`load` → `LoadFunctionArn`).
pub fn substitution_key(function: &str) -> String {
    let mut c = function.chars();
    let first = c
        .next()
        .map(|f| f.to_uppercase().collect::<String>())
        .unwrap_or_default();
    format!("{first}{}FunctionArn", c.as_str())
}

fn parse<T: for<'de> Deserialize<'de>>(function: &str, event: Value) -> Result<T> {
    serde_json::from_value(event)
        .map_err(|e| PipelineError::bad_input(format!("the {function} function got an event it cannot read: {e}")))
}

fn to_value(v: &impl Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| PipelineError::config(format!("cannot serialize a result: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum LoadEvent {
    Validate {
        input: Value,
        execution: String,
        /// `$$.Execution.StartTime`; a hand-made event without it starts the clock here.
        #[serde(default)]
        started: Option<String>,
    },
    Check {
        run: RunVars,
    },
    Load {
        file: String,
        run: RunVars,
        object: ObjectInfo,
    },
}

/// `load`: `ValidateInput`, `CheckFiles`, `LoadFile` (one per declared file).
pub async fn load(deps: Deps<'_>, event: Value) -> Result<Value> {
    match parse::<LoadEvent>("load", event.clone())? {
        LoadEvent::Validate {
            input,
            execution,
            started,
        } => {
            let i = handlers::validate_input(&input)?;
            let started_at = match started.filter(|s| !s.is_empty()) {
                Some(s) => s,
                None => time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| PipelineError::config(format!("cannot format the start time: {e}")))?,
            };
            let run = RunVars {
                run_id: execution,
                batch: i.batch,
                full_refresh: i.full_refresh,
                bucket: i.bucket,
                force_publish: i.force_publish,
                started_at,
            };
            crate::audit::run_started(deps.warehouse, &run.run_id, &run.batch).await?;
            to_value(&run)
        }
        LoadEvent::Check { run } => {
            let input = handlers::ExecutionInput {
                bucket: run.bucket.clone(),
                batch: run.batch.clone(),
                full_refresh: run.full_refresh,
                force_publish: run.force_publish,
            };
            to_value(&handlers::check_files(deps, &input).await?)
        }
        LoadEvent::Load { file, run, object } => {
            let poll = Poll::of(&event)?;
            let s = Suspending::begin(deps.warehouse, &poll);
            let deps = suspended(deps, &s);
            let r = or_superseded(
                handlers::load_file(deps, &run, &file, &object)
                    .await
                    .and_then(|l| to_value(&l)),
            );
            finish(s, &poll, r).await
        }
    }
}

/// The handler's adapters with the engine seen through the state's journal, where it has one.
fn suspended<'a>(deps: Deps<'a>, s: &'a Option<Suspending<'a>>) -> Deps<'a> {
    Deps {
        warehouse: s.as_ref().map_or(deps.warehouse, |s| s as &dyn Warehouse),
        ..deps
    }
}

/// A warehouse state's answer: the handler's own, or the handle to poll (crate::inflight).
async fn finish(s: Option<Suspending<'_>>, poll: &Poll, r: Result<Value>) -> Result<Value> {
    match s {
        Some(s) => s.finish(poll, r).await,
        None => r,
    }
}

#[derive(Debug, Deserialize)]
struct TransformEvent {
    layer: String,
    #[serde(default)]
    commit_raw: bool,
    run: RunVars,
}

/// `transform`: `BuildStaging`, `BuildIntermediate`, `BuildMarts` (the state names the layer).
pub async fn transform(deps: Deps<'_>, event: Value) -> Result<Value> {
    let e: TransformEvent = parse("transform", event.clone())?;
    let poll = Poll::of(&event)?;
    let s = Suspending::begin(deps.warehouse, &poll);
    let deps = suspended(deps, &s);
    let r = or_superseded(
        handlers::build_layer(deps, &e.run, &e.layer, e.commit_raw)
            .await
            .and_then(|b| to_value(&b)),
    );
    finish(s, &poll, r).await
}

#[derive(Debug, Deserialize)]
struct RunEvent {
    run: RunVars,
}

/// `quality`: `RunQualityChecks`.
pub async fn quality(deps: Deps<'_>, event: Value) -> Result<Value> {
    let e: RunEvent = parse("quality", event.clone())?;
    let poll = Poll::of(&event)?;
    let s = Suspending::begin(deps.warehouse, &poll);
    let deps = suspended(deps, &s);
    let r = or_superseded(handlers::run_quality(deps, &e.run).await.and_then(|q| to_value(&q)));
    finish(s, &poll, r).await
}

/// `publish`: `Publish`.
pub async fn publish(deps: Deps<'_>, event: Value) -> Result<Value> {
    let e: RunEvent = parse("publish", event)?;
    let p = match handlers::publish(deps, &e.run).await {
        Ok(p) => p,
        Err(e) => return or_superseded(Err(e)),
    };
    to_value(&p)
}

/// A run stopped by the ordering rules (crate::succession) has not failed: its function
/// answers `{"superseded": why}`, which a Choice after the state routes to NotifySuperseded.
/// As an error it would count in the Lambda's `Errors` metric and wake the alarms.
fn or_superseded(r: Result<Value>) -> Result<Value> {
    match r {
        Err(e) if e.name == ErrorName::Superseded => Ok(serde_json::json!({ SUPERSEDED: e.message })),
        r => r,
    }
}

/// The field of a function's answer that says the run was superseded, and why.
pub const SUPERSEDED: &str = "superseded";

/// Why a run was superseded, if a state's answer in `state` (an execution's data) says so.
pub fn superseded_in(state: &Value) -> Option<String> {
    match state {
        Value::Object(m) => m.iter().find_map(|(k, v)| match v {
            Value::String(s) if k == SUPERSEDED => Some(s.clone()),
            other => superseded_in(other),
        }),
        Value::Array(a) => a.iter().find_map(superseded_in),
        _ => None,
    }
}

/// Settings of the notify function.
pub struct NotifySettings<'a> {
    pub pipeline: &'a str,
    pub environment: &'a str,
    pub alerts: &'a dyn Alerts,
    /// Values that must never appear in an alert.
    pub secrets: Vec<String>,
    pub notify_success: bool,
    /// Where run reports go: an alert links `<report_base>/<batch>/<execution>.html`.
    pub report_base: Option<String>,
    /// With a warehouse at hand, write the run's report (and link it) before alerting.
    /// The project is loaded on first use (a Lambda's cold start does not pay for it).
    pub report_sink: Option<(
        &'a dyn crate::reporting::RunReport,
        &'a std::sync::LazyLock<Result<landfall_dbt::Project>>,
    )>,
}

/// The link to a run's report.
pub fn report_link(base: &str, batch: &str, execution: &str) -> String {
    format!("{}/{batch}/{execution}.html", base.trim_end_matches('/'))
}

#[derive(Debug, Deserialize)]
struct NotifyEvent {
    status: String,
    #[serde(default)]
    execution: String,
    #[serde(default)]
    state: Value,
}

/// The failed state and its error, from a state machine's `$.failure.<State>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub state: String,
    pub error: String,
    pub cause: String,
}

/// Read `$.failure` (set by every Catch); a Lambda's cause is a JSON document whose
/// `errorMessage` is the message.
pub fn failure_of(state: &Value) -> Option<Failure> {
    let (name, e) = state.get("failure")?.as_object()?.iter().next()?;
    let cause = lambda_message(e.get("Cause").and_then(Value::as_str).unwrap_or_default());
    Some(Failure {
        state: name.clone(),
        error: e
            .get("Error")
            .and_then(Value::as_str)
            .unwrap_or("States.Unknown")
            .to_string(),
        cause,
    })
}

/// A caught error's `Cause`: a Lambda's is a JSON document whose `errorMessage` is the message.
pub fn lambda_message(raw_cause: &str) -> String {
    serde_json::from_str::<Value>(raw_cause)
        .ok()
        .and_then(|v| v.get("errorMessage").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| raw_cause.to_string())
}

/// `failing_test (N failing rows)` items out of a quality-gate message.
pub fn failing_tests_in(cause: &str) -> Vec<FailingTest> {
    let list = cause.split_once("published: ").map(|(_, l)| l).unwrap_or("");
    list.split("), ")
        .filter_map(|item| {
            let (name, rest) = item.split_once(" (")?;
            let n = rest.split_whitespace().next()?.parse().ok()?;
            Some(FailingTest {
                name: name.trim().to_string(),
                failures: n,
            })
        })
        .collect()
}

/// A link to the execution in the AWS console, for an execution ARN.
pub fn console_link(execution_arn: &str) -> Option<String> {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    if parts.len() < 8 || parts[0] != "arn" || parts[3] == "local" {
        return None;
    }
    let region = parts[3];
    Some(format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    ))
}

/// `notify`: `NotifySuccess`, `NotifyFailure`. With a warehouse at hand (locally), the failure
/// is also recorded in `audit.runs` and the run's pending raw rows are dropped.
pub async fn notify(settings: &NotifySettings<'_>, warehouse: Option<&dyn Warehouse>, event: Value) -> Result<Value> {
    let e: NotifyEvent = parse("notify", event)?;
    let run: Option<RunVars> = e.state.get("run").and_then(|r| serde_json::from_value(r.clone()).ok());
    let batch = run
        .as_ref()
        .map(|r| r.batch.clone())
        .or_else(|| e.state.get("batch").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let execution_name = e.execution.rsplit(':').next().unwrap_or(&e.execution).to_string();
    let now = crate::clock::now_rfc3339();
    let report = settings
        .report_base
        .as_deref()
        .map(|b| report_link(b, &batch, &execution_name));
    let mut alert = Alert {
        status: e.status.clone(),
        pipeline: settings.pipeline.into(),
        environment: settings.environment.into(),
        batch,
        execution: execution_name,
        failed_state: None,
        error: None,
        cause: None,
        failing_tests: vec![],
        link: console_link(&e.execution),
        report,
        at: now,
    };
    if e.status == "superseded" {
        // Not a failure: the run recorded itself (crate::succession); people hear that the
        // batch was not published and why.
        let reason = superseded_in(&e.state).unwrap_or_else(|| "a newer batch or execution is published".into());
        alert.cause = Some(truncate(
            &redact(&reason, &settings.secrets),
            crate::alerts::MAX_CAUSE_CHARS,
        ));
        settings.alerts.send(&alert).await?;
        return Ok(serde_json::json!({"sent": true, "status": "superseded"}));
    }
    if e.status == "succeeded" {
        if let (Some(wh), Some(run)) = (warehouse, &run) {
            put_report(settings, wh, &run.run_id, &mut alert).await;
        }
        if settings.notify_success {
            settings.alerts.send(&alert).await?;
            return Ok(serde_json::json!({"sent": true}));
        }
        return Ok(serde_json::json!({"sent": false}));
    }
    let f = failure_of(&e.state).unwrap_or(Failure {
        state: "?".into(),
        error: "States.Unknown".into(),
        cause: "the execution failed without a recorded error".into(),
    });
    let cause = truncate(&redact(&f.cause, &settings.secrets), crate::alerts::MAX_CAUSE_CHARS);
    alert.failed_state = Some(f.state.clone());
    alert.error = Some(f.error.clone());
    alert.cause = Some(cause);
    if let (Some(wh), Some(run)) = (warehouse, &run) {
        let name = ErrorName::parse(&f.error).unwrap_or(ErrorName::Transient);
        if let Err(err) = handlers::on_failure(wh, run, &f.state, &PipelineError::new(name, f.cause.clone())).await {
            tracing::error!(error = %err, "could not record the failure in the warehouse");
        }
        if let Ok(t) = wh
            .query(&format!(
                "select test_name, failures from audit.test_results where run_id = {} and status = 'fail' order by test_name",
                sql_str(&run.run_id)
            ))
            .await
        {
            alert.failing_tests = t
                .rows
                .iter()
                .map(|r| FailingTest { name: r[0].as_str().unwrap_or_default().to_string(), failures: crate::warehouse::as_i64(&r[1]).unwrap_or(0) })
                .collect();
        }
    }
    if alert.failing_tests.is_empty() && f.error == ErrorName::QualityGate.as_str() {
        alert.failing_tests = failing_tests_in(&f.cause);
    }
    if let (Some(wh), Some(run)) = (warehouse, &run) {
        put_report(settings, wh, &run.run_id, &mut alert).await;
    }
    settings.alerts.send(&alert).await?;
    Ok(serde_json::json!({"sent": true, "failed_state": f.state, "error": f.error}))
}

/// Write the run's report through the settings' sink and link it from the alert; a report
/// that cannot be written never stops the alert.
async fn put_report(settings: &NotifySettings<'_>, wh: &dyn Warehouse, run_id: &str, alert: &mut Alert) {
    let Some((reporter, project)) = settings.report_sink else {
        return;
    };
    let project = match &**project {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e.name, "the run report was not written: {}", e.message);
            return;
        }
    };
    match reporter.publish(wh, project, run_id).await {
        Ok(link) => alert.report = Some(link),
        Err(e) => tracing::warn!(error = %e.name, "the run report was not written: {}", e.message),
    }
}

/// `notify` for EventBridge's "Step Functions Execution Status Change" events: an alert even
/// when the state machine itself died (FAILED, TIMED_OUT, ABORTED) and never reached
/// NotifyFailure. Other statuses are ignored.
///
/// With a warehouse at hand the run is also marked failed in `audit.runs` and its pending raw
/// rows dropped, as NotifyFailure does (best effort: the alert goes out regardless).
pub async fn notify_status_change(
    settings: &NotifySettings<'_>,
    warehouse: Option<&dyn Warehouse>,
    d: &ExecutionStatusChange,
) -> Result<Value> {
    let status = d.status.as_str();
    if !matches!(status, "FAILED" | "TIMED_OUT" | "ABORTED") {
        return Ok(serde_json::json!({"sent": false, "status": status}));
    }
    // The machine ends in `Failed` (Landfall.PipelineFailed) only after NotifyFailure alerted;
    // when NotifyFailure itself failed it ends in `AlertFailed`, and this path alerts.
    if status == "FAILED" && d.error.as_deref() == Some(ALERTED_FAILURE) {
        return Ok(serde_json::json!({"sent": false, "status": status, "reason": "NotifyFailure already alerted"}));
    }
    let arn = d.execution_arn.as_str();
    let input: Value = d
        .input
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let error = d.error.clone().unwrap_or_else(|| {
        match status {
            "TIMED_OUT" => "States.Timeout",
            "ABORTED" => "Execution.Aborted",
            _ => "Execution.Failed",
        }
        .to_string()
    });
    let cause = d.cause.as_deref().unwrap_or(match status {
        "TIMED_OUT" => "the execution ran past the state machine's TimeoutSeconds",
        "ABORTED" => "the execution was stopped by hand or by a deployment",
        _ => "the execution failed",
    });
    let alert = Alert {
        status: "failed".into(),
        pipeline: settings.pipeline.into(),
        environment: settings.environment.into(),
        batch: input
            .get("batch")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        execution: d.name.clone(),
        failed_state: Some(format!("execution {}", status.to_lowercase())),
        error: Some(error),
        cause: Some(truncate(
            &redact(cause, &settings.secrets),
            crate::alerts::MAX_CAUSE_CHARS,
        )),
        failing_tests: vec![],
        link: console_link(arn),
        report: None,
        at: crate::clock::now_rfc3339(),
    };
    if let Some(wh) = warehouse {
        let run = RunVars {
            run_id: d.name.clone(),
            batch: alert.batch.clone(),
            ..RunVars::default()
        };
        let err = PipelineError::transient(alert.cause.clone().unwrap_or_default());
        if let Err(e) = handlers::mark_dead(wh, &run, alert.failed_state.as_deref().unwrap_or("?"), &err).await {
            tracing::error!(error = %e, "could not record the dead execution in the warehouse");
        }
    }
    settings.alerts.send(&alert).await?;
    Ok(serde_json::json!({"sent": true, "status": status}))
}

/// The error of the `Failed` state, which the machine reaches only after NotifyFailure
/// alerted (statemachine.asl.json).
pub const ALERTED_FAILURE: &str = "Landfall.PipelineFailed";

/// `detail` of EventBridge's "Step Functions Execution Status Change" event (the fields the
/// alert uses; `input`, `error` and `cause` are null in some statuses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    pub execution_arn: String,
    #[serde(default)]
    pub state_machine_arn: Option<String>,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_failures_and_failing_tests() {
        let state = serde_json::json!({"failure": {"RunQualityChecks": {"Error": "Landfall.QualityGate",
            "Cause": "{\"errorMessage\": \"2 of 30 tests failed, nothing was published: unique_x (3 failing rows), not_null_y (1 failing rows)\", \"errorType\": \"Landfall.QualityGate\"}"}}});
        let f = failure_of(&state).unwrap();
        assert_eq!(f.state, "RunQualityChecks");
        assert_eq!(f.error, "Landfall.QualityGate");
        assert!(f.cause.starts_with("2 of 30"));
        assert_eq!(
            failing_tests_in(&f.cause),
            vec![
                FailingTest {
                    name: "unique_x".into(),
                    failures: 3
                },
                FailingTest {
                    name: "not_null_y".into(),
                    failures: 1
                }
            ]
        );
    }

    #[test]
    fn console_links_only_for_real_arns() {
        assert_eq!(
            console_link("arn:aws:states:eu-west-1:123456789012:execution:landfall:b-1").unwrap(),
            "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:landfall:b-1"
        );
        assert_eq!(console_link("arn:aws:states:local:000000000000:execution:x:y"), None);
        assert_eq!(substitution_key("load"), "LoadFunctionArn");
    }
}
