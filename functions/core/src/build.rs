//! Building models: render each model for its target relation and materialize it.
//!
//! Models are built into *build schemas* (`build_<schema>`) where no consumer looks; the
//! publish step later copies the audited marts into the schemas people query
//! (write-audit-publish, DESIGN.md §6).

use crate::error::{PipelineError, Result};
use crate::project::{Model, Project, Relation, RenderScope, render};
use crate::warehouse::Warehouse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Instant;

/// Prefix of the schemas models are built in before they are published.
pub const BUILD_PREFIX: &str = "build_";

/// What every step needs to know about the run; the state machine carries it as `$.run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunVars {
    pub run_id: String,
    pub batch: String,
    #[serde(default)]
    pub full_refresh: bool,
    /// The landing bucket (locally: the landing folder).
    #[serde(default)]
    pub bucket: String,
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

/// Where a model is built.
/// An incremental model stays in the warehouse's own database even when builds go elsewhere
/// ([`Warehouse::build_catalog`]): it grows from its previous build.
pub fn build_relation(m: &Model, wh: &dyn Warehouse) -> Relation {
    Relation {
        database: wh
            .build_catalog()
            .filter(|_| m.config.materialized != "incremental")
            .map(str::to_string),
        ..Relation::new(
            format!("{BUILD_PREFIX}{}", m.config.schema.as_deref().unwrap_or("main")),
            m.config.alias.clone().unwrap_or_else(|| m.name.clone()),
        )
    }
}

/// Where a published model is read by consumers.
pub fn published_relation(m: &Model) -> Relation {
    Relation::new(
        m.config.schema.as_deref().unwrap_or("main"),
        m.config.alias.clone().unwrap_or_else(|| m.name.clone()),
    )
}

/// The render scope of a run: every `ref` points at a build relation.
pub fn run_scope(project: &Project, wh: &dyn Warehouse, run: &RunVars) -> RenderScope {
    RenderScope {
        target: project.target(wh.target_type(), &wh.database()),
        vars: run.vars(project),
        models: project
            .models
            .iter()
            .map(|m| (m.name.clone(), build_relation(m, wh)))
            .collect(),
        sources: project
            .sources
            .iter()
            .map(|s| {
                (
                    (s.source.clone(), s.name.clone()),
                    Relation::new(s.schema.clone(), s.identifier.clone()),
                )
            })
            .collect(),
        this: None,
        is_incremental: false,
        invocation_id: run.run_id.clone(),
        parsing: false,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    pub name: String,
    pub relation: String,
    pub materialized: String,
    pub duration_ms: u64,
}

/// Run the project's `on-run-start` hooks.
pub async fn on_run_start(project: &Project, wh: &dyn Warehouse, run: &RunVars) -> Result<()> {
    let scope = run_scope(project, wh, run);
    for hook in &project.on_run_start {
        let (sql, _) = render::render(
            project,
            hook,
            std::path::Path::new("dbt_project.yml on-run-start"),
            &scope,
        )?;
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
    use futures_util::FutureExt;
    use futures_util::future::BoxFuture;
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let mut schemas: Vec<String> = Vec::new();
    for m in models {
        let schema = build_relation(m, wh).schema_path();
        if !schemas.contains(&schema) {
            wh.ensure_schema(&schema).await?;
            schemas.push(schema);
        }
    }
    let given: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    let mut done: Vec<Option<ModelRun>> = models.iter().map(|_| None).collect();
    let mut waiting: Vec<usize> = (0..models.len()).collect();
    let mut running = FuturesUnordered::new();
    let mut first_error = None;
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
            let build: BoxFuture<'_, (usize, Result<ModelRun>)> =
                build_model(project, wh, run, models[i]).map(move |r| (i, r)).boxed();
            running.push(build);
        }
        match running.next().await {
            Some((i, Ok(r))) => done[i] = Some(r),
            Some((_, Err(e))) => {
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    if let Some(e) = first_error {
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

/// Render one model for its build relation and materialize it.
async fn build_model(project: &Project, wh: &dyn Warehouse, run: &RunVars, m: &Model) -> Result<ModelRun> {
    let started = Instant::now();
    let rel = build_relation(m, wh);
    let exists = m.config.materialized == "incremental" && wh.relation_exists(&rel).await?;
    let mut scope = run_scope(project, wh, run);
    scope.this = Some(rel.clone());
    scope.is_incremental = exists && !run.full_refresh;
    let (sql, _) = render::render(project, &m.raw_sql, &m.path, &scope)?;
    let ctx = |e: PipelineError| e.context(format!("model {} ({})", m.name, m.path.display()));
    match m.config.materialized.as_str() {
        "view" => wh
            .execute(&format!("create or replace view {rel} as\n{sql}"))
            .await
            .map_err(ctx)?,
        "table" => wh
            .execute(&format!("create or replace table {rel} as\n{sql}"))
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
            wh.execute(&format!("create or replace table {tmp} as\n{sql}"))
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
            .execute(&format!("create or replace table {rel} as\n{sql}"))
            .await
            .map_err(ctx)?,
        other => {
            return Err(PipelineError::config(format!(
                "{}: materialized='{other}' is not supported",
                m.path.display()
            )));
        }
    }
    Ok(ModelRun {
        name: m.name.clone(),
        relation: rel.to_string(),
        materialized: m.config.materialized.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
