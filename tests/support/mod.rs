//! Shared helpers for the end-to-end tests: a scratch folder with a landing area and a
//! warehouse, the `landfall` binary, and read-back of the warehouse.
#![allow(dead_code)]

use landfall_core::warehouse::{Table, Warehouse};
use landfall_duckdb::{DuckOptions, DuckWarehouse};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MARTS: [&str; 5] = [
    "genre_content_share",
    "titles_by_release_year",
    "top_actors_by_genre",
    "title_popularity",
    "data_health",
];

#[path = "datasets.rs"]
pub mod datasets;

pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../transform")
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

pub struct Outcome {
    pub code: i32,
    pub summary: Value,
    pub stdout: String,
    pub stderr: String,
}

impl Fixture {
    pub fn new() -> Self {
        let f = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(f.landing()).unwrap();
        f
    }
    pub fn landing(&self) -> PathBuf {
        self.dir.path().join("landing")
    }
    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("landfall.duckdb")
    }
    pub fn alerts(&self) -> PathBuf {
        self.dir.path().join("alerts.jsonl")
    }
    pub fn batch_dir(&self, batch: &str) -> PathBuf {
        self.landing().join(batch)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_landfall"));
        c.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LANDFALL_") {
                c.env_remove(k);
            }
        }
        c
    }

    /// `landfall generate` into the landing folder.
    pub fn generate(&self, batch: &str, titles: usize, seed: u64) {
        let out = self
            .cmd()
            .args(["generate", "--out"])
            .arg(self.landing())
            .args([
                "--batch",
                batch,
                "--titles",
                &titles.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Put the real export in as a batch (symlinks: nothing is copied); what is known of it.
    pub fn real_batch(&self, batch: &str) -> datasets::Landed {
        let real = datasets::real();
        let d = self.batch_dir(batch);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["titles.csv", "credits.csv"] {
            std::os::unix::fs::symlink(real.dir.join(f), d.join(f)).unwrap();
        }
        real
    }

    /// Generated files as a batch (the library's generator, as `landfall generate` runs it);
    /// what is known of them.
    pub fn generated_batch(&self, batch: &str, titles: usize, seed: u64) -> datasets::Landed {
        datasets::generated(&self.batch_dir(batch), titles, seed)
    }

    pub fn run_with(&self, batch: &str, extra: &[&str], env: &[(&str, &str)]) -> Outcome {
        self.run_project(batch, &project_dir(), extra, env)
    }

    /// [`run_with`](Self::run_with) on another SQL project.
    pub fn run_project(&self, batch: &str, project: &Path, extra: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut c = self.cmd();
        c.args(["run", "--json", "--landing"])
            .arg(self.landing())
            .args(["--batch", batch, "--warehouse"])
            .arg(self.warehouse())
            .arg("--alerts")
            .arg(self.alerts())
            .arg("--project")
            .arg(project)
            .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let summary = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        Outcome {
            code: out.status.code().unwrap_or(-1),
            summary,
            stdout,
            stderr,
        }
    }

    pub fn run(&self, batch: &str) -> Outcome {
        self.run_with(batch, &[], &[])
    }

    pub fn alerts_sent(&self) -> Vec<Value> {
        std::fs::read_to_string(self.alerts())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each alert line is one JSON object"))
            .collect()
    }

    pub fn query(&self, sql: &str) -> Table {
        query_file(&self.warehouse(), sql)
    }

    /// Every published mart, sorted, for before/after comparisons.
    pub fn marts_snapshot(&self) -> Vec<Table> {
        MARTS
            .iter()
            .map(|m| self.query(&format!("select * from marts.{m} order by all")))
            .collect()
    }

    pub fn raw_snapshot(&self) -> Vec<Table> {
        ["titles", "credits"]
            .iter()
            .map(|t| {
                self.query(&format!(
                    "select * exclude (_loaded_at) from raw.{t} order by _batch, _row_number"
                ))
            })
            .collect()
    }
}

/// Keep a CSV's header and the first `tenths` tenths of its data lines (a batch that shrank);
/// returns how many data lines stay.
pub fn keep_tenths(path: &Path, tenths: usize) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let keep = (lines.len() - 1) * tenths / 10;
    std::fs::write(path, lines[..=keep].join("\n") + "\n").unwrap();
    keep
}

pub fn query_file(path: &Path, sql: &str) -> Table {
    let wh = DuckWarehouse::open(path, &DuckOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(wh.query(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The names of a run's steps, in the summary's order.
pub fn step_names(o: &Outcome) -> Vec<String> {
    o.summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

pub fn assert_ok(o: &Outcome) {
    assert_eq!(
        o.code, 0,
        "landfall run failed:\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    assert_eq!(o.summary["status"], "succeeded");
    assert_eq!(o.summary["published"], true);
}

/// The names of the tests a run's summary lists as failing, in its order.
pub fn failing_test_names(o: &Outcome) -> Vec<String> {
    o.summary["failing_tests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The run failed with this error name, exit 1, published nothing, and alerted.
pub fn assert_failed(o: &Outcome, name: &str) -> String {
    assert_eq!(
        o.code, 1,
        "expected exit 1:\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    assert_eq!(o.summary["status"], "failed");
    assert_eq!(o.summary["published"], false);
    assert_eq!(o.summary["error"]["name"], name, "{}", o.stdout);
    o.summary["error"]["cause"].as_str().unwrap().to_string()
}

/// A copy of the flagship project in `dst` (its `target/` left out), to change for a test.
pub fn copy_project(dst: &Path) {
    fn copy(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap().flatten() {
            let name = e.file_name();
            if name == "target" || name == "logs" {
                continue;
            }
            let to = dst.join(&name);
            if e.path().is_dir() {
                copy(&e.path(), &to);
            } else {
                std::fs::copy(e.path(), to).unwrap();
            }
        }
    }
    copy(&project_dir(), dst);
}

/// Real dbt-core (the dbt virtualenv `make test` creates, or LANDFALL_DBT).
pub fn dbt() -> String {
    let dbt = std::env::var("LANDFALL_DBT")
        .unwrap_or_else(|_| format!("{}/.cache/landfall/venv-dbt/bin/dbt", std::env::var("HOME").unwrap()));
    assert!(
        std::path::Path::new(&dbt).is_file(),
        "dbt not found at {dbt}: run `make test` (it creates the dbt virtualenv) or set LANDFALL_DBT"
    );
    dbt
}

/// Real dbt with `args` on `project`, over `copy`: a copy of the fixture's warehouse (raw and
/// audit as landfall left them).
pub fn dbt_over_copy(
    dbt: &str,
    f: &Fixture,
    project: &std::path::Path,
    copy: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    std::fs::copy(f.warehouse(), copy).unwrap();
    dbt_on(dbt, f, project, copy, args)
}

/// Real dbt with `args` on `project`, over the warehouse file `copy` as it is (what an earlier
/// dbt command left there).
pub fn dbt_on(
    dbt: &str,
    f: &Fixture,
    project: &std::path::Path,
    copy: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    dbt_command(dbt, f, project, args)
        .arg("--target-path")
        .arg(f.dir.path().join("dbt-target"))
        .env("LANDFALL_DBT_DUCKDB_PATH", copy)
        .output()
        .unwrap()
}

/// Real dbt with `args` on `project`, its profile beside it, its logs in the fixture's folder.
fn dbt_command(dbt: &str, f: &Fixture, project: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(dbt);
    c.args(args)
        .arg("--project-dir")
        .arg(project)
        .arg("--profiles-dir")
        .arg(project)
        .arg("--log-path")
        .arg(f.dir.path().join("dbt-logs"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false");
    c
}

/// Real `dbt deps` on `project` (which takes neither a target path nor a warehouse): installs
/// its packages in its dbt_packages/, as a user does before `dbt build`.
pub fn dbt_deps(f: &Fixture, project: &Path) {
    let out = dbt_command(&dbt(), f, project, &["deps"]).output().unwrap();
    assert!(
        out.status.success(),
        "dbt deps failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`dbt_over_copy`] that must fail, its output saying `says`.
pub fn dbt_fails_saying(f: &Fixture, project: &Path, copy: &Path, args: &[&str], says: &str) {
    let out = dbt_over_copy(&dbt(), f, project, copy, args);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && log.contains(says),
        "dbt {args:?} should fail saying {says:?}:\n{log}"
    );
}

/// [`dbt_over_copy`] that must succeed, saying what dbt said when it does not.
pub fn dbt_ok(f: &Fixture, project: &Path, copy: &Path, args: &[&str]) {
    let out = dbt_over_copy(&dbt(), f, project, copy, args);
    assert!(
        out.status.success(),
        "dbt {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
