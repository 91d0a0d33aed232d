//! Bake the directory of the prebuilt libduckdb.so into the binary's rpath, so `landfall`
//! (and its tests) run without LD_LIBRARY_PATH (see docs/decisions.md, "Linking DuckDB").
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
}
