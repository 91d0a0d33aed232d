//! The real trigger binary on a Lambda Runtime API emulator, against moto, fed the event
//! payloads AWS documents (`tests/events/`) for the three wirings teams use: EventBridge
//! "Object Created", S3 event notifications, and S3 notifications through SQS (with the
//! `s3:TestEvent`). Duplicates across all three start one execution; an SQS batch reports back
//! only the message that failed.

#[path = "../../aws/tests/support/mod.rs"]
mod support;

use landfall_lambda::emulator::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::time::Duration;

const BUCKET: &str = "landfall-landing";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// EventBridge's "Object Created" for `key` (as S3 sends it to the default bus).
fn eventbridge(key: &str) -> Value {
    serde_json::from_str(
        &fixture("eventbridge-object-created.json")
            .replace("@BUCKET@", BUCKET)
            .replace("@KEY@", key),
    )
    .unwrap()
}

/// An S3 event notification for `encoded_key` (S3 URL-encodes keys in notifications).
fn s3_notification(encoded_key: &str) -> Value {
    serde_json::from_str(
        &fixture("s3-notification.json")
            .replace("@BUCKET@", BUCKET)
            .replace("@KEY@", encoded_key),
    )
    .unwrap()
}

fn s3_test_event() -> Value {
    serde_json::from_str(&fixture("s3-test-event.json").replace("@BUCKET@", BUCKET)).unwrap()
}

/// An SQS event (as Lambda's event source mapping delivers a batch) whose bodies are `bodies`.
fn sqs(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut r: Value = serde_json::from_str(&fixture("sqs-record.json").replace("@ID@", id)).unwrap();
            r["body"] = json!(body);
            r
        })
        .collect();
    json!({ "Records": records })
}

struct World {
    moto: support::Moto,
    s3: aws_sdk_s3::Client,
    sfn: aws_sdk_sfn::Client,
    machine: String,
}

impl World {
    async fn start() -> World {
        let moto = support::Moto::start().await;
        let sdk = moto.sdk().await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        // A machine that waits: the executions stay RUNNING while the duplicates arrive.
        let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}});
        let machine = sfn
            .create_state_machine()
            .name("landfall")
            .definition(def.to_string())
            .role_arn("arn:aws:iam::123456789012:role/r")
            .send()
            .await
            .unwrap()
            .state_machine_arn()
            .to_string();
        World { moto, s3, sfn, machine }
    }

    async fn put(&self, key: &str, body: &str) {
        self.s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }

    async fn executions(&self) -> Vec<String> {
        self.sfn
            .list_executions()
            .state_machine_arn(&self.machine)
            .send()
            .await
            .unwrap()
            .executions()
            .iter()
            .map(|e| e.name().to_string())
            .collect()
    }

    /// The trigger binary answering `events`, and what it logged.
    fn invoke(&self, events: Vec<Value>, machine: &str) -> (Vec<Answer>, String) {
        let n = events.len();
        let api = RuntimeApi::start(events.iter().map(Value::to_string).collect());
        let mut child = api.spawn(
            env!("CARGO_BIN_EXE_trigger"),
            &[
                ("AWS_ENDPOINT_URL", self.moto.url.as_str()),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("LANDING_BUCKET", BUCKET),
                ("STATE_MACHINE_ARN", machine),
                ("LANDFALL_ENV", "test"),
            ],
        );
        let answers = api.wait_answers(n, Duration::from_secs(60));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (answers, String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn body(a: &Answer) -> Value {
    match a {
        Answer::Response { body, .. } => serde_json::from_str(body).unwrap(),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn actions(a: &Answer) -> Vec<String> {
    body(a)["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("no outcomes in {a:?}"))
        .iter()
        .map(|o| o["action"].as_str().unwrap().to_string())
        .collect()
}

fn emf(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_deliveries_across_three_wirings_start_one_execution() {
    let w = World::start().await;
    w.put("landing/2026-11-26/titles.csv", "id\n1\n").await;

    // The first file alone: wait for the second, whichever wiring tells.
    let (a, _) = w.invoke(
        vec![
            eventbridge("landing/2026-11-26/titles.csv"),
            s3_notification("landing%2F2026-11-26%2Ftitles.csv"),
        ],
        &w.machine,
    );
    assert_eq!(actions(&a[0]), ["waiting"]);
    assert_eq!(actions(&a[1]), ["waiting"]);
    assert!(w.executions().await.is_empty());

    w.put("landing/2026-11-26/credits.csv", "person_id\n1\n").await;
    let (a, _) = w.invoke(vec![eventbridge("landing/2026-11-26/credits.csv")], &w.machine);
    assert_eq!(actions(&a[0]), ["started"]);
    // Step Functions answers a running twin's start like a new one, with the twin's start
    // date: deliveries more than a second later are told apart as duplicates.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Twenty more deliveries of the two files' events: EventBridge, S3 notifications (the key as S3
    // encodes it, plain or with %2F), and notifications through SQS, after S3's test event.
    let notification = |key: &str| s3_notification(key).to_string();
    let mut events = vec![sqs(&[("test-event", s3_test_event().to_string())])];
    for key in ["landing/2026-11-26/titles.csv", "landing/2026-11-26/credits.csv"] {
        let encoded = key.replace('/', "%2F");
        events.push(eventbridge(key));
        events.push(eventbridge(key));
        events.push(eventbridge(key));
        events.push(s3_notification(key));
        events.push(s3_notification(&encoded));
        events.push(s3_notification(key));
        events.push(sqs(&[("m1", notification(key)), ("m2", notification(&encoded))]));
        events.push(sqs(&[("m3", notification(key))]));
        events.push(sqs(&[("m4", notification(&encoded))]));
    }
    // 2 × (3 + 3 + 2 + 1 + 1) = 20 object deliveries in 18 invocations, plus the test event.
    // The first delivery started the execution; none of these starts another.
    let (a, logs) = w.invoke(events, &w.machine);
    assert_eq!(a.len(), 19);
    // The test event is no object: an empty batch response, nothing to retry.
    assert_eq!(body(&a[0]), json!({"batchItemFailures": []}));
    let mut started = 0;
    for answer in &a[1..] {
        let b = body(answer);
        if let Some(f) = b.get("batchItemFailures") {
            assert_eq!(f, &json!([]), "{b}");
            continue;
        }
        for action in actions(answer) {
            assert!(action == "started" || action == "duplicate", "{b}");
            started += (action == "started") as usize;
        }
    }
    assert_eq!(started, 0, "every later delivery is a duplicate");
    let names = w.executions().await;
    assert_eq!(names.len(), 1, "twenty deliveries, one execution: {names:?}");
    assert!(names[0].starts_with("2026-11-26-"), "{names:?}");
    // The metrics count the one start; every object's log line names its batch.
    let m = emf(&logs);
    assert_eq!(m.len(), 19, "one EMF line per invocation");
    assert_eq!(
        m.iter().map(|l| l["ExecutionsStarted"].as_f64().unwrap()).sum::<f64>(),
        0.0
    );
    assert!(m.iter().all(|l| l["Failed"] == json!(0.0)), "{m:?}");
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["action"] == json!("duplicate"))
        .unwrap_or_else(|| panic!("no log line of the start: {logs}"));
    assert_eq!(line["span"]["batch"], json!("2026-11-26"), "{line}");
    assert!(line["fields"]["execution"].as_str().unwrap().starts_with("2026-11-26-"));

    // A re-upload (new content, new ETag): a second execution for the new batch version.
    w.put("landing/2026-11-26/credits.csv", "person_id\n1\n2\n").await;
    let (a, _) = w.invoke(
        vec![
            sqs(&[("m5", notification("landing/2026-11-26/credits.csv"))]),
            eventbridge("landing/2026-11-26/credits.csv"),
        ],
        &w.machine,
    );
    assert_eq!(body(&a[0]), json!({"batchItemFailures": []}));
    assert_eq!(a.len(), 2);
    assert_eq!(w.executions().await.len(), 2, "the re-upload is a new batch version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_reports_only_the_failed_message_and_direct_deliveries_fail_whole() {
    let w = World::start().await;
    w.put("landing/b1/titles.csv", "id\n1\n").await;
    w.put("landing/b1/credits.csv", "person_id\n1\n").await;
    let missing = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine";
    let (a, logs) = w.invoke(
        vec![
            // Step Functions refuses the start (no such machine): only m2 comes back; m1 is
            // for another prefix, m3 not an S3 notification at all (it comes back until the
            // redrive policy parks it in the dead-letter queue).
            sqs(&[
                ("m1", s3_notification("reports/b1/run.html").to_string()),
                ("m2", s3_notification("landing/b1/credits.csv").to_string()),
                ("m3", "{\"hello\": \"world\"}".to_string()),
            ]),
            // The same failure on a direct delivery fails the invocation (Lambda retries it).
            eventbridge("landing/b1/credits.csv"),
            json!({"not": "an s3 event"}),
        ],
        missing,
    );
    assert_eq!(
        body(&a[0]),
        json!({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]})
    );
    match &a[1] {
        Answer::Error { error_type, .. } => {
            assert!(error_type.starts_with("Landfall."), "{error_type}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    match &a[2] {
        Answer::Error { error_type, body, .. } => {
            assert_eq!(error_type, "Landfall.BadInput");
            assert!(body.contains("not an S3 event"), "{body}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let m = emf(&logs);
    assert_eq!(m.len(), 3, "{logs}");
    assert_eq!(m[0]["MessagesFailed"], json!(2.0));
    assert_eq!(m[0]["Failed"], json!(1.0));
    assert_eq!(m[1]["Failed"], json!(1.0));
    assert_eq!(m[2]["Failed"], json!(1.0));
    assert!(w.executions().await.is_empty());
    // With the machine there, the same SQS batch leaves nothing to retry but m3.
    let (a, _) = w.invoke(
        vec![sqs(&[
            ("m2", s3_notification("landing/b1/credits.csv").to_string()),
            ("m3", "{\"hello\": \"world\"}".to_string()),
        ])],
        &w.machine,
    );
    assert_eq!(body(&a[0]), json!({"batchItemFailures": [{"itemIdentifier": "m3"}]}));
    assert_eq!(w.executions().await.len(), 1);
}
