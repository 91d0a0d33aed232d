//! The engine's one error: a project it cannot load, render or compile, said in one sentence
//! naming the file (and line where there is one). The pipeline reports it as a configuration
//! error (`Landfall.Config`): nothing a retry would mend.

use crate::introspect::Ask;

/// What is wrong with the project, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProjectError {
    pub message: String,
    /// The render stopped at a question for the warehouse (crate::introspect): not an error
    /// of the project, but the caller's cue to answer it and render again.
    pub unanswered: Option<Box<Ask>>,
}

impl ProjectError {
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unanswered: None,
        }
    }
}

pub type Result<T, E = ProjectError> = std::result::Result<T, E>;
