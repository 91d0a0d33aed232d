//! The deployed stack end to end on emulators (`make e2e`): files put into the landing bucket,
//! S3's events through the template's EventBridge rule to the trigger binary, the execution
//! started through the Step Functions API, the state machine invoking the six release Lambda
//! binaries as Step Functions does, Snowflake on fakesnow, alerts in SNS and Slack.

use landfall_core::warehouse::{Table, Warehouse};
use landfall_e2e::Stack;
use landfall_e2e::lambda::Outcome;
use serde_json::{Value, json};

#[path = "../../../tests/support/datasets.rs"]
mod datasets;
#[path = "../../../tests/support/shop.rs"]
mod shop;

const MARTS: [&str; 4] = [
    "genre_content_share",
    "titles_by_release_year",
    "top_actors_by_genre",
    "title_popularity",
];

/// A table's rows with values made comparable across engines (numbers to 6 decimals), sorted.
fn normalized(t: &Table) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Null => "NULL".to_string(),
                    Value::Number(n) => format!("{:.6}", n.as_f64().unwrap()),
                    Value::String(s) => match s.parse::<f64>() {
                        Ok(f) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-') => {
                            format!("{f:.6}")
                        }
                        _ => s.clone(),
                    },
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// The marts `landfall run` publishes on DuckDB for the same files (in-process, the same
/// pipeline the CLI runs).
async fn duckdb_marts(data: &datasets::Landed) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let root = landfall_e2e::stack::repo_root();
    duckdb_published(
        &root.join("transform"),
        &data.dir,
        &["titles.csv", "credits.csv"],
        &MARTS,
    )
    .await
}

/// What `project` publishes on DuckDB from the `files` in `dir`: each mart's columns and
/// normalized rows.
async fn duckdb_published(
    project: &std::path::Path,
    dir: &std::path::Path,
    files: &[&str],
    marts: &[&str],
) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    use landfall_core::alerts::FanOut;
    use landfall_core::handlers::Deps;
    use landfall_core::pipeline::{self, RunSettings};
    let tmp = tempfile::tempdir().unwrap();
    let landing = tmp.path().join("landing");
    let batch_dir = landing.join("2026-11-26");
    std::fs::create_dir_all(&batch_dir).unwrap();
    for f in files {
        std::fs::copy(dir.join(f), batch_dir.join(f)).unwrap();
    }
    let wh = landfall_duckdb::DuckWarehouse::open(tmp.path().join("w.duckdb"), &Default::default()).unwrap();
    let storage = landfall_local::LocalFolder::new(&landing);
    let project = landfall_dbt::Project::load(project).unwrap();
    let fan = FanOut(vec![]);
    let settings = RunSettings {
        pipeline: "landfall",
        environment: "e2e",
        alerts: &fan,
        secrets: vec![],
        notify_success: false,
        report_base: None,
        report_sink: None,
    };
    let deps = Deps {
        warehouse: &wh,
        storage: &storage,
        project: &project,
    };
    let input = json!({"bucket": landing.to_string_lossy(), "batch": "2026-11-26", "full_refresh": false});
    let summary = pipeline::run(deps, &settings, &input, &NoProgress, &Default::default())
        .await
        .unwrap();
    assert_eq!(summary.status, "succeeded", "{summary:?}");
    let mut out = Vec::new();
    for m in marts {
        let t = wh.query(&format!("select * from marts.{m}")).await.unwrap();
        out.push((t.columns.iter().map(|c| c.to_lowercase()).collect(), normalized(&t)));
    }
    out
}

struct NoProgress;
impl landfall_core::pipeline::Observer for NoProgress {}

fn generated(titles: usize, seed: u64) -> (tempfile::TempDir, datasets::Landed) {
    let dir = tempfile::tempdir().unwrap();
    let data = datasets::generated(dir.path(), titles, seed);
    (dir, data)
}

async fn land(stack: &Stack, batch: &str, data: &datasets::Landed, order: [&str; 2]) {
    for f in order {
        let body = std::fs::read(data.dir.join(f)).unwrap();
        stack.put(&format!("landing/{batch}/{f}"), &body).await;
    }
}

fn trigger_actions(stack: &Stack) -> Vec<String> {
    stack
        .deliveries()
        .iter()
        .filter(|d| d.function == "TriggerFunction")
        .flat_map(|d| match &d.outcome {
            Outcome::Ok(v) => v["outcomes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|o| o["action"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>(),
            other => vec![format!("{other:?}")],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_batch_runs_through_the_deployed_stack_and_publishes_what_duckdb_publishes() {
    let stack = Stack::start(&[("NotifySuccess", "true")]).await;
    let (_d, data) = generated(1200, 31);
    // Credits first: the order files land in does not matter.
    land(&stack, "2026-11-26", &data, ["credits.csv", "titles.csv"]).await;
    let execs = stack.settle().await;
    assert_eq!(
        trigger_actions(&stack),
        ["waiting", "started"],
        "{:#?}",
        stack.deliveries()
    );
    assert_eq!(execs.len(), 1, "{execs:#?}");
    let e = &execs[0];
    assert_eq!(e.status, "SUCCEEDED", "{e:#?}\n{}", stack.logs());
    assert!(e.name.starts_with("2026-11-26-"), "the trigger names it: {}", e.name);
    let states: Vec<&str> = e.states.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "ValidateInput",
        "CheckFiles",
        "LoadFile",
        "BuildStaging",
        "BuildIntermediate",
        "BuildMarts",
        "RunQualityChecks",
        "Publish",
        "NotifySuccess",
    ] {
        assert!(states.contains(&want), "{want} not entered: {states:?}");
    }
    assert!(e.states.iter().all(|s| s.status == "succeeded"), "{:#?}", e.states);

    // The marts in Snowflake are the marts `landfall run` publishes on DuckDB.
    let wh = stack.warehouse().await;
    let expected = duckdb_marts(&data).await;
    for (m, (cols, rows)) in MARTS.iter().zip(expected) {
        let t = wh.query(&format!("select * from marts.{m}")).await.unwrap();
        assert_eq!(
            t.columns.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>(),
            cols,
            "{m}"
        );
        assert_eq!(normalized(&t), rows, "{m}: Snowflake and DuckDB disagree");
    }
    // Audit rows: the run succeeded, both files loaded, one active publish.
    let run = wh
        .query(&format!("select status from audit.runs where run_id = '{}'", e.name))
        .await
        .unwrap();
    assert_eq!(run.scalar().and_then(Value::as_str), Some("succeeded"), "{run:?}");
    assert_eq!(
        wh.query(&format!("select count(*) from audit.loads where run_id = '{}'", e.name))
            .await
            .unwrap()
            .scalar_i64(),
        2
    );
    assert_eq!(
        wh.query("select count(*) from audit.publishes where active")
            .await
            .unwrap()
            .scalar_i64(),
        1
    );
    // The run report is in the bucket and the success notice links it, in SNS and Slack.
    let key = format!("reports/2026-11-26/{}.html", e.name);
    let keys = stack.keys("reports/").await;
    let report = stack.object(&key).await.unwrap_or_else(|| panic!("no {key}: {keys:?}"));
    assert!(String::from_utf8_lossy(&report).contains("<html"), "the report is HTML");
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "one success notice: {alerts:?}");
    assert!(alerts[0].contains(&key), "{}", alerts[0]);
    let posts = stack.slack.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].to_string().contains(&key), "{}", posts[0]);
    // The status change (SUCCEEDED) matches no alerting rule: notify heard nothing more.
    assert!(
        stack.deliveries().iter().all(|d| d.function != "NotifyFunction"),
        "{:#?}",
        stack.deliveries()
    );
}

/// Every published mart, for before/after comparisons.
async fn published(stack: &Stack) -> Vec<Vec<Vec<String>>> {
    let wh = stack.warehouse().await;
    let mut out = Vec::new();
    for m in MARTS {
        out.push(normalized(
            &wh.query(&format!("select * from marts.{m}")).await.unwrap(),
        ));
    }
    out
}

fn rewrite(path: &std::path::Path, edit: impl Fn(&str) -> String) -> Vec<u8> {
    edit(&std::fs::read_to_string(path).unwrap()).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_duplicate_deliveries_start_one_execution_and_a_reupload_replaces_the_batch() {
    let stack = Stack::start(&[]).await;
    let (_d, data) = generated(600, 32);
    // A key outside landing/ never reaches the trigger: the rule's pattern does not match it.
    stack.put("elsewhere/b1/titles.csv", b"id\n1\n").await;
    assert!(stack.deliveries().is_empty(), "{:#?}", stack.deliveries());
    land(&stack, "b1", &data, ["titles.csv", "credits.csv"]).await;
    // S3's two events as EventBridge delivered them, delivered again ten times each (EventBridge
    // delivers at least once), while the execution runs and after it ended.
    let events: Vec<Value> = stack.deliveries().iter().map(|d| d.event.clone()).collect();
    assert_eq!(events.len(), 2);
    for i in 0..10 {
        for e in &events {
            stack.deliver(e.clone()).await;
        }
        if i == 4 {
            stack.settle().await;
        }
    }
    let execs = stack.settle().await;
    assert_eq!(execs.len(), 1, "twenty duplicates, one execution: {execs:#?}");
    assert_eq!(execs[0].status, "SUCCEEDED", "{:#?}\n{}", execs[0], stack.logs());
    // The trigger cannot tell a duplicate from a start while the twin runs within a second of
    // its start (Step Functions answers both alike); after the execution ended, every
    // delivery is a duplicate (ExecutionAlreadyExists).
    let actions = trigger_actions(&stack);
    assert_eq!(actions.len(), 22, "{actions:?}");
    assert_eq!(actions[..2], ["waiting", "started"]);
    assert!(
        actions[2..].iter().all(|a| a == "duplicate" || a == "started"),
        "{actions:?}"
    );
    assert!(actions[12..].iter().all(|a| a == "duplicate"), "{actions:?}");

    // A re-upload of credits with a tenth fewer rows: a new batch version, a second execution,
    // and raw holds the new file's rows for the batch, not both.
    let credits = rewrite(&data.credits_csv(), |t| {
        let lines: Vec<&str> = t.lines().collect();
        let keep = lines.len() - lines.len() / 10;
        lines[..keep].join("\n") + "\n"
    });
    let rows = (credits.iter().filter(|&&b| b == b'\n').count() - 1) as i64;
    stack.put("landing/b1/credits.csv", &credits).await;
    let execs = stack.settle().await;
    assert_eq!(execs.len(), 2, "{execs:#?}");
    assert!(
        execs.iter().all(|e| e.status == "SUCCEEDED"),
        "{execs:#?}\n{}",
        stack.logs()
    );
    assert_ne!(execs[0].name, execs[1].name);
    let wh = stack.warehouse().await;
    let raw = wh
        .query("select count(*) from raw.credits where _batch = 'b1'")
        .await
        .unwrap()
        .scalar_i64();
    assert_eq!(raw, rows, "the re-upload replaced the batch's raw rows");
}

/// One alert in each channel for `execution`, naming the failed state, the error, the batch and
/// the execution's console link; returns the SNS text.
async fn one_alert_each(
    stack: &Stack,
    sns_seen: &mut usize,
    execution: &str,
    state: &str,
    error: &str,
    batch: &str,
) -> String {
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "exactly one SNS alert for {execution}: {alerts:#?}");
    let posts = stack.slack.posts();
    let slack: Vec<&Value> = posts.iter().skip(*sns_seen).collect();
    assert_eq!(slack.len(), 1, "exactly one Slack post for {execution}: {slack:#?}");
    *sns_seen += 1;
    let text = &alerts[0];
    for want in [state, error, batch, "console.aws.amazon.com/states", execution] {
        assert!(text.contains(want), "the SNS alert lacks {want}: {text}");
        assert!(
            slack[0].to_string().contains(want),
            "the Slack alert lacks {want}: {}",
            slack[0]
        );
    }
    text.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_alert_once_in_each_channel_and_transient_faults_are_retried() {
    let stack = Stack::start(&[]).await;
    let (_d, data) = generated(600, 33);
    land(&stack, "good", &data, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    assert_eq!(execs[0].status, "SUCCEEDED", "{:#?}\n{}", execs[0], stack.logs());
    let before = published(&stack).await;
    let mut slack_seen = stack.slack.posts().len();
    assert!(stack.alerts().await.is_empty(), "no success notice by default");

    // A wrong header: CheckFiles refuses the batch.
    stack
        .put(
            "landing/badhdr/credits.csv",
            &std::fs::read(data.credits_csv()).unwrap(),
        )
        .await;
    let titles = rewrite(&data.titles_csv(), |t| t.replacen("id,title,", "id,titel,", 1));
    stack.put("landing/badhdr/titles.csv", &titles).await;
    let execs = stack.settle().await;
    let e = execs.iter().find(|e| e.name.starts_with("badhdr-")).unwrap();
    assert_eq!(e.status, "FAILED");
    assert_eq!(e.error.as_deref(), Some("Landfall.PipelineFailed"));
    let text = one_alert_each(
        &stack,
        &mut slack_seen,
        &e.name,
        "CheckFiles",
        "Landfall.BadInput",
        "badhdr",
    )
    .await;
    assert!(
        text.contains("titles.csv") && text.contains("'title'"),
        "the cause names file and column: {text}"
    );
    assert_eq!(published(&stack).await, before, "the published marts are untouched");

    // A duplicated title id: the gate fails, nothing is published.
    let titles = rewrite(&data.titles_csv(), |t| {
        let second = t.lines().nth(1).unwrap().to_string();
        format!("{t}{second}\n")
    });
    stack.put("landing/dupid/titles.csv", &titles).await;
    stack
        .put("landing/dupid/credits.csv", &std::fs::read(data.credits_csv()).unwrap())
        .await;
    let execs = stack.settle().await;
    let e = execs.iter().find(|e| e.name.starts_with("dupid-")).unwrap();
    assert_eq!(e.status, "FAILED");
    one_alert_each(
        &stack,
        &mut slack_seen,
        &e.name,
        "RunQualityChecks",
        "Landfall.QualityGate",
        "dupid",
    )
    .await;
    assert_eq!(published(&stack).await, before, "the published marts are untouched");

    // A transient fault in the transform function for its first two invocations: the ASL's
    // retries (30 s, then 60 s at most, on the virtual clock) get it through.
    stack.functions["TransformFunction"].inject_fault("Landfall.Transient", 2);
    let (_d2, data2) = generated(600, 34);
    // (Named to sort after "good": an older batch id would not be published over it.)
    land(&stack, "next-flaky", &data2, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    let e = execs.iter().find(|e| e.name.starts_with("next-flaky-")).unwrap();
    assert_eq!(e.status, "SUCCEEDED", "{e:#?}\n{}", stack.logs());
    let staging = e.states.iter().find(|s| s.name == "BuildStaging").unwrap();
    assert_eq!(staging.attempts, 3, "{staging:?}");
    assert_eq!(staging.retry_delays_ms.len(), 2, "{staging:?}");
    assert!(stack.alerts().await.is_empty(), "a retried fault alerts no one");
    assert_ne!(published(&stack).await, before, "the new batch is published");
    // The status-change rule saw the two FAILED executions and alerted neither again.
    let notified: Vec<Outcome> = stack
        .deliveries()
        .into_iter()
        .filter(|d| d.function == "NotifyFunction")
        .map(|d| d.outcome)
        .collect();
    assert_eq!(notified.len(), 2, "{notified:#?}");
    for o in &notified {
        assert!(matches!(o, Outcome::Ok(v) if v["sent"] == json!(false)), "{o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_ssm_parameter_is_a_config_error_naming_it_with_no_secret_anywhere() {
    let stack = Stack::start(&[]).await;
    stack.delete_parameter("snowflake/password").await;
    let (_d, data) = generated(300, 35);
    land(&stack, "nossm", &data, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    let e = &execs[0];
    assert_eq!(e.status, "FAILED", "{e:#?}");
    let parameter = format!("{}snowflake/password", stack.ssm_prefix());
    let mut slack_seen = 0;
    let text = one_alert_each(
        &stack,
        &mut slack_seen,
        &e.name,
        "ValidateInput",
        "Landfall.Config",
        "nossm",
    )
    .await;
    assert!(
        text.contains(&parameter) || text.contains("snowflake/private_key"),
        "the cause names the parameter: {text}"
    );
    // No secret in any output: logs, alerts, the execution's record.
    let slack_path = stack.slack.url.rsplit_once("/services/").unwrap().1.to_string();
    let everything = format!(
        "{}\n{}\n{:?}\n{:?}",
        stack.logs(),
        text,
        stack.slack.posts(),
        stack.sfn.executions()
    );
    for secret in [landfall_e2e::stack::SNOWFLAKE_PASSWORD, slack_path.as_str()] {
        assert!(!everything.contains(secret), "a secret leaked: {secret}");
    }
}

/// The harness gives each function exactly what the template gives it: a template that forgets
/// a variable the load function needs fails the run, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_variable_the_template_forgets_fails_the_run_naming_it() {
    let text = std::fs::read_to_string(landfall_e2e::stack::repo_root().join("template.yaml")).unwrap();
    let load = text.find("  LoadFunction:").unwrap();
    let line = text[load..]
        .find("          SNOWFLAKE_DATABASE: !Ref SnowflakeDatabase\n")
        .unwrap()
        + load;
    let broken = format!(
        "{}{}",
        &text[..line],
        &text[line + "          SNOWFLAKE_DATABASE: !Ref SnowflakeDatabase\n".len()..]
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let stack = Stack::start_from(&path, &[]).await;
    assert!(
        !stack
            .template
            .function_environment("LoadFunction")
            .contains_key("SNOWFLAKE_DATABASE")
    );
    let (_d, data) = generated(200, 36);
    land(&stack, "novar", &data, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    assert_eq!(execs[0].status, "FAILED", "{:#?}", execs[0]);
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("Landfall.Config") && alerts[0].contains("SNOWFLAKE_DATABASE"),
        "{}",
        alerts[0]
    );
}

/// The four terminal statuses as EventBridge delivers them through the template's rule: an
/// execution that NotifyFailure alerted is not alerted again; one whose NotifyFailure failed,
/// a timed-out and an aborted one are alerted once; a success matches no alerting rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_terminal_status_is_alerted_at_most_once() {
    let stack = Stack::start(&[]).await;
    let record = |name: &str, status: &str, error: Option<&str>| landfall_e2e::sfn::ExecutionRecord {
        arn: format!("arn:aws:states:us-east-1:123456789012:execution:landfall-e2e:{name}"),
        name: name.into(),
        input: json!({"bucket": stack.bucket, "batch": name, "full_refresh": false}).to_string(),
        status: status.into(),
        start: 1.0,
        stop: Some(2.0),
        output: None,
        error: error.map(str::to_string),
        cause: error.map(|_| "the cause".to_string()),
        states: vec![],
    };
    let cases = [
        ("succeeded", "SUCCEEDED", None, 0),
        ("alerted", "FAILED", Some("Landfall.PipelineFailed"), 0),
        ("unalerted", "FAILED", Some("Landfall.AlertFailed"), 1),
        ("timedout", "TIMED_OUT", Some("States.Timeout"), 1),
        ("aborted", "ABORTED", None, 1),
    ];
    for (name, status, error, alerts) in cases {
        let event = landfall_e2e::sfn::status_change_event(&record(name, status, error), stack.sfn.arn());
        stack.deliver(event).await;
        let got = stack.alerts().await;
        assert_eq!(got.len(), alerts, "{status} {error:?}: {got:?}");
        if alerts == 1 {
            let state = format!("execution {}", status.to_lowercase());
            assert!(got[0].contains(name) && got[0].contains(&state), "{}", got[0]);
        }
    }
    // SUCCEEDED never reached notify (the rule's pattern has FAILED, TIMED_OUT, ABORTED).
    let notified: Vec<String> = stack
        .deliveries()
        .iter()
        .filter(|d| d.function == "NotifyFunction")
        .map(|d| d.event["detail"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(notified, ["alerted", "unalerted", "timedout", "aborted"]);
    assert_eq!(stack.slack.posts().len(), 3);
}

/// Slack down for a whole notify invocation: the invocation fails, the state machine retries
/// NotifyFailure, and the retry sends only to Slack. SNS has the alert once, Slack once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_alert_reaches_each_channel_once() {
    let stack = Stack::start(&[]).await;
    // The webhook client tries 4 times per invocation; all 4 of the first invocation fail.
    stack.slack.refuse_next(4);
    let (_d, data) = generated(200, 37);
    let titles = rewrite(&data.titles_csv(), |t| t.replacen("id,title,", "id,titel,", 1));
    stack.put("landing/slackdown/titles.csv", &titles).await;
    stack
        .put(
            "landing/slackdown/credits.csv",
            &std::fs::read(data.credits_csv()).unwrap(),
        )
        .await;
    let execs = stack.settle().await;
    let e = &execs[0];
    assert_eq!(e.status, "FAILED", "{e:#?}");
    let notify = e.states.iter().find(|s| s.name == "NotifyFailure").unwrap();
    assert_eq!(notify.attempts, 2, "the first notify failed on Slack: {notify:?}");
    let mut seen = 0;
    one_alert_each(
        &stack,
        &mut seen,
        &e.name,
        "CheckFiles",
        "Landfall.BadInput",
        "slackdown",
    )
    .await;
    let ledger = stack.keys(&format!("alerts/{}/", e.name)).await;
    assert_eq!(ledger.len(), 2, "one ledger entry per channel: {ledger:?}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The scheduled look at the landing area, on the template's schedule and thresholds (2 h,
/// 26 h): a feed that never delivered, a half-landed batch past its age, a feed gone quiet —
/// each alerted once in SNS and Slack, however often the schedule fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_landed_and_late_batches_are_alerted_once() {
    let stack = Stack::start(&[]).await;
    assert_eq!(stack.scheduled(), ["NotifyFunction"]);
    let t0 = now_ms();
    const H: u64 = 3_600_000;
    // Nothing has ever landed: late from the start, once.
    stack.tick(t0 + H).await;
    stack.tick(t0 + H + 60_000).await;
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("Landfall.Late") && alerts[0].contains("no complete batch has ever landed"),
        "{}",
        alerts[0]
    );
    // A complete batch runs; another lands only its titles.
    let (_d, data) = generated(200, 38);
    land(&stack, "good", &data, ["titles.csv", "credits.csv"]).await;
    stack.settle().await;
    stack
        .put("landing/half/titles.csv", &std::fs::read(data.titles_csv()).unwrap())
        .await;
    stack.tick(t0 + H + 120_000).await;
    assert!(stack.alerts().await.is_empty(), "nothing is half-landed for 2 h yet");
    stack.tick(t0 + 3 * H).await;
    stack.tick(t0 + 4 * H).await;
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    for want in ["Landfall.HalfLanded", "half", "titles.csv", "not credits.csv"] {
        assert!(alerts[0].contains(want), "{want}: {}", alerts[0]);
    }
    // 30 h later the feed is late (the last complete batch is `good`), once.
    stack.tick(t0 + 30 * H).await;
    stack.tick(t0 + 31 * H).await;
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("Landfall.Late") && alerts[0].contains("good"),
        "{}",
        alerts[0]
    );
    // Slack had the same three.
    let slack: Vec<String> = stack.slack.posts().iter().map(Value::to_string).collect();
    assert_eq!(
        slack.iter().filter(|p| p.contains("Landfall.Late")).count(),
        2,
        "{slack:#?}"
    );
    assert_eq!(
        slack.iter().filter(|p| p.contains("Landfall.HalfLanded")).count(),
        1,
        "{slack:#?}"
    );
}

/// An older batch landing after a newer one was published: through the real binaries its
/// execution ends `Superseded` (SUCCEEDED for Step Functions), `audit.runs` says so, the live
/// marts stay the newer batch's, and SNS and Slack get one notice each. Started by hand with
/// `force_publish`, the same batch publishes. An execution Step Functions reports aborted is
/// marked failed in `audit.runs` by the notify binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_older_batch_after_a_newer_one_is_superseded_and_publishes_only_when_forced() {
    let stack = Stack::start(&[]).await;
    let (_n, newer) = generated(300, 41);
    let (_o, older) = generated(280, 42);
    land(&stack, "2026-11-26", &newer, ["titles.csv", "credits.csv"]).await;
    let first = stack.settle().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, "SUCCEEDED", "{:#?}\n{}", first[0], stack.logs());
    let before = published(&stack).await;

    land(&stack, "2026-11-25", &older, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    let e = execs
        .iter()
        .find(|e| e.name.starts_with("2026-11-25-"))
        .expect("the older batch ran");
    assert_eq!(
        e.status,
        "SUCCEEDED",
        "superseded is not a failure: {e:#?}\n{}",
        stack.logs()
    );
    let states: Vec<&str> = e.states.iter().map(|s| s.name.as_str()).collect();
    assert!(
        states.contains(&"NotifySuperseded") && states.contains(&"Superseded"),
        "{states:?}"
    );
    assert!(!states.contains(&"NotifyFailure"), "{states:?}");
    assert_eq!(published(&stack).await, before, "the newer batch's marts stay live");
    let wh = stack.warehouse().await;
    let row = wh
        .query(&format!(
            "select status, error_cause from audit.runs where run_id = '{}'",
            e.name
        ))
        .await
        .unwrap();
    assert_eq!(row.rows[0][0], json!("superseded"), "{row:?}");
    assert!(row.rows[0][1].as_str().unwrap().contains("2026-11-26"), "{row:?}");
    let alerts = stack.alerts().await;
    assert_eq!(alerts.len(), 1, "one notice: {alerts:?}");
    assert!(
        alerts[0].contains("superseded") && alerts[0].contains("2026-11-25"),
        "{}",
        alerts[0]
    );
    assert_eq!(stack.slack.posts().len(), 1, "{:?}", stack.slack.posts());
    assert!(
        stack.deliveries().iter().all(|d| d.function != "NotifyFunction"),
        "no status-change alert for a SUCCEEDED execution"
    );

    // By hand, forced: the older batch is published over the newer one.
    let input = json!({"bucket": stack.bucket, "batch": "2026-11-25", "force_publish": true}).to_string();
    stack.sfn.start_execution("2026-11-25-forced", &input).unwrap();
    let execs = stack.settle().await;
    let forced = execs.iter().find(|e| e.name == "2026-11-25-forced").unwrap();
    assert_eq!(forced.status, "SUCCEEDED", "{forced:#?}\n{}", stack.logs());
    assert!(
        forced
            .states
            .iter()
            .any(|s| s.name == "Publish" && s.status == "succeeded"),
        "{forced:#?}"
    );
    assert_eq!(
        wh.query("select batch from audit.publishes where active")
            .await
            .unwrap()
            .scalar(),
        Some(&json!("2026-11-25"))
    );
    assert_ne!(published(&stack).await, before);

    // An execution killed while running: the notify binary marks it failed on ABORTED.
    wh.execute(
        "insert into audit.runs (run_id, batch, started_at, status, published) values ('killed-run', '2026-11-27', current_timestamp::timestamp, 'running', false)",
    )
    .await
    .unwrap();
    let record = landfall_e2e::sfn::ExecutionRecord {
        arn: "arn:aws:states:us-east-1:123456789012:execution:landfall-e2e:killed-run".into(),
        name: "killed-run".into(),
        input: json!({"bucket": stack.bucket, "batch": "2026-11-27"}).to_string(),
        status: "ABORTED".into(),
        start: 1.0,
        stop: Some(2.0),
        output: None,
        error: None,
        cause: None,
        states: vec![],
    };
    stack
        .deliver(landfall_e2e::sfn::status_change_event(&record, stack.sfn.arn()))
        .await;
    let status = wh
        .query("select status, error_cause from audit.runs where run_id = 'killed-run'")
        .await
        .unwrap();
    assert_eq!(status.rows[0][0], json!("failed"), "{status:?}\n{}", stack.logs());
}

/// Hold the next statement containing `contains` "running" for `polls` status polls (the
/// fakesnow wrapper's test control, infra/local/fakesnow_server.py).
async fn hold(stack: &Stack, contains: &str, polls: u64) {
    let r = reqwest::Client::new()
        .post(format!("{}/landfall/holds", stack.snow.url))
        .json(&json!({"contains": contains, "polls": polls}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// The statements submitted asynchronously whose first line ends with `.<model> as`.
async fn builds_of(stack: &Stack, model: &str) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/landfall/queries", stack.snow.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| {
            q["sql"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("create or replace table") && l.ends_with(&format!(".{model} as")))
        })
        .cloned()
        .collect()
}

/// Through the real binaries: a model build Snowflake works on for longer than the transform
/// Lambda's 300 s timeout is submitted once and polled by the state machine (Wait → Poll →
/// Choice on the virtual clock) until it finishes, and the batch publishes. One that is still
/// running past the state's budget is cancelled on Snowflake and alerted once per channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_statement_longer_than_the_lambda_timeout_publishes_and_one_past_its_budget_is_cancelled() {
    let stack = Stack::start(&[]).await;
    let (_d, data) = generated(300, 51);
    hold(&stack, "genre_content_share as", 12).await;
    land(&stack, "long", &data, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    let e = &execs[0];
    assert_eq!(e.status, "SUCCEEDED", "{e:#?}\n{}", stack.logs());
    let polls = e.states.iter().filter(|s| s.name == "PollBuildMarts").count();
    assert!(polls >= 12, "{polls} polls");
    let waited: u64 = e.states.iter().filter(|s| s.name == "WaitBuildMarts").count() as u64;
    assert_eq!(waited as usize, polls, "a Wait before every poll");
    let held = builds_of(&stack, "genre_content_share").await;
    assert_eq!(held.len(), 1, "submitted once: {held:?}");
    assert_eq!(held[0]["polls"], 12);
    assert_eq!(held[0]["status"], "SUCCESS");
    let wh = stack.warehouse().await;
    assert!(
        wh.query("select count(*) from marts.genre_content_share")
            .await
            .unwrap()
            .scalar_i64()
            > 0
    );
    let before = published(&stack).await;
    assert!(stack.alerts().await.is_empty());

    hold(&stack, "genre_content_share as", 1_000_000).await;
    let (_d2, data2) = generated(300, 52);
    land(&stack, "next-slow", &data2, ["titles.csv", "credits.csv"]).await;
    let execs = stack.settle().await;
    let e = execs.iter().find(|e| e.name.starts_with("next-slow-")).unwrap();
    assert_eq!(e.status, "FAILED", "{e:#?}");
    let mut seen = 0;
    let text = one_alert_each(
        &stack,
        &mut seen,
        &e.name,
        "BuildMarts",
        "Landfall.StatementTimeout",
        "next-slow",
    )
    .await;
    assert!(text.contains("budget of 3600 s"), "{text}");
    let held = builds_of(&stack, "genre_content_share").await;
    assert_eq!(held.len(), 2);
    assert_eq!(held[1]["status"], "ABORTED", "{held:?}");
    assert_eq!(held[1]["cancelled"], true);
    assert_eq!(published(&stack).await, before, "the published marts are untouched");
}

/// A team's own feed without rebuilding the binaries: the shop project (three semicolon
/// files, a quoted header, orders referring to customers) in a Lambda layer named by the
/// template's `ProjectLayerArn`. The trigger learns its three-file contract from the layer
/// (two files wait, the third starts), the release binaries load, build, test and publish it on
/// Snowflake exactly what `landfall run` publishes on DuckDB, and a malformed row is refused
/// as bad input naming the file, with one alert and the published mart untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_in_a_layer_runs_through_the_deployed_stack() {
    const LAYER: &str = "arn:aws:lambda:us-east-1:123456789012:layer:shop-feed:3";
    let opt = tempfile::tempdir().unwrap();
    shop::copy_shop_project(&opt.path().join("project"));
    let stack = Stack::start_with_layers(
        &landfall_e2e::stack::repo_root().join("template.yaml"),
        &[("ProjectLayerArn", LAYER)],
        &[(LAYER, opt.path())],
    )
    .await;
    let files = ["customers.csv", "orders.csv", "products.csv"];
    let samples = tempfile::tempdir().unwrap();
    shop::land_shop(samples.path(), 8);
    for f in files {
        stack
            .put(
                &format!("landing/b1/{f}"),
                &std::fs::read(samples.path().join(f)).unwrap(),
            )
            .await;
    }
    let execs = stack.settle().await;
    assert_eq!(
        trigger_actions(&stack),
        ["waiting", "waiting", "started"],
        "{:#?}",
        stack.deliveries()
    );
    assert_eq!(execs.len(), 1, "{execs:#?}");
    assert_eq!(execs[0].status, "SUCCEEDED", "{:#?}\n{}", execs[0], stack.logs());
    let loads = execs[0].states.iter().filter(|s| s.name == "LoadFile").count();
    assert_eq!(loads, 3, "one load per declared file: {:#?}", execs[0].states);

    let wh = stack.warehouse().await;
    let mart = || async {
        let t = wh.query("select * from marts.customer_revenue").await.unwrap();
        (
            t.columns.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>(),
            normalized(&t),
        )
    };
    let published = mart().await;
    let shop_project = landfall_e2e::stack::repo_root().join("tests/fixtures/shop");
    let expected = duckdb_published(&shop_project, samples.path(), &files, &["customer_revenue"]).await;
    assert_eq!(published.1.len(), 8);
    assert_eq!(vec![published.clone()], expected, "Snowflake and DuckDB disagree");

    // A row whose quote never closes: Snowflake's COPY refuses the file (CheckFiles reads
    // only the header on S3; the data never passes through a Lambda): LoadFile fails with
    // Landfall.BadInput naming it, once, not retried; one alert; nothing published.
    let mut slack_seen = stack.slack.posts().len();
    let mut customers = std::fs::read_to_string(samples.path().join("customers.csv")).unwrap();
    customers += "99;\"never closed;2026-01-01;true\n";
    stack.put("landing/b2/customers.csv", customers.as_bytes()).await;
    for f in &files[1..] {
        stack
            .put(
                &format!("landing/b2/{f}"),
                &std::fs::read(samples.path().join(f)).unwrap(),
            )
            .await;
    }
    let execs = stack.settle().await;
    let e = execs.iter().find(|e| e.name.starts_with("b2-")).unwrap();
    assert_eq!(e.status, "FAILED", "{e:#?}");
    let text = one_alert_each(&stack, &mut slack_seen, &e.name, "LoadRaw", "Landfall.BadInput", "b2").await;
    assert!(
        text.contains("landing/b2/customers.csv") && text.contains("Snowflake error 100065"),
        "the cause names the file and Snowflake's load error: {text}"
    );
    let attempts = e.states.iter().filter(|s| s.name == "LoadFile").count();
    assert_eq!(
        attempts, 3,
        "one attempt per file, the refused one not retried: {:#?}",
        e.states
    );
    assert_eq!(mart().await, published, "the published mart is untouched");
}
