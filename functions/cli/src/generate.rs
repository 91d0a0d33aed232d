//! `landfall generate` and `landfall demo`'s batch: the sample-data generator's front end
//! (landfall_core::generate writes the flagship feed's files).

use clap::Args;
use landfall_sample::{REAL_TITLES, generate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Landing folder; files go to OUT/BATCH/.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub batch: String,
    /// Number of titles (the real export has 6,137); about 13 credits each.
    #[arg(long, default_value_t = REAL_TITLES)]
    pub titles: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Working folder: landing/, the warehouse file and alerts.jsonl go here.
    #[arg(long, default_value = "landfall-demo")]
    pub dir: PathBuf,
    /// Number of titles to generate.
    #[arg(long, default_value_t = REAL_TITLES)]
    pub titles: usize,
    /// The SQL project (dbt-compatible folder).
    #[arg(long, env = "LANDFALL_PROJECT")]
    pub project: Option<PathBuf>,
}

/// `landfall generate`.
pub fn generate_cmd(a: &GenerateArgs) -> ExitCode {
    if let Err(e) = landfall_core::handlers::validate_batch(&a.batch) {
        return crate::usage_error(e.message);
    }
    let dir = a.out.join(&a.batch);
    match generate(&dir, a.titles, a.seed) {
        Ok(g) => {
            eprintln!(
                "wrote {} titles and {} credits to {}",
                g.titles,
                g.credits,
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => crate::usage_error(format!("cannot write to {}: {e}", dir.display())),
    }
}

/// The demo's batch, generated: its landing folder and batch id.
pub fn demo_batch(a: &DemoArgs) -> Result<(PathBuf, String), String> {
    let batch = "demo-1".to_string();
    let landing = a.dir.join("landing");
    generate(&landing.join(&batch), a.titles, 42).map_err(|e| format!("cannot write to {}: {e}", landing.display()))?;
    Ok((landing, batch))
}
