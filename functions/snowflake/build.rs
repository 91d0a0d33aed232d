//! One fakesnow test compares the Snowflake adapter with `landfall run`'s pipeline on DuckDB
//! in-process: bake the prebuilt libduckdb.so's directory into the test binaries' rpath, as
//! the CLI does (the library itself never links DuckDB).
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.into());
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir.display());
    }
}
