//! The step handlers: one async function per state of the pipeline, shared by the local
//! runner and the Lambda binaries. Each takes the run's inputs and the adapters, and returns a
//! serde output or a [`PipelineError`] whose name the state machine matches.

use crate::audit;
use crate::build::{self, ModelRun, RunVars};
use crate::contract::{Contract, LandingFile};
use crate::csvcheck;
use crate::error::{PipelineError, Result};
use crate::publish::{self, Published};
use crate::quality::{self, TestCounts, TestResult};
use crate::storage::{ObjectInfo, Storage, batch_key};
use crate::warehouse::{LoadSpec, Warehouse, sql_str};
use landfall_dbt::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Models tagged with this are built after the tests ran (they report on the run itself).
pub const AFTER_TESTS_TAG: &str = "after_tests";

/// The adapters a handler works with.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub warehouse: &'a dyn Warehouse,
    pub storage: &'a dyn Storage,
    pub project: &'a Project,
}

/// An execution's input (DESIGN.md §1), as the trigger, a backfill or a person sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionInput {
    pub bucket: String,
    pub batch: String,
    #[serde(default)]
    pub full_refresh: bool,
    /// Publish even over a newer batch (crate::succession).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_publish: bool,
}

/// Batch ids become S3 key parts, execution names and SQL literals: keep them plain.
pub fn validate_batch(batch: &str) -> Result<()> {
    let ok = !batch.is_empty()
        && batch.len() <= 64
        && batch.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && batch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(PipelineError::bad_input(format!(
            "batch '{batch}' is not a valid batch id: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. 2026-11-26)"
        )))
    }
}

/// `ValidateInput`: the execution input, strictly.
pub fn validate_input(v: &Value) -> Result<ExecutionInput> {
    let obj = v.as_object().ok_or_else(|| PipelineError::bad_input(format!("execution input must be a JSON object like {{\"bucket\": \"…\", \"batch\": \"2026-11-26\", \"full_refresh\": false}}, found {v}")))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "bucket" | "batch" | "full_refresh" | "force_publish") {
            return Err(PipelineError::bad_input(format!(
                "execution input has an unknown field '{k}': expected only bucket, batch, full_refresh and force_publish"
            )));
        }
    }
    let bucket = match obj.get("bucket") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(PipelineError::bad_input(format!(
                "execution input field 'bucket' must be a non-empty string, found {other}"
            )));
        }
        None => {
            return Err(PipelineError::bad_input(
                "execution input lacks 'bucket' (the landing bucket name)",
            ));
        }
    };
    let batch = match obj.get("batch") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(PipelineError::bad_input(format!(
                "execution input field 'batch' must be a string, found {other}"
            )));
        }
        None => {
            return Err(PipelineError::bad_input(
                "execution input lacks 'batch' (e.g. \"2026-11-26\")",
            ));
        }
    };
    let flag = |name: &str| match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(PipelineError::bad_input(format!(
            "execution input field '{name}' must be true or false, found {other}"
        ))),
    };
    let full_refresh = flag("full_refresh")?;
    let force_publish = flag("force_publish")?;
    validate_batch(&batch)?;
    Ok(ExecutionInput {
        bucket,
        batch,
        full_refresh,
        force_publish,
    })
}

/// `CheckFiles`' answer: the batch's files, in the contract's order (the items of the
/// `LoadRaw` Map state, one load each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedFiles {
    pub files: Vec<BatchFile>,
    pub warnings: Vec<String>,
}

/// One file of a batch: its name in the contract and the object as CheckFiles found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchFile {
    pub file: String,
    pub object: ObjectInfo,
}

/// `CheckFiles`: every declared file exists and its first record keeps the contract, before
/// anything loads.
pub async fn check_files(deps: Deps<'_>, input: &ExecutionInput) -> Result<CheckedFiles> {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let contract = Contract::of(deps.project)?;
    check_build_order(deps.project)?;
    for f in &contract.files {
        let key = batch_key(&input.batch, &f.file);
        let mut info = deps.storage.head(&key).await?.ok_or_else(|| {
            PipelineError::bad_input(format!(
                "{}: missing; batch '{}' needs {}",
                deps.storage.url(&key),
                input.batch,
                contract.objects()
            ))
        })?;
        let (header, extra) = read_columns(deps, f, &key, &info.url).await?;
        if !extra.is_empty() {
            warnings.push(format!(
                "{}: extra column{} {} loaded as text and ignored downstream",
                info.url,
                if extra.len() > 1 { "s" } else { "" },
                extra.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
            ));
        }
        info.columns = header;
        files.push(BatchFile {
            file: f.name.clone(),
            object: info,
        });
    }
    Ok(CheckedFiles { files, warnings })
}

/// The columns the object at `key` loads as, and those beyond the contract, from a ranged read
/// of its first record.
async fn read_columns(deps: Deps<'_>, f: &LandingFile, key: &str, url: &str) -> Result<(Vec<String>, Vec<String>)> {
    const PREFIX: usize = 64 * 1024;
    let prefix = deps.storage.read_prefix(key, PREFIX).await?;
    let first = csvcheck::parse_header(url, &prefix, &f.dialect, prefix.len() < PREFIX)?;
    f.columns_of(url, &first)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedFile {
    pub file: String,
    pub rows: u64,
    pub extra_columns: Vec<String>,
}

/// The state that loads each file (an iteration of the `LoadRaw` Map state).
pub const LOAD_STATE: &str = "LoadFile";

/// How a state of a file's Map iteration is called in summaries, reports, metrics and
/// `LANDFALL_FAULTS`: `LoadFile[titles]`, `PollLoadFile[titles]`.
pub fn file_step(state: &str, file: &str) -> String {
    format!("{state}[{file}]")
}

/// [`file_step`] of the load itself.
pub fn load_step(file: &str) -> String {
    file_step(LOAD_STATE, file)
}

/// `LoadFile`: one file into its raw table, pending until the batch commits.
pub async fn load_file(deps: Deps<'_>, run: &RunVars, file: &str, info: &ObjectInfo) -> Result<LoadedFile> {
    let contract = Contract::of(deps.project)?;
    let Some(lf) = contract.file(file) else {
        return Err(PipelineError::bad_input(format!(
            "unknown landing file '{file}': the project declares {}",
            contract.names().join(", ")
        )));
    };
    // Two independent questions, asked together (ValidateInput made the audit schema).
    let (current, keep) = futures_util::future::join(
        crate::succession::ensure_current(deps.warehouse, run, &load_step(file), false),
        audit::committed_load(deps.warehouse, &run.batch),
    )
    .await;
    current?;
    let keep = keep?;
    // The header CheckFiles read; an object from elsewhere (a hand-made event) gets it read
    // here. An engine that never sees the file (Snowflake's COPY) shapes the load from it.
    let header = if info.columns.is_empty() {
        read_columns(deps, lf, &info.key, &info.url).await?.0
    } else {
        info.columns.clone()
    };
    let spec = LoadSpec {
        file_columns: header,
        table: lf.table.clone(),
        location: deps.storage.load_location(&info.key),
        display_name: info.url.clone(),
        batch: run.batch.clone(),
        etag: info.etag.clone(),
        expected_columns: lf.required.clone(),
        optional_columns: lf.optional.clone(),
        load_id: run.run_id.clone(),
        keep_load_id: keep.filter(|k| k != &run.run_id),
        spared_loads: Some(crate::succession::newer_runs_sql(&run.run_id)),
        record_as: Some(file.to_string()),
        dialect: lf.dialect.clone(),
    };
    let out = deps.warehouse.load_csv(&spec).await?;
    Ok(LoadedFile {
        file: file.to_string(),
        rows: out.rows,
        extra_columns: out.extra_columns,
    })
}

/// Make this run's loads the batch's raw rows, dropping the batch's previous load, atomically
/// for both files: raw never holds half of a batch. A run with a newer execution of its batch
/// stops here (crate::succession); the rows of a newer execution that started meanwhile are
/// never deleted.
pub async fn commit_raw(deps: Deps<'_>, run: &RunVars) -> Result<()> {
    crate::succession::ensure_current(deps.warehouse, run, "BuildStaging", false).await?;
    let mut stmts = Vec::new();
    for f in &Contract::of(deps.project)?.files {
        stmts.push(format!(
            "delete from {} where _batch = {} and _load_id <> {} and _load_id not in ({})",
            f.table,
            sql_str(&run.batch),
            sql_str(&run.run_id),
            crate::succession::newer_runs_sql(&run.run_id)
        ));
    }
    stmts.push(format!(
        "delete from audit.raw_commits where batch = {}",
        sql_str(&run.batch)
    ));
    stmts.push(format!(
        "insert into audit.raw_commits (batch, load_id, committed_at) values ({}, {}, current_timestamp::timestamp)",
        sql_str(&run.batch),
        sql_str(&run.run_id)
    ));
    deps.warehouse.transaction(&stmts).await
}

/// The layers the state machine builds, in order (`BuildStaging`, …).
pub const LAYERS: [&str; 3] = ["staging", "intermediate", "marts"];

/// The layer whose state builds `m`: its folder's when that is staging or intermediate, else
/// marts (`models/reporting/` builds with the marts, as dbt builds every folder).
pub fn build_state(m: &landfall_dbt::Model) -> &'static str {
    match m.layer.as_str() {
        "staging" => "staging",
        "intermediate" => "intermediate",
        _ => "marts",
    }
}

/// Every model's refs build in its state or an earlier one: a staging model reading a model
/// that only BuildMarts builds would find nothing. `Landfall.Config` naming both files.
pub fn check_build_order(project: &Project) -> Result<()> {
    let rank = |m: &landfall_dbt::Model| LAYERS.iter().position(|l| *l == build_state(m)).unwrap_or(2);
    let ephemeral = |m: &landfall_dbt::Model| m.config.materialized == "ephemeral";
    // What a model reads once its ephemeral refs are inlined: their refs, transitively.
    let built_refs = |m: &landfall_dbt::Model| {
        let mut out: Vec<&landfall_dbt::Model> = Vec::new();
        let mut todo: Vec<&String> = m.refs.iter().collect();
        while let Some(r) = todo.pop() {
            if let Some(dep) = project.models.iter().find(|d| &d.name == r) {
                if ephemeral(dep) {
                    todo.extend(dep.refs.iter());
                } else if !out.iter().any(|o| o.name == dep.name) {
                    out.push(dep);
                }
            }
        }
        out
    };
    for m in project.models.iter().filter(|m| !ephemeral(m)) {
        for dep in built_refs(m) {
            if rank(dep) > rank(m) {
                return Err(PipelineError::config(format!(
                    "{}: model '{}' refs '{}' ({}), which builds later, in {}: every folder but staging/ and intermediate/ builds with the marts; move '{}' into models/{}/ or '{}' out of it",
                    m.path.display(),
                    m.name,
                    dep.name,
                    dep.path.display(),
                    build_state_name(build_state(dep)),
                    dep.name,
                    build_state(m),
                    m.name
                )));
            }
        }
    }
    Ok(())
}

/// The state that builds `layer`: `BuildStaging`.
pub fn build_state_name(layer: &str) -> String {
    let mut c = layer.chars();
    let first: String = c.next().map(|f| f.to_uppercase().collect()).unwrap_or_default();
    format!("Build{first}{}", c.as_str())
}

/// `BuildStaging` / `BuildIntermediate` / `BuildMarts`: build one layer's models (none, when
/// the project has no such layer). The first layer commits the batch's raw load first.
pub async fn build_layer(deps: Deps<'_>, run: &RunVars, layer: &str, commit: bool) -> Result<Vec<ModelRun>> {
    let in_state: Vec<_> = deps.project.models.iter().filter(|m| build_state(m) == layer).collect();
    let models: Vec<_> = in_state
        .iter()
        .copied()
        .filter(|m| !m.config.tags.iter().any(|t| t == AFTER_TESTS_TAG))
        .collect();
    // A layer of the state machine the project does not have (a feed whose staging models are
    // its product) builds nothing; another layer name, or a project with no model, is a mistake.
    if in_state.is_empty() && (!LAYERS.contains(&layer) || deps.project.models.is_empty()) {
        return Err(PipelineError::config(format!(
            "the SQL project has no models in layer '{layer}' (models/{layer}/; the state machine builds {})",
            LAYERS.join(", ")
        )));
    }
    if commit {
        // Every build schema of the run is made while the raw load commits (they do not depend
        // on it), so the later layers' states go straight to their models. No state after
        // this one runs without it: a redrive resumes in the failure path, and a rerun is a
        // new execution.
        let all: Vec<_> = deps.project.models.iter().collect();
        let (committed, made) =
            futures_util::future::join(commit_raw(deps, run), build::ensure_schemas(deps.warehouse, run, &all)).await;
        committed?;
        made?;
        build::on_run_start(deps.project, deps.warehouse, run).await?;
    }
    build::build_models_in(deps.project, deps.warehouse, run, &models).await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityOutcome {
    pub tests: TestCounts,
    pub results: Vec<TestResult>,
    pub rejected: BTreeMap<String, i64>,
    pub loaded: BTreeMap<String, i64>,
    pub column_test_coverage: f64,
}

/// Rows per source file in the run's quarantine model.
pub async fn rejected_counts(deps: Deps<'_>, run: &RunVars) -> Result<BTreeMap<String, i64>> {
    let contract = Contract::of(deps.project)?;
    let mut out: BTreeMap<String, i64> = contract.names().into_iter().map(|f| (f.to_string(), 0)).collect();
    if let Some(m) = deps.project.quarantine_model() {
        let t = deps
            .warehouse
            .query(&format!(
                "select source, count(*) from {} group by source",
                build::build_relation(m, deps.warehouse, &run.run_id)
            ))
            .await?;
        for r in t.rows {
            if let (Some(s), Some(n)) = (r[0].as_str(), crate::warehouse::as_i64(&r[1])) {
                out.insert(s.to_string(), n);
            }
        }
    }
    Ok(out)
}

/// `RunQualityChecks`: run and record every test, then build the run-report models; fails with
/// `Landfall.QualityGate` when an error-severity test failed.
pub async fn run_quality(deps: Deps<'_>, run: &RunVars) -> Result<QualityOutcome> {
    // The tests and the run's figures do not depend on each other: side by side (while the
    // tests run on the warehouse, the figures are already in the state's journal).
    let loaded_sql = format!(
        "select file, sum(rows) from audit.loads where run_id = {} group by file",
        sql_str(&run.run_id)
    );
    let (results, rejected, loaded_t, coverage) = futures_util::future::join4(
        quality::run_tests(deps.project, deps.warehouse, run),
        rejected_counts(deps, run),
        deps.warehouse.query(&loaded_sql),
        quality::column_coverage(deps.project, deps.warehouse, &run.run_id),
    )
    .await;
    let results = results?;
    let (rejected, loaded_t, coverage) = (rejected?, loaded_t?, coverage?);
    let mut loaded = BTreeMap::new();
    for r in loaded_t.rows {
        if let (Some(f), Some(n)) = (r[0].as_str(), crate::warehouse::as_i64(&r[1])) {
            loaded.insert(f.to_string(), n);
        }
    }
    // The results and the run's figures, committed together.
    let mut stmts = quality::record_statements(&run.run_id, &results);
    stmts.push(format!(
        "update audit.runs set rows_loaded = {}, rows_rejected = {}, column_test_coverage = {coverage}, finished_at = current_timestamp::timestamp where run_id = {}",
        loaded.values().sum::<i64>(),
        rejected.values().sum::<i64>(),
        sql_str(&run.run_id)
    ));
    deps.warehouse.transaction(&stmts).await?;
    let outcome = QualityOutcome {
        tests: TestCounts::of(&results),
        results,
        rejected,
        loaded,
        column_test_coverage: coverage,
    };
    if let Err(e) = quality::gate(&outcome.results) {
        // A newer execution of the batch may have landed rows this run read: it is the batch,
        // and this run's failing tests are not news.
        crate::succession::ensure_current(deps.warehouse, run, "RunQualityChecks", false).await?;
        return Err(e.with_details(&outcome));
    }
    // Their schemas were made with the first layer's (build_layer).
    let after: Vec<_> = deps
        .project
        .models
        .iter()
        .filter(|m| m.config.tags.iter().any(|t| t == AFTER_TESTS_TAG))
        .collect();
    build::build_models_in(deps.project, deps.warehouse, run, &after).await?;
    Ok(outcome)
}

/// `Publish`: the audited marts become what people see, in batch order and one publish at a
/// time (crate::succession); then other runs' expired build schemas go (crate::retention).
pub async fn publish(deps: Deps<'_>, run: &RunVars) -> Result<Published> {
    let wh = deps.warehouse;
    crate::succession::take_publish_lock(wh, &run.run_id).await?;
    let published = async {
        // Whether this run holds the lock, may publish, and as which number: asked at once.
        // The reads start after the lock was taken, so they see every publish before this
        // one; a run that does not hold it publishes nothing.
        let (held, current, seq) = futures_util::future::join3(
            crate::succession::check_publish_lock(wh, &run.run_id),
            crate::succession::ensure_current(wh, run, "Publish", true),
            publish::next_seq(wh),
        )
        .await;
        current?;
        held?;
        publish::publish(deps.project, wh, &run.run_id, &run.batch, seq?).await
    }
    .await;
    let release = crate::succession::release_publish_lock(wh, &run.run_id);
    let published = match published {
        Ok(p) => p,
        Err(e) => {
            if let Err(e) = release.await {
                tracing::warn!(error = %e, "the publish lock was not released (it expires by itself)");
            }
            return Err(e);
        }
    };
    // The lock goes while old versions are pruned and the sweep looks for old schemas: they
    // are independent.
    let (released, pruned, swept) = futures_util::future::join3(
        release,
        publish::prune(wh, published.publish_seq),
        crate::retention::sweep(wh, crate::retention::retention_hours()),
    )
    .await;
    if let Err(e) = pruned {
        tracing::warn!(error = %e, "old published versions were not pruned (the next publish tries again)");
    }
    if let Err(e) = released {
        tracing::warn!(error = %e, "the publish lock was not released (it expires by itself)");
    }
    if let Err(e) = swept {
        tracing::warn!(error = %e, "old build schemas were not dropped (the next publish tries again)");
    }
    Ok(published)
}

/// The failure path: drop this run's uncommitted raw rows and mark the run failed. Best
/// effort: the next load of the batch removes leftovers anyway.
pub async fn on_failure(wh: &dyn Warehouse, run: &RunVars, state: &str, err: &PipelineError) -> Result<()> {
    audit::finish_unpublished(wh, run, "failed", state, err).await
}

/// An execution that died without reaching its failure path (timed out, aborted, or the
/// machine itself failed): marked failed, its pending raw rows dropped, unless it already ended.
pub async fn mark_dead(wh: &dyn Warehouse, run: &RunVars, state: &str, err: &PipelineError) -> Result<()> {
    audit::ensure(wh).await?;
    let t = wh
        .query(&format!(
            "select status, batch from audit.runs where run_id = {}",
            sql_str(&run.run_id)
        ))
        .await?;
    match t.rows.first() {
        Some(r) if r[0].as_str() == Some("running") => {
            let run = RunVars {
                batch: r[1].as_str().unwrap_or(&run.batch).to_string(),
                ..run.clone()
            };
            audit::finish_unpublished(wh, &run, "failed", state, err).await
        }
        _ => Ok(()),
    }
}
