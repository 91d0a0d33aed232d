//! `landfall init DIR --from a.csv …`: a new SQL project whose landing contract is the sample
//! files. Each sample's dialect is sniffed and written down explicitly, its header becomes the
//! contract's required columns, and it gets a `stg_` model that renames the columns to
//! snake_case, types those whose every sample value parses, and tests `not_null` where the
//! sample has no empty value. The project is dbt-compatible: real dbt parses it.
//!
//! Pure logic (`sniff`, `infer`, `render`) apart from the one function that reads the samples
//! and writes the files ([`scaffold`]).

mod infer;
mod render;
mod sniff;

pub use infer::{Column, ColumnType, infer_columns};
pub use render::{ProjectFiles, render_project};
pub use sniff::{Sniffed, sniff};

use landfall_core::{PipelineError, Result};
use std::path::{Path, PathBuf};

/// One sample file as the scaffold read it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The source table's name (the file's stem in snake_case): `orders` for `Orders.csv`.
    pub table: String,
    /// The object's name in a batch's folder: `Orders.csv`.
    pub file: String,
    pub dialect: landfall_core::csvcheck::Dialect,
    pub columns: Vec<Column>,
    pub rows: u64,
}

/// What [`scaffold`] wrote.
#[derive(Debug)]
pub struct Scaffolded {
    pub dir: PathBuf,
    pub samples: Vec<Sample>,
    pub files: Vec<PathBuf>,
}

/// Read each sample (checked by Landfall's own CSV check in its sniffed dialect: a malformed
/// sample is `Landfall.BadInput` naming file, line and column) and write the project into
/// `dir`, which must not exist or be empty.
pub fn scaffold(dir: &Path, samples: &[PathBuf]) -> Result<Scaffolded> {
    if samples.is_empty() {
        return Err(PipelineError::config(
            "landfall init needs at least one --from FILE.csv",
        ));
    }
    if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(PipelineError::config(format!(
            "{}: exists and is not empty; landfall init writes a new project",
            dir.display()
        )));
    }
    let mut read = Vec::new();
    for path in samples {
        let bytes = std::fs::read(path)
            .map_err(|e| PipelineError::bad_input(format!("{}: cannot be read: {e}", path.display())))?;
        read.push(read_sample(path, &bytes)?);
    }
    let mut tables: Vec<&str> = read.iter().map(|s| s.table.as_str()).collect();
    tables.sort();
    if let Some(w) = tables.windows(2).find(|w| w[0] == w[1]) {
        return Err(PipelineError::config(format!(
            "two samples make the table '{}': rename one file",
            w[0]
        )));
    }
    let name = sniff::snake(
        &dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "feed".into()),
    );
    let project = render_project(&name, &read);
    let mut files = Vec::new();
    for (rel, text) in &project.files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| PipelineError::config(format!("{}: cannot be created: {e}", parent.display())))?;
        }
        std::fs::write(&p, text)
            .map_err(|e| PipelineError::config(format!("{}: cannot be written: {e}", p.display())))?;
        files.push(p);
    }
    Ok(Scaffolded {
        dir: dir.to_path_buf(),
        samples: read,
        files,
    })
}

/// One sample's contract: its dialect, columns and types.
pub fn read_sample(path: &Path, bytes: &[u8]) -> Result<Sample> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| PipelineError::config(format!("{}: not a file name", path.display())))?;
    let display = path.display().to_string();
    let sniffed = sniff(&display, bytes)?;
    let shape = landfall_core::csvcheck::check_csv(&display, bytes, &sniffed.dialect)?;
    let columns = infer_columns(bytes, &sniffed)?;
    let stem = file.rsplit_once('.').map_or(file.as_str(), |(s, _)| s);
    Ok(Sample {
        table: sniff::snake(stem),
        file,
        dialect: sniffed.dialect,
        columns,
        rows: shape.rows,
    })
}
