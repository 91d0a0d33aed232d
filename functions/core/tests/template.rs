//! Static checks of `template.yaml`, offline: what the template promises the state machine and
//! the binaries, the SAM transform + cfn-lint (`infra/local/check_template.py`), and
//! `sam validate --lint`. The tools come from the pinned virtualenv `make tools` installs.

use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sam_venv() -> PathBuf {
    let v = std::env::var("LANDFALL_SAM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/landfall/venv-sam"));
    assert!(
        v.join("bin/sam").is_file(),
        "the SAM virtualenv is missing at {}: run `make tools` or set LANDFALL_SAM_VENV",
        v.display()
    );
    v
}

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

/// `!Ref X` / `!GetAtt X.Arn` as (tag, value).
fn tagged(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), t.value.as_str().unwrap_or_default().to_string())),
        _ => None,
    }
}

#[test]
fn every_substitution_of_the_state_machine_is_a_function_of_the_template() {
    let t = template();
    let res = &t["Resources"];
    let sm = &res["StateMachine"]["Properties"];
    assert_eq!(sm["DefinitionUri"].as_str(), Some("statemachine.asl.json"));
    let asl = std::fs::read_to_string(root().join("statemachine.asl.json")).unwrap();
    for f in landfall_core::functions::FUNCTIONS {
        let key = landfall_core::functions::substitution_key(f);
        assert!(asl.contains(&format!("${{{key}}}")), "{key} is not used by the ASL");
        let (tag, target) =
            tagged(&sm["DefinitionSubstitutions"][key.as_str()]).unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(tag, "!GetAtt");
        let fname = target.trim_end_matches(".Arn");
        let func = &res[fname];
        assert_eq!(func["Type"].as_str(), Some("AWS::Serverless::Function"), "{fname}");
        // The binary SAM builds is the crate of that name in functions/.
        let bin = func["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        assert_eq!(bin, f);
        assert!(
            root().join("functions").join(bin).join("src/main.rs").is_file(),
            "{bin}"
        );
    }
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
}

#[test]
fn warehouse_functions_outlive_their_states_timeouts() {
    // A Task's TimeoutSeconds longer than its Lambda's would let Lambda kill the function
    // before the adapter can cancel its statement and answer Landfall.Transient.
    let t = template();
    let asl: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("statemachine.asl.json")).unwrap()).unwrap();
    let mut tasks = Vec::new();
    fn walk(states: &serde_json::Value, out: &mut Vec<(String, String, u64)>) {
        for (name, s) in states.as_object().unwrap() {
            if s["Type"] == "Task" {
                out.push((
                    name.clone(),
                    s["Resource"].as_str().unwrap().to_string(),
                    s["TimeoutSeconds"].as_u64().unwrap(),
                ));
            }
            for b in s["Branches"].as_array().into_iter().flatten() {
                walk(&b["States"], out);
            }
        }
    }
    walk(&asl["States"], &mut tasks);
    for (state, resource, timeout) in tasks {
        let key = resource.trim_start_matches("${").trim_end_matches('}');
        let (_, target) =
            tagged(&t["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"][key]).unwrap();
        let func = &t["Resources"][target.trim_end_matches(".Arn")]["Properties"];
        let lambda_timeout = func["Timeout"].as_u64().unwrap();
        assert!(
            timeout <= lambda_timeout,
            "{state}: TimeoutSeconds {timeout} exceeds its Lambda's Timeout {lambda_timeout}"
        );
    }
}

fn check_template(template: &Path) -> std::process::Output {
    Command::new(sam_venv().join("bin/python"))
        .arg(root().join("infra/local/check_template.py"))
        .arg(template)
        .arg(root().join("statemachine.asl.json"))
        .output()
        .unwrap()
}

#[test]
fn sam_transform_and_cfn_lint_pass_and_catch_a_broken_reference() {
    let ok = check_template(&root().join("template.yaml"));
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // The same check fails on a reference to a resource that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("template.yaml");
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    std::fs::write(
        &bad,
        text.replace("!GetAtt PublishFunction.Arn", "!GetAtt PublishFuncton.Arn"),
    )
    .unwrap();
    let out = check_template(&bad);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PublishFuncton"));
}

#[test]
fn sam_validate_lint_passes_without_credentials() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(sam_venv().join("bin/sam"))
        .args(["validate", "--lint", "--region", "us-east-1", "--template"])
        .arg(root().join("template.yaml"))
        .env("HOME", home.path())
        .env("SAM_CLI_TELEMETRY", "0")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is a valid SAM Template"), "{text}");
}

/// Both wirings the `LandingEvents` parameter picks reach the trigger the way its code expects:
/// the EventBridge rule and the S3 → SQS notification filter on the landing prefix; the SQS
/// mapping reports partial failures (the trigger answers `batchItemFailures`), and the queue
/// parks what keeps failing in a dead-letter queue.
#[test]
fn both_landing_wirings_reach_the_trigger() {
    let t = template();
    let res = &t["Resources"];
    let prefix = landfall_core::trigger::LANDING_PREFIX;
    let rule = &res["FileLandedRule"];
    assert_eq!(rule["Condition"].as_str(), Some("ViaEventBridge"));
    let pattern = &rule["Properties"]["EventPattern"];
    assert_eq!(pattern["detail-type"][0].as_str(), Some("Object Created"));
    assert_eq!(pattern["detail"]["object"]["key"][0]["prefix"].as_str(), Some(prefix));
    assert_eq!(
        tagged(&rule["Properties"]["Targets"][0]["Arn"]),
        Some(("!GetAtt".into(), "TriggerFunction.Arn".into()))
    );
    assert_eq!(
        res["FileLandedPermission"]["Condition"].as_str(),
        Some("ViaEventBridge")
    );

    let mapping = &res["TriggerQueueMapping"];
    assert_eq!(mapping["Condition"].as_str(), Some("ViaSqs"));
    assert_eq!(
        mapping["Properties"]["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let queue = &res["LandingQueue"]["Properties"];
    assert_eq!(
        tagged(&queue["RedrivePolicy"]["deadLetterTargetArn"]),
        Some(("!GetAtt".into(), "LandingDeadLetterQueue.Arn".into()))
    );
    // Lambda's advice: a visibility timeout of at least six times the function's timeout.
    let timeout = res["TriggerFunction"]["Properties"]["Timeout"].as_u64().unwrap();
    assert!(queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout);
    // The bucket's notification, under the sqs branch, sends landing/ objects to the queue.
    let Value::Tagged(notification) = &res["LandingBucket"]["Properties"]["NotificationConfiguration"] else {
        panic!("the bucket's notification is chosen by !If");
    };
    let branches = notification.value.as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("ViaSqs"));
    let q = &branches[1]["QueueConfigurations"][0];
    assert_eq!(q["Event"].as_str(), Some("s3:ObjectCreated:*"));
    assert_eq!(q["Filter"]["S3Key"]["Rules"][0]["Value"].as_str(), Some(prefix));
}

fn checkov() -> PathBuf {
    let c = std::env::var("LANDFALL_CHECKOV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/landfall/venv-checkov/bin/checkov")
        });
    assert!(
        c.is_file(),
        "checkov is missing at {}: run `make tools` or set LANDFALL_CHECKOV",
        c.display()
    );
    c
}

/// The check ids of docs/decisions.md's "checkov findings that stay" table.
fn justified_checks() -> std::collections::BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/decisions.md")).unwrap();
    let section = doc
        .split("## checkov findings that stay")
        .nth(1)
        .expect("docs/decisions.md has the checkov section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| CKV"))
        .map(|l| format!("CKV{}", l.split('|').next().unwrap().trim()))
        .collect()
}

/// checkov over the template: every finding is fixed or justified in docs/decisions.md, and no
/// justification outlives its finding.
#[test]
fn checkov_findings_are_fixed_or_justified() {
    let out = Command::new(checkov())
        .args([
            "-f",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
        ])
        .current_dir(root())
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov said no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let report = if report.is_array() { report[0].clone() } else { report };
    let failed = report["results"]["failed_checks"].as_array().unwrap();
    assert!(
        report["summary"]["passed"].as_u64().unwrap() > 20,
        "checkov checked too little: {}",
        report["summary"]
    );
    let justified = justified_checks();
    let mut found = std::collections::BTreeSet::new();
    let mut unjustified = Vec::new();
    for f in failed {
        let id = f["check_id"].as_str().unwrap().to_string();
        if !justified.contains(&id) {
            unjustified.push(format!("{id} {} ({})", f["resource"], f["check_name"]));
        }
        found.insert(id);
    }
    assert!(
        unjustified.is_empty(),
        "fix these or justify them in docs/decisions.md: {unjustified:#?}"
    );
    let stale: Vec<_> = justified.difference(&found).collect();
    assert!(
        stale.is_empty(),
        "docs/decisions.md justifies findings checkov no longer reports: {stale:?}"
    );
}

/// Nothing is dropped silently and nothing stateful is lost with the stack: every EventBridge
/// target retries and dead-letters, the asynchronously invoked functions send failed
/// invocations to the dead-letter queue, every function logs to a retained group with a
/// retention, alarms (errors per function, dead letters, failed/timed-out/aborted executions,
/// trigger throttles) publish to the alert topic, which is under a customer-managed key.
#[test]
fn deliveries_are_retried_dead_lettered_and_alarmed() {
    let t = template();
    let res = t["Resources"].as_mapping().unwrap();
    let dlq = Some(("!GetAtt".to_string(), "EventsDeadLetterQueue.Arn".to_string()));
    let mut rules = 0;
    for (id, r) in res {
        let id = id.as_str().unwrap();
        if r["Type"].as_str() == Some("AWS::Events::Rule") {
            for target in r["Properties"]["Targets"].as_sequence().unwrap() {
                assert!(target["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some(), "{id}");
                assert_eq!(tagged(&target["DeadLetterConfig"]["Arn"]), dlq, "{id}");
            }
            rules += 1;
        }
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let p = &r["Properties"];
        if let Some(events) = p["Events"].as_mapping() {
            for (name, e) in events {
                if matches!(e["Type"].as_str(), Some("EventBridgeRule" | "Schedule")) {
                    assert!(
                        e["Properties"]["RetryPolicy"]["MaximumRetryAttempts"]
                            .as_u64()
                            .is_some(),
                        "{id} {name:?}"
                    );
                    assert_eq!(
                        tagged(&e["Properties"]["DeadLetterConfig"]["Arn"]),
                        dlq,
                        "{id} {name:?}"
                    );
                    rules += 1;
                }
            }
        }
        let (_, group) = tagged(&p["LoggingConfig"]["LogGroup"]).unwrap_or_else(|| panic!("{id} has no log group"));
        let g = &t["Resources"][group.as_str()];
        assert_eq!(g["Type"].as_str(), Some("AWS::Logs::LogGroup"), "{id}");
        assert!(!g["Properties"]["RetentionInDays"].is_null(), "{group}: no retention");
        assert_eq!(g["DeletionPolicy"].as_str(), Some("Retain"), "{group}");
        let alarm = format!("{}ErrorsAlarm", id.trim_end_matches("Function"));
        let a = &t["Resources"][alarm.as_str()]["Properties"];
        assert_eq!(
            tagged(&a["Dimensions"][0]["Value"]),
            Some(("!Ref".into(), id.to_string())),
            "{alarm}"
        );
    }
    assert_eq!(
        rules, 3,
        "the landing rule, the status-change rule and the landing check's schedule"
    );
    for f in ["TriggerFunction", "NotifyFunction"] {
        let on_failure = &t["Resources"][f]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(tagged(&on_failure["Destination"]), dlq, "{f}");
    }
    for alarm in [
        "EventsDeadLetterAlarm",
        "LandingDeadLetterAlarm",
        "ExecutionsFailedAlarm",
        "ExecutionsTimedOutAlarm",
        "ExecutionsAbortedAlarm",
        "TriggerThrottlesAlarm",
    ] {
        let a = &t["Resources"][alarm]["Properties"];
        assert_eq!(
            tagged(&a["AlarmActions"][0]),
            Some(("!Ref".into(), "AlertTopic".into())),
            "{alarm}"
        );
    }
    assert_eq!(
        tagged(&t["Resources"]["AlertTopic"]["Properties"]["KmsMasterKeyId"]),
        Some(("!Ref".into(), "AlertKey".into())),
        "alarms cannot publish to a topic under aws/sns"
    );
    for stateful in ["LandingBucket", "StateMachineLogGroup", "AlertKey"] {
        assert_eq!(
            t["Resources"][stateful]["DeletionPolicy"].as_str(),
            Some("Retain"),
            "{stateful}"
        );
        assert_eq!(
            t["Resources"][stateful]["UpdateReplacePolicy"].as_str(),
            Some("Retain"),
            "{stateful}"
        );
    }
    assert!(
        t["Parameters"]["SsmPrefix"]["AllowedPattern"]
            .as_str()
            .unwrap()
            .ends_with("/$"),
        "a prefix must end with '/'"
    );
}
