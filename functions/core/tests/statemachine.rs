//! Static checks of `statemachine.asl.json`: the local engine accepts it, its placeholders are
//! exactly the functions' substitution keys, and every Task retries and fails as DESIGN.md §3
//! says (transient errors retried with capped, jittered exponential backoff; BadInput,
//! QualityGate and Config never retried; every failure caught into NotifyFailure).

use landfall_core::functions::{FUNCTIONS, substitution_key};
use landfall_core::pipeline::{STATE_MACHINE, load_definition};
use serde_json::Value;

const LAMBDA_ERRORS: [&str; 4] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];
const WAREHOUSE_STATES: [&str; 6] = [
    "LoadFile",
    "BuildStaging",
    "BuildIntermediate",
    "BuildMarts",
    "RunQualityChecks",
    "Publish",
];

fn definition() -> Value {
    serde_json::from_str(STATE_MACHINE).unwrap()
}

/// Every Task state, including those inside Parallel branches and Map iterations.
fn tasks(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, s) in states.as_object().unwrap() {
        match s["Type"].as_str().unwrap() {
            "Task" => out.push((name.clone(), s.clone())),
            "Parallel" => {
                for b in s["Branches"].as_array().unwrap() {
                    tasks(&b["States"], out);
                }
            }
            "Map" => tasks(&s["ItemProcessor"]["States"], out),
            _ => {}
        }
    }
}

#[test]
fn the_engine_loads_the_deployed_definition() {
    let m = load_definition(STATE_MACHINE).unwrap();
    for s in [
        "ValidateInput",
        "CheckFiles",
        "LoadRaw",
        "BuildStaging",
        "BuildIntermediate",
        "BuildMarts",
        "RunQualityChecks",
        "Publish",
        "NotifySuccess",
        "NotifyFailure",
        "Failed",
        "NotifySuperseded",
        "Superseded",
    ] {
        assert!(m.states.contains_key(s), "{s} missing");
    }
}

#[test]
fn placeholders_are_exactly_the_definition_substitutions() {
    // The SAM template's DefinitionSubstitutions must provide exactly these keys.
    let mut want: Vec<String> = FUNCTIONS.iter().map(|f| substitution_key(f)).collect();
    want.sort();
    let mut got = landfall_asl::placeholders(STATE_MACHINE);
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        want,
        [
            "LoadFunctionArn",
            "NotifyFunctionArn",
            "PublishFunctionArn",
            "QualityFunctionArn",
            "TransformFunctionArn"
        ]
    );
}

#[test]
fn every_task_retries_transient_errors_only_with_capped_jittered_backoff() {
    let mut all = Vec::new();
    tasks(&definition()["States"], &mut all);
    assert_eq!(all.len(), 16, "11 states and 5 polls");
    for (name, t) in &all {
        assert!(
            t["TimeoutSeconds"].as_u64().is_some_and(|s| s > 0 && s <= 900),
            "{name}: TimeoutSeconds"
        );
        let retry = t["Retry"].as_array().unwrap_or_else(|| panic!("{name}: no Retry"));
        let mut transient = None;
        let mut lambda = None;
        for r in retry {
            let errs: Vec<&str> = r["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            for never in [
                "Landfall.BadInput",
                "Landfall.QualityGate",
                "Landfall.Config",
                "Landfall.Superseded",
                "States.ALL",
                "States.TaskFailed",
            ] {
                assert!(!errs.contains(&never), "{name} retries {never}");
            }
            assert_eq!(r["JitterStrategy"], "FULL", "{name}");
            assert!(r["MaxDelaySeconds"].as_u64().is_some(), "{name}: MaxDelaySeconds");
            assert!(r["MaxAttempts"].as_u64().unwrap() >= 1);
            assert_eq!(r["BackoffRate"], 2, "{name}");
            if errs.contains(&"Landfall.Transient") {
                transient = Some(r.clone());
            }
            if LAMBDA_ERRORS.iter().all(|e| errs.contains(e)) {
                lambda = Some(r.clone());
            }
        }
        let transient = transient.unwrap_or_else(|| panic!("{name}: Landfall.Transient is not retried"));
        assert!(lambda.is_some(), "{name}: the Lambda service errors are not retried");
        // The statements run asynchronously: a transient failure here is a lost connection or
        // a busy API, not a statement that needs minutes to go away.
        if WAREHOUSE_STATES.contains(&name.as_str()) {
            assert_eq!(
                transient["IntervalSeconds"], 30,
                "{name}: warehouse work first retries after 30 s"
            );
        }
        if name.starts_with("Poll") {
            assert_eq!(
                transient["IntervalSeconds"], 10,
                "{name}: a poll first retries after 10 s"
            );
        }
    }
}

#[test]
fn every_failure_is_caught_into_notify_failure_keeping_the_input() {
    let d = definition();
    for (name, s) in d["States"].as_object().unwrap() {
        if !matches!(s["Type"].as_str().unwrap(), "Task" | "Parallel" | "Map") || name.starts_with("Notify") {
            continue;
        }
        let catch = s["Catch"].as_array().unwrap_or_else(|| panic!("{name}: no Catch"));
        assert_eq!(catch.len(), 1, "{name}: {catch:?}");
        let c = catch.last().unwrap();
        assert_eq!(c["ErrorEquals"], serde_json::json!(["States.ALL"]), "{name}");
        assert_eq!(c["Next"], "NotifyFailure", "{name}");
        // A poll's failure is its state's (the alert names BuildMarts, not PollBuildMarts).
        assert_eq!(
            c["ResultPath"],
            format!("$.failure.{}", name.trim_start_matches("Poll")),
            "{name}: the error is added, the input kept"
        );
    }
    assert_eq!(d["States"]["NotifyFailure"]["Next"], "Failed");
    assert_eq!(d["States"]["Failed"]["Type"], "Fail");
    assert_eq!(d["States"]["NotifySuperseded"]["Parameters"]["status"], "superseded");
    assert_eq!(d["States"]["NotifySuperseded"]["Next"], "Superseded");
    assert_eq!(d["States"]["Superseded"]["Type"], "Succeed");
}

/// The states whose function can end a run as superseded (the loads, the raw commit, the gate,
/// the publish), and where their answer lands.
const SUPERSEDED_STATES: &[(&str, &[&str])] = &[
    ("LoadRaw", &["$.loaded.superseded"]),
    ("BuildStaging", &["$.built.staging.superseded"]),
    ("RunQualityChecks", &["$.quality.superseded"]),
    ("Publish", &["$.published.superseded"]),
];

#[test]
fn a_superseded_answer_is_routed_to_notify_superseded_not_raised() {
    // Not an error: Lambda's Errors metric (and its alarm) never counts a superseded run.
    let d = definition();
    let s = &d["States"];
    for (state, paths) in SUPERSEDED_STATES {
        let check = &s[s[state]["Next"].as_str().unwrap()];
        assert_eq!(check["Type"], "Choice", "{state} is followed by a Choice");
        let rule = check["Choices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Next"] == "NotifySuperseded")
            .unwrap_or_else(|| panic!("{state}: no rule to NotifySuperseded"));
        assert_eq!(rule["Next"], "NotifySuperseded", "{state}");
        let vars: Vec<&str> = match rule.get("Or") {
            Some(or) => or
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Variable"].as_str().unwrap())
                .collect(),
            None => vec![rule["Variable"].as_str().unwrap()],
        };
        assert_eq!(vars, paths.to_vec(), "{state}");
        assert!(
            check["Default"].is_string() && check["Default"] != "NotifySuperseded",
            "{state}"
        );
    }
    assert!(
        !STATE_MACHINE.contains("Landfall.Superseded"),
        "nothing catches or raises it in the ASL"
    );
}

#[test]
fn the_ordering_rules_timeouts_are_the_definitions() {
    use landfall_core::succession::{EXECUTION_TIMEOUT_SECONDS, PUBLISH_LOCK_TTL_SECONDS};
    let d = definition();
    assert_eq!(
        d["TimeoutSeconds"], EXECUTION_TIMEOUT_SECONDS,
        "a run running longer is dead"
    );
    assert_eq!(
        d["States"]["Publish"]["TimeoutSeconds"], PUBLISH_LOCK_TTL_SECONDS,
        "a publish lock older than Publish's timeout belongs to a dead Lambda"
    );
}

/// The definition with the SAM substitutions filled as the template will (function ARNs).
fn substituted() -> String {
    let values = FUNCTIONS
        .iter()
        .map(|f| {
            (
                substitution_key(f),
                format!("arn:aws:lambda:us-east-1:123456789012:function:landfall-{f}"),
            )
        })
        .collect();
    landfall_asl::substitute(STATE_MACHINE, &values).unwrap()
}

fn tool(rel: &str, env: &str) -> String {
    let p = std::env::var(env).unwrap_or_else(|_| format!("{}/.cache/landfall/{rel}", std::env::var("HOME").unwrap()));
    assert!(
        std::path::Path::new(&p).is_file(),
        "{p} not found: run `make test` (it installs the test tools) or set {env}"
    );
    p
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A copy of the definition with one deliberate mistake, to show the checker can fail.
fn broken(edit: impl Fn(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&substituted()).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn asl_validator_accepts_the_definition_and_rejects_a_broken_one() {
    let bin = tool("node-tools/node_modules/.bin/asl-validator", "LANDFALL_ASL_VALIDATOR");
    let dir = tempfile::tempdir().unwrap();
    let run = |p: &std::path::Path| {
        std::process::Command::new(&bin)
            .arg("--json-path")
            .arg(p)
            .output()
            .unwrap()
    };
    let ok = run(&write_tmp(&dir, "ok.json", &substituted()));
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = broken(|v| v["States"]["CheckFiles"]["Next"] = "NoSuchState".into());
    let out = run(&write_tmp(&dir, "bad.json", &bad));
    assert!(!out.status.success(), "asl-validator accepted a dangling Next");
}

#[test]
fn moto_asl_parser_accepts_the_definition_and_rejects_a_broken_one() {
    // moto's parser (Step Functions' grammar) catches what asl-validator misses, e.g. a bad JitterStrategy.
    let python = tool("venv-tools/bin/python", "LANDFALL_TOOLS_PYTHON");
    let dir = tempfile::tempdir().unwrap();
    let check = |p: &std::path::Path| {
        std::process::Command::new(&python)
            .args(["-c", "import sys; from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser as P; P.parse(open(sys.argv[1]).read())"])
            .arg(p)
            .output()
            .unwrap()
    };
    let ok = check(&write_tmp(&dir, "ok.json", &substituted()));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = broken(|v| v["States"]["BuildMarts"]["Retry"][1]["JitterStrategy"] = "HALF".into());
    assert!(
        !check(&write_tmp(&dir, "bad.json", &bad)).status.success(),
        "moto's parser accepted JitterStrategy HALF"
    );
    // our engine refuses it too
    assert!(landfall_core::pipeline::load_definition(&bad).is_err());
}

/// The states whose statements run on the warehouse asynchronously, with where their answer
/// lands: each is followed by a Choice that polls while the answer is a handle.
const POLLED: &[(&str, &str)] = &[
    ("LoadFile", "$.load"),
    ("BuildStaging", "$.built.staging"),
    ("BuildIntermediate", "$.built.intermediate"),
    ("BuildMarts", "$.built.marts"),
    ("RunQualityChecks", "$.quality"),
];

/// Every state by name, including those inside Parallel branches and Map iterations.
fn states(states: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
    for (name, s) in states.as_object().unwrap() {
        out.insert(name.clone(), s.clone());
        if s["Type"] == "Parallel" {
            for b in s["Branches"].as_array().unwrap() {
                self::states(&b["States"], out);
            }
        }
        if s["Type"] == "Map" {
            self::states(&s["ItemProcessor"]["States"], out);
        }
    }
}

#[test]
fn every_warehouse_state_polls_its_statements_until_they_finish() {
    let mut all = std::collections::BTreeMap::new();
    states(&definition()["States"], &mut all);
    for (name, result) in POLLED {
        let task = &all[*name];
        let choice_name = task["Next"].as_str().unwrap();
        let choice = &all[choice_name];
        assert_eq!(choice["Type"], "Choice", "{name}");
        let rule = &choice["Choices"][0];
        assert_eq!(rule["Variable"], format!("{result}.pending"), "{name}: polls first");
        assert_eq!(rule["IsPresent"], true);
        let wait = &all[rule["Next"].as_str().unwrap()];
        assert_eq!(wait["Type"], "Wait");
        assert_eq!(wait["SecondsPath"], format!("{result}.pending.wait_seconds"), "{name}");
        let poll = &all[wait["Next"].as_str().unwrap()];
        assert_eq!(wait["Next"], format!("Poll{name}"));
        assert_eq!(poll["Resource"], task["Resource"], "{name}: the same function polls");
        assert_eq!(poll["ResultPath"], task["ResultPath"], "{name}");
        assert_eq!(poll["Next"], choice_name, "{name}: the poll goes back to the Choice");
        assert_eq!(poll["Parameters"]["resume.$"], format!("{result}.pending.journal"));
        assert_eq!(
            poll["Parameters"]["step"], *name,
            "{name}: the poll reports as its state"
        );
        for p in [&task["Parameters"], &poll["Parameters"]] {
            assert_eq!(p["entered.$"], "$$.State.EnteredTime", "{name}");
            assert!(p["budget_seconds"].as_u64().is_some_and(|b| b > 0), "{name}: a budget");
            assert!(p["max_wait_seconds"].as_u64().is_some_and(|b| b > 0), "{name}");
            assert_eq!(p["retry.$"], "$$.State.RetryCount", "{name}");
        }
        assert_eq!(
            task["Parameters"]["budget_seconds"],
            poll["Parameters"]["budget_seconds"]
        );
        for (k, v) in task["Parameters"].as_object().unwrap() {
            if k != "step.$" {
                assert_eq!(
                    &poll["Parameters"][k], v,
                    "{name}: the poll replays the same call ({k})"
                );
            }
        }
    }
}

/// Seconds a Task can take at worst: every attempt of every retrier timing out
/// (1 + Σ MaxAttempts attempts of TimeoutSeconds), plus each retrier's longest backoff
/// (IntervalSeconds × BackoffRate^n, capped at MaxDelaySeconds; FULL jitter only shortens it).
fn task_worst(t: &Value) -> u64 {
    let timeout = t["TimeoutSeconds"].as_u64().unwrap();
    let mut attempts = 1;
    let mut backoff = 0.0;
    for r in t["Retry"].as_array().unwrap() {
        let n = r["MaxAttempts"].as_u64().unwrap();
        attempts += n;
        for k in 0..n {
            let d = r["IntervalSeconds"].as_f64().unwrap() * r["BackoffRate"].as_f64().unwrap().powi(k as i32);
            backoff += d.min(r["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX));
        }
    }
    attempts * timeout + backoff.ceil() as u64
}

/// Where a Task or Parallel goes next: its `Next` and its catchers'.
fn next_and_catches(s: &Value) -> Vec<String> {
    let mut n: Vec<String> = s["Next"].as_str().map(str::to_string).into_iter().collect();
    n.extend(
        s["Catch"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["Next"].as_str().unwrap().to_string()),
    );
    n
}

/// The worst time from `start` to the end of the machine `states`, over every path. A poll
/// loop counts once: its budget (the function fails the state past it), one more wait, and
/// the poll that finds the budget spent.
fn path_worst(states: &Value, start: &str, all: &std::collections::BTreeMap<String, Value>) -> (u64, Vec<String>) {
    let s = &states[start];
    let (here, nexts): (u64, Vec<String>) = match s["Type"].as_str().unwrap() {
        "Task" => {
            let mut here = task_worst(s);
            if let Some(budget) = s["Parameters"]["budget_seconds"].as_u64() {
                let poll = &all[&format!("Poll{start}")];
                here += budget + poll["Parameters"]["max_wait_seconds"].as_u64().unwrap() + task_worst(poll);
            }
            (here, next_and_catches(s))
        }
        // The files of a batch up to MaxConcurrency load in one round: an iteration's worst.
        // (More files than that take a round more each: the project's contract decides.)
        "Map" => {
            let it = &s["ItemProcessor"];
            let worst = path_worst(&it["States"], it["StartAt"].as_str().unwrap(), all).0;
            (worst, next_and_catches(s))
        }
        "Parallel" => {
            let worst = s["Branches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| path_worst(&b["States"], b["StartAt"].as_str().unwrap(), all).0)
                .max()
                .unwrap();
            (worst, next_and_catches(s))
        }
        "Choice" => {
            let mut n: Vec<String> = s["Choices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Next"].as_str().unwrap().to_string())
                // The poll loop is counted at its Task.
                .filter(|n| states[n.as_str()]["Type"] != "Wait")
                .collect();
            n.extend(s["Default"].as_str().map(str::to_string));
            (0, n)
        }
        "Wait" => panic!("{start}: a Wait outside a poll loop is not budgeted"),
        "Pass" => (0, s["Next"].as_str().map(str::to_string).into_iter().collect()),
        _ => (0, vec![]),
    };
    let (rest, path) = nexts
        .iter()
        .map(|n| path_worst(states, n, all))
        .max_by_key(|(t, _)| *t)
        .unwrap_or((0, vec![]));
    let mut p = vec![format!("{start} {here}")];
    p.extend(path);
    (here + rest, p)
}

#[test]
fn the_worst_case_of_every_path_fits_the_execution_timeout() {
    let d = definition();
    let mut all = std::collections::BTreeMap::new();
    states(&d["States"], &mut all);
    let (worst, path) = path_worst(&d["States"], d["StartAt"].as_str().unwrap(), &all);
    let timeout = d["TimeoutSeconds"].as_u64().unwrap();
    assert!(
        worst <= timeout,
        "the worst path takes {worst} s, past the execution's TimeoutSeconds {timeout}: {path:?}"
    );
    // The budgets are most of it: statements may run for an hour per state.
    let budgets: u64 = POLLED
        .iter()
        .map(|(n, _)| all[*n]["Parameters"]["budget_seconds"].as_u64().unwrap())
        .sum();
    assert!(budgets >= 5 * 3600, "{budgets}");
    assert!(
        path.iter().any(|p| p.starts_with("Publish ")),
        "the longest path publishes: {path:?}"
    );
    // And the arithmetic is the ASL's: one more retry of Publish would not fit if the budgets
    // grew by an hour each.
    assert!(
        worst + 5 * 3600 > timeout,
        "the budgets could be longer: {worst} of {timeout}"
    );
}
