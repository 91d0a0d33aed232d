//! The real notify binary on a Lambda Runtime API emulator, against moto: the state machine's
//! NotifyFailure payload and an EventBridge status-change event reach SNS; an unreadable event
//! is an error whose errorType is the ASL error name.

#[path = "../../aws/tests/support/mod.rs"]
mod moto;
#[path = "../../snowflake/tests/support/mod.rs"]
mod snow;
#[path = "../../lambda/tests/support/warehouse_env.rs"]
mod warehouse_env;
use moto as support;

use landfall_lambda::emulator::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_publishes_failures_and_reports_bad_events() {
    let moto = support::Moto::start().await;
    let sdk = moto.sdk().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let failure = json!({"status": "failed", "execution": "arn:aws:states:us-east-1:123456789012:execution:landfall:b1-abc",
        "state": {"bucket": "land", "batch": "b1", "full_refresh": false,
                  "run": {"run_id": "b1-abc", "batch": "b1", "bucket": "land", "full_refresh": false},
                  "failure": {"BuildMarts": {"Error": "Landfall.Transient", "Cause": "{\"errorMessage\": \"warehouse busy\", \"errorType\": \"Landfall.Transient\"}"}}}});
    let status_change = json!({"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:landfall:b2-x", "name": "b2-x", "status": "TIMED_OUT",
                   "input": "{\"bucket\": \"land\", \"batch\": \"b2\", \"full_refresh\": false}"}});
    // A FAILED execution that went through NotifyFailure (its `Failed` state) was alerted
    // already: the status-change path stays quiet; one whose NotifyFailure failed is alerted.
    let alerted = json!({"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:landfall:b3-x", "name": "b3-x", "status": "FAILED",
                   "input": "{\"batch\": \"b3\"}", "error": "Landfall.PipelineFailed", "cause": "A state failed; …"}});
    let unalerted = json!({"detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "detail": {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:landfall:b4-x", "name": "b4-x", "status": "FAILED",
                   "input": "{\"batch\": \"b4\"}", "error": "Landfall.AlertFailed", "cause": "NotifyFailure could not send the alert"}});
    let api = RuntimeApi::start(vec![
        failure.to_string(),
        status_change.to_string(),
        json!({"what": 1}).to_string(),
        alerted.to_string(),
        unalerted.to_string(),
    ]);
    let mut child = api.spawn(
        env!("CARGO_BIN_EXE_notify"),
        &[
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("ALERT_TOPIC_ARN", topic.as_str()),
            ("LANDFALL_ENV", "test"),
        ],
    );
    let answers = api.wait_answers(5, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    match &answers[0] {
        Answer::Response { body, .. } => {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                v,
                json!({"sent": true, "failed_state": "BuildMarts", "error": "Landfall.Transient"})
            );
        }
        other => panic!("{other:?}"),
    }
    match &answers[1] {
        Answer::Response { body, .. } => assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"sent": true, "status": "TIMED_OUT"})
        ),
        other => panic!("{other:?}"),
    }
    match &answers[2] {
        Answer::Error { error_type, .. } => assert_eq!(error_type, "Landfall.BadInput"),
        other => panic!("{other:?}"),
    }
    let body = |a: &Answer| match a {
        Answer::Response { body, .. } => serde_json::from_str::<Value>(body).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(body(&answers[3])["sent"], json!(false), "{:?}", answers[3]);
    assert_eq!(body(&answers[4]), json!({"sent": true, "status": "FAILED"}));
}

/// One HTTP request to 127.0.0.1 answered 200; returns the URL and the request body.
fn one_request_server() -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/services/T0/B0/SECRETTOKEN", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = s.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let t = String::from_utf8_lossy(&buf).to_string();
            if let Some(p) = t.find("\r\n\r\n") {
                let len: usize = t
                    .lines()
                    .find_map(|x| {
                        x.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= p + 4 + len {
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").unwrap();
                    return t[p + 4..].to_string();
                }
            }
            if n == 0 {
                return String::new();
            }
        }
    });
    (url, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_from_ssm_still_gets_the_alert_when_sns_fails() {
    let moto = support::Moto::start().await;
    let sdk = moto.sdk().await;
    let (url, server) = one_request_server();
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/landfall/test/slack_webhook_url")
        .value(&url)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let failure = json!({"status": "failed", "execution": "arn:aws:states:us-east-1:123456789012:execution:landfall:b3-x",
        "state": {"bucket": "land", "batch": "b3", "full_refresh": false,
                  "failure": {"CheckFiles": {"Error": "Landfall.BadInput", "Cause": "s3://land/landing/b3/credits.csv: missing"}}}});
    let api = RuntimeApi::start(vec![failure.to_string()]);
    let mut child = api.spawn(
        env!("CARGO_BIN_EXE_notify"),
        &[
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:missing"),
            ("LANDFALL_ENV", "test"),
        ],
    );
    let answers = api.wait_answers(1, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let body = server.join().unwrap();
    let payload: Value = serde_json::from_str(&body).unwrap();
    let text = payload.to_string();
    assert!(
        text.contains("Landfall.BadInput") && text.contains("CheckFiles") && text.contains("b3"),
        "{text}"
    );
    match &answers[0] {
        Answer::Error { error_type, body, .. } => {
            assert_eq!(
                error_type, "Landfall.Transient",
                "delivery failed on one channel: {body}"
            );
            assert!(body.contains("sns"), "{body}");
            assert!(!body.contains("SECRETTOKEN"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

/// With Snowflake configured, NotifyFailure also marks the run failed in `audit.runs` and drops
/// the run's pending raw rows; the alert still goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_records_the_failure_in_the_warehouse() {
    use landfall_core::warehouse::Warehouse;
    let env = warehouse_env::WarehouseEnv::start("NOTIFY_AUDIT", "b1").await;
    let wh = env.warehouse().await;
    let run = warehouse_env::run_vars("b1-fail", "b1");
    env.run_until(&wh, &run, "transform").await;
    let pending = wh
        .query("select count(*) from raw.credits where _load_id = 'b1-fail'")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(pending as u64, env.data.credits);
    // Slack records the alert, to see the report link.
    let (slack_url, slack) = one_request_server();
    aws_sdk_ssm::Client::new(&env.sdk)
        .put_parameter()
        .name("/landfall/test/slack_webhook_url")
        .value(&slack_url)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&env.sdk);
    let topic = sns
        .create_topic()
        .name("alerts")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let failure = json!({"status": "failed", "execution": "arn:aws:states:us-east-1:123456789012:execution:landfall:b1-fail",
        "state": {"bucket": warehouse_env::BUCKET, "batch": "b1", "full_refresh": false, "run": warehouse_env::run_json(&run),
                  "failure": {"BuildStaging": {"Error": "Landfall.Transient", "Cause": "{\"errorMessage\": \"warehouse busy\", \"errorType\": \"Landfall.Transient\"}"}}}});
    let (answers, logs) = env.invoke_with_logs(
        env!("CARGO_BIN_EXE_notify"),
        vec![failure],
        &[("ALERT_TOPIC_ARN", topic.as_str())],
    );
    assert_eq!(
        warehouse_env::ok(&answers[0]),
        json!({"sent": true, "failed_state": "BuildStaging", "error": "Landfall.Transient"})
    );
    let r = wh
        .query("select status, failed_state, error_name, error_cause from audit.runs where run_id = 'b1-fail'")
        .await
        .unwrap();
    assert_eq!(
        r.rows[0],
        vec![
            json!("failed"),
            json!("BuildStaging"),
            json!("Landfall.Transient"),
            json!("warehouse busy")
        ]
    );
    let left = wh
        .query("select count(*) from raw.credits where _load_id = 'b1-fail'")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(left, 0, "the failed run's pending rows are gone");
    // The run report went to the bucket, next to landing/, and says what failed.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&env.sdk)
            .force_path_style(true)
            .build(),
    );
    let o = s3
        .get_object()
        .bucket(warehouse_env::BUCKET)
        .key("reports/b1/b1-fail.html")
        .send()
        .await
        .unwrap_or_else(|e| panic!("the report is not in the bucket ({e}); the function logged:\n{logs}"));
    assert_eq!(o.content_type(), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(html.contains("Landfall.Transient") && html.contains("BuildStaging") && html.contains("warehouse busy"));
    assert!(html.contains("id=\"lineage\""));
    let alert = slack.join().unwrap();
    assert!(
        alert.contains("Open the run report") && alert.contains("prefix=reports/b1/b1-fail.html"),
        "the alert links the report: {alert}"
    );
}
