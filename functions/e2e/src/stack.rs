//! The whole emulated deployment. What stands in for what:
//!
//! | AWS / Snowflake            | here                                                          |
//! |----------------------------|---------------------------------------------------------------|
//! | Lambda (six functions)     | the release binaries behind Runtime API emulators ([`crate::lambda`]) |
//! | Step Functions             | a local endpoint + the local ASL engine ([`crate::sfn`])       |
//! | S3, SSM, SNS (+ SQS reader)| moto                                                          |
//! | EventBridge rules          | the template's patterns matched on S3's and Step Functions' events |
//! | Snowflake                  | the fakesnow wrapper; its stage reads a mirror of the bucket's `landing/` |
//! | Slack                      | a local HTTP server recording each post                       |
//!
//! Function environments come from the template; the harness adds only what points the
//! binaries at the emulators (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SFN`, region and test
//! credentials, `SNOWFLAKE_URL`).

use crate::lambda::{Function, Outcome};
use crate::sfn::StepFunctions;
use crate::template::{ACCOUNT, Emulated, REGION, Template};
use landfall_lambda::emulator::read_request;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The parameters the harness deploys with (`Environment=e2e`, Snowflake on fakesnow).
pub const PARAMETERS: &[(&str, &str)] = &[("Environment", "e2e"), ("SnowflakeAccount", "fakesnow")];

/// A secret the harness plants (the Snowflake password in SSM): no output may contain it.
pub const SNOWFLAKE_PASSWORD: &str = "e2e-snowflake-password-8d1f";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the release binaries are: `LANDFALL_LAMBDA_DIR`, or `<target>/release`.
pub fn lambda_dir() -> PathBuf {
    if let Ok(d) = std::env::var("LANDFALL_LAMBDA_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    target.join("release")
}

/// A Slack incoming webhook that records what it accepted, and can refuse the next requests
/// (500, `Retry-After: 0`) as a Slack outage would.
pub struct Slack {
    pub url: String,
    posts: Arc<Mutex<Vec<Value>>>,
    refuse: Arc<Mutex<u32>>,
}

impl Slack {
    fn start() -> Slack {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/services/T000/B000/e2esecretpath",
            listener.local_addr().unwrap()
        );
        let posts = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(Mutex::new(0u32));
        let (p, r) = (posts.clone(), refuse.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (p, r) = (p.clone(), r.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut writer = conn;
                    while let Some(req) = read_request(&mut reader) {
                        let refused = {
                            let mut n = r.lock().unwrap();
                            let refused = *n > 0;
                            *n = n.saturating_sub(1);
                            refused
                        };
                        if refused {
                            let _ = write!(
                                writer,
                                "HTTP/1.1 500 Internal Server Error\r\nRetry-After: 0\r\nContent-Length: 5\r\n\r\nerror"
                            );
                            continue;
                        }
                        p.lock()
                            .unwrap()
                            .push(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
                        let _ = write!(writer, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                });
            }
        });
        Slack { url, posts, refuse }
    }

    /// Answer the next `n` requests with 500.
    pub fn refuse_next(&self, n: u32) {
        *self.refuse.lock().unwrap() = n;
    }

    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().clone()
    }
}

/// One delivery of an event to a function, and what the function answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub function: String,
    pub event: Value,
    pub outcome: Outcome,
}

pub struct Stack {
    pub moto: crate::moto::Moto,
    pub snow: crate::snow::FakeSnow,
    pub sdk: aws_config::SdkConfig,
    pub template: Template,
    pub bucket: String,
    pub topic_arn: String,
    pub functions: BTreeMap<String, Arc<Function>>,
    pub sfn: StepFunctions,
    pub slack: Slack,
    pub database: String,
    stage: tempfile::TempDir,
    alerts_queue: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    pending: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Stack {
    /// Stand the stack up from `template.yaml` with the harness's [`PARAMETERS`] and
    /// `overrides` of them.
    pub async fn start(overrides: &[(&str, &str)]) -> Stack {
        Self::start_from(&repo_root().join("template.yaml"), overrides).await
    }

    /// [`Stack::start`] from another template (a test's edited copy).
    pub async fn start_from(template: &Path, overrides: &[(&str, &str)]) -> Stack {
        Self::start_with_layers(template, overrides, &[]).await
    }

    /// [`Stack::start_from`] with Lambda layers: `(ARN, folder)` pairs, the folder holding
    /// what the layer's zip holds. A function's layers are mounted where Lambda mounts them,
    /// `/opt`: its environment's values under `/opt/` point into the folders instead (a
    /// later layer's file over an earlier one's, as Lambda merges them, is not emulated: one
    /// layer per function). A layer the template names that is not given fails the start.
    pub async fn start_with_layers(template: &Path, overrides: &[(&str, &str)], layers: &[(&str, &Path)]) -> Stack {
        let mut params: Vec<(&str, &str)> = PARAMETERS.to_vec();
        params.extend_from_slice(overrides);
        let mut template = Template::load(template, &params);
        let moto = crate::moto::Moto::start().await;
        let snow = crate::snow::FakeSnow::start();
        let sdk = moto.sdk().await;

        // Names the template gives, resolved.
        let name_of = |t: &Template, id: &str, prop: &str| -> String {
            t.resolve(&t.raw(&["Resources", id, "Properties", prop]))
                .as_str()
                .unwrap_or_else(|| panic!("{id}.{prop}"))
                .to_string()
        };
        let bucket = name_of(&template, "LandingBucket", "BucketName");
        template.emulate(
            "LandingBucket",
            Emulated {
                reference: bucket.clone(),
                attributes: [("Arn".to_string(), format!("arn:aws:s3:::{bucket}"))].into(),
            },
        );
        let s3 = s3_client(&sdk);
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let topic_name = name_of(&template, "AlertTopic", "TopicName");
        let topic_arn = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name(&topic_name)
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_string();
        template.emulate(
            "AlertTopic",
            Emulated {
                reference: topic_arn.clone(),
                ..Default::default()
            },
        );
        let machine_name = name_of(&template, "StateMachine", "Name");
        let machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine_name}");
        template.emulate(
            "StateMachine",
            Emulated {
                reference: machine_arn.clone(),
                attributes: [("Name".to_string(), machine_name.clone())].into(),
            },
        );
        let mut arns = BTreeMap::new();
        for id in template.functions() {
            let fname = name_of(&template, &id, "FunctionName");
            let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fname}");
            template.emulate(
                &id,
                Emulated {
                    reference: fname,
                    attributes: [("Arn".to_string(), arn.clone())].into(),
                },
            );
            arns.insert(id, arn);
        }

        // Alerts are read back through an SQS queue subscribed to the topic.
        let alerts_queue = moto.sqs("CreateQueue", json!({"QueueName": "e2e-alerts"})).await["QueueUrl"]
            .as_str()
            .unwrap()
            .to_string();
        aws_sdk_sns::Client::new(&sdk)
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:e2e-alerts"))
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();

        // Secrets where the template's SSM prefix says they are.
        let prefix = template.function_environment("LoadFunction")["LANDFALL_SSM_PREFIX"].clone();
        let slack = Slack::start();
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        for (name, value) in [
            ("snowflake/password", SNOWFLAKE_PASSWORD),
            ("slack_webhook_url", slack.url.as_str()),
        ] {
            ssm.put_parameter()
                .name(format!("{prefix}{name}"))
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        }

        // Snowflake: what infra/snowflake/setup.sql creates, the stage over the bucket mirror.
        let database = template.parameter("SnowflakeDatabase").to_string();
        let stage = tempfile::tempdir().unwrap();
        let admin = admin_session(&snow, &database).await;
        use landfall_core::warehouse::Warehouse;
        admin
            .execute(&format!(
                "create schema if not exists raw;
                 create or replace stage raw.landing url = 'file://{}/';",
                stage.path().display()
            ))
            .await
            .unwrap();

        // Step Functions runs the deployed definition with the template's substitutions.
        let definition = std::fs::read_to_string(repo_root().join("statemachine.asl.json")).unwrap();
        let subs: BTreeMap<String, String> = template
            .resolve(&template.raw(&["Resources", "StateMachine", "Properties", "DefinitionSubstitutions"]))
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let substituted =
            landfall_asl::substitute(&definition, &subs).expect("every substitution the ASL uses is given");
        let machine = landfall_asl::Machine::parse(&serde_json::from_str(&substituted).unwrap()).unwrap();
        // The endpoint is up before the functions (the trigger's SDK calls it); the functions
        // it invokes are handed over once they run.
        let dir = lambda_dir();
        let mut functions = BTreeMap::new();
        let mut by_arn = BTreeMap::new();
        let sfn_stub = StepFunctions::start_deferred(machine, &machine_arn);
        for id in template.functions() {
            let mut env = template.function_environment(&id);
            env.insert("AWS_ENDPOINT_URL".into(), moto.url.clone());
            env.insert("AWS_ENDPOINT_URL_SFN".into(), sfn_stub.url.clone());
            env.insert("AWS_REGION".into(), REGION.into());
            env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
            if env.contains_key("SNOWFLAKE_ACCOUNT") {
                env.insert("SNOWFLAKE_URL".into(), snow.url.clone());
            }
            let mounted = template.function_layers(&id);
            assert!(
                mounted.len() <= 1,
                "{id}: one layer per function is emulated, found {mounted:?}"
            );
            if let Some(arn) = mounted.first() {
                let (_, opt) = layers
                    .iter()
                    .find(|(a, _)| a == arn)
                    .unwrap_or_else(|| panic!("{id} uses layer {arn}, which the test did not give"));
                for v in env.values_mut() {
                    if let Some(rest) = v.strip_prefix("/opt/") {
                        *v = opt.join(rest).display().to_string();
                    }
                }
            }
            let binary = dir.join(template.function_binary(&id));
            let f = Arc::new(Function::start(
                &id,
                &binary,
                &env,
                Duration::from_secs(template.function_timeout(&id)),
            ));
            by_arn.insert(arns[&id].clone(), f.clone());
            functions.insert(id, f);
        }
        sfn_stub.set_functions(by_arn);
        let sfn = sfn_stub;

        let stack = Stack {
            moto,
            snow,
            sdk,
            template,
            bucket,
            topic_arn,
            functions,
            sfn,
            slack,
            database,
            stage,
            alerts_queue,
            deliveries: Arc::new(Mutex::new(Vec::new())),
            pending: Arc::new(Mutex::new(Vec::new())),
        };
        stack.route_status_changes();
        stack
    }

    /// Status changes go to the functions whose EventBridge rule matches them.
    fn route_status_changes(&self) {
        let routes: Vec<(Value, Arc<Function>)> = self
            .functions
            .iter()
            .flat_map(|(id, f)| self.event_rules(id).into_iter().map(move |p| (p, f.clone())))
            .collect();
        let deliveries = self.deliveries.clone();
        let pending = self.pending.clone();
        let handle = tokio::runtime::Handle::current();
        self.sfn.on_status_change(Arc::new(move |event: Value| {
            for (pattern, f) in &routes {
                if crate::pattern::matches(pattern, &event) {
                    let (f, event, deliveries) = (f.clone(), event.clone(), deliveries.clone());
                    let h = handle.spawn(async move {
                        let outcome = f.invoke(event.clone()).await;
                        deliveries.lock().unwrap().push(Delivery {
                            function: f.logical_id.clone(),
                            event,
                            outcome,
                        });
                    });
                    pending.lock().unwrap().push(h);
                }
            }
        }));
    }

    /// The EventBridge patterns that invoke a function: its SAM `EventBridgeRule` events, and
    /// the plain `AWS::Events::Rule`s (that exist under the parameters) targeting it.
    pub fn event_rules(&self, function: &str) -> Vec<Value> {
        let t = &self.template;
        let mut out = Vec::new();
        if let Value::Object(events) = t.raw(&["Resources", function, "Properties", "Events"]) {
            for (_, e) in events {
                if e["Type"] == "EventBridgeRule" {
                    out.push(t.resolve(&e["Properties"]["Pattern"]));
                }
            }
        }
        if let Value::Object(resources) = t.raw(&["Resources"]) {
            for (id, r) in resources {
                if r["Type"] != "AWS::Events::Rule" || !t.exists(&id) {
                    continue;
                }
                // Only what routing needs (the targets' retry and dead-letter settings are
                // EventBridge's own, not emulated).
                let name = self.function_name(function);
                let targets_it = r["Properties"]["Targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|target| {
                        t.resolve(&target["Arn"])
                            .as_str()
                            .is_some_and(|a| a.ends_with(&format!(":function:{name}")))
                    });
                if targets_it {
                    out.push(t.resolve(&r["Properties"]["EventPattern"]));
                }
            }
        }
        out
    }

    /// Functions the template runs on a schedule (SAM `Schedule` events).
    pub fn scheduled(&self) -> Vec<String> {
        self.functions
            .keys()
            .filter(|id| {
                matches!(self.template.raw(&["Resources", id, "Properties", "Events"]), Value::Object(events)
                    if events.values().any(|e| e["Type"] == "Schedule"))
            })
            .cloned()
            .collect()
    }

    /// The schedule fires at `at_ms`: EventBridge's "Scheduled Event" to every scheduled
    /// function, as the EventBridge user guide documents it.
    pub async fn tick(&self, at_ms: u64) {
        let time = time::OffsetDateTime::from_unix_timestamp((at_ms / 1000) as i64)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let event = json!({
            "version": "0", "id": format!("tick-{at_ms}"), "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": time, "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/landing-check")], "detail": {}
        });
        for id in self.scheduled() {
            let outcome = self.functions[&id].invoke(event.clone()).await;
            self.deliveries.lock().unwrap().push(Delivery {
                function: id.clone(),
                event: event.clone(),
                outcome,
            });
        }
    }

    fn function_name(&self, id: &str) -> String {
        self.template
            .resolve(&self.template.raw(&["Resources", id, "Properties", "FunctionName"]))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Put an object into the landing bucket as a user would; S3 then sends EventBridge its
    /// "Object Created" event, which reaches the functions whose rules match it.
    pub async fn put(&self, key: &str, body: &[u8]) {
        let s3 = s3_client(&self.sdk);
        let put = s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
        // The stage reads what S3 holds (real Snowflake reads the bucket through its storage
        // integration; fakesnow reads a file:// stage).
        if let Some(rel) = key.strip_prefix(landfall_core::trigger::LANDING_PREFIX) {
            let got = s3.get_object().bucket(&self.bucket).key(key).send().await.unwrap();
            let bytes = got.body.collect().await.unwrap().into_bytes();
            let path = self.stage.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let event = object_created_event(&self.bucket, key, body.len(), put.e_tag().unwrap_or_default());
        self.deliver(event).await;
    }

    /// Deliver an event as EventBridge does: to every function whose rule matches it.
    pub async fn deliver(&self, event: Value) {
        for id in self.functions.keys() {
            if self.event_rules(id).iter().any(|p| crate::pattern::matches(p, &event)) {
                let f = &self.functions[id];
                let outcome = f.invoke(event.clone()).await;
                self.deliveries.lock().unwrap().push(Delivery {
                    function: id.clone(),
                    event: event.clone(),
                    outcome,
                });
            }
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Wait for every execution to end and every status-change delivery to be answered.
    pub async fn settle(&self) -> Vec<crate::sfn::ExecutionRecord> {
        let execs = self.sfn.settle(Duration::from_secs(240)).await;
        loop {
            let hs: Vec<_> = std::mem::take(&mut *self.pending.lock().unwrap());
            if hs.is_empty() {
                break;
            }
            for h in hs {
                h.await.unwrap();
            }
        }
        execs
    }

    /// What reached the alert topic (read through its SQS subscription), as message bodies.
    pub async fn alerts(&self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let r = self
                .moto
                .sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": self.alerts_queue, "MaxNumberOfMessages": 10}),
                )
                .await;
            let msgs = r["Messages"].as_array().cloned().unwrap_or_default();
            if msgs.is_empty() {
                break;
            }
            for m in &msgs {
                out.push(m["Body"].as_str().unwrap_or_default().to_string());
                self.moto
                    .sqs(
                        "DeleteMessage",
                        json!({"QueueUrl": self.alerts_queue, "ReceiptHandle": m["ReceiptHandle"]}),
                    )
                    .await;
            }
        }
        out
    }

    /// A Snowflake session of the harness's own, to look at what the functions did.
    pub async fn warehouse(&self) -> landfall_snowflake::SnowflakeWarehouse {
        admin_session(&self.snow, &self.database).await
    }

    /// Every function's logs so far.
    pub fn logs(&self) -> String {
        self.functions
            .values()
            .map(|f| format!("==> {}\n{}", f.logical_id, f.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An object in the bucket, if it exists.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let r = s3_client(&self.sdk)
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(r.body.collect().await.ok()?.into_bytes().to_vec())
    }

    /// Keys in the bucket under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let r = s3_client(&self.sdk)
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        r.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    /// The SSM prefix the template gives the functions.
    pub fn ssm_prefix(&self) -> String {
        self.template.function_environment("LoadFunction")["LANDFALL_SSM_PREFIX"].clone()
    }

    /// Remove an SSM parameter (below the prefix), as an operator who forgot it would.
    pub async fn delete_parameter(&self, name: &str) {
        aws_sdk_ssm::Client::new(&self.sdk)
            .delete_parameter()
            .name(format!("{}{name}", self.ssm_prefix()))
            .send()
            .await
            .unwrap();
    }
}

fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

async fn admin_session(snow: &crate::snow::FakeSnow, database: &str) -> landfall_snowflake::SnowflakeWarehouse {
    landfall_snowflake::SnowflakeWarehouse::connect(landfall_snowflake::Config {
        account: "fakesnow".into(),
        user: "e2e_admin".into(),
        credentials: landfall_snowflake::Credentials::Password {
            password: "admin".into(),
        },
        role: None,
        warehouse: None,
        database: database.into(),
        base_url: Some(snow.url.clone()),
        stage: "raw.landing".into(),
        statement_timeout: Duration::from_secs(600),
    })
    .await
    .expect("login to fakesnow")
}

/// S3's EventBridge "Object Created" event, as the S3 user guide documents it.
pub fn object_created_event(bucket: &str, key: &str, size: usize, etag: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("e2e-{key}"),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-26T06:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag.trim_matches('"'), "sequencer": "617f08299329d189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject"
        }
    })
}
