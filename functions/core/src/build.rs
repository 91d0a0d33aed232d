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
pub fn build_relation(m: &Model) -> Relation {
    Relation::new(
        format!("{BUILD_PREFIX}{}", m.config.schema.as_deref().unwrap_or("main")),
        m.config.alias.clone().unwrap_or_else(|| m.name.clone()),
    )
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
            .map(|m| (m.name.clone(), build_relation(m)))
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

/// Build the given models in order.
pub async fn build_models(
    project: &Project,
    wh: &dyn Warehouse,
    run: &RunVars,
    models: &[&Model],
) -> Result<Vec<ModelRun>> {
    let mut out = Vec::new();
    let mut schemas: Vec<String> = Vec::new();
    for m in models {
        let started = Instant::now();
        let rel = build_relation(m);
        if !schemas.contains(&rel.schema) {
            wh.ensure_schema(&rel.schema).await?;
            schemas.push(rel.schema.clone());
        }
        let exists = m.config.materialized == "incremental" && wh.relation_exists(&rel.schema, &rel.name).await?;
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
                let cols = wh.columns(&rel.schema, &rel.name).await?;
                let col_list = cols.join(", ");
                let tmp = format!("{}__incr", rel.name);
                // The new rows are computed outside the transaction: Snowflake commits
                // implicitly around DDL, so only the delete and insert sit inside it.
                wh.execute(&format!("create or replace temporary table {tmp} as\n{sql}"))
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
        out.push(ModelRun {
            name: m.name.clone(),
            relation: rel.to_string(),
            materialized: m.config.materialized.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }
    Ok(out)
}
