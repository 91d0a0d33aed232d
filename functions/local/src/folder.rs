//! A landing folder as `Storage`: `<root>/<batch>/<file>`.

use async_trait::async_trait;
use landfall_core::storage::{ObjectInfo, Storage};
use landfall_core::{PipelineError, Result};
use std::path::{Path, PathBuf};

/// A local landing folder: `<root>/<batch>/<file>`.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
}

impl LocalFolder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl Storage for LocalFolder {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(key);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                // A cheap stand-in for S3's ETag: changes whenever the file is rewritten.
                Ok(Some(ObjectInfo {
                    key: key.to_string(),
                    url: self.url(key),
                    etag: format!("{:x}-{:x}", m.len(), mtime),
                    size: m.len(),
                    columns: vec![],
                }))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PipelineError::transient(format!("{}: {e}", path.display()))),
        }
    }

    async fn read_prefix(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        use std::io::Read;
        let path = self.path(key);
        let f = std::fs::File::open(&path).map_err(|e| PipelineError::bad_input(format!("{}: {e}", path.display())))?;
        let mut buf = Vec::with_capacity(len.min(1 << 20));
        f.take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| PipelineError::transient(format!("{}: {e}", path.display())))?;
        Ok(buf)
    }

    fn load_location(&self, key: &str) -> String {
        self.path(key).to_string_lossy().into_owned()
    }

    fn url(&self, key: &str) -> String {
        self.path(key).to_string_lossy().into_owned()
    }
}
