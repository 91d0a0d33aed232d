//! The benchmark's Snowflake figures (`make bench`, bench/RESULTS.md): one batch through the
//! whole state machine on fakesnow, counting per state the requests sent to Snowflake
//! (statements, and the status polls and result fetches of asynchronous ones), the longest
//! chain of them that ran one after another, and the time the Lambda would be busy. Prints one
//! JSON document. With `--hold-polls N` one marts model's statement stays "running" for N
//! status polls (the fakesnow wrapper's hold): Lambda time should not grow with it.
//!
//! `cargo run -p landfall-snowflake --example roundtrips -- TITLES.csv CREDITS.csv [--hold-polls N]`

#[path = "../tests/support/staged.rs"]
mod staged;
#[path = "../tests/support/mod.rs"]
mod support;

use landfall_core::handlers::Deps;
use landfall_core::pipeline::{self, Observer, RunOptions, TaskHook};
use landfall_local::LocalFolder;
use landfall_snowflake::SnowflakeWarehouse;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Quiet;
impl Observer for Quiet {}

/// Per Task invocation: requests sent, their chain, and wall time. The two loads are run one
/// after the other here (in production they are a Parallel), so each invocation's count is its
/// own.
struct Meter {
    wh: Arc<SnowflakeWarehouse>,
    open: Mutex<Option<(String, u64, Instant)>>,
    invocations: Mutex<Vec<(String, u64, u64, u128)>>,
    held: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Meter {
    fn requests(&self) -> u64 {
        self.wh.statements_sent() + self.wh.follow_ups_sent()
    }
}

#[async_trait::async_trait]
impl TaskHook for Meter {
    async fn before(&self, state: &str) {
        let guard = self.lock.clone().lock_owned().await;
        *self.held.lock().unwrap() = Some(guard);
        self.wh.take_chain();
        *self.open.lock().unwrap() = Some((state.to_string(), self.requests(), Instant::now()));
    }
    async fn after(&self, _state: &str) {
        if let Some((s, n, t)) = self.open.lock().unwrap().take() {
            let state = landfall_core::inflight::polled_state(&s).to_string();
            self.invocations.lock().unwrap().push((
                state,
                self.requests() - n,
                self.wh.take_chain(),
                t.elapsed().as_millis(),
            ));
        }
        self.held.lock().unwrap().take();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (hold_polls, files): (Option<u64>, Vec<&String>) = match &args[..] {
        [t, c, flag, n] if flag == "--hold-polls" => (Some(n.parse().expect("--hold-polls N")), vec![t, c]),
        [t, c] => (None, vec![t, c]),
        _ => {
            eprintln!("usage: roundtrips TITLES.csv CREDITS.csv [--hold-polls N]");
            std::process::exit(2);
        }
    };
    let (titles, credits) = (files[0], files[1]);
    let fs = support::FakeSnow::start();
    let tmp = tempfile::tempdir().unwrap();
    let landing = tmp.path().join("landing");
    for b in ["2026-11-25", "2026-11-26"] {
        let batch = landing.join(b);
        std::fs::create_dir_all(&batch).unwrap();
        std::fs::copy(titles, batch.join("titles.csv")).unwrap();
        std::fs::copy(credits, batch.join("credits.csv")).unwrap();
    }
    let wh = Arc::new(staged::connect(&fs, "LANDFALL_BENCH").await);

    staged::stage_over(&wh, &landing).await;
    let storage = staged::StagedFolder(LocalFolder::new(&landing));
    let project = landfall_dbt::Project::load(support::repo_root().join("transform")).unwrap();
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
        invocations: Mutex::new(vec![]),
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
    // A first batch on the fresh warehouse creates the audit tables and the schemas; the
    // figures are the second's, a run as it goes every day.
    let first = pipeline::run(
        deps,
        &settings,
        &serde_json::json!({"bucket": "landing", "batch": "2026-11-25"}),
        &Quiet,
        &RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.status, "succeeded", "{first:#?}");
    let first_requests = wh.statements_sent() + wh.follow_ups_sent();
    if let Some(n) = hold_polls {
        staged::hold(&fs, "genre_content_share as", n, None).await;
    }
    let before = wh.statements_sent() + wh.follow_ups_sent();
    let statements_before = wh.statements_sent();
    let summary = pipeline::run(deps, &settings, &input, &Quiet, &options).await.unwrap();
    assert_eq!(summary.status, "succeeded", "{summary:#?}");
    let inv = meter.invocations.lock().unwrap().clone();
    let mut states: Vec<(String, u64, u64, u64, u128)> = Vec::new();
    for (state, requests, chain, ms) in &inv {
        match states.iter_mut().find(|s| &s.0 == state) {
            Some(s) => {
                s.1 += 1;
                s.2 += requests;
                s.3 += chain;
                s.4 += ms;
            }
            None => states.push((state.clone(), 1, *requests, *chain, *ms)),
        }
    }
    let total: u64 = states.iter().map(|s| s.2).sum();
    let chain_of = |name: &str| states.iter().find(|s| s.0 == name).map(|s| s.3).unwrap_or(0);
    // The loads are a Map in the state machine, side by side: the chain waits for the longer one.
    let chain: u64 =
        states.iter().map(|s| s.3).sum::<u64>() - chain_of("LoadFile[titles]").min(chain_of("LoadFile[credits]"));
    let busy: u128 = states.iter().map(|s| s.4).sum();
    let polls = inv.iter().filter(|i| i.0 == "BuildMarts").count() as u32 - 1;
    let doc = serde_json::json!({
        "requests": total,
        "statements": wh.statements_sent() - statements_before,
        "first_run_requests": first_requests,
        "requests_outside_states": wh.statements_sent() + wh.follow_ups_sent() - before - total,
        "sequential_chain": chain,
        "invocations": inv.len(),
        "lambda_busy_ms": busy,
        "held_polls": hold_polls,
        // The waits of BuildMarts' poll loop: 1 s doubling up to 60 s (statemachine.asl.json).
        "marts_waited_s": (1..=polls).map(|p| landfall_core::inflight::wait_seconds(p, 60)).sum::<u64>(),
        "states": states.iter().map(|(s, n, r, c, ms)| serde_json::json!({"state": s, "invocations": n, "requests": r, "chain": c, "ms": ms})).collect::<Vec<_>>(),
    });
    println!("{doc}");
}
