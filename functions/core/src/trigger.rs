//! The trigger: from S3's "Object Created" events to exactly one execution per batch version.
//!
//! S3 delivers events at least once and the files of a batch arrive separately, so the trigger
//! starts an execution only when every file the landing contract declares (crate::contract)
//! exists, under a name derived from the batch and all their ETags: every duplicate delivery
//! asks for the same name and Step Functions refuses a second execution with it; a re-upload
//! (new ETag) gets a new name.

use crate::contract::Contract;
use crate::error::Result;
use crate::handlers::validate_batch;
use crate::storage::{Storage, batch_key};
use async_trait::async_trait;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where batches land in the bucket (the EventBridge rule's prefix).
pub const LANDING_PREFIX: &str = "landing/";

/// A started (or already existing) execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub execution_arn: Option<String>,
    /// The execution existed already (a duplicate event): nothing new was started.
    pub already_existed: bool,
}

/// Something that starts state machine executions (Step Functions on AWS).
#[async_trait]
pub trait Executions: Send + Sync {
    async fn start(&self, name: &str, input: &Value) -> Result<Started>;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerOutcome {
    /// `ignored`, `waiting` (the other file is not there yet), `started`, `duplicate`.
    pub action: String,
    pub batch: Option<String>,
    pub execution_name: Option<String>,
    pub execution_arn: Option<String>,
    pub reason: String,
}

impl TriggerOutcome {
    pub fn ignored(reason: impl Into<String>) -> Self {
        Self {
            action: "ignored".into(),
            batch: None,
            execution_name: None,
            execution_arn: None,
            reason: reason.into(),
        }
    }
}

/// The batch and the landing file's name of a key (`landing/<batch>/<file>`, the file one
/// the contract declares), if it is one.
pub fn landing_file(contract: &Contract, key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix(LANDING_PREFIX)?;
    let (batch, object) = rest.split_once('/')?;
    let file = contract.by_object(object)?;
    if validate_batch(batch).is_err() {
        return None;
    }
    Some((batch.to_string(), file.name.clone()))
}

/// `<batch>-<10 hex of md5(etags)>`: legal for Step Functions (1–80 of `[A-Za-z0-9_-]`).
pub fn execution_name(batch: &str, etags: &[&str]) -> String {
    let mut h = Md5::new();
    for e in etags {
        h.update(e.trim_matches('"').as_bytes());
        h.update(b"|");
    }
    let digest = hex::encode(h.finalize());
    let b: String = batch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(68)
        .collect();
    format!("{b}-{}", &digest[..10])
}

/// One object S3 says was created (the key decoded), however the news arrived: EventBridge,
/// an S3 event notification, or one through SQS (`landfall_lambda::events` parses those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
}

/// Handle one created object: an execution when it completes its batch, under the name that
/// makes every duplicate delivery (in any wiring) ask for the same execution.
pub async fn on_object_created(
    contract: &Contract,
    storage: &dyn Storage,
    executions: &dyn Executions,
    bucket: &str,
    object: &ObjectCreated,
) -> Result<TriggerOutcome> {
    if object.bucket != bucket {
        return Ok(TriggerOutcome::ignored(format!(
            "bucket {} is not the landing bucket {bucket}",
            object.bucket
        )));
    }
    let key = &object.key;
    let Some((batch, _)) = landing_file(contract, key) else {
        return Ok(TriggerOutcome::ignored(format!(
            "{key} is not landing/<batch>/<file> for a declared file ({})",
            contract.objects()
        )));
    };
    let mut etags = Vec::new();
    for f in &contract.files {
        match storage.head(&batch_key(&batch, &f.file)).await? {
            Some(o) => etags.push(o.etag),
            None => {
                return Ok(TriggerOutcome {
                    action: "waiting".into(),
                    batch: Some(batch.clone()),
                    execution_name: None,
                    execution_arn: None,
                    reason: format!("{} of batch {batch} has not landed yet", f.file),
                });
            }
        }
    }
    let name = execution_name(&batch, &etags.iter().map(String::as_str).collect::<Vec<_>>());
    let input = serde_json::json!({"bucket": bucket, "batch": batch, "full_refresh": false});
    let started = executions.start(&name, &input).await?;
    Ok(TriggerOutcome {
        action: if started.already_existed {
            "duplicate"
        } else {
            "started"
        }
        .into(),
        batch: Some(batch),
        execution_name: Some(name),
        execution_arn: started.execution_arn,
        reason: if started.already_existed {
            "an execution with this name exists: same files, already started"
        } else {
            "every declared file present"
        }
        .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names() {
        let c = crate::contract::tests::two_files();
        assert_eq!(
            landing_file(&c, "landing/2026-11-26/titles.csv"),
            Some(("2026-11-26".into(), "titles".into()))
        );
        assert_eq!(landing_file(&c, "landing/2026-11-26/other.csv"), None);
        assert_eq!(landing_file(&c, "landing/2026-11-26/titles"), None);
        assert_eq!(landing_file(&c, "reports/2026-11-26/titles.csv"), None);
        assert_eq!(landing_file(&c, "landing/a/b/titles.csv"), None);
        let n = execution_name("2026.11.26", &["\"abc\"", "def"]);
        assert!(n.starts_with("2026_11_26-") && n.len() == 21, "{n}");
        assert_eq!(n, execution_name("2026.11.26", &["abc", "def"]));
        assert_ne!(n, execution_name("2026.11.26", &["abc", "xyz"]));
        assert!(execution_name(&"b".repeat(64), &["e"]).len() <= 80);
    }
}
