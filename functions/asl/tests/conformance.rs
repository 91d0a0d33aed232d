//! Conformance: a table of ASL cases, each checked against what the Amazon States Language
//! specification says the outcome is (path processing, retry counts and delays, catch order,
//! Parallel failure, Choice rules, Map, intrinsic functions, Wait), plus definitions the engine
//! must refuse at load.

use async_trait::async_trait;
use landfall_asl::{AslError, Engine, EventKind, Machine, TaskCall, Tasks, VirtualClock};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Tasks whose behaviour the case scripts: per resource, fail the first N calls with an error,
/// sleep, or answer with a function of the input.
#[derive(Default)]
struct Script {
    fail_first: HashMap<String, (u32, String)>,
    sleep_ms: HashMap<String, u64>,
    calls: Mutex<Vec<(String, u32, Value)>>,
}

#[async_trait]
impl Tasks for Script {
    async fn invoke(&self, call: TaskCall<'_>) -> Result<Value, AslError> {
        self.calls
            .lock()
            .unwrap()
            .push((call.resource.to_string(), call.attempt, call.input.clone()));
        if let Some(ms) = self.sleep_ms.get(call.resource) {
            tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
        }
        if let Some((n, err)) = self.fail_first.get(call.resource)
            && call.attempt <= *n
        {
            return Err(AslError::new(
                err.clone(),
                format!("{} failed on attempt {}", call.resource, call.attempt),
            ));
        }
        match call.resource {
            "echo" => Ok(call.input),
            "double" => Ok(json!(call.input.as_f64().unwrap_or(0.0) * 2.0)),
            "lambda" => Ok(json!({"Payload": {"value": 42, "noise": true}, "StatusCode": 200})),
            other => Ok(json!({"from": other})),
        }
    }
}

async fn run(def: Value, input: Value, script: Script) -> (landfall_asl::Execution, Arc<Script>, Arc<VirtualClock>) {
    let m = Machine::parse(&def).unwrap_or_else(|e| panic!("{e}"));
    let script = Arc::new(script);
    let clock = Arc::new(VirtualClock::default());
    let engine = Engine::new(m, "test", script.clone(), clock.clone()).with_seed(7);
    let ex = engine.execute("case", input).await;
    (ex, script, clock)
}

fn task(resource: &str, extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": resource, "End": true});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

fn one(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

fn delays(ex: &landfall_asl::Execution) -> Vec<u64> {
    ex.history
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::RetryScheduled { delay_ms, .. } => Some(delay_ms),
            _ => None,
        })
        .collect()
}

// ---------- path processing (the specification's InputPath → Parameters → ResultSelector → ResultPath → OutputPath) ----------

#[tokio::test]
async fn path_processing_in_order() {
    let def = one(task(
        "lambda",
        json!({
            "InputPath": "$.order",
            "Parameters": {"id.$": "$.id", "fixed": "x", "exec.$": "$$.Execution.Name", "nested": {"n.$": "$.qty"}},
            "ResultSelector": {"v.$": "$.Payload.value"},
            "ResultPath": "$.order.result",
            "OutputPath": "$.order"
        }),
    ));
    let (ex, script, _) = run(
        def,
        json!({"order": {"id": 7, "qty": 2}, "other": 1}),
        Script::default(),
    )
    .await;
    assert_eq!(ex.output.unwrap(), json!({"id": 7, "qty": 2, "result": {"v": 42}}));
    let calls = script.calls.lock().unwrap();
    assert_eq!(
        calls[0].2,
        json!({"id": 7, "fixed": "x", "exec": "case", "nested": {"n": 2}})
    );
}

#[tokio::test]
async fn result_path_null_keeps_input_and_null_paths_give_empty_objects() {
    let (ex, _, _) = run(
        one(task("echo", json!({"ResultPath": null}))),
        json!({"a": 1}),
        Script::default(),
    )
    .await;
    assert_eq!(ex.output.unwrap(), json!({"a": 1}));
    let (ex, script, _) = run(
        one(task("echo", json!({"InputPath": null, "OutputPath": null}))),
        json!({"a": 1}),
        Script::default(),
    )
    .await;
    assert_eq!(script.calls.lock().unwrap()[0].2, json!({}));
    assert_eq!(ex.output.unwrap(), json!({}));
}

#[tokio::test]
async fn result_path_creates_nested_fields() {
    let (ex, _, _) = run(
        one(task(
            "double",
            json!({"InputPath": "$.n", "ResultPath": "$.out.doubled"}),
        )),
        json!({"n": 4}),
        Script::default(),
    )
    .await;
    assert_eq!(ex.output.unwrap(), json!({"n": 4, "out": {"doubled": 8.0}}));
}

#[tokio::test]
async fn a_path_that_selects_nothing_is_a_runtime_error_no_catch_can_take() {
    let def = one(task(
        "echo",
        json!({"InputPath": "$.missing", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"}]}),
    ));
    let (ex, _, _) = run(def, json!({}), Script::default()).await;
    assert_eq!(ex.output.unwrap_err().error, "States.Runtime");
}

// ---------- retries ----------

#[tokio::test]
async fn retry_counts_and_backoff_delays() {
    // IntervalSeconds 3, BackoffRate 1.5, MaxAttempts 2 → 3 attempts, delays 3 s and 4.5 s.
    let def = one(task(
        "t",
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 1.5}]}),
    ));
    let (ex, script, clock) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ex.output.clone().unwrap_err().error, "E");
    assert_eq!(script.calls.lock().unwrap().len(), 3);
    assert_eq!(delays(&ex), vec![3000, 4500]);
    assert_eq!(clock.skipped().as_millis(), 7500);
    assert_eq!(ex.states()[0].attempts, 3);
}

#[tokio::test]
async fn max_delay_seconds_caps_the_backoff() {
    let def = one(task(
        "t",
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 300, "MaxAttempts": 4, "BackoffRate": 2, "MaxDelaySeconds": 1000}]}),
    ));
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(delays(&ex), vec![300_000, 600_000, 1_000_000, 1_000_000]);
    // Without MaxDelaySeconds the same retrier doubles freely.
    let def = one(task(
        "t",
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 300, "MaxAttempts": 4, "BackoffRate": 2}]}),
    ));
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(delays(&ex), vec![300_000, 600_000, 1_200_000, 2_400_000]);
}

#[tokio::test]
async fn defaults_are_interval_1_attempts_3_rate_2() {
    let def = one(task("t", json!({"Retry": [{"ErrorEquals": ["E"]}]})));
    let (ex, script, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(delays(&ex), vec![1000, 2000, 4000]);
    assert_eq!(script.calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn max_attempts_zero_never_retries_and_success_after_retries_continues() {
    let def = one(task("t", json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 0}]})));
    let (ex, script, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (1, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert!(ex.output.is_err());
    assert_eq!(script.calls.lock().unwrap().len(), 1);
    let def = one(task("t", json!({"Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 3}]})));
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (2, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ex.output.clone().unwrap(), json!({"from": "t"}));
    assert_eq!(ex.states()[0].attempts, 3);
    assert_eq!(ex.states()[0].retry_delays_ms, vec![1000, 2000]);
}

#[tokio::test]
async fn full_jitter_stays_within_the_backoff() {
    let def = one(task(
        "t",
        json!({"Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 10, "MaxAttempts": 5, "JitterStrategy": "FULL"}]}),
    ));
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    let d = delays(&ex);
    assert_eq!(d.len(), 5);
    for (i, ms) in d.iter().enumerate() {
        assert!(*ms <= 10_000 * 2u64.pow(i as u32), "retry {i}: {ms} ms");
    }
    assert!(
        d.iter().any(|ms| *ms % 1000 != 0),
        "jitter should not give whole seconds every time: {d:?}"
    );
}

#[tokio::test]
async fn each_retrier_counts_its_own_attempts_and_the_first_match_applies() {
    // errors alternate? here: only E2, which matches the second retrier (the first does not match).
    let def = one(task(
        "t",
        json!({"Retry": [
            {"ErrorEquals": ["E1"], "MaxAttempts": 1, "IntervalSeconds": 1},
            {"ErrorEquals": ["E2", "States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 5}
        ]}),
    ));
    let err = Machine::parse(&def).unwrap_err();
    assert!(err.to_string().contains("States.ALL must be alone"), "{err}");
    let def = one(task(
        "t",
        json!({"Retry": [
            {"ErrorEquals": ["E1"], "MaxAttempts": 1, "IntervalSeconds": 1},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 5}
        ]}),
    ));
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E2".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(delays(&ex), vec![5000, 10000]);
}

// ---------- catch ----------

#[tokio::test]
async fn catchers_are_tried_in_declaration_order_and_result_path_keeps_the_input() {
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "t", "End": true, "Catch": [
            {"ErrorEquals": ["Other"], "Next": "Wrong"},
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Handler"},
            {"ErrorEquals": ["E"], "Next": "Wrong"}
        ]},
        "Handler": {"Type": "Pass", "End": true},
        "Wrong": {"Type": "Fail", "Error": "Wrong"}
    }});
    let (ex, _, _) = run(
        def,
        json!({"keep": 1}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    let out = ex.output.clone().unwrap();
    assert_eq!(out["keep"], 1);
    assert_eq!(out["error"]["Error"], "E");
    assert!(out["error"]["Cause"].as_str().unwrap().contains("failed on attempt 1"));
    let names: Vec<String> = ex.states().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["S", "Handler"]);
}

#[tokio::test]
async fn retries_run_out_before_the_catch() {
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "t", "End": true,
              "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 2}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
        "H": {"Type": "Succeed"}
    }});
    let (ex, script, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("t".into(), (99, "E".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert!(ex.output.is_ok());
    assert_eq!(script.calls.lock().unwrap().len(), 3);
    assert_eq!(
        ex.output.unwrap(),
        json!({"Error": "E", "Cause": "t failed on attempt 3"})
    );
}

#[tokio::test]
async fn task_failed_does_not_match_a_timeout_but_all_does() {
    let def = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 1, "End": true, "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.e", "Next": "Right"}
        ]},
        "Wrong": {"Type": "Fail"},
        "Right": {"Type": "Pass", "End": true}
    }});
    let (ex, _, _) = run(
        def,
        json!({}),
        Script {
            sleep_ms: [("slow".into(), 1500)].into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ex.output.unwrap()["e"]["Error"], "States.Timeout");
}

// ---------- Parallel, Map ----------

#[tokio::test]
async fn parallel_outputs_branch_results_in_order_and_fails_with_a_branch_error() {
    let branch = |r: &str| json!({"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": r, "End": true}}});
    let def = one(json!({"Type": "Parallel", "End": true, "Branches": [branch("a"), branch("b")]}));
    let (ex, _, _) = run(def.clone(), json!({}), Script::default()).await;
    assert_eq!(ex.output.unwrap(), json!([{"from": "a"}, {"from": "b"}]));
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "End": true, "Branches": [branch("a"), branch("b")],
              "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "H"}]},
        "H": {"Type": "Pass", "End": true}
    }});
    let (ex, _, _) = run(
        def,
        json!({"in": 1}),
        Script {
            fail_first: [("b".into(), (99, "Boom".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    let out = ex.output.clone().unwrap();
    assert_eq!(out["err"]["Error"], "Boom");
    assert_eq!(out["in"], 1);
    let paths: Vec<String> = ex.states().iter().map(|s| s.path.clone()).collect();
    assert!(
        paths.contains(&"P/B".to_string()) && paths.contains(&"H".to_string()),
        "{paths:?}"
    );
}

#[tokio::test]
async fn retry_inside_a_branch_retries_only_that_task() {
    let b = |r: &str| json!({"StartAt": r.to_uppercase(), "States": {r.to_uppercase(): {"Type": "Task", "Resource": r, "End": true, "Retry": [{"ErrorEquals": ["T"], "IntervalSeconds": 300, "MaxAttempts": 3}]}}});
    let def = one(json!({"Type": "Parallel", "End": true, "Branches": [b("a"), b("c")]}));
    let (ex, script, _) = run(
        def,
        json!({}),
        Script {
            fail_first: [("c".into(), (2, "T".into()))].into(),
            ..Default::default()
        },
    )
    .await;
    assert!(ex.output.is_ok());
    let calls = script.calls.lock().unwrap();
    assert_eq!(calls.iter().filter(|c| c.0 == "a").count(), 1);
    assert_eq!(calls.iter().filter(|c| c.0 == "c").count(), 3);
    let c = ex.states().into_iter().find(|s| s.name == "C").unwrap();
    assert_eq!((c.attempts, c.retry_delays_ms.clone()), (3, vec![300_000, 600_000]));
}

#[tokio::test]
async fn inline_map_with_item_selector_and_concurrency() {
    let def = one(json!({
        "Type": "Map", "End": true, "ItemsPath": "$.nums", "MaxConcurrency": 2,
        "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "E", "States": {"E": {"Type": "Task", "Resource": "echo", "End": true}}}
    }));
    let (ex, _, _) = run(def, json!({"nums": [5, 6, 7], "tag": "t"}), Script::default()).await;
    assert_eq!(
        ex.output.unwrap(),
        json!([{"n": 5, "i": 0, "tag": "t"}, {"n": 6, "i": 1, "tag": "t"}, {"n": 7, "i": 2, "tag": "t"}])
    );
}

/// Items that sleep as long as they say, recording when each finished.
#[derive(Default)]
struct Sleepy(Mutex<Vec<u64>>);

#[async_trait]
impl Tasks for Sleepy {
    async fn invoke(&self, call: TaskCall<'_>) -> Result<Value, AslError> {
        let ms = call.input["ms"].as_u64().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        self.0.lock().unwrap().push(call.input["i"].as_u64().unwrap());
        Ok(call.input)
    }
}

/// MaxConcurrency is a window, as in Step Functions: the third item starts when the first of
/// the two running ends, not when both have. Each iteration's states have their own path, and
/// the ResultSelector reads the results as an array.
#[tokio::test]
async fn map_concurrency_is_a_sliding_window_and_iterations_have_their_own_paths() {
    let def = one(json!({
        "Type": "Map", "End": true, "ItemsPath": "$.ms", "MaxConcurrency": 2,
        "ItemSelector": {"ms.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"StartAt": "E", "States": {"E": {"Type": "Task", "Resource": "sleep", "End": true}}},
        "ResultSelector": {"all.$": "$", "slow.$": "States.ArrayContains($[*].ms, 400)"}
    }));
    let m = Machine::parse(&def).unwrap();
    let tasks = Arc::new(Sleepy::default());
    let engine = Engine::new(m, "test", tasks.clone(), Arc::new(VirtualClock::default()));
    let ex = engine.execute("case", json!({"ms": [400, 20, 20]})).await;
    let out = ex.output.clone().unwrap();
    assert_eq!(out["all"].as_array().unwrap().len(), 3, "results in item order: {out}");
    assert_eq!(out["all"][0]["i"], 0);
    assert_eq!(out["slow"], json!(true));
    assert_eq!(
        *tasks.0.lock().unwrap(),
        vec![1, 2, 0],
        "item 2 ran while item 0 still did"
    );
    let paths: Vec<&str> = ex
        .history
        .iter()
        .filter(|e| e.kind == EventKind::StateEntered)
        .map(|e| e.state.as_str())
        .collect();
    assert_eq!(paths, vec!["S", "S/0/E", "S/1/E", "S/2/E"]);
}

// ---------- Choice ----------

#[tokio::test]
async fn choice_rules() {
    let cases: Vec<(Value, Value, bool)> = vec![
        (
            json!({"Variable": "$.n", "NumericGreaterThan": 3}),
            json!({"n": 4}),
            true,
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanEquals": 3}),
            json!({"n": 4}),
            false,
        ),
        (
            json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}),
            json!({"n": 4, "m": 4}),
            true,
        ),
        (json!({"Variable": "$.s", "StringEquals": "x"}), json!({"s": "x"}), true),
        (
            json!({"Variable": "$.s", "StringLessThan": "b"}),
            json!({"s": "a"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}),
            json!({"s": "a"}),
            false,
        ),
        (
            json!({"Variable": "$.s", "StringMatches": "log-*.csv"}),
            json!({"s": "log-1.csv"}),
            true,
        ),
        (
            json!({"Variable": "$.b", "BooleanEquals": true}),
            json!({"b": true}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThan": "2026-01-01T00:00:00Z"}),
            json!({"t": "2025-06-01T00:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "IsTimestamp": true}),
            json!({"t": "nope"}),
            false,
        ),
        (json!({"Variable": "$.x", "IsPresent": false}), json!({}), true),
        (json!({"Variable": "$.x", "IsNull": true}), json!({"x": null}), true),
        (json!({"Variable": "$.x", "IsNumeric": true}), json!({"x": "1"}), false),
        (json!({"Variable": "$.x", "IsString": true}), json!({"x": "1"}), true),
        (json!({"Variable": "$.x", "IsBoolean": false}), json!({"x": 1}), true),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.n", "NumericLessThan": 9}]}),
            json!({"n": 5}),
            true,
        ),
        (
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 2}]}),
            json!({"n": 3}),
            false,
        ),
        (
            json!({"Not": {"Variable": "$.s", "StringEquals": "x"}}),
            json!({"s": "y"}),
            true,
        ),
        // a type mismatch compares false
        (json!({"Variable": "$.n", "StringEquals": "4"}), json!({"n": 4}), false),
    ];
    for (rule, input, want) in cases {
        let mut r = rule.clone();
        r["Next"] = json!("Yes");
        let def = json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [r], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": true},
            "No": {"Type": "Pass", "Result": "no", "End": true}
        }});
        let (ex, _, _) = run(def, input.clone(), Script::default()).await;
        assert_eq!(
            ex.output.unwrap(),
            json!(if want { "yes" } else { "no" }),
            "{rule} on {input}"
        );
    }
    let def = json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Y"}]}, "Y": {"Type": "Succeed"}}});
    let (ex, _, _) = run(def, json!({"n": 2}), Script::default()).await;
    assert_eq!(ex.output.unwrap_err().error, "States.NoChoiceMatched");
}

// ---------- intrinsic functions, Pass, Wait, Fail ----------

#[tokio::test]
async fn intrinsic_functions() {
    let def = one(json!({"Type": "Pass", "End": true, "Parameters": {
        "f.$": "States.Format('run-{}-{}', $.batch, $.n)",
        "j.$": "States.StringToJson($.s)",
        "s.$": "States.JsonToString($.o)",
        "a.$": "States.Array($.n, 'x', States.Format('{}!', $.batch))",
        "m.$": "States.JsonMerge($.o, $.p, false)",
        "u.$": "States.UUID()",
        "c.$": "States.ArrayContains($.l[*].ok, true)",
        "d.$": "States.ArrayContains($.l[*].ok, 2)"
    }}));
    let (ex, _, _) = run(
        def,
        json!({"batch": "b1", "n": 3, "s": "{\"k\": [1]}", "o": {"a": 1, "b": 1}, "p": {"b": 2}, "l": [{"ok": false}, {"ok": true}]}),
        Script::default(),
    )
    .await;
    let out = ex.output.unwrap();
    assert_eq!(out["f"], "run-b1-3");
    assert_eq!(out["j"], json!({"k": [1]}));
    assert_eq!(out["s"], "{\"a\":1,\"b\":1}");
    assert_eq!(out["a"], json!([3, "x", "b1!"]));
    assert_eq!(out["m"], json!({"a": 1, "b": 2}));
    assert_eq!((out["c"].clone(), out["d"].clone()), (json!(true), json!(false)));
    let u = out["u"].as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4");
}

#[tokio::test]
async fn wait_goes_through_the_clock_and_fail_ends_the_execution() {
    let def = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 300, "Next": "F"},
        "F": {"Type": "Fail", "Error": "Landfall.Test", "Cause": "stop"}
    }});
    let started = std::time::Instant::now();
    let (ex, _, clock) = run(def, json!({}), Script::default()).await;
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!(clock.skipped().as_secs(), 300);
    assert_eq!(ex.output.unwrap_err(), AslError::new("Landfall.Test", "stop"));
}

// ---------- refused at load ----------

#[test]
fn unsupported_or_invalid_definitions_are_refused_at_load() {
    let cases: Vec<(Value, &str)> = vec![
        (
            one(json!({"Type": "Task", "Resource": "t", "End": true, "QueryLanguage": "JSONata"})),
            "QueryLanguage",
        ),
        (
            one(json!({"Type": "Task", "Resource": "t", "End": true, "Arguments": {}})),
            "Arguments",
        ),
        (one(json!({"Type": "Pass", "End": true, "Assign": {"x": 1}})), "Assign"),
        (
            one(
                json!({"Type": "Task", "Resource": "t", "End": true, "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "HALF"}]}),
            ),
            "JitterStrategy",
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "t", "End": true, "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}]}),
            ),
            "IntervalSeconds",
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "t", "End": true, "Retry": [{"ErrorEquals": ["E"], "MaxDelaySeconds": -5}]}),
            ),
            "MaxDelaySeconds",
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "t", "End": true, "Retry": [{"ErrorEquals": ["E"], "BackoffRate": "2"}]}),
            ),
            "BackoffRate",
        ),
        (
            one(json!({"Type": "Task", "Resource": "t", "End": true, "Retry": [{"ErrorEquals": ["E"], "Bogus": 1}]})),
            "Bogus",
        ),
        (
            one(json!({"Type": "Task", "Resource": "t", "Next": "Nowhere"})),
            "Nowhere",
        ),
        (
            one(json!({"Type": "Task", "Resource": "t", "Next": "S", "End": true})),
            "exactly one of Next or End",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": true})),
            "integration pattern",
        ),
        (one(json!({"Type": "Teleport", "End": true})), "not a state type"),
        (
            one(
                json!({"Type": "Map", "End": true, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "E", "States": {"E": {"Type": "Succeed"}}}}),
            ),
            "inline",
        ),
        (
            one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "StringSoundsLike": "y", "Next": "S"}]})),
            "StringSoundsLike",
        ),
        (
            one(json!({"Type": "Task", "Resource": "t", "End": true, "ResultPath": "$.a[*]"})),
            "reference path",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}),
            "unreachable",
        ),
        (json!({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}), "StartAt"),
    ];
    for (def, want) in cases {
        let e = Machine::parse(&def).expect_err(&format!("should refuse {def}"));
        assert!(
            e.to_string().contains(want),
            "refusal of {def} should mention {want:?}: {e}"
        );
    }
}
