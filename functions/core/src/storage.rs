//! The `Storage` trait: where a batch's files land (S3 in landfall-aws, a folder in
//! landfall-local).
//!
//! The pipeline only ever asks storage three things: does a file exist (and its ETag), what
//! are its first bytes (to check the header before anything loads), and where can the
//! warehouse read it. The data itself never passes through the pipeline's process.

use crate::error::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub url: String,
    pub etag: String,
    pub size: u64,
    /// The header, once `CheckFiles` has read and checked it (empty before): the load states
    /// get it with the object, so no state reads the file's first bytes twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

#[async_trait]
pub trait Storage: Send + Sync {
    /// Metadata of an object, or `None` when it does not exist.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// The first `len` bytes of an object (fewer if it is shorter).
    async fn read_prefix(&self, key: &str, len: usize) -> Result<Vec<u8>>;
    /// The location the warehouse loads from (a path for DuckDB, a stage path for Snowflake).
    fn load_location(&self, key: &str) -> String;
    /// How people see the object in messages (`s3://…` or a path).
    fn url(&self, key: &str) -> String;
}

/// Key of a batch's file (`titles.csv`, crate::contract) relative to the landing root.
pub fn batch_key(batch: &str, object: &str) -> String {
    format!("{batch}/{object}")
}
