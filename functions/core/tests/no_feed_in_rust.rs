//! The pipeline is the platform; the Netflix feed is a project it runs. No Rust code outside
//! tests and the sample-data generator names the flagship's files (`titles`, `credits`): the
//! landing contract and the report's charts come from the SQL project (crate::contract, the
//! report's charts module).

use std::path::{Path, PathBuf};

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            // Tests, examples and benches may use the flagship's data; the sample-data
            // generator (landfall-sample) makes it.
            if !["tests", "examples", "benches", "target", "sample"].contains(&name.as_str()) {
                rust_sources(&p, out);
            }
        } else if name.ends_with(".rs") && name != "generate.rs" {
            out.push(p);
        }
    }
}

#[test]
fn no_rust_code_names_the_flagship_feed() {
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_sources(&functions, &mut files);
    assert!(files.len() > 50, "the walk found the crates' sources: {}", files.len());
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // A module's unit tests come last, after `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            let lower = l.to_ascii_lowercase();
            if lower.contains("titles") || lower.contains("credits") {
                found.push(format!("{}:{}: {}", f.display(), i + 1, l));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the flagship feed is named in Rust:\n{}",
        found.join("\n")
    );
}
