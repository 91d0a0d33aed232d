//! Embed the SQL project (`transform/`: models, macros, property files, seeds) in every Lambda
//! binary: a Lambda zip holds one executable, the models it runs must be the ones it was built
//! with, and every function learns the landing contract from it (the trigger too, which has no
//! `warehouse` feature: `sam build` builds each binary alone, so nothing here may depend on
//! another binary's features).

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("sql" | "yml" | "yaml" | "csv")
        ) {
            out.push(p);
        }
    }
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("project.rs");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../transform");
    let mut files = Vec::new();
    println!("cargo:rerun-if-changed={}", root.display());
    walk(&root, &mut files);
    let mut code = String::from(
        "/// The SQL project, as (path below transform/, contents).\npub static PROJECT_FILES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        code.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.canonicalize().unwrap().display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out, code).unwrap();
}
