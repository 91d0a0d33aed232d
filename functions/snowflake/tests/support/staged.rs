//! A session on fakesnow and the landing stage over a local folder, as the Snowflake tests and
//! the round-trip benchmark open them (with `support`, beside it).
#![allow(dead_code)]

use crate::support::FakeSnow;
use landfall_core::Result;
use landfall_core::storage::{ObjectInfo, Storage};
use landfall_core::warehouse::Warehouse;
use landfall_local::LocalFolder;
use landfall_snowflake::{Config, Credentials, SnowflakeWarehouse};
use std::path::Path;
use std::time::Duration;

/// The landing folder as an external stage sees it: the warehouse reads keys below the stage.
pub struct StagedFolder(pub LocalFolder);

#[async_trait::async_trait]
impl Storage for StagedFolder {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        self.0.head(key).await
    }
    async fn read_prefix(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        self.0.read_prefix(key, len).await
    }
    fn load_location(&self, key: &str) -> String {
        key.to_string()
    }
    fn url(&self, key: &str) -> String {
        self.0.url(key)
    }
}

pub async fn connect(fs: &FakeSnow, database: &str) -> SnowflakeWarehouse {
    SnowflakeWarehouse::connect(Config {
        account: "fakesnow".into(),
        user: "landfall".into(),
        credentials: Credentials::Password {
            password: "not-a-real-secret".into(),
        },
        role: Some("LANDFALL_PIPELINE".into()),
        warehouse: Some("LANDFALL_WH".into()),
        database: database.into(),
        base_url: Some(fs.url.clone()),
        stage: "raw.landing".into(),
        statement_timeout: Duration::from_secs(600),
    })
    .await
    .expect("login to fakesnow")
}

/// What `infra/snowflake/setup.sql` creates for the pipeline, with the stage on a local folder
/// (fakesnow reads `file://` stages; the real one is `s3://` through a storage integration).
pub async fn stage_over(wh: &SnowflakeWarehouse, landing: &Path) {
    wh.execute(&format!(
        "create schema if not exists raw;
         create or replace stage raw.landing url = 'file://{}/';",
        landing.display()
    ))
    .await
    .unwrap();
}

/// Hold the next statement containing `contains` "running" for `polls` status polls (the
/// fakesnow wrapper's test control, infra/local/fakesnow_server.py); then it runs, or fails
/// with `error` = (Snowflake error code, message) without running.
pub async fn hold(fs: &FakeSnow, contains: &str, polls: u64, error: Option<(&str, &str)>) {
    let body = serde_json::json!({
        "contains": contains,
        "polls": polls,
        "error": error.map(|(code, message)| serde_json::json!({"code": code, "message": message})),
    });
    let r = reqwest::Client::new()
        .post(format!("{}/landfall/holds", fs.url))
        .json(&body)
        .send()
        .await
        .expect("the fakesnow wrapper answers");
    assert!(r.status().is_success(), "{}", r.status());
}

/// Every statement submitted asynchronously so far: `id`, `sql`, `polls`, `status`, `cancelled`.
pub async fn async_statements(fs: &FakeSnow) -> Vec<serde_json::Value> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/landfall/queries", fs.url))
        .send()
        .await
        .expect("the fakesnow wrapper answers")
        .json()
        .await
        .unwrap();
    v["queries"].as_array().cloned().unwrap_or_default()
}
