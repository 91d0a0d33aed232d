//! `landfall backfill` and `landfall rerun` against Step Functions in moto: one execution per batch with the
//! documented input, the ARNs printed, and with `--wait` each final status and the exit code.

#[path = "../functions/aws/tests/support/mod.rs"]
mod moto;

use serde_json::{Value, json};
use std::process::Command;

async fn machine(sfn: &aws_sdk_sfn::Client, name: &str, last: Value) -> String {
    let def = json!({"StartAt": "S", "States": {"S": last}});
    sfn.create_state_machine()
        .name(name)
        .definition(def.to_string())
        .role_arn("arn:aws:iam::123456789012:role/landfall")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string()
}

/// moto with Step Functions executing state machines.
async fn moto_running_machines() -> moto::Moto {
    let moto = moto::Moto::start().await;
    reqwest::Client::new()
        .post(format!("{}/moto-api/config", moto.url))
        .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .unwrap();
    moto
}

fn backfill(moto: &moto::Moto, args: &[&str]) -> (i32, String, String) {
    landfall(moto, "backfill", args)
}

/// `landfall <command> <args>` with the AWS SDK pointed at moto: exit code, stdout, stderr.
fn landfall(moto: &moto::Moto, command: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_landfall"))
        .arg(command)
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("STATE_MACHINE_ARN")
        .env_remove("LANDING_BUCKET")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_starts_one_execution_per_batch_and_waits() {
    let moto = moto_running_machines().await;
    let sdk = moto.sdk().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let ok = machine(&sfn, "ok", json!({"Type": "Pass", "End": true})).await;
    let (code, stdout, stderr) = backfill(
        &moto,
        &[
            "--state-machine",
            &ok,
            "--bucket",
            "land",
            "--batch",
            "2026-11-01",
            "--batch",
            "2026-11-02",
            "--full-refresh",
            "--wait",
            "--poll-seconds",
            "1",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("\tstarted\t")).count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("\tSUCCEEDED\t")).count(),
        2,
        "{stdout}"
    );
    let list = sfn.list_executions().state_machine_arn(&ok).send().await.unwrap();
    assert_eq!(list.executions().len(), 2);
    let mut inputs: Vec<Value> = Vec::new();
    for e in list.executions() {
        let d = sfn
            .describe_execution()
            .execution_arn(e.execution_arn())
            .send()
            .await
            .unwrap();
        inputs.push(serde_json::from_str(d.input().unwrap()).unwrap());
        assert!(e.name().starts_with("2026-11-0"), "{}", e.name());
    }
    inputs.sort_by_key(|v| v["batch"].as_str().unwrap().to_string());
    assert_eq!(
        inputs[0],
        json!({"bucket": "land", "batch": "2026-11-01", "full_refresh": true})
    );

    // a failing execution: exit 1 and its status printed
    let bad = machine(
        &sfn,
        "bad",
        json!({"Type": "Fail", "Error": "Landfall.BadInput", "Cause": "x"}),
    )
    .await;
    let (code, stdout, _) = backfill(
        &moto,
        &[
            "--state-machine",
            &bad,
            "--bucket",
            "land",
            "--batch",
            "b9",
            "--wait",
            "--poll-seconds",
            "1",
        ],
    );
    assert_eq!(code, 1);
    assert!(stdout.contains("b9\tFAILED\t"), "{stdout}");

    // a bad batch id is a usage error before anything starts
    let (code, _, stderr) = backfill(&moto, &["--state-machine", &ok, "--bucket", "land", "--batch", "../x"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a valid batch id"), "{stderr}");
    // a state machine that does not exist
    let (code, _, stderr) = backfill(
        &moto,
        &[
            "--state-machine",
            "arn:aws:states:us-east-1:123456789012:stateMachine:nope",
            "--bucket",
            "land",
            "--batch",
            "b1",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("StartExecution"), "{stderr}");
}

/// `landfall rerun`: a failed execution's input again, as a new execution of the same machine,
/// named so that it is recognisable; a running one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_starts_the_same_input_again_under_a_recognisable_name() {
    let moto = moto_running_machines().await;
    let sdk = moto.sdk().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let bad = machine(
        &sfn,
        "flaky",
        json!({"Type": "Fail", "Error": "Landfall.Transient", "Cause": "x"}),
    )
    .await;
    let input = json!({"bucket": "land", "batch": "2026-11-26", "full_refresh": false});
    let first = sfn
        .start_execution()
        .state_machine_arn(&bad)
        .name("2026-11-26-abc")
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();
    for _ in 0..50 {
        let s = sfn.describe_execution().execution_arn(&first).send().await.unwrap();
        if s.status().as_str() != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let run = |args: &[&str]| landfall(&moto, "rerun", args);
    let (code, stdout, stderr) = run(&[&first, "--wait", "--poll-seconds", "1"]);
    // The machine fails every time: the rerun ran (its own execution) and failed again.
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("\tstarted\t") && stdout.contains("rerun of 2026-11-26-abc"),
        "{stdout}"
    );
    assert!(stdout.contains("2026-11-26\tFAILED\t"), "{stdout}");
    let list = sfn.list_executions().state_machine_arn(&bad).send().await.unwrap();
    assert_eq!(list.executions().len(), 2);
    let rerun = list.executions().iter().find(|e| e.execution_arn() != first).unwrap();
    assert!(rerun.name().starts_with("2026-11-26-rerun-"), "{}", rerun.name());
    let d = sfn
        .describe_execution()
        .execution_arn(rerun.execution_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(d.input().unwrap()).unwrap(), input);

    // A running execution is not re-run; an unknown one is a usage error.
    let waits = machine(&sfn, "slow", json!({"Type": "Wait", "Seconds": 600, "End": true})).await;
    let running = sfn
        .start_execution()
        .state_machine_arn(&waits)
        .name("b2-x")
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();
    let (code, _, stderr) = run(&[&running]);
    assert_eq!(code, 2);
    assert!(stderr.contains("still running"), "{stderr}");
    let (code, _, stderr) = run(&["arn:aws:states:us-east-1:123456789012:execution:slow:nope"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("DescribeExecution"), "{stderr}");
}
