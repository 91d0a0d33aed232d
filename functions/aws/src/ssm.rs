//! Credentials from SSM Parameter Store: SecureStrings under `/landfall/<env>/`, decrypted, read
//! once per container and read again after the warehouse refuses them. A missing parameter is
//! `Landfall.Config` naming the parameter; a value never appears in an error or a log.

use crate::sdk_error;
use aws_sdk_ssm::Client;
use landfall_core::{PipelineError, Result};
use std::collections::HashMap;
use tokio::sync::Mutex;

pub struct Secrets {
    client: Client,
    prefix: String,
    cache: Mutex<HashMap<String, String>>,
}

impl Secrets {
    /// `prefix` like `/landfall/prod/` (a trailing slash is added if missing).
    pub fn new(sdk: &aws_config::SdkConfig, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            client: Client::new(sdk),
            prefix,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn parameter_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The value of `<prefix><name>`, from the cache after the first read.
    pub async fn get(&self, name: &str) -> Result<String> {
        if let Some(v) = self.cache.lock().await.get(name) {
            return Ok(v.clone());
        }
        let full = self.parameter_name(name);
        let r = self
            .client
            .get_parameter()
            .name(&full)
            .with_decryption(true)
            .send()
            .await;
        let v = match r {
            Ok(o) => o
                .parameter()
                .and_then(|p| p.value())
                .map(str::to_string)
                .ok_or_else(|| PipelineError::config(format!("SSM parameter {full} has no value")))?,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_parameter_not_found()) => {
                return Err(PipelineError::config(format!(
                    "SSM parameter {full} does not exist: create it (see the README's deploy section)"
                )));
            }
            Err(e) => return Err(sdk_error(&format!("SSM GetParameter {full}"), e)),
        };
        self.cache.lock().await.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// Like [`Secrets::get`], but a missing parameter is `None` (optional settings).
    pub async fn get_optional(&self, name: &str) -> Result<Option<String>> {
        match self.get(name).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.message.contains("does not exist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Forget cached values (after an authentication failure), so the next read is fresh.
    pub async fn invalidate(&self) {
        self.cache.lock().await.clear();
    }
}
