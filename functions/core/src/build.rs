//! Building models: render each model for its target relation and materialize it.
//!
//! Models are built into *build schemas* where no consumer looks, one set per run
//! (`build_<schema>__<run tag>`), so two executions at once never read or test each other's
//! tables; the publish step later copies the audited marts into the schemas people query
//! (write-audit-publish, DESIGN.md §6) and [`crate::retention`] drops old runs' schemas.

use crate::asking::answered;
use crate::error::{PipelineError, Result};
use crate::warehouse::Warehouse;
use landfall_dbt::{Model, Project, Relation, RenderScope, render};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Instant;

/// Prefix of the schemas models are built in before they are published.
pub const BUILD_PREFIX: &str = "build_";

/// What every step needs to know about the run; the state machine carries it as `$.run`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunVars {
    pub run_id: String,
    pub batch: String,
    #[serde(default)]
    pub full_refresh: bool,
    /// The landing bucket (locally: the landing folder).
    #[serde(default)]
    pub bucket: String,
    /// Publish even when a newer batch is published (the input's `force_publish`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_publish: bool,
    /// When the execution started (RFC 3339, UTC): templates' `run_started_at`, the same in
    /// every state of the run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
}

impl RunVars {
    /// Project vars overlaid with the run's: `batch`, `run_id`, `full_refresh`.
    pub fn vars(&self, project: &Project) -> Map<String, Value> {
        let mut v = project.vars.clone();
        v.insert("batch".into(), Value::String(self.batch.clone()));
        v.insert("run_id".into(), Value::String(self.run_id.clone()));
        v.insert("full_refresh".into(), Value::Bool(self.full_refresh));
        v
    }
}

/// Separates a build schema's name from the run's tag.
pub const TAG_SEPARATOR: &str = "__";

/// The run's own part of its build schemas' names: the execution name as an unquoted
/// identifier on both engines (lowercase letters, digits and `_`, at most 40 of them) and 8
/// hex digits of the whole name's hash, so that names which clean up alike still differ.
/// Where an engine stages a file before the load's commit (Snowflake's COPY goes into a
/// transient table of its own): `<schema>._landfall_load_<table>__<tag>`. The sweep drops the
/// ones an ended run left behind (crate::retention).
pub const LANDING_TABLE_PREFIX: &str = "_landfall_load_";

/// The landing table of `load_id`'s load into `table` (`raw.titles`).
pub fn landing_table(table: &str, load_id: &str) -> String {
    let (schema, name) = table.rsplit_once('.').unwrap_or(("raw", table));
    format!(
        "{schema}.{LANDING_TABLE_PREFIX}{name}{TAG_SEPARATOR}{}",
        build_tag(load_id)
    )
}

pub fn build_tag(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .filter(|c| c.is_ascii())
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let hash = run_id
        .bytes()
        .fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193));
    format!("{clean}_{hash:08x}")
}

/// The build schema of a project schema (`marts`) for a run.
pub fn build_schema(schema: &str, run_id: &str) -> String {
    format!("{BUILD_PREFIX}{schema}{TAG_SEPARATOR}{}", build_tag(run_id))
}

/// `build_marts__<tag>` → `build_marts`: where a local run keeps what it built (one process
/// owns a DuckDB file, so the file holds the last run's).
pub fn untagged(schema: &str) -> &str {
    match schema.rsplit_once(TAG_SEPARATOR) {
        Some((base, _)) if base.starts_with(BUILD_PREFIX) => base,
        _ => schema,
    }
}

/// Where a model is built by run `run_id`: the run's own build schema.
/// An incremental model and a snapshot are the exceptions: they grow from their previous
/// build, so they live in the untagged `build_<schema>` of the warehouse's own database, shared
/// by every run (as dbt's incremental table and snapshot are), even when builds go elsewhere
/// ([`Warehouse::build_catalog`]).
pub fn build_relation(m: &Model, wh: &dyn Warehouse, run_id: &str) -> Relation {
    let schema = m.config.schema.as_deref().unwrap_or("main");
    let name = m.config.alias.clone().unwrap_or_else(|| m.name.clone());
    if matches!(m.config.materialized.as_str(), "incremental" | "snapshot") {
        return Relation::new(format!("{BUILD_PREFIX}{schema}"), name);
    }
    Relation {
        database: wh.build_catalog().map(str::to_string),
        ..Relation::new(build_schema(schema, run_id), name)
    }
}

/// Where a published model is read by consumers.
pub fn published_relation(m: &Model) -> Relation {
    Relation::new(
        m.config.schema.as_deref().unwrap_or("main"),
        m.config.alias.clone().unwrap_or_else(|| m.name.clone()),
    )
}

/// The render scope of a run: every `ref` points at a build relation, or at the CTE an
/// ephemeral model is inlined as (compiled here, so it may ask the warehouse too).
pub async fn run_scope(project: &Project, wh: &dyn Warehouse, run: &RunVars) -> Result<RenderScope> {
    let scope = RenderScope {
        target: project.target(wh.target_type(), &wh.database()),
        vars: run.vars(project),
        models: project
            .models
            .iter()
            .map(|m| (m.name.clone(), build_relation(m, wh, &run.run_id)))
            .collect(),
        // Where builds go to another database (landfall run's in-memory scratch), a source is
        // named with the warehouse's own: a view built there binds its names in its own.
        sources: project
            .sources
            .iter()
            .map(|s| {
                (
                    (s.source.clone(), s.name.clone()),
                    Relation {
                        database: wh.build_catalog().map(|_| wh.database()),
                        ..Relation::new(s.schema.clone(), s.identifier.clone())
                    },
                )
            })
            .collect(),
        this: None,
        is_incremental: false,
        invocation_id: run.run_id.clone(),
        parsing: false,
        ephemerals: Default::default(),
        run_started_at: Some(run.started_at.clone()).filter(|s| !s.is_empty()),
        answers: None,
    };
    let scope = answered(wh, &scope, |s| {
        landfall_dbt::render::with_ephemerals(project, s.clone())
    })
    .await?;
    // Each later render asks its own questions.
    Ok(RenderScope { answers: None, ..scope })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    pub name: String,
    pub relation: String,
    pub materialized: String,
    pub duration_ms: u64,
}

/// Keep the snapshot `m` at `rel` up to date with its query `sql` (landfall_dbt::snapshot):
/// created on its first build; later, the changed current rows closed and the new versions and
/// keys inserted, from a staging table beside it, in one transaction. `--full-refresh` leaves
/// it as it is, as dbt leaves a snapshot.
async fn build_snapshot(wh: &dyn Warehouse, m: &Model, rel: &Relation, sql: &str) -> Result<()> {
    use landfall_dbt::snapshot;
    let at = format!("{} (snapshot {})", m.path.display(), m.name);
    let strategy = snapshot::strategy(&m.config, &at)?;
    let target_type = wh.target_type();
    if !wh.relation_exists(rel).await? {
        let create = snapshot::create(&rel.to_string(), sql, &m.config, &strategy, target_type);
        return wh.execute_long(&create).await;
    }
    let existing = wh.columns(rel).await?;
    let described = wh.describe(sql).await?;
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    // The query's columns the snapshot lacks: added to it after the staging table is built, as
    // dbt's `create_columns` adds them (older rows null).
    let missing: Vec<_> = described
        .iter()
        .filter(|q| !existing.iter().any(|c| same(c, &q.name)))
        .collect();
    let check_cols: Vec<String> = match &strategy {
        snapshot::Strategy::Check { columns: Some(c) } => c.clone(),
        _ => described.iter().map(|c| c.name.clone()).collect(),
    };
    // dbt's `check` strategy: a checked column the snapshot lacks makes every row changed.
    let column_added = matches!(strategy, snapshot::Strategy::Check { .. })
        && check_cols.iter().any(|c| missing.iter().any(|m| same(&m.name, c)));
    let staging = Relation {
        name: format!("{}__snapshot_staging", rel.name),
        ..rel.clone()
    };
    let build = snapshot::staging(
        &staging.to_string(),
        &rel.to_string(),
        sql,
        &m.config,
        &strategy,
        if column_added { &[] } else { &check_cols },
        target_type,
    );
    wh.execute_long(&build).await?;
    for c in &missing {
        wh.execute(&format!(
            "alter table {rel} add column {} {}",
            crate::warehouse::portable_ident(&c.name),
            c.data_type
        ))
        .await?;
    }
    let columns = match missing.is_empty() {
        true => existing,
        false => wh.columns(rel).await?,
    };
    wh.transaction(&snapshot::merge(&rel.to_string(), &staging.to_string(), &columns))
        .await?;
    wh.execute(&format!("drop table if exists {staging}")).await
}

/// Run the project's `on-run-start` hooks.
pub async fn on_run_start(project: &Project, wh: &dyn Warehouse, run: &RunVars) -> Result<()> {
    let scope = run_scope(project, wh, run).await?;
    let at = std::path::Path::new("dbt_project.yml on-run-start");
    for hook in &project.on_run_start {
        let (sql, _) = answered(wh, &scope, |s| render::render(project, hook, at, s)).await?;
        if !sql.trim().is_empty() {
            wh.execute(&sql).await?;
        }
    }
    Ok(())
}

/// Build the given models, each once the models it refs (among those given) are built: up
/// to the warehouse's [`concurrency`](Warehouse::concurrency) at once. Results come back in
/// the given order. After a failure no model starts; those running finish, then the first
/// error is returned.
pub async fn build_models(
    project: &Project,
    wh: &dyn Warehouse,
    run: &RunVars,
    models: &[&Model],
) -> Result<Vec<ModelRun>> {
    ensure_schemas(wh, run, models).await?;
    build_models_in(project, wh, run, models).await
}

/// Create the build schemas of `models` (each once), in one request where the engine allows.
pub async fn ensure_schemas(wh: &dyn Warehouse, run: &RunVars, models: &[&Model]) -> Result<()> {
    // Per database: DuckDB writes one attached database per transaction, and an incremental
    // model's schema is in the warehouse's own while the run's builds may be in its scratch
    // catalog (build_relation).
    let mut by_database: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for m in models.iter().filter(|m| m.config.materialized != "ephemeral") {
        let rel = build_relation(m, wh, &run.run_id);
        let ddl = format!("create schema if not exists {}", rel.schema_path());
        match by_database.iter_mut().find(|(db, _)| *db == rel.database) {
            Some((_, stmts)) if stmts.contains(&ddl) => {}
            Some((_, stmts)) => stmts.push(ddl),
            None => by_database.push((rel.database, vec![ddl])),
        }
    }
    for (_, ddl) in &by_database {
        wh.execute_ddl(ddl).await?;
    }
    Ok(())
}

/// [`build_models`] once their schemas exist ([`ensure_schemas`]).
pub async fn build_models_in(
    project: &Project,
    wh: &dyn Warehouse,
    run: &RunVars,
    models: &[&Model],
) -> Result<Vec<ModelRun>> {
    use futures_util::FutureExt;
    use futures_util::future::BoxFuture;
    use futures_util::stream::{FuturesUnordered, StreamExt};
    // Ephemeral models are not built: their SQL is inlined where they are referenced.
    let models: Vec<&Model> = models
        .iter()
        .copied()
        .filter(|m| m.config.materialized != "ephemeral")
        .collect();
    let models = models.as_slice();
    // One scope for the batch (its ephemeral models compiled once); each model adds `this`.
    let scope = run_scope(project, wh, run).await?;
    let given: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    let mut done: Vec<Option<ModelRun>> = models.iter().map(|_| None).collect();
    let mut waiting: Vec<usize> = (0..models.len()).collect();
    let mut running = FuturesUnordered::new();
    let mut first_error = None;
    // A model whose statement is still running (crate::inflight) holds back its dependents;
    // the others go on, so independent statements are in flight together.
    let mut pending = None;
    loop {
        while first_error.is_none() && running.len() < wh.concurrency().max(1) {
            let ready = waiting.iter().position(|&i| {
                models[i]
                    .refs
                    .iter()
                    .all(|r| given.iter().position(|g| g == r).is_none_or(|j| done[j].is_some()))
            });
            let Some(k) = ready else { break };
            let i = waiting.remove(k);
            let build: BoxFuture<'_, (usize, Result<ModelRun>)> = build_model(project, wh, run, &scope, models[i])
                .map(move |r| (i, r))
                .boxed();
            running.push(build);
        }
        match running.next().await {
            Some((i, Ok(r))) => done[i] = Some(r),
            Some((_, Err(e))) if e.name == crate::error::ErrorName::Pending => {
                pending.get_or_insert(e);
            }
            Some((_, Err(e))) => {
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    if let Some(e) = first_error.or(pending) {
        return Err(e);
    }
    if let Some(&i) = waiting.first() {
        return Err(PipelineError::config(format!(
            "model {} refs a model that is never built (a ref cycle?)",
            models[i].name
        )));
    }
    Ok(done.into_iter().flatten().collect())
}

/// Render and run a model's hooks, in order, with the model's scope (`this` is its build
/// relation). A hook that renders to nothing runs nothing.
async fn run_hooks(
    project: &Project,
    wh: &dyn Warehouse,
    m: &Model,
    scope: &RenderScope,
    which: &str,
    hooks: &[String],
) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        let (sql, _) = answered(wh, scope, |s| render::render(project, hook, &m.path, s))
            .await
            .map_err(|e| e.context(format!("model {} ({}), {which} {}", m.name, m.path.display(), i + 1)))?;
        if !sql.trim().is_empty() {
            wh.execute(&sql)
                .await
                .map_err(|e| e.context(format!("model {} ({}), {which} {}", m.name, m.path.display(), i + 1)))?;
        }
    }
    Ok(())
}

/// An enforced contract, checked as dbt checks it before building: the warehouse describes
/// the model's SQL and the declared columns, and they must agree (a `Landfall.Config` error
/// naming every difference otherwise; nothing is built).
async fn check_contract(wh: &dyn Warehouse, m: &Model, sql: &str) -> Result<()> {
    use landfall_dbt::contract;
    let declared = contract::declared_columns_sql(m);
    let (got, want) = futures_util::future::try_join(wh.describe(sql), wh.describe(&declared))
        .await
        .map_err(|e| e.context(format!("model {} ({}), its contract", m.name, m.path.display())))?;
    let compared = |cols: Vec<crate::warehouse::ResultColumn>| -> Vec<(String, String)> {
        cols.into_iter().map(|c| (c.name, c.family)).collect()
    };
    let wrong = contract::mismatches(&compared(got), &compared(want));
    if wrong.is_empty() {
        return Ok(());
    }
    Err(PipelineError::config(format!(
        "model {} ({}): its enforced contract failed: {}. Make the SQL return the declared columns, or change the contract in the schema file",
        m.name,
        m.path.display(),
        wrong.join("; ")
    )))
}

/// Render one model for its build relation and materialize it, between its hooks.
async fn build_model(
    project: &Project,
    wh: &dyn Warehouse,
    run: &RunVars,
    scope: &RenderScope,
    m: &Model,
) -> Result<ModelRun> {
    let started = Instant::now();
    let rel = build_relation(m, wh, &run.run_id);
    let exists = m.config.materialized == "incremental" && wh.relation_exists(&rel).await?;
    let mut scope = scope.clone();
    scope.this = Some(rel.clone());
    scope.is_incremental = exists && !run.full_refresh;
    let ctx = |e: PipelineError| e.context(format!("model {} ({})", m.name, m.path.display()));
    let (sql, called) = answered(wh, &scope, |s| render::render(project, &m.raw_sql, &m.path, s))
        .await
        .map_err(ctx)?;
    if let Some(r) = called.refs.iter().find(|r| !m.refs.contains(r)) {
        // As dbt: the order of the build was fixed by the parse, which did not see this ref.
        return Err(PipelineError::config(format!(
            "model {} ({}) calls ref('{r}') only when it builds (inside `{{% if execute %}}`?), so the parse could not order the build by it: add `-- depends_on: {{{{ ref('{r}') }}}}` at the top of the model, as dbt asks",
            m.name,
            m.path.display()
        )));
    }
    run_hooks(project, wh, m, &scope, "pre_hook", &m.config.pre_hook).await?;
    if m.config.contract_enforced {
        check_contract(wh, m, &sql).await?;
    }
    match m.config.materialized.as_str() {
        "table" if m.config.contract_enforced => {
            let (create, insert) = landfall_dbt::contract::table_statements(m, &rel, &sql);
            wh.execute(&create).await.map_err(ctx)?;
            wh.execute_long(&insert).await.map_err(ctx)?
        }
        "seed" => {
            let raw = m
                .seed
                .as_ref()
                .ok_or_else(|| PipelineError::config(format!("seed {} ({}) was not read", m.name, m.path.display())))?;
            let seed = raw.typed(wh.target_type())?;
            let mut stmts = landfall_dbt::seed::statements(&seed, &rel.to_string(), wh.target_type()).into_iter();
            if let Some(create) = stmts.next() {
                wh.execute(&create).await.map_err(ctx)?;
            }
            for insert in stmts {
                wh.execute_long(&insert).await.map_err(ctx)?;
            }
        }
        "view" => wh
            .execute(&format!("create or replace view {rel} as\n{sql}"))
            .await
            .map_err(ctx)?,
        "table" => wh
            .execute_long(&format!("create or replace table {rel} as\n{sql}"))
            .await
            .map_err(ctx)?,
        "incremental" if scope.is_incremental => {
            let cols = wh.columns(&rel).await?;
            let col_list = cols.join(", ");
            // A plain table next to the model, not a temporary one: the statements below may
            // run on different connections of a pool. The new rows are computed outside the
            // transaction: Snowflake commits implicitly around DDL, so only the delete and
            // insert sit inside it.
            let tmp = Relation {
                name: format!("{}__incr", rel.name),
                ..rel.clone()
            };
            wh.execute_long(&format!("create or replace table {tmp} as\n{sql}"))
                .await
                .map_err(ctx)?;
            let mut stmts = Vec::new();
            if !m.config.unique_key.is_empty() {
                let keys = m.config.unique_key.join(", ");
                stmts.push(format!(
                    "delete from {rel} where ({keys}) in (select {keys} from {tmp})"
                ));
            }
            stmts.push(format!("insert into {rel} ({col_list}) select {col_list} from {tmp}"));
            wh.transaction(&stmts).await.map_err(ctx)?;
            wh.execute(&format!("drop table if exists {tmp}")).await.map_err(ctx)?
        }
        "incremental" => wh
            .execute_long(&format!("create or replace table {rel} as\n{sql}"))
            .await
            .map_err(ctx)?,
        "snapshot" => build_snapshot(wh, m, &rel, &sql).await.map_err(ctx)?,
        other => {
            return Err(PipelineError::config(format!(
                "{}: materialized='{other}' is not supported",
                m.path.display()
            )));
        }
    }
    run_hooks(project, wh, m, &scope, "post_hook", &m.config.post_hook).await?;
    Ok(ModelRun {
        name: m.name.clone(),
        relation: rel.to_string(),
        materialized: m.config.materialized.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
