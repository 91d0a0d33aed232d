//! The real trigger binary on a Lambda Runtime API emulator, against moto: a success response
//! (an execution started) and an error response whose errorType is the ASL error name.

#[path = "../../aws/tests/support/mod.rs"]
mod support;

use landfall_lambda::emulator::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_starts_an_execution_and_reports_bad_events_as_bad_input() {
    let moto = support::Moto::start().await;
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("land").send().await.unwrap();
    for (k, b) in [
        ("landing/b1/titles.csv", "id\n1\n"),
        ("landing/b1/credits.csv", "person_id\n1\n"),
    ] {
        s3.put_object()
            .bucket("land")
            .key(k)
            .body(b.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let sm = sfn
        .create_state_machine()
        .name("landfall")
        .definition(def.to_string())
        .role_arn("arn:aws:iam::123456789012:role/r")
        .send()
        .await
        .unwrap();
    let events = vec![
        json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": "land"}, "object": {"key": "landing/b1/credits.csv"}}}).to_string(),
        json!({"not": "an s3 event"}).to_string(),
    ];
    let api = RuntimeApi::start(events);
    let mut child = api.spawn(
        env!("CARGO_BIN_EXE_trigger"),
        &[
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("LANDING_BUCKET", "land"),
            ("STATE_MACHINE_ARN", sm.state_machine_arn()),
            ("LANDFALL_ENV", "test"),
        ],
    );
    let answers = api.wait_answers(2, Duration::from_secs(30));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    match &answers[0] {
        Answer::Response { body, .. } => {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["action"], "started", "{v}");
            assert_eq!(v["batch"], "b1");
        }
        other => panic!("expected a response, got {other:?}"),
    }
    match &answers[1] {
        Answer::Error { error_type, body, .. } => {
            assert_eq!(error_type, "Landfall.BadInput");
            assert!(body.contains("not an EventBridge S3 event"), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        sfn.list_executions()
            .state_machine_arn(sm.state_machine_arn())
            .send()
            .await
            .unwrap()
            .executions()
            .len(),
        1
    );
    // JSON logs, one object per line
    let logs = String::from_utf8_lossy(&out.stdout);
    let line = logs
        .lines()
        .find(|l| l.contains("both files present"))
        .unwrap_or_else(|| panic!("no log line: {logs}"));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["fields"]["batch"], "b1");
    assert!(v["fields"]["execution"].as_str().unwrap().starts_with("b1-"));
    assert_eq!(v["span"]["batch"], "b1", "the invocation's span names the batch: {v}");
    // One EMF line per invocation: the start is counted, the bad event is a failure.
    let emf: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    assert_eq!(emf.len(), 2, "{logs}");
    assert_eq!(emf[0]["state"], "Trigger");
    assert_eq!(emf[0]["ExecutionsStarted"], 1.0);
    assert_eq!(emf[0]["Failed"], 0.0);
    assert_eq!(emf[0]["batch"], "b1");
    assert_eq!(emf[1]["Failed"], 1.0);
}
