//! The world a warehouse Lambda runs in, on 127.0.0.1: moto (S3 landing bucket, SSM
//! credentials) and fakesnow (Snowflake), with the batch's files both in the bucket and in the
//! folder the Snowflake stage reads (real Snowflake reads the bucket itself through its
//! storage integration; fakesnow reads `file://` stages). Shared by the four binaries' tests
//! through `#[path]`, next to `aws/tests/support` (moto) and `snowflake/tests/support`
//! (fakesnow).
#![allow(dead_code)]

use crate::moto::Moto;
use crate::snow::FakeSnow;
use landfall_core::build::RunVars;
use landfall_core::handlers::{self, Deps};
use landfall_core::warehouse::Warehouse;
use landfall_lambda::emulator::{Answer, RuntimeApi};
use landfall_snowflake::{Config, Credentials, SnowflakeWarehouse};
use serde_json::{Value, json};
use std::time::Duration;

#[path = "../../../../tests/support/datasets.rs"]
pub mod datasets;
use datasets::Landed;

pub const BUCKET: &str = "landfall-landing";

pub struct WarehouseEnv {
    pub moto: Moto,
    pub snow: FakeSnow,
    pub database: String,
    pub stage_dir: tempfile::TempDir,
    pub sdk: aws_config::SdkConfig,
    /// The files every `land` puts in, and what is known of them.
    pub data: Landed,
    _generated: Option<tempfile::TempDir>,
}

impl WarehouseEnv {
    /// Moto and fakesnow up, the bucket and the SSM password in place, `batch` landed from
    /// generated files (1,500 titles).
    pub async fn start(database: &str, batch: &str) -> WarehouseEnv {
        let dir = tempfile::tempdir().unwrap();
        let data = datasets::generated(dir.path(), 1500, 3);
        Self::start_with(database, batch, data, Some(dir)).await
    }

    /// [`WarehouseEnv::start`] with the real export (`make conformance`).
    pub async fn start_real(database: &str, batch: &str) -> WarehouseEnv {
        Self::start_with(database, batch, datasets::real(), None).await
    }

    async fn start_with(
        database: &str,
        batch: &str,
        data: Landed,
        generated: Option<tempfile::TempDir>,
    ) -> WarehouseEnv {
        let moto = Moto::start().await;
        let snow = FakeSnow::start();
        let sdk = moto.sdk().await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        ssm.put_parameter()
            .name("/landfall/test/snowflake/password")
            .value("fakesnow-accepts-any-password")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        let env = WarehouseEnv {
            moto,
            snow,
            database: database.into(),
            stage_dir: tempfile::tempdir().unwrap(),
            sdk,
            data,
            _generated: generated,
        };
        env.land(batch).await;
        let wh = env.warehouse().await;
        wh.execute(&format!(
            "create schema if not exists raw;
             create or replace stage raw.landing url = 'file://{}/';",
            env.stage_dir.path().display()
        ))
        .await
        .unwrap();
        env
    }

    pub async fn land(&self, batch: &str) {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        );
        for f in ["titles", "credits"] {
            let body = std::fs::read(self.data.dir.join(format!("{f}.csv"))).unwrap();
            let dir = self.stage_dir.path().join(batch);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{f}.csv")), &body).unwrap();
            s3.put_object()
                .bucket(BUCKET)
                .key(format!("landing/{batch}/{f}.csv"))
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    }

    /// A session of our own, to set the stage up and to look at what a Lambda did.
    pub async fn warehouse(&self) -> SnowflakeWarehouse {
        SnowflakeWarehouse::connect(Config {
            account: "fakesnow".into(),
            user: "landfall".into(),
            credentials: Credentials::Password { password: "x".into() },
            role: None,
            warehouse: None,
            database: self.database.clone(),
            base_url: Some(self.snow.url.clone()),
            stage: "raw.landing".into(),
            statement_timeout: Duration::from_secs(600),
        })
        .await
        .unwrap()
    }

    /// What `template.yaml` sets for a warehouse Lambda, pointed at the emulators.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("LANDING_BUCKET", BUCKET),
            ("LANDFALL_ENV", "test"),
            ("SNOWFLAKE_ACCOUNT", "fakesnow"),
            ("SNOWFLAKE_USER", "landfall_pipeline"),
            ("SNOWFLAKE_ROLE", "LANDFALL_PIPELINE"),
            ("SNOWFLAKE_WAREHOUSE", "LANDFALL_WH"),
            ("SNOWFLAKE_DATABASE", self.database.as_str()),
            ("SNOWFLAKE_URL", self.snow.url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Run a Lambda binary on the Runtime API emulator for `events`, with `env` overrides.
    pub fn invoke(&self, binary: &str, events: Vec<Value>, overrides: &[(&str, &str)]) -> Vec<Answer> {
        self.invoke_with_logs(binary, events, overrides).0
    }

    /// [`WarehouseEnv::invoke`], also returning what the function logged on stdout.
    pub fn invoke_with_logs(
        &self,
        binary: &str,
        events: Vec<Value>,
        overrides: &[(&str, &str)],
    ) -> (Vec<Answer>, String) {
        let n = events.len();
        let api = RuntimeApi::start(events.iter().map(Value::to_string).collect());
        let mut vars = self.lambda_env();
        for (k, v) in overrides {
            vars.retain(|(x, _)| x != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut child = api.spawn(binary, &refs);
        let answers = api.wait_answers(n, Duration::from_secs(120));
        let _ = child.kill();
        let mut logs = String::new();
        if let Some(mut out) = child.stdout.take() {
            use std::io::Read;
            let _ = out.read_to_string(&mut logs);
        }
        let _ = child.wait();
        (answers, logs)
    }

    /// Each event in turn as the state machine runs a warehouse state: invoked, then invoked
    /// again while its answer is a handle (`pending`), resuming from the journal, until the
    /// answer is final. The final answers, and the logs of each event's last invocation.
    pub fn invoke_polled(&self, binary: &str, events: Vec<Value>, overrides: &[(&str, &str)]) -> (Vec<Answer>, String) {
        let mut finals = Vec::new();
        let mut logs = String::new();
        for mut event in events {
            let mut rounds = 0;
            loop {
                let (mut answers, l) = self.invoke_with_logs(binary, vec![event.clone()], overrides);
                let a = answers.remove(0);
                let pending = match &a {
                    Answer::Response { body, .. } => serde_json::from_str::<Value>(body)
                        .ok()
                        .and_then(|v| v.get("pending").cloned()),
                    _ => None,
                };
                match pending {
                    Some(p) if rounds < 50 => event["resume"] = p["journal"].clone(),
                    Some(_) => panic!("still pending after 50 polls: {event}"),
                    None => {
                        finals.push(a);
                        logs += &l;
                        break;
                    }
                }
                rounds += 1;
            }
        }
        (finals, logs)
    }

    /// The storage a Lambda sees: the landing bucket on moto.
    pub fn storage(&self) -> landfall_aws::s3::S3Landing {
        landfall_aws::s3::S3Landing::new(&self.sdk, BUCKET, landfall_core::trigger::LANDING_PREFIX)
    }

    /// Do in-process, with the same core functions, what the states before `upto`
    /// (`transform`, `quality` or `publish`) do.
    pub async fn run_until(&self, wh: &SnowflakeWarehouse, run: &RunVars, upto: &str) {
        let storage = self.storage();
        let project = landfall_lambda::project::embedded_project().unwrap();
        let deps = Deps {
            warehouse: wh,
            storage: &storage,
            project: &project,
        };
        landfall_core::audit::ensure(wh).await.unwrap();
        landfall_core::audit::run_started(wh, &run.run_id, &run.batch)
            .await
            .unwrap();
        let input = handlers::ExecutionInput {
            bucket: run.bucket.clone(),
            batch: run.batch.clone(),
            full_refresh: false,
            force_publish: false,
        };
        let files = handlers::check_files(deps, &input).await.unwrap();
        for f in &files.files {
            handlers::load_file(deps, run, &f.file, &f.object).await.unwrap();
        }
        if upto == "transform" {
            return;
        }
        for (i, layer) in ["staging", "intermediate", "marts"].into_iter().enumerate() {
            handlers::build_layer(deps, run, layer, i == 0).await.unwrap();
        }
        if upto == "quality" {
            return;
        }
        handlers::run_quality(deps, run).await.unwrap();
    }
}

pub fn run_vars(run_id: &str, batch: &str) -> RunVars {
    RunVars {
        run_id: run_id.into(),
        batch: batch.into(),
        full_refresh: false,
        bucket: BUCKET.into(),
        ..Default::default()
    }
}

pub fn run_json(run: &RunVars) -> Value {
    json!({"run_id": run.run_id, "batch": run.batch, "full_refresh": run.full_refresh, "bucket": run.bucket})
}

/// The body of a success answer, or a panic that shows what came back instead.
pub fn ok(a: &Answer) -> Value {
    match a {
        Answer::Response { body, .. } => serde_json::from_str(body).unwrap(),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The error type and body of an error answer.
pub fn err(a: &Answer) -> (String, String) {
    match a {
        Answer::Error { error_type, body, .. } => (error_type.clone(), body.clone()),
        other => panic!("expected an error, got {other:?}"),
    }
}
