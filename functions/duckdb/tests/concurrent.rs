//! Several executions of the real state machine at once on one DuckDB warehouse, interleaved
//! state by state (tests/support/interleave.rs): every run builds in its own schemas and its
//! gate sees only its own rows; batches publish in order and an older one that finishes later
//! is superseded (unless forced); of two executions of one batch the newer wins; a run killed
//! between states leaves nothing another run mistakes for its own, and is marked failed when
//! Step Functions reports it dead or once it is past the execution timeout.

use landfall_core::build::build_schema;
use landfall_core::functions::ExecutionStatusChange;
use landfall_core::handlers::Deps;
use landfall_core::pipeline::{self, Observer, RunOptions, RunSummary, TaskHook};
use landfall_core::warehouse::Warehouse;
use landfall_core::{ErrorName, retention, succession};
use landfall_dbt::Project;
use landfall_duckdb::{DuckOptions, DuckWarehouse};
use landfall_local::AlertFile;
use landfall_local::LocalFolder;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[path = "../../../tests/support/interleave.rs"]
mod interleave;
use interleave::Script;

struct Quiet;
impl Observer for Quiet {}

struct Fixture {
    _dir: tempfile::TempDir,
    landing: PathBuf,
    alerts: PathBuf,
    wh: DuckWarehouse,
    storage: LocalFolder,
    project: Project,
    /// Titles per landed batch.
    titles: std::collections::BTreeMap<String, u64>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Fixture {
    /// Builds go to the file (not the in-memory catalog), as on Snowflake: the run's own
    /// schemas can be looked at, and swept.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let landing = dir.path().join("landing");
        let wh = DuckWarehouse::open(dir.path().join("w.duckdb"), &DuckOptions::default()).unwrap();
        Fixture {
            storage: LocalFolder::new(&landing),
            alerts: dir.path().join("alerts.jsonl"),
            project: Project::load(repo_root().join("transform")).unwrap(),
            landing,
            wh,
            titles: Default::default(),
            _dir: dir,
        }
    }

    /// Land a generated batch (sizes within the drift tests' ±20 % of each other).
    fn land(&mut self, batch: &str, titles: usize, seed: u64) {
        let g = landfall_sample::generate(&self.landing.join(batch), titles, seed).unwrap();
        self.titles.insert(batch.to_string(), g.titles as u64);
    }

    async fn run(&self, batch: &str, run_id: &str, hook: Arc<dyn TaskHook>, extra: Value) -> RunSummary {
        let alerts = AlertFile::new(&self.alerts);
        let settings = interleave::notify_settings(&alerts);
        let deps = Deps {
            warehouse: &self.wh,
            storage: &self.storage,
            project: &self.project,
        };
        let mut input = json!({"bucket": self.landing.to_string_lossy(), "batch": batch});
        for (k, v) in extra.as_object().into_iter().flatten() {
            input[k] = v.clone();
        }
        let options = RunOptions {
            run_id: Some(run_id.into()),
            hook: Some(hook),
            ..Default::default()
        };
        pipeline::run(deps, &settings, &input, &Quiet, &options).await.unwrap()
    }

    async fn scalar(&self, sql: &str) -> i64 {
        self.wh
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .scalar_i64()
    }

    async fn status(&self, run_id: &str) -> String {
        let t = self
            .wh
            .query(&format!("select status from audit.runs where run_id = '{run_id}'"))
            .await
            .unwrap();
        t.scalar().and_then(Value::as_str).unwrap_or("-").to_string()
    }

    fn alerts(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.alerts)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every published mart holds exactly what run `run_id` built.
    async fn published_from(&self, run_id: &str) {
        for m in self.project.models.iter().filter(|m| m.config.publish()) {
            let built = format!("{}.{}", build_schema("marts", run_id), m.name);
            let live = format!("marts.{}", m.name);
            let n = self.scalar(&format!("select count(*) from {live}")).await;
            assert_eq!(n, self.scalar(&format!("select count(*) from {built}")).await, "{live}");
            let differ = self
                .scalar(&format!(
                    "select count(*) from ((select * from {live} except all select * from {built}) union all (select * from {built} except all select * from {live}))"
                ))
                .await;
            assert_eq!(differ, 0, "{live} is not what {run_id} built");
        }
    }
}

/// Both executions, side by side, under a time limit that names the steps left.
async fn both(
    script: &Script,
    a: impl Future<Output = RunSummary>,
    b: impl Future<Output = RunSummary>,
) -> (RunSummary, RunSummary) {
    let a = async {
        let s = a.await;
        script.finish("A");
        s
    };
    let b = async {
        let s = b.await;
        script.finish("B");
        s
    };
    match tokio::time::timeout(Duration::from_secs(240), async { tokio::join!(a, b) }).await {
        Ok(r) => r,
        Err(_) => panic!("the executions did not end; steps left: {:?}", script.remaining()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_older_batch_finishing_after_a_newer_one_is_superseded_and_each_gate_sees_its_own_rows() {
    let mut f = Fixture::new();
    f.land("2026-11-25", 100, 1);
    f.land("2026-11-26", 110, 2);
    // A (the older batch) and B go state by state; B publishes first, then A reaches Publish.
    let s = interleave::lockstep("A", "B", &[("B", "Publish"), ("A", "Publish")]);
    let (a, b) = both(
        &s,
        f.run("2026-11-25", "run-a", s.player("A"), json!({})),
        f.run("2026-11-26", "run-b", s.player("B"), json!({})),
    )
    .await;
    assert!(s.remaining().is_empty(), "{:?}", s.remaining());
    assert_eq!(b.status, "succeeded", "{b:?}");
    assert_eq!(a.status, "superseded", "{a:?}");
    assert!(!a.published && a.error.is_none(), "{a:?}");
    // No state failed: nothing a Lambda's Errors metric (and its alarm) would count.
    assert!(a.steps.iter().all(|s| s.status == "succeeded"), "{:#?}", a.steps);
    assert!(a.steps.iter().any(|s| s.name == "NotifySuperseded"), "{:#?}", a.steps);
    let why = a.superseded.as_deref().unwrap();
    assert!(
        why.contains("batch '2026-11-26'") && why.contains("force_publish"),
        "{why}"
    );

    // Each run built from its own batch only, in its own schemas, and each gate passed on it.
    for (run, batch, summary) in [("run-a", "2026-11-25", &a), ("run-b", "2026-11-26", &b)] {
        let stg = format!("{}.stg_titles", build_schema("staging", run));
        assert_eq!(
            f.scalar(&format!("select count(*) from {stg}")).await as u64,
            f.titles[batch],
            "{run} staged its own titles"
        );
        assert_eq!(summary.loaded["titles"], f.titles[batch], "{run}");
        assert_eq!(summary.tests.failed, 0, "{run}: {:?}", summary.failing_tests);
        let health = format!("{}.data_health", build_schema("marts", run));
        assert_eq!(
            f.scalar(&format!(
                "select count(*) from {health} where run_id = '{run}' and batch = '{batch}'"
            ))
            .await,
            1,
            "{run}'s report mart is about itself"
        );
    }

    // Published: B's marts, whole; A recorded as superseded, and a notice (no failure alert).
    f.published_from("run-b").await;
    assert_eq!(f.scalar("select count(*) from audit.publishes").await, 1);
    assert_eq!(
        f.scalar("select count(*) from audit.publishes where active and run_id = 'run-b'")
            .await,
        1
    );
    assert_eq!(f.status("run-a").await, "superseded");
    assert_eq!(f.status("run-b").await, "succeeded");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["status"], "superseded");
    assert_eq!(alerts[0]["batch"], "2026-11-25");
    assert!(
        alerts[0]["cause"].as_str().unwrap().contains("2026-11-26"),
        "{alerts:?}"
    );
    // Both runs' batches stay in raw (each committed its own).
    assert_eq!(f.scalar("select count(distinct _batch) from raw.titles").await, 2);

    // The superseded run's schemas go once past the retention; the live run's stay.
    let swept = retention::sweep(&f.wh, 0).await.unwrap();
    assert_eq!(swept.dropped.len(), 3, "{swept:?}");
    assert!(
        swept
            .dropped
            .iter()
            .all(|s| s.ends_with(&landfall_core::build::build_tag("run-a"))),
        "{swept:?}"
    );
    let left =
        f.wh.query("select schema_name from information_schema.schemata where schema_name like 'build%' order by 1")
            .await
            .unwrap();
    assert_eq!(left.rows.len(), 3, "{left:?}");
    assert!(
        left.rows.iter().all(|r| r[0]
            .as_str()
            .unwrap()
            .ends_with(&landfall_core::build::build_tag("run-b"))),
        "{left:?}"
    );

    // Forced, the older batch publishes over the newer one (a deliberate correction).
    let s = Script::new(&[]);
    let forced = f
        .run("2026-11-25", "run-a2", s.player("A"), json!({"force_publish": true}))
        .await;
    assert_eq!(forced.status, "succeeded", "{forced:?}");
    f.published_from("run-a2").await;
    assert_eq!(
        f.scalar("select count(*) from audit.publishes where active and batch = '2026-11-25'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_newer_batch_replaces_an_older_one_that_published_first() {
    let mut f = Fixture::new();
    f.land("b9", 100, 3);
    f.land("b10", 105, 4);
    // b10 > b9 (digit runs compare as numbers): the older b9 publishes first, then b10 over it.
    let s = interleave::lockstep("B", "A", &[("A", "Publish"), ("B", "Publish")]);
    let (a, b) = both(
        &s,
        f.run("b9", "run-9", s.player("A"), json!({})),
        f.run("b10", "run-10", s.player("B"), json!({})),
    )
    .await;
    assert_eq!(
        (a.status.as_str(), b.status.as_str()),
        ("succeeded", "succeeded"),
        "{a:?} {b:?}"
    );
    f.published_from("run-10").await;
    assert_eq!(f.scalar("select count(*) from audit.publishes").await, 2);
    assert_eq!(
        f.scalar("select count(*) from audit.publishes where active and batch = 'b10'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_executions_of_one_batch_the_newer_wins_even_when_the_older_commits_first() {
    let mut f = Fixture::new();
    f.land("2026-11-26", 100, 5);
    // A commits the batch's raw rows and builds; B (started later: the files re-landed) loads
    // next to A's committed rows; A then reaches its gate and Publish; B commits and publishes.
    let s = Script::new(&[
        ("A", "ValidateInput"),
        ("A", "CheckFiles"),
        ("A", "LoadFile[titles]"),
        ("A", "LoadFile[credits]"),
        ("A", "BuildStaging"),
        ("B", "ValidateInput"),
        ("B", "CheckFiles"),
        ("B", "LoadFile[titles]"),
        ("B", "LoadFile[credits]"),
        ("A", "BuildIntermediate"),
        ("A", "BuildMarts"),
        ("A", "RunQualityChecks"),
        ("A", "Publish"),
        ("B", "BuildStaging"),
    ]);
    let (a, b) = both(
        &s,
        f.run("2026-11-26", "run-old", s.player("A"), json!({})),
        f.run("2026-11-26", "run-new", s.player("B"), json!({})),
    )
    .await;
    assert_eq!(b.status, "succeeded", "{b:?}");
    assert_eq!(a.status, "superseded", "{a:?}");
    assert!(a.superseded.as_deref().unwrap().contains("run-new"), "{a:?}");
    assert!(a.steps.iter().all(|s| s.status == "succeeded"), "{:#?}", a.steps);
    f.published_from("run-new").await;
    assert_eq!(f.status("run-old").await, "superseded");
    // raw holds the batch once: the newer execution's load.
    let loads =
        f.wh.query("select _load_id, count(*) from raw.titles where _batch = '2026-11-26' group by 1")
            .await
            .unwrap();
    assert_eq!(loads.rows.len(), 1, "{loads:?}");
    assert_eq!(loads.rows[0][0], json!("run-new"));
    assert_eq!(
        landfall_core::warehouse::as_i64(&loads.rows[0][1]).unwrap() as u64,
        f.titles["2026-11-26"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_between_states_leaves_nothing_another_run_takes_for_its_own() {
    let mut f = Fixture::new();
    f.land("2026-11-26", 100, 6);
    // A loads the batch (pending rows in raw), then is killed before BuildStaging.
    let s = Script::new(&[]);
    let killed = s.player("A").stop_at("BuildStaging");
    let reached = s.stopped.notified();
    let b_after_a = async {
        reached.await;
        f.run("2026-11-26", "run-2", s.player("B"), json!({})).await
    };
    let b = tokio::select! {
        _ = f.run("2026-11-26", "run-1", killed, json!({})) => unreachable!("A never gets past its stop"),
        b = b_after_a => b,
    };
    // B sees exactly its own batch; A's pending rows are gone with B's load.
    assert_eq!(b.status, "succeeded", "{b:?}");
    assert_eq!(b.loaded["titles"], f.titles["2026-11-26"]);
    f.published_from("run-2").await;
    assert_eq!(
        f.scalar("select count(*) from raw.titles where _load_id = 'run-1'")
            .await,
        0
    );
    assert_eq!(f.status("run-1").await, "running", "nothing told the warehouse yet");

    // Step Functions reports A aborted: the notify function marks it failed.
    let alerts = AlertFile::new(&f.alerts);
    let settings = interleave::notify_settings(&alerts);
    let change = ExecutionStatusChange {
        execution_arn: "arn:aws:states:eu-west-1:123456789012:execution:landfall:run-1".into(),
        name: "run-1".into(),
        status: "ABORTED".into(),
        input: Some(json!({"batch": "2026-11-26"}).to_string()),
        ..Default::default()
    };
    landfall_core::functions::notify_status_change(&settings, Some(&f.wh), &change)
        .await
        .unwrap();
    assert_eq!(f.status("run-1").await, "failed");
    assert_eq!(
        f.status("run-2").await,
        "succeeded",
        "an ended run is never marked dead"
    );

    // A run that died without any report is ended by the sweep once past the execution timeout.
    let s = Script::new(&[]);
    let reached = s.stopped.notified();
    let stopped = s.player("C").stop_at("BuildStaging");
    tokio::select! {
        _ = f.run("2026-11-26", "run-3", stopped, json!({})) => unreachable!(),
        _ = reached => {}
    }
    assert!(
        f.scalar("select count(*) from raw.titles where _load_id = 'run-3'")
            .await
            > 0
    );
    assert!(
        retention::sweep(&f.wh, 72).await.unwrap().abandoned.is_empty(),
        "run-3 is young"
    );
    f.wh.execute(&format!(
        "update audit.runs set started_at = started_at - interval '{} second' where run_id = 'run-3'",
        succession::EXECUTION_TIMEOUT_SECONDS + 60
    ))
    .await
    .unwrap();
    let swept = retention::sweep(&f.wh, 72).await.unwrap();
    assert_eq!(swept.abandoned, vec!["run-3".to_string()]);
    assert_eq!(f.status("run-3").await, "failed");
    assert_eq!(
        f.scalar("select count(*) from raw.titles where _load_id = 'run-3'")
            .await,
        0
    );
    f.published_from("run-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publish_at_a_time_and_a_dead_holders_lock_expires() {
    let f = Fixture::new();
    landfall_core::audit::ensure(&f.wh).await.unwrap();
    succession::acquire_publish_lock(&f.wh, "run-1").await.unwrap();
    succession::acquire_publish_lock(&f.wh, "run-1")
        .await
        .expect("re-entrant for a retried Publish");
    let e = succession::acquire_publish_lock(&f.wh, "run-2").await.unwrap_err();
    assert_eq!(e.name, ErrorName::Transient, "{e}");
    assert!(e.message.contains("run-1"), "{e}");
    succession::release_publish_lock(&f.wh, "run-2").await.unwrap();
    assert!(
        succession::acquire_publish_lock(&f.wh, "run-2").await.is_err(),
        "only the holder releases"
    );
    succession::release_publish_lock(&f.wh, "run-1").await.unwrap();
    succession::acquire_publish_lock(&f.wh, "run-2").await.unwrap();
    // run-2's Lambda dies holding it: past Publish's timeout the lock is free.
    f.wh.execute(&format!(
        "update audit.publish_lock set acquired_at = acquired_at - interval '{} second'",
        succession::PUBLISH_LOCK_TTL_SECONDS + 1
    ))
    .await
    .unwrap();
    succession::acquire_publish_lock(&f.wh, "run-3").await.unwrap();
    assert_eq!(
        f.scalar("select count(*) from audit.publish_lock where holder = 'run-3'")
            .await,
        1
    );
}
