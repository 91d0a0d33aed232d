//! The SQL project every Lambda embeds at build time (build.rs): the warehouse Lambdas run its
//! SQL, and every Lambda learns the landing contract from it (landfall_core::contract), the
//! trigger and the scheduled look at the landing area included.

use landfall_core::contract::Contract;
use landfall_core::project::Project;
use landfall_core::{PipelineError, Result};

include!(concat!(::std::env!("OUT_DIR"), "/project.rs"));

/// Write the embedded project to a private folder and load it.
pub fn embedded_project() -> Result<Project> {
    let dir = std::env::temp_dir().join(format!("landfall-transform-{}", std::process::id()));
    for (rel, text) in PROJECT_FILES {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(&dir))
            .and_then(|_| std::fs::write(&p, text))
            .map_err(|e| PipelineError::config(format!("writing the SQL project to {}: {e}", p.display())))?;
    }
    Project::load(&dir)
}

/// The embedded project's landing contract.
pub fn embedded_contract() -> Result<Contract> {
    Contract::of(&embedded_project()?)
}

#[cfg(test)]
mod tests {
    /// Whatever features the crate is built with (the trigger has none).
    #[test]
    fn every_binary_embeds_the_project_and_its_contract() {
        assert!(super::PROJECT_FILES.iter().any(|(p, _)| *p == "dbt_project.yml"));
        let c = super::embedded_contract().unwrap();
        assert!(!c.files.is_empty());
    }
}
