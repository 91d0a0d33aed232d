//! `landfall`: the pipeline on a laptop — a landing folder, an embedded DuckDB warehouse and an
//! alert file stand in for S3, Snowflake and SNS; the handlers are the ones the Lambdas run.
//!
//! Exit codes: 0 the batch was published (or the command did its job), 1 the pipeline failed
//! (an alert was sent), 2 usage or configuration errors, 3 the run was superseded (a newer
//! batch is published: nothing published, nothing failed).

mod generate;
mod init;
mod progress;
mod watch;

use clap::{Parser, Subcommand};
use landfall_core::alerts::{Alerts, FanOut};
use landfall_core::handlers::Deps;
use landfall_core::pipeline::{self, RunSettings};
use landfall_core::{PipelineError, publish};
use landfall_dbt::Project;
use landfall_duckdb::{DuckOptions, DuckWarehouse};
use landfall_local::{AlertFile, LocalFolder};
use landfall_slack::SlackWebhook;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "landfall",
    version,
    about = "Event-driven ELT: CSV landing files → warehouse → tested, published marts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct WarehouseArgs {
    /// The DuckDB warehouse file.
    #[arg(long, default_value = "landfall.duckdb", env = "LANDFALL_WAREHOUSE")]
    warehouse: PathBuf,
    /// DuckDB memory limit, e.g. 1GB (spills to disk beyond it).
    #[arg(long, env = "LANDFALL_MEMORY_LIMIT")]
    memory_limit: Option<String>,
    /// DuckDB worker threads per statement (default: all cores; one for a small batch, with
    /// statements side by side).
    #[arg(long, env = "LANDFALL_THREADS")]
    threads: Option<usize>,
    /// Append every SQL statement run to this file (replay it with `landfall replay`).
    #[arg(long, env = "LANDFALL_SQL_LOG")]
    sql_log: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Landing folder; a batch's files are DIR/BATCH/<file> for each file of the project's landing contract.
    #[arg(long)]
    landing: PathBuf,
    /// Batch id (e.g. 2026-11-26).
    #[arg(long)]
    batch: String,
    #[command(flatten)]
    wh: WarehouseArgs,
    /// Append one JSON object per alert to this file (the local stand-in for SNS).
    #[arg(long, env = "LANDFALL_ALERTS")]
    alerts: Option<PathBuf>,
    /// Print exactly one JSON document (the run summary) on stdout.
    #[arg(long)]
    json: bool,
    /// Rebuild incremental models from scratch.
    #[arg(long)]
    full_refresh: bool,
    /// Publish even over marts of a newer batch (the input's `force_publish`).
    #[arg(long)]
    force_publish: bool,
    /// The SQL project (dbt-compatible folder).
    #[arg(long, env = "LANDFALL_PROJECT")]
    project: Option<PathBuf>,
    /// Environment name shown in alerts.
    #[arg(long, env = "LANDFALL_ENV", default_value = "local")]
    env: String,
    /// Also send an alert when the run succeeds.
    #[arg(long)]
    notify_success: bool,
    /// Wait the state machine's Wait and Retry delays for real (default: report them, skip them).
    #[arg(long)]
    real_time: bool,
    /// Run this state machine definition instead of the built-in statemachine.asl.json.
    #[arg(long, env = "LANDFALL_STATE_MACHINE")]
    state_machine: Option<PathBuf>,
    /// Keep every model as built in the warehouse file's build schemas (default: only the
    /// quarantine after a successful run; everything after a failed one, to inspect).
    #[arg(long)]
    keep_build: bool,
    /// Where the run report goes (default: reports/<batch>/<run id>.html next to the warehouse).
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline for one batch: load, transform, test, publish.
    Run(RunArgs),
    /// Generate a sample batch and run the whole pipeline on it (the quickest look).
    Demo(generate::DemoArgs),
    /// Write a deterministic synthetic batch of the flagship feed, shaped like the real export.
    Generate(generate::GenerateArgs),
    /// Start a project for your own feed from sample files: the landing contract (each file's
    /// header and sniffed dialect), one typed staging model per file, not_null tests.
    Init(init::InitArgs),
    /// Run a SQL log (from --sql-log) straight through DuckDB: the benchmark's floor.
    #[command(hide = true)]
    Replay {
        #[command(flatten)]
        wh: WarehouseArgs,
        /// The SQL log to run.
        log: PathBuf,
    },
    /// Watch a landing folder: run each batch when its files are complete and settled (a batch
    /// version runs once), alert half-landed batches past their age, until Ctrl-C.
    Watch {
        /// The landing folder (batches are DIR/BATCH/…).
        #[arg(long)]
        landing: PathBuf,
        /// The DuckDB warehouse file.
        #[arg(long, default_value = "landfall.duckdb", env = "LANDFALL_WAREHOUSE")]
        warehouse: PathBuf,
        /// Append one JSON object per alert to this file.
        #[arg(long)]
        alerts: Option<PathBuf>,
        /// The SQL project (dbt-compatible folder).
        #[arg(long, env = "LANDFALL_PROJECT")]
        project: Option<PathBuf>,
        /// Environment name shown in alerts.
        #[arg(long, env = "LANDFALL_ENV", default_value = "local")]
        env: String,
        /// Alert a batch with some of its files but not all after this long (e.g. 30m, 2h, 90s).
        #[arg(long, default_value = "30m", value_parser = parse_duration)]
        half_landed_after: std::time::Duration,
        /// A file must be unchanged this long before it is read (a copy still in progress).
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        settle: std::time::Duration,
        /// How often the folder is scanned (filesystem notifications wake it sooner).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        poll_interval: std::time::Duration,
    },
    /// Run a failed (or any finished) execution again on AWS: a new execution with the same
    /// input, named `<batch>-rerun-<time>`. The way to recover a failed run: a redrive would
    /// resume in the failure path and fail again.
    Rerun {
        /// The execution's ARN (in the alert's link).
        execution_arn: String,
        /// Wait for the new execution to end and print its final status (exit 1 if it failed).
        #[arg(long)]
        wait: bool,
        /// Seconds between status checks with --wait.
        #[arg(long, default_value_t = 10)]
        poll_seconds: u64,
    },
    /// Start one Step Functions execution per batch (a backfill or a re-run on AWS).
    Backfill {
        /// The state machine's ARN.
        #[arg(long, env = "STATE_MACHINE_ARN")]
        state_machine: String,
        /// The landing bucket.
        #[arg(long, env = "LANDING_BUCKET")]
        bucket: String,
        /// A batch to run (repeat for several).
        #[arg(long = "batch", required = true)]
        batches: Vec<String>,
        /// Rebuild incremental models from scratch.
        #[arg(long)]
        full_refresh: bool,
        /// Publish each batch even when a newer batch is published (a deliberate correction
        /// of history; without it an older batch ends superseded).
        #[arg(long)]
        force_publish: bool,
        /// Wait for each execution to end and print its final status (exit 1 if one failed).
        #[arg(long)]
        wait: bool,
        /// Seconds between status checks with --wait.
        #[arg(long, default_value_t = 10)]
        poll_seconds: u64,
    },
    /// Write the HTML report of a stored run (default: the latest).
    Report {
        #[command(flatten)]
        wh: WarehouseArgs,
        /// The run id (as in the run summary); default: the latest run.
        #[arg(long)]
        run: Option<String>,
        /// Where to write it (default: reports/<batch>/<run id>.html next to the warehouse).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The SQL project (for the lineage).
        #[arg(long, env = "LANDFALL_PROJECT")]
        project: Option<PathBuf>,
    },
    /// Republish the marts of the previously published batch.
    Rollback {
        #[command(flatten)]
        wh: WarehouseArgs,
        #[arg(long)]
        json: bool,
    },
}

/// `90s`, `30m`, `2h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 30m or 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}': the unit must be ms, s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// Flags clap refused. `landfall run --json` still prints its one JSON document (status
/// `error`) before the usage text goes to stderr; help and version print as usual.
fn bad_flags(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<String> = std::env::args().collect();
    let wants_json = args.get(1).is_some_and(|a| a == "run") && args.iter().any(|a| a == "--json");
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !wants_json {
        e.exit();
    }
    let batch = args
        .iter()
        .position(|a| a == "--batch")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    // clap's message without its usage block, on one line.
    let text = e.render().to_string();
    let msg = text
        .split("\n\nUsage:")
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "{}",
        serde_json::to_string(&pipeline::RunSummary::not_started(&batch, &PipelineError::config(msg)))
            .expect("summary serializes")
    );
    let _ = e.print();
    ExitCode::from(2)
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("landfall: {msg}");
    ExitCode::from(2)
}

/// The project folder: --project, else ./transform, else the one this binary was built from.
fn find_project(arg: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = arg {
        return Ok(p);
    }
    let candidates = [
        PathBuf::from("transform"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../transform"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("dbt_project.yml").is_file())
        .ok_or_else(|| "no SQL project found: pass --project DIR (the transform/ folder)".to_string())
}

fn open_warehouse(a: &WarehouseArgs) -> Result<DuckWarehouse, PipelineError> {
    open_warehouse_for(a, None, false)
}

/// Open the warehouse for a run that will load `input_bytes` (sizes DuckDB's threads), with
/// its builds in memory when `scratch_builds`.
fn open_warehouse_for(
    a: &WarehouseArgs,
    input_bytes: Option<u64>,
    scratch_builds: bool,
) -> Result<DuckWarehouse, PipelineError> {
    let opts = DuckOptions {
        memory_limit: a.memory_limit.clone(),
        threads: a.threads,
        input_bytes,
        scratch_builds,
        temp_directory: None,
        sql_log: a.sql_log.clone(),
    };
    DuckWarehouse::open(&a.warehouse, &opts)
}

/// One runtime shape for every command: two workers (the LoadRaw Map's loads run side by side).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return bad_flags(e),
    };
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    match cli.command {
        Command::Generate(args) => generate::generate_cmd(&args),
        Command::Init(args) => init::init_cmd(&args),
        Command::Replay { wh, log } => {
            let text = match std::fs::read_to_string(&log) {
                Ok(t) => t,
                Err(e) => return usage_error(format!("{}: {e}", log.display())),
            };
            let warehouse = match open_warehouse(&wh) {
                Ok(w) => w,
                Err(e) => return usage_error(e.message),
            };
            let started = std::time::Instant::now();
            match warehouse.replay(&text) {
                Ok(n) => {
                    eprintln!("replayed {n} statements in {} ms", started.elapsed().as_millis());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("landfall replay: {}", e.message);
                    ExitCode::from(1)
                }
            }
        }
        Command::Backfill {
            state_machine,
            bucket,
            batches,
            full_refresh,
            force_publish,
            wait,
            poll_seconds,
        } => {
            for b in &batches {
                if let Err(e) = landfall_core::handlers::validate_batch(b) {
                    return usage_error(e.message);
                }
            }
            let rt = runtime();
            rt.block_on(backfill(
                state_machine,
                bucket,
                batches,
                Flags {
                    full_refresh,
                    force_publish,
                },
                wait,
                poll_seconds,
            ))
        }
        Command::Watch {
            landing,
            warehouse,
            alerts,
            project,
            env,
            half_landed_after,
            settle,
            poll_interval,
        } => {
            if !landing.is_dir() {
                return usage_error(format!("landing folder {} does not exist", landing.display()));
            }
            let project = match find_project(project) {
                Ok(p) => p,
                Err(e) => return usage_error(e),
            };
            // The batches' files are the project's landing contract.
            let contract = match landfall_dbt::Project::load(&project)
                .map_err(Into::into)
                .and_then(|p| landfall_core::contract::Contract::of(&p))
            {
                Ok(c) => c,
                Err(e) => return usage_error(e.message),
            };
            let mut run_args = vec!["--warehouse".to_string(), warehouse.to_string_lossy().into_owned()];
            run_args.extend(["--project".to_string(), project.to_string_lossy().into_owned()]);
            run_args.extend(["--env".to_string(), env.clone()]);
            let mut channels: Vec<Box<dyn Alerts>> = Vec::new();
            if let Some(a) = &alerts {
                run_args.extend(["--alerts".to_string(), a.to_string_lossy().into_owned()]);
                channels.push(Box::new(AlertFile::new(a)));
            }
            if let Ok(url) = std::env::var("LANDFALL_SLACK_WEBHOOK_URL")
                && !url.is_empty()
            {
                channels.push(Box::new(SlackWebhook::new(url)));
            }
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = stop.clone();
            // Ctrl-C (SIGINT) and SIGTERM end the watch after the run in progress.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                });
                eprintln!("landfall watch: stopping after the run in progress");
                s.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let opts = watch::WatchOptions {
                contract,
                landing,
                run_args,
                half_landed_after,
                settle,
                poll: poll_interval,
            };
            watch::watch(&opts, &FanOut(channels), &env, stop);
            ExitCode::SUCCESS
        }
        Command::Rerun {
            execution_arn,
            wait,
            poll_seconds,
        } => runtime().block_on(rerun(execution_arn, wait, poll_seconds)),
        Command::Rollback { wh, json } => {
            let warehouse = match open_warehouse(&wh) {
                Ok(w) => w,
                Err(e) => return usage_error(e.message),
            };
            let rt = runtime();
            match rt.block_on(publish::rollback(&warehouse)) {
                Ok(p) => {
                    if json {
                        println!("{}", serde_json::to_string(&p).expect("serializes"));
                    } else {
                        println!(
                            "republished batch {} (publish #{}, run {}): {}",
                            p.batch,
                            p.publish_seq,
                            p.run_id,
                            p.relations.join(", ")
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("landfall rollback: {}", e.message);
                    ExitCode::from(1)
                }
            }
        }
        Command::Run(args) => run_cmd(args),
        Command::Report { wh, run, out, project } => {
            let project = match find_project(project).and_then(|p| Project::load(&p).map_err(|e| e.message)) {
                Ok(p) => p,
                Err(e) => return usage_error(e),
            };
            let warehouse = match open_warehouse(&wh) {
                Ok(w) => w,
                Err(e) => return usage_error(e.message),
            };
            let rt = runtime();
            match rt.block_on(write_report(&warehouse, &project, run.as_deref(), out, &wh.warehouse)) {
                Ok(path) => {
                    println!("{}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("landfall report: {}", e.message);
                    ExitCode::from(1)
                }
            }
        }
        Command::Demo(demo) => {
            let (landing, batch) = match generate::demo_batch(&demo) {
                Ok(b) => b,
                Err(e) => return usage_error(e),
            };
            let generate::DemoArgs { dir, project, .. } = demo;
            run_cmd(RunArgs {
                landing,
                batch,
                wh: WarehouseArgs {
                    warehouse: dir.join("landfall.duckdb"),
                    memory_limit: None,
                    threads: None,
                    sql_log: None,
                },
                alerts: Some(dir.join("alerts.jsonl")),
                json: false,
                full_refresh: false,
                force_publish: false,
                project,
                env: "local".into(),
                notify_success: false,
                real_time: false,
                state_machine: None,
                keep_build: false,
                report: None,
            })
        }
    }
}

/// `landfall run`'s exit code when the run ended superseded: nothing published, nothing
/// failed (a newer batch is live).
pub const EXIT_SUPERSEDED: i32 = 3;

/// `landfall run`: one execution, its summary, its exit code.
fn run_cmd(args: RunArgs) -> ExitCode {
    let RunArgs {
        landing,
        batch,
        wh,
        alerts,
        json,
        full_refresh,
        force_publish,
        project,
        env,
        notify_success,
        real_time,
        state_machine,
        keep_build,
        report,
    } = args;
    // With --json, exactly one JSON document on every path: a run that never started too.
    let not_started = |msg: String| -> ExitCode {
        if json {
            println!(
                "{}",
                serde_json::to_string(&pipeline::RunSummary::not_started(
                    &batch,
                    &PipelineError::config(msg.clone())
                ))
                .expect("summary serializes")
            );
        }
        usage_error(msg)
    };
    let faults = match std::env::var("LANDFALL_FAULTS") {
        Ok(spec) => match pipeline::parse_faults(&spec) {
            Ok(f) => f,
            Err(e) => return not_started(e.message.clone()),
        },
        Err(_) => Default::default(),
    };
    let definition = match state_machine {
        Some(p) => match std::fs::read_to_string(&p) {
            Ok(t) => Some(t),
            Err(e) => return not_started(format!("state machine {}: {e}", p.display())),
        },
        None => None,
    };
    let options = pipeline::RunOptions {
        faults,
        real_time,
        definition,
        ..Default::default()
    };
    let project_dir = match find_project(project) {
        Ok(p) => p,
        Err(e) => return not_started(e),
    };
    let project = match Project::load(&project_dir) {
        Ok(p) => p,
        Err(e) => return not_started(e.message.clone()),
    };
    if !landing.is_dir() {
        return not_started(format!("landing folder {} does not exist", landing.display()));
    }
    let input_bytes = std::fs::read_dir(landing.join(&batch)).ok().map(|files| {
        files
            .filter_map(|f| f.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    });
    let warehouse = match open_warehouse_for(&wh, input_bytes, true) {
        Ok(w) => w,
        Err(e) => return not_started(e.message.clone()),
    };
    let mut channels: Vec<Box<dyn Alerts>> = Vec::new();
    let mut secrets = Vec::new();
    if let Some(path) = alerts {
        channels.push(Box::new(AlertFile::new(path)));
    }
    if let Ok(url) = std::env::var("LANDFALL_SLACK_WEBHOOK_URL")
        && !url.is_empty()
    {
        secrets.push(url.clone());
        channels.push(Box::new(SlackWebhook::new(url)));
    }
    let fan = FanOut(channels);
    let storage = LocalFolder::new(&landing);
    // Alerts link the report where `landfall run` puts it by default (`--report` names a file
    // the alert cannot know in advance: the run id is made inside the run).
    let reports_dir = report.is_none().then(|| default_reports_dir(&wh.warehouse));
    let settings = RunSettings {
        pipeline: "landfall",
        environment: &env,
        alerts: &fan,
        secrets,
        notify_success,
        report_base: reports_dir.map(|d| d.to_string_lossy().into_owned()),
        // `landfall run` writes the report itself once the run is over (with its timeline).
        report_sink: None,
    };
    let deps = Deps {
        warehouse: &warehouse,
        storage: &storage,
        project: &project,
    };
    let mut input =
        serde_json::json!({"bucket": landing.to_string_lossy(), "batch": batch, "full_refresh": full_refresh});
    if force_publish {
        input["force_publish"] = true.into();
    }
    let observer = progress::Progress::new();
    let rt = runtime();
    let mut summary = match rt.block_on(pipeline::run(deps, &settings, &input, &observer, &options)) {
        Ok(s) => s,
        Err(e) => return not_started(e.message.clone()),
    };
    match rt.block_on(write_report(
        &warehouse,
        &project,
        Some(&summary.run_id),
        report,
        &wh.warehouse,
    )) {
        Ok(p) => summary.report = Some(p.to_string_lossy().into_owned()),
        Err(e) => summary
            .warnings
            .push(format!("no run report was written: {}", e.message)),
    }
    // The run's builds were in memory: keep the quarantine (and everything after a failure).
    let quarantine: Vec<String> = project
        .quarantine_model()
        .map(|m| {
            let r = landfall_core::build::build_relation(m, &warehouse, &summary.run_id);
            format!("{}.{}", landfall_core::build::untagged(&r.schema), r.name)
        })
        .into_iter()
        .collect();
    let failed = summary.status != "succeeded";
    if let Err(e) = rt.block_on(warehouse.keep_builds(&summary.run_id, &quarantine, failed || keep_build)) {
        summary
            .warnings
            .push(format!("the run's build tables were not kept: {}", e.message));
    }
    if let Err(e) = warehouse.checkpoint() {
        summary.warnings.push(format!(
            "the warehouse file was not checkpointed (DuckDB replays its WAL at the next open): {}",
            e.message
        ));
    }
    observer.finish();
    if json {
        println!("{}", serde_json::to_string(&summary).expect("summary serializes"));
    } else {
        progress::print_summary(&summary);
    }
    if summary.status == "succeeded" {
        ExitCode::SUCCESS
    } else if summary.status == "superseded" {
        ExitCode::from(EXIT_SUPERSEDED as u8)
    } else {
        ExitCode::from(1)
    }
}

/// `reports/` next to the warehouse file.
fn default_reports_dir(warehouse: &Path) -> PathBuf {
    warehouse.parent().unwrap_or(Path::new(".")).join("reports")
}

/// Collect and write a run's report; returns where it went.
async fn write_report(
    wh: &DuckWarehouse,
    project: &Project,
    run_id: Option<&str>,
    out: Option<PathBuf>,
    warehouse_path: &Path,
) -> Result<PathBuf, PipelineError> {
    let r = landfall_report::collect(wh, project, run_id).await?;
    let path = out.unwrap_or_else(|| {
        default_reports_dir(warehouse_path)
            .join(&r.run.batch)
            .join(format!("{}.html", r.run.run_id))
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PipelineError::config(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(&path, landfall_report::render(&r))
        .map_err(|e| PipelineError::config(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// The execution input's switches.
struct Flags {
    full_refresh: bool,
    force_publish: bool,
}

/// `landfall backfill`: one execution per batch, named `<batch>-manual-<time>` so a re-run of a
/// batch is always a new execution; with `--wait`, each final status.
async fn backfill(
    state_machine: String,
    bucket: String,
    batches: Vec<String>,
    flags: Flags,
    wait: bool,
    poll_seconds: u64,
) -> ExitCode {
    let sdk = landfall_aws::sdk_config().await;
    let sfn = landfall_aws::sfn::StepFunctions::new(&sdk, state_machine);
    let stamp = pipeline::new_run_id("manual");
    let mut started = Vec::new();
    for b in &batches {
        let name = format!("{b}-{stamp}").chars().take(80).collect::<String>();
        let mut input = serde_json::json!({"bucket": bucket, "batch": b, "full_refresh": flags.full_refresh});
        if flags.force_publish {
            input["force_publish"] = true.into();
        }
        match landfall_core::trigger::Executions::start(&sfn, &name, &input).await {
            Ok(landfall_core::trigger::Started {
                execution_arn: Some(arn),
                ..
            }) => {
                println!("{b}\tstarted\t{arn}");
                started.push((b.clone(), arn));
            }
            Ok(_) => {
                eprintln!("landfall backfill: batch {b}: an execution named {name} exists already");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("landfall backfill: batch {b}: {}", e.message);
                return ExitCode::from(if e.name == landfall_core::ErrorName::Config {
                    2
                } else {
                    1
                });
            }
        }
    }
    if !wait {
        return ExitCode::SUCCESS;
    }
    wait_for(&sfn, &started, poll_seconds, "backfill").await
}

/// An ended execution's status as `backfill --wait` prints it: a SUCCEEDED execution that
/// ended in `Superseded` published nothing, and says why (not a failure: exit 0).
fn final_status(status: &str, output: Option<&str>) -> String {
    let superseded = output
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .and_then(|v| landfall_core::functions::superseded_in(&v));
    match superseded {
        Some(why) if status == "SUCCEEDED" => format!("SUPERSEDED ({why})"),
        _ => status.to_string(),
    }
}

/// Poll each started execution until it ends; print `batch<TAB>status<TAB>arn`; exit 1 if one
/// did not succeed.
async fn wait_for(
    sfn: &landfall_aws::sfn::StepFunctions,
    started: &[(String, String)],
    poll_seconds: u64,
    command: &str,
) -> ExitCode {
    let mut failed = false;
    for (b, arn) in started {
        loop {
            match sfn.describe(arn).await {
                Ok(d) if d.status == "RUNNING" || d.status == "PENDING_REDRIVE" => {
                    tokio::time::sleep(std::time::Duration::from_secs(poll_seconds)).await
                }
                Ok(d) => {
                    println!("{b}\t{}\t{arn}", final_status(&d.status, d.output.as_deref()));
                    failed |= d.status != "SUCCEEDED";
                    break;
                }
                Err(e) => {
                    eprintln!("landfall {command}: batch {b}: {}", e.message);
                    failed = true;
                    break;
                }
            }
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `landfall rerun`: the same input again, as a new execution of the same state machine.
async fn rerun(execution_arn: String, wait: bool, poll_seconds: u64) -> ExitCode {
    let sdk = landfall_aws::sdk_config().await;
    let probe = landfall_aws::sfn::StepFunctions::new(&sdk, "");
    let d = match probe.describe(&execution_arn).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("landfall rerun: {}", e.message);
            return ExitCode::from(2);
        }
    };
    if d.status == "RUNNING" {
        eprintln!(
            "landfall rerun: {} is still running; wait for it to end (or stop it) first",
            d.name
        );
        return ExitCode::from(2);
    }
    let input: serde_json::Value = match serde_json::from_str(&d.input) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("landfall rerun: the execution's input is not JSON ({e})");
            return ExitCode::from(2);
        }
    };
    let batch = input
        .get("batch")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("run")
        .to_string();
    // `<batch>-rerun-<time>-<4 hex>`, made legal for Step Functions (new_run_id sanitizes).
    let name = pipeline::new_run_id(&format!("{batch}-rerun"));
    let sfn = landfall_aws::sfn::StepFunctions::new(&sdk, d.state_machine_arn.clone());
    match landfall_core::trigger::Executions::start(&sfn, &name, &input).await {
        Ok(landfall_core::trigger::Started {
            execution_arn: Some(arn),
            ..
        }) => {
            println!("{batch}\tstarted\t{arn}\trerun of {}", d.name);
            if wait {
                wait_for(&sfn, &[(batch, arn)], poll_seconds, "rerun").await
            } else {
                ExitCode::SUCCESS
            }
        }
        Ok(_) => {
            eprintln!("landfall rerun: an execution named {name} exists already; try again");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("landfall rerun: {}", e.message);
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_superseded_execution_says_so_and_why() {
        let out = serde_json::json!({"run": {}, "published": {"superseded": "batch 'a' was not published: batch 'b' is newer"}});
        assert_eq!(
            super::final_status("SUCCEEDED", Some(&out.to_string())),
            "SUPERSEDED (batch 'a' was not published: batch 'b' is newer)"
        );
        assert_eq!(
            super::final_status("SUCCEEDED", Some("{\"published\": {}}")),
            "SUCCEEDED"
        );
        assert_eq!(super::final_status("FAILED", None), "FAILED");
    }
}
