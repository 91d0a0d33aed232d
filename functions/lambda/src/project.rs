//! The SQL project the Lambdas run: the one embedded at build time (build.rs), or, when
//! `LANDFALL_PROJECT_DIR` is set (the template sets it to `/opt/project` when a
//! `ProjectLayerArn` is given), the project in that folder, so a team ships its own feed as a
//! Lambda layer without rebuilding the binaries. The warehouse Lambdas run its SQL, and every
//! Lambda learns the landing contract from it (landfall_core::contract), the trigger and the
//! scheduled look at the landing area included: all of them read the same variable, so they
//! agree on the contract.

use landfall_core::contract::Contract;
use landfall_core::{PipelineError, Result};
use landfall_dbt::Project;

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
    Ok(Project::load(&dir)?)
}

/// The folder `LANDFALL_PROJECT_DIR` names, if set and not empty.
fn project_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("LANDFALL_PROJECT_DIR")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// The project this deployment runs: `LANDFALL_PROJECT_DIR`'s, else the embedded one.
pub fn deployed_project() -> Result<Project> {
    match project_dir() {
        Some(dir) => Project::load(&dir).map_err(|e| {
            PipelineError::config(format!(
                "the SQL project in LANDFALL_PROJECT_DIR ({}): {}",
                dir.display(),
                e.message
            ))
        }),
        None => embedded_project(),
    }
}

/// The deployed project's landing contract.
pub fn deployed_contract() -> Result<Contract> {
    Contract::of(&deployed_project()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Whatever features the crate is built with (the trigger has none).
    #[test]
    fn every_binary_embeds_the_project_and_its_contract() {
        assert!(super::PROJECT_FILES.iter().any(|(p, _)| *p == "dbt_project.yml"));
        let c = Contract::of(&super::embedded_project().unwrap()).unwrap();
        assert!(!c.files.is_empty());
    }
}
