//! CloudWatch metrics in Embedded Metric Format: one JSON line per state execution, printed on
//! stdout by the Lambdas (CloudWatch Logs turns it into metrics, no API call), and the same
//! numbers in `landfall run`'s summary. Namespace `Landfall`, dimensions `environment` and
//! `state`.
//!
//! Metrics: `Duration` (ms), `Retries` (the state's retry count), `Failed` (1 when the attempt
//! failed), and where the state knows them `RowsLoaded`, `RowsRejected`, `TestsPassed`,
//! `TestsFailed`, `TestsWarned`; the trigger counts `ExecutionsStarted` (and, through SQS, `MessagesFailed`).

use crate::error::PipelineError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const NAMESPACE: &str = "Landfall";

/// One state execution's numbers, by metric name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMetrics {
    pub state: String,
    pub metrics: BTreeMap<String, f64>,
}

fn unit(name: &str) -> &'static str {
    if name == "Duration" { "Milliseconds" } else { "Count" }
}

/// The numbers of one state from what its function returned (or the error it failed with; a
/// quality gate's error carries the test counts).
pub fn for_state(state: &str, result: Result<&Value, &PipelineError>, duration_ms: u64, retries: u32) -> StateMetrics {
    let mut m = BTreeMap::new();
    m.insert("Duration".to_string(), duration_ms as f64);
    m.insert("Retries".to_string(), retries as f64);
    m.insert("Failed".to_string(), if result.is_err() { 1.0 } else { 0.0 });
    let body = match result {
        Ok(v) => Some(v),
        Err(e) => e.details.as_ref(),
    };
    if state == "Trigger"
        && let Ok(v) = result
    {
        // `outcomes`: one per created object; `batchItemFailures`: SQS messages to retry.
        let outcomes = v.get("outcomes").and_then(Value::as_array);
        let started = outcomes
            .into_iter()
            .flatten()
            .filter(|o| o.get("action").and_then(Value::as_str) == Some("started"))
            .count();
        m.insert("ExecutionsStarted".into(), started as f64);
        if let Some(f) = v.get("batchItemFailures").and_then(Value::as_array) {
            m.insert("MessagesFailed".into(), f.len() as f64);
            if !f.is_empty() {
                m.insert("Failed".into(), 1.0);
            }
        }
    }
    if let Some(v) = body {
        if state.starts_with("Load")
            && let Some(n) = v.get("rows").and_then(Value::as_f64)
        {
            m.insert("RowsLoaded".into(), n);
        }
        if let Some(t) = v.get("tests") {
            for (k, name) in [
                ("passed", "TestsPassed"),
                ("failed", "TestsFailed"),
                ("warned", "TestsWarned"),
            ] {
                if let Some(n) = t.get(k).and_then(Value::as_f64) {
                    m.insert(name.into(), n);
                }
            }
        }
        if let Some(r) = v.get("rejected").and_then(Value::as_object) {
            m.insert("RowsRejected".into(), r.values().filter_map(Value::as_f64).sum());
        }
        if let Some(r) = v.get("loaded").and_then(Value::as_object) {
            m.insert("RowsLoaded".into(), r.values().filter_map(Value::as_f64).sum());
        }
    }
    StateMetrics {
        state: state.to_string(),
        metrics: m,
    }
}

/// The EMF document for one state execution, as one line. `properties` (the execution, the
/// batch) ride along for log searches; they are not dimensions.
pub fn emf_line(environment: &str, s: &StateMetrics, timestamp_ms: u64, properties: &[(&str, &str)]) -> String {
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["environment", "state"]],
                "Metrics": s.metrics.keys().map(|k| json!({"Name": k, "Unit": unit(k)})).collect::<Vec<_>>(),
            }],
        },
        "environment": environment,
        "state": s.state,
    });
    for (k, v) in properties {
        doc[*k] = json!(v);
    }
    for (k, v) in &s.metrics {
        doc[k] = json!(v);
    }
    doc.to_string()
}

/// The state a function invocation serves, from the event the state machine sent it (its
/// Parameters pass `$$.State.Name` as `step`), or from the event's shape.
pub fn state_of(function: &str, event: &Value) -> String {
    // A file's load is named for its file: every iteration of the LoadRaw Map is `LoadFile`.
    if function == "load"
        && let Some(f) = event.get("file").and_then(Value::as_str)
    {
        return crate::handlers::load_step(f);
    }
    if let Some(s) = event.get("step").and_then(Value::as_str) {
        return s.to_string();
    }
    match (function, event.get("action").and_then(Value::as_str)) {
        ("load", Some("validate")) => "ValidateInput".into(),
        ("load", Some("check")) => "CheckFiles".into(),
        ("load", _) => crate::handlers::LOAD_STATE.into(),
        ("transform", _) => crate::handlers::build_state_name(event.get("layer").and_then(Value::as_str).unwrap_or("")),
        ("quality", _) => "RunQualityChecks".into(),
        ("publish", _) => "Publish".into(),
        (f, _) => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_numbers_come_from_the_output_or_the_gate_error() {
        let out = json!({"tests": {"passed": 40, "failed": 0, "warned": 1}, "rejected": {"titles": 0, "credits": 2}});
        let m = for_state("RunQualityChecks", Ok(&out), 120, 0);
        assert_eq!(m.metrics["TestsPassed"], 40.0);
        assert_eq!(m.metrics["RowsRejected"], 2.0);
        assert_eq!(m.metrics["Failed"], 0.0);
        let e = PipelineError::quality_gate("1 of 41 failed")
            .with_details(&json!({"tests": {"passed": 40, "failed": 1, "warned": 0}}));
        let m = for_state("RunQualityChecks", Err(&e), 100, 1);
        assert_eq!(m.metrics["TestsFailed"], 1.0);
        assert_eq!(m.metrics["Failed"], 1.0);
        assert_eq!(m.metrics["Retries"], 1.0);
    }

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let m = for_state(
            "LoadFile[credits]",
            Ok(&json!({"file": "credits", "rows": 81357})),
            900,
            2,
        );
        let line: Value = serde_json::from_str(&emf_line(
            "prod",
            &m,
            1_700_000_000_000,
            &[("execution", "b1-x"), ("batch", "b1")],
        ))
        .unwrap();
        let decl = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "Landfall");
        assert_eq!(decl["Dimensions"], json!([["environment", "state"]]));
        for d in decl["Metrics"].as_array().unwrap() {
            let name = d["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} declared but not set");
        }
        assert_eq!(line["RowsLoaded"], json!(81357.0));
        assert_eq!(line["state"], "LoadFile[credits]");
        assert_eq!(line["environment"], "prod");
        assert_eq!(line["execution"], "b1-x");
        assert_eq!(
            state_of("transform", &json!({"layer": "intermediate"})),
            "BuildIntermediate"
        );
        // Every file's load is the one LoadFile state (and its poll): named for the file.
        for step in ["LoadFile", "PollLoadFile"] {
            assert_eq!(
                state_of("load", &json!({"step": step, "action": "load", "file": "titles"})),
                "LoadFile[titles]"
            );
        }
        assert_eq!(state_of("load", &json!({"action": "check"})), "CheckFiles");
    }
}
