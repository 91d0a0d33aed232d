//! The comparison test runs `landfall run`'s pipeline on DuckDB in-process: bake the prebuilt
//! libduckdb.so's directory into the test binary's rpath, as the CLI does.
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir.display());
    }
}
