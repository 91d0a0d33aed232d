//! An alert file as `Alerts`.

use async_trait::async_trait;
use landfall_core::alerts::{Alert, Alerts};
use landfall_core::{PipelineError, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// The local stand-in for SNS: one JSON object per line, appended.
pub struct AlertFile {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AlertFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Alerts for AlertFile {
    fn name(&self) -> &str {
        "alert-file"
    }
    async fn send(&self, alert: &Alert) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let line = serde_json::to_string(alert).expect("alert serializes");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| PipelineError::config(format!("alert file {}: {e}", self.path.display())))?;
        writeln!(f, "{line}").map_err(|e| PipelineError::transient(format!("alert file {}: {e}", self.path.display())))
    }
}
