//! `landfall init DIR --from a.csv …`: scaffold a project from sample files
//! (landfall_scaffold), then load it as `landfall run` will, so a project that would not run is
//! reported here.

use clap::Args;
use landfall_core::contract::Contract;
use landfall_dbt::Project;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The new project's folder (must not exist, or be empty).
    pub dir: PathBuf,
    /// A sample file of the feed; give one per file of a batch.
    #[arg(long = "from", required = true)]
    pub from: Vec<PathBuf>,
}

pub fn init_cmd(args: &InitArgs) -> ExitCode {
    let done = landfall_scaffold::scaffold(&args.dir, &args.from).and_then(|s| {
        Project::load(&args.dir)
            .map_err(Into::into)
            .and_then(|p| Contract::of(&p))
            .map(|_| s)
    });
    match done {
        Ok(s) => {
            for f in &s.samples {
                let d = &f.dialect;
                println!(
                    "{}: table raw.{}, {} columns, {} sample rows, delimiter {:?}, quote {:?}, escape {:?}, header {}",
                    f.file,
                    f.table,
                    f.columns.len(),
                    f.rows,
                    d.delimiter as char,
                    d.quote as char,
                    d.escape as char,
                    d.header
                );
            }
            println!("wrote {} files to {}", s.files.len(), s.dir.display());
            let files: Vec<&str> = s.samples.iter().map(|f| f.file.as_str()).collect();
            println!(
                "next: put {} in LANDING/BATCH/, then `landfall run --project {} --landing LANDING --batch BATCH`",
                files.join(", "),
                s.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("landfall init: {}: {}", e.name.as_str(), e.message);
            ExitCode::from(if e.name == landfall_core::ErrorName::BadInput {
                1
            } else {
                2
            })
        }
    }
}
