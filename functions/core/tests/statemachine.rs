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
const WAREHOUSE_STATES: [&str; 7] = [
    "LoadTitles",
    "LoadCredits",
    "BuildStaging",
    "BuildIntermediate",
    "BuildMarts",
    "RunQualityChecks",
    "Publish",
];

fn definition() -> Value {
    serde_json::from_str(STATE_MACHINE).unwrap()
}

/// Every Task state, including those inside Parallel branches.
fn tasks(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, s) in states.as_object().unwrap() {
        match s["Type"].as_str().unwrap() {
            "Task" => out.push((name.clone(), s.clone())),
            "Parallel" => {
                for b in s["Branches"].as_array().unwrap() {
                    tasks(&b["States"], out);
                }
            }
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
    assert_eq!(all.len(), 12);
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
        if WAREHOUSE_STATES.contains(&name.as_str()) {
            assert_eq!(
                transient["IntervalSeconds"], 300,
                "{name}: warehouse work first retries after 5 minutes"
            );
        }
    }
}

#[test]
fn every_failure_is_caught_into_notify_failure_keeping_the_input() {
    let d = definition();
    for (name, s) in d["States"].as_object().unwrap() {
        if !matches!(s["Type"].as_str().unwrap(), "Task" | "Parallel") || name.starts_with("Notify") {
            continue;
        }
        let catch = s["Catch"].as_array().unwrap_or_else(|| panic!("{name}: no Catch"));
        assert_eq!(catch.len(), 1, "{name}: {catch:?}");
        let c = catch.last().unwrap();
        assert_eq!(c["ErrorEquals"], serde_json::json!(["States.ALL"]), "{name}");
        assert_eq!(c["Next"], "NotifyFailure", "{name}");
        assert_eq!(
            c["ResultPath"],
            format!("$.failure.{name}"),
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
    (
        "LoadRaw",
        &["$.loaded.titles.superseded", "$.loaded.credits.superseded"],
    ),
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
        let rule = &check["Choices"][0];
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
