//! The pipeline's error vocabulary: the four ASL error names of DESIGN.md §3, and
//! `Superseded`, the one way a run ends without publishing that is not a failure.
//!
//! Every failure the pipeline can produce is a [`PipelineError`] whose [`ErrorName`] is what a
//! state machine's `ErrorEquals` matches on. The name decides retries (only `Transient` is
//! retried); the message is one sentence a data engineer can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The error names the state machine knows (`Landfall.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorName {
    /// Network, throttling, warehouse busy, storage 5xx: worth retrying.
    #[serde(rename = "Landfall.Transient")]
    Transient,
    /// Missing file, wrong header, malformed CSV, bad execution input: retrying cannot help.
    #[serde(rename = "Landfall.BadInput")]
    BadInput,
    /// An error-severity data test failed: nothing is published.
    #[serde(rename = "Landfall.QualityGate")]
    QualityGate,
    /// Missing or wrong configuration or credentials, or a broken SQL project.
    #[serde(rename = "Landfall.Config")]
    Config,
    /// Not a failure: a newer batch (or a newer execution of the same batch) is, or is about
    /// to be, published; this run stops and publishes nothing (docs/decisions.md, ordering).
    #[serde(rename = "Landfall.Superseded")]
    Superseded,
    /// A warehouse state's statements outran the poll budget its ASL Parameters set; they are
    /// cancelled on the warehouse (crate::inflight).
    #[serde(rename = "Landfall.StatementTimeout")]
    StatementTimeout,
    /// Not a failure, never leaves a function: statements are still running on the warehouse
    /// and the state answers a handle to poll (crate::inflight).
    #[serde(rename = "Landfall.Pending")]
    Pending,
}

impl ErrorName {
    pub const ALL: [ErrorName; 7] = [
        Self::Transient,
        Self::BadInput,
        Self::QualityGate,
        Self::Config,
        Self::Superseded,
        Self::StatementTimeout,
        Self::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "Landfall.Transient",
            Self::BadInput => "Landfall.BadInput",
            Self::QualityGate => "Landfall.QualityGate",
            Self::Config => "Landfall.Config",
            Self::Superseded => "Landfall.Superseded",
            Self::StatementTimeout => "Landfall.StatementTimeout",
            Self::Pending => "Landfall.Pending",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one pipeline step, with the ASL error name and an actionable message.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("{name}: {message}")]
pub struct PipelineError {
    pub name: ErrorName,
    pub message: String,
    /// Structured detail for the failure path (e.g. the failing tests of a gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl PipelineError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
            details: None,
        }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Transient, message)
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorName::BadInput, message)
    }
    pub fn quality_gate(message: impl Into<String>) -> Self {
        Self::new(ErrorName::QualityGate, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Config, message)
    }
    pub fn superseded(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Superseded, message)
    }
    /// Attach structured detail (serialized) for whoever handles the failure.
    pub fn with_details(mut self, d: &impl Serialize) -> Self {
        self.details = serde_json::to_value(d).ok();
        self
    }
    /// Append a hint on what to do, when `cond` holds.
    pub fn with_hint_if(mut self, cond: bool, hint: &str) -> Self {
        if cond {
            self.message = format!("{} ({hint})", self.message);
        }
        self
    }
    /// Prefix the message with where it happened, keeping the name.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// A project the engine cannot load, render or compile is a configuration error.
impl From<landfall_dbt::ProjectError> for PipelineError {
    fn from(e: landfall_dbt::ProjectError) -> Self {
        Self::config(e.message)
    }
}
