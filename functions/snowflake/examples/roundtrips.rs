//! The benchmark's Snowflake figures (`make bench`, bench/RESULTS.md): one batch through the
//! whole state machine on fakesnow, counting per state the statements sent to Snowflake (each
//! at least one request) and the time the Lambda would be busy. Prints one JSON document.
//!
//! `cargo run -p landfall-snowflake --example roundtrips -- TITLES.csv CREDITS.csv`

#[path = "../tests/support/staged.rs"]
mod staged;
#[path = "../tests/support/mod.rs"]
mod support;

use landfall_core::handlers::Deps;
use landfall_core::pipeline::{self, Observer, RunOptions, TaskHook};
use landfall_core::storage::LocalFolder;
use landfall_snowflake::SnowflakeWarehouse;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Quiet;
impl Observer for Quiet {}

/// Per state: statements sent and wall time. The two loads are run one after the other here
/// (in production they are a Parallel), so each state's count is its own.
struct Meter {
    wh: Arc<SnowflakeWarehouse>,
    open: Mutex<Option<(String, u64, Instant)>>,
    states: Mutex<Vec<(String, u64, u128)>>,
    held: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait::async_trait]
impl TaskHook for Meter {
    async fn before(&self, state: &str) {
        let guard = self.lock.clone().lock_owned().await;
        *self.held.lock().unwrap() = Some(guard);
        *self.open.lock().unwrap() = Some((state.to_string(), self.wh.statements_sent(), Instant::now()));
    }
    async fn after(&self, _state: &str) {
        if let Some((s, n, t)) = self.open.lock().unwrap().take() {
            self.states
                .lock()
                .unwrap()
                .push((s, self.wh.statements_sent() - n, t.elapsed().as_millis()));
        }
        self.held.lock().unwrap().take();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [titles, credits] = &args[..] else {
        eprintln!("usage: roundtrips TITLES.csv CREDITS.csv");
        std::process::exit(2);
    };
    let fs = support::FakeSnow::start();
    let tmp = tempfile::tempdir().unwrap();
    let landing = tmp.path().join("landing");
    let batch = landing.join("2026-11-26");
    std::fs::create_dir_all(&batch).unwrap();
    std::fs::copy(titles, batch.join("titles.csv")).unwrap();
    std::fs::copy(credits, batch.join("credits.csv")).unwrap();
    let wh = Arc::new(staged::connect(&fs, "LANDFALL_BENCH").await);
    staged::stage_over(&wh, &landing).await;
    let storage = staged::StagedFolder(LocalFolder::new(&landing));
    let project = landfall_core::project::Project::load(support::repo_root().join("transform")).unwrap();
    let fan = landfall_core::alerts::FanOut(vec![]);
    let settings = landfall_core::functions::NotifySettings {
        pipeline: "landfall",
        environment: "bench",
        alerts: &fan,
        secrets: vec![],
        notify_success: false,
        report_base: None,
        report_sink: None,
    };
    let meter = Arc::new(Meter {
        wh: wh.clone(),
        open: Mutex::new(None),
        states: Mutex::new(vec![]),
        held: Mutex::new(None),
        lock: Arc::new(tokio::sync::Mutex::new(())),
    });
    let deps = Deps {
        warehouse: &*wh,
        storage: &storage,
        project: &project,
    };
    let input = serde_json::json!({"bucket": "landing", "batch": "2026-11-26"});
    let options = RunOptions {
        hook: Some(meter.clone()),
        ..Default::default()
    };
    let before = wh.statements_sent();
    let summary = pipeline::run(deps, &settings, &input, &Quiet, &options).await.unwrap();
    assert_eq!(summary.status, "succeeded", "{summary:#?}");
    let states = meter.states.lock().unwrap().clone();
    let total: u64 = states.iter().map(|s| s.1).sum();
    let of = |name: &str| states.iter().find(|s| s.0 == name).map(|s| s.1).unwrap_or(0);
    // The loads are a Parallel in the state machine: the chain waits for the longer one.
    let chain = total - of("LoadTitles").min(of("LoadCredits"));
    let busy: u128 = states.iter().map(|s| s.2).sum();
    let doc = serde_json::json!({
        "statements": total,
        "statements_outside_states": wh.statements_sent() - before - total,
        "sequential_chain": chain,
        "lambda_busy_ms": busy,
        "states": states.iter().map(|(s, n, ms)| serde_json::json!({"state": s, "statements": n, "ms": ms})).collect::<Vec<_>>(),
    });
    println!("{doc}");
}
