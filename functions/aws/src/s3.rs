//! `Storage` on S3: a landing bucket with batches under `landing/<batch>/`.

use crate::{endpoint_overridden, sdk_error};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use landfall_core::storage::{ObjectInfo, Storage};
use landfall_core::{PipelineError, Result};

pub struct S3Landing {
    client: Client,
    bucket: String,
    prefix: String,
    region: String,
}

impl S3Landing {
    /// `prefix` is where batches land, e.g. `landing/`.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        // Emulators serve buckets by path, not by virtual host.
        let emulated = sdk.endpoint_url().is_some() || endpoint_overridden("S3");
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(emulated)
            .build();
        Self {
            client: Client::from_conf(conf),
            bucket: bucket.into(),
            prefix: prefix.into(),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Run reports go to `reports/<batch>/<run id>.html` in the landing bucket, next to (not under)
/// `landing/`, so a report never triggers a run.
#[async_trait]
impl landfall_core::reporting::ReportSink for S3Landing {
    async fn put(&self, batch: &str, run_id: &str, html: String) -> Result<String> {
        let key = format!("reports/{batch}/{run_id}.html");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("text/html; charset=utf-8")
            .body(html.into_bytes().into())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PUT s3://{}/{key}", self.bucket), e))?;
        Ok(report_console_link(&self.bucket, &self.region, &key))
    }
}

impl S3Landing {
    /// Every object under the landing prefix, with when it was written (for the scheduled look
    /// at half-landed and late batches).
    pub async fn list_landed(&self) -> Result<Vec<landfall_core::lateness::Landed>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("LIST s3://{}/{}", self.bucket, self.prefix), e))?;
            for o in r.contents() {
                if let (Some(key), Some(modified)) = (o.key(), o.last_modified()) {
                    out.push(landfall_core::lateness::Landed {
                        key: key.to_string(),
                        modified_ms: modified.to_millis().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match r.next_continuation_token() {
                Some(t) if r.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

/// The alert ledger in the landing bucket, under `alerts/` (outside `landing/`): an empty
/// object per delivered alert and channel. Looked up by listing the exact key, which the
/// notify role may do under `alerts/` only (a HEAD of a missing key needs an unconditioned
/// `s3:ListBucket` to answer 404 rather than 403).
#[async_trait]
impl landfall_core::alerts::Ledger for S3Landing {
    async fn seen(&self, key: &str) -> Result<bool> {
        let r = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("LIST s3://{}/{key}", self.bucket), e))?;
        Ok(r.contents().iter().any(|o| o.key() == Some(key)))
    }

    async fn record(&self, key: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(Vec::new().into())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PUT s3://{}/{key}", self.bucket), e))?;
        Ok(())
    }
}

/// The S3 console page of an object (opens for whoever may read the bucket; no presigned
/// credentials in alerts).
pub fn report_console_link(bucket: &str, region: &str, key: &str) -> String {
    format!("https://s3.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}")
}

#[async_trait]
impl Storage for S3Landing {
    /// By listing the exact key rather than a HEAD: a HEAD of a missing key answers 404 only to
    /// a role with an unconditioned `s3:ListBucket` (403 otherwise), while a listing works with
    /// `s3:ListBucket` granted under `landing/` alone, which is all the functions get.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let full = self.full_key(key);
        let r = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("LIST {}", self.url(key)), e))?;
        // Keys list in order, so the key itself comes before any longer one it prefixes.
        Ok(r.contents()
            .iter()
            .find(|o| o.key() == Some(full.as_str()))
            .map(|o| ObjectInfo {
                key: key.to_string(),
                url: self.url(key),
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                columns: vec![],
            }))
    }

    async fn read_prefix(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        let full = self.full_key(key);
        let o = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .range(format!("bytes=0-{}", len.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("GET {}", self.url(key)), e))?;
        let body = o
            .body
            .collect()
            .await
            .map_err(|e| PipelineError::transient(format!("reading {}: {e}", self.url(key))))?;
        let mut bytes = body.into_bytes().to_vec();
        bytes.truncate(len);
        Ok(bytes)
    }

    /// For Snowflake's external stage over `s3://<bucket>/<prefix>`: the path below the stage.
    fn load_location(&self, key: &str) -> String {
        key.to_string()
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.full_key(key))
    }
}
