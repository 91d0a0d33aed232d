//! The AWS adapters against moto server on 127.0.0.1 (real AWS SDK calls, real wire protocols):
//! S3 storage, Step Functions executions and the trigger's exactly-once behaviour, SSM
//! SecureStrings, SNS alerts read back through an SQS subscription.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use landfall_aws::{s3::S3Landing, sfn::StepFunctions, sns::SnsAlerts, ssm::Secrets};
use landfall_core::ErrorName;
use landfall_core::alerts::{Alert, Alerts};
use landfall_core::storage::Storage;
use landfall_core::trigger::{LANDING_PREFIX, ObjectCreated, on_object_created as trigger};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;
use support::Moto;

async fn put(sdk: &SdkConfig, bucket: &str, key: &str, body: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
}

fn event(bucket: &str, key: &str) -> ObjectCreated {
    ObjectCreated {
        bucket: bucket.into(),
        key: key.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_heads_reads_and_misses() {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("land").send().await.unwrap();
    put(&sdk, "land", "landing/b1/titles.csv", "id,title\n1,A\n").await;
    let st = S3Landing::new(&sdk, "land", LANDING_PREFIX);
    let o = st.head("b1/titles.csv").await.unwrap().unwrap();
    assert_eq!(o.size, 13);
    assert_eq!(o.url, "s3://land/landing/b1/titles.csv");
    assert_eq!(o.etag.len(), 32, "an md5 ETag without quotes: {}", o.etag);
    assert_eq!(st.read_prefix("b1/titles.csv", 8).await.unwrap(), b"id,title");
    assert_eq!(st.head("b1/credits.csv").await.unwrap(), None);
    // a bucket that does not exist is a configuration problem, not a missing file
    let e = S3Landing::new(&sdk, "nope", LANDING_PREFIX)
        .read_prefix("b1/titles.csv", 8)
        .await
        .unwrap_err();
    assert_eq!(e.name, ErrorName::Config, "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_events_start_one_execution_and_a_reupload_starts_another() {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("land").send().await.unwrap();
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let sm = sfn
        .create_state_machine()
        .name("landfall")
        .definition(def.to_string())
        .role_arn("arn:aws:iam::123456789012:role/landfall")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string();
    let storage = S3Landing::new(&sdk, "land", LANDING_PREFIX);
    let exec = StepFunctions::new(&sdk, &sm);
    // The flagship project's landing contract: a batch is titles.csv and credits.csv.
    let project = landfall_dbt::Project::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../transform")).unwrap();
    let contract = landfall_core::contract::Contract::of(&project).unwrap();

    // the first file alone: wait for the second
    put(&sdk, "land", "landing/b1/titles.csv", "id\n1\n").await;
    let o = trigger(
        &contract,
        &storage,
        &exec,
        "land",
        &event("land", "landing/b1/titles.csv"),
    )
    .await
    .unwrap();
    assert_eq!(o.action, "waiting");
    put(&sdk, "land", "landing/b1/credits.csv", "person_id\n1\n").await;
    // other keys and buckets are ignored
    assert_eq!(
        trigger(&contract, &storage, &exec, "land", &event("land", "reports/b1/x.html"))
            .await
            .unwrap()
            .action,
        "ignored"
    );
    assert_eq!(
        trigger(
            &contract,
            &storage,
            &exec,
            "land",
            &event("other", "landing/b1/titles.csv")
        )
        .await
        .unwrap()
        .action,
        "ignored"
    );
    // ten deliveries of each of the two events: exactly one execution
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..10 {
        for key in ["landing/b1/titles.csv", "landing/b1/credits.csv"] {
            let o = trigger(&contract, &storage, &exec, "land", &event("land", key))
                .await
                .unwrap();
            assert!(o.action == "started" || o.action == "duplicate", "{o:?}");
            names.insert(o.execution_name.unwrap());
        }
    }
    assert_eq!(names.len(), 1);
    let list = sfn.list_executions().state_machine_arn(&sm).send().await.unwrap();
    assert_eq!(
        list.executions().len(),
        1,
        "exactly one execution for ten duplicate deliveries"
    );
    let input: Value = serde_json::from_str(
        sfn.describe_execution()
            .execution_arn(list.executions()[0].execution_arn())
            .send()
            .await
            .unwrap()
            .input()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(input, json!({"bucket": "land", "batch": "b1", "full_refresh": false}));
    // a re-upload with new content: a new execution
    put(&sdk, "land", "landing/b1/credits.csv", "person_id\n1\n2\n").await;
    let o = trigger(
        &contract,
        &storage,
        &exec,
        "land",
        &event("land", "landing/b1/credits.csv"),
    )
    .await
    .unwrap();
    assert_eq!(o.action, "started");
    assert!(!names.contains(o.execution_name.as_ref().unwrap()));
    assert_eq!(
        sfn.list_executions()
            .state_machine_arn(&sm)
            .send()
            .await
            .unwrap()
            .executions()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssm_secure_strings_are_read_once_and_a_missing_one_is_named_without_values() {
    let moto = Moto::start().await;
    let sdk = moto.sdk().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    ssm.put_parameter()
        .name("/landfall/test/snowflake_password")
        .value("hunter2-very-secret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let secrets = Secrets::new(&sdk, "/landfall/test");
    assert_eq!(secrets.get("snowflake_password").await.unwrap(), "hunter2-very-secret");
    // cached: a changed value is not seen until invalidate()
    ssm.put_parameter()
        .name("/landfall/test/snowflake_password")
        .value("rotated-secret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(secrets.get("snowflake_password").await.unwrap(), "hunter2-very-secret");
    secrets.invalidate().await;
    assert_eq!(secrets.get("snowflake_password").await.unwrap(), "rotated-secret");
    let e = secrets.get("snowflake_private_key").await.unwrap_err();
    assert_eq!(e.name, ErrorName::Config);
    assert!(
        e.message.contains("/landfall/test/snowflake_private_key"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("rotated-secret"));
    assert_eq!(secrets.get_optional("slack_webhook_url").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_alerts_arrive_with_a_short_subject() {
    let moto = Moto::start().await;
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
    // read back through an SQS queue subscribed with raw delivery
    let sqs = |target: &'static str, body: Value| moto.sqs(target, body);
    let queue_url = sqs("CreateQueue", json!({"QueueName": "alerts"})).await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:123456789012:alerts")
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let alert = Alert {
        status: "failed".into(),
        pipeline: "landfall".into(),
        environment: "test".into(),
        batch: "b".repeat(150),
        execution: "b1-abc".into(),
        failed_state: Some("BuildMarts".into()),
        error: Some("Landfall.Transient".into()),
        cause: Some("warehouse busy".into()),
        failing_tests: vec![],
        link: None,
        report: None,
        at: "now".into(),
    };
    SnsAlerts::new(&sdk, &topic).send(&alert).await.unwrap();
    let msgs = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
    )
    .await;
    let body = msgs["Messages"][0]["Body"].as_str().unwrap();
    assert!(
        body.contains("failed state: BuildMarts")
            && body.contains("error: Landfall.Transient")
            && body.contains("cause: warehouse busy"),
        "{body}"
    );
    // SNS refuses subjects over 100 characters; ours is cut to fit
    assert!(alert.subject().chars().count() <= 100);
    // a topic that does not exist is a configuration error
    let e = SnsAlerts::new(&sdk, "arn:aws:sns:us-east-1:123456789012:nope")
        .send(&alert)
        .await
        .unwrap_err();
    assert_eq!(e.name, ErrorName::Config, "{}", e.message);
}
