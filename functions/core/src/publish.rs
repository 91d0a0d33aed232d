//! Write-audit-publish: copy the audited marts into the schemas people query, in one
//! transaction, keeping every published version in `archive` for rollback.
//!
//! Publishing is plain SQL (`create or replace table … as select …`) inside a transaction,
//! which both engines make atomic: readers see the old marts or the new ones, never a mix.
//! A failed gate never reaches this step, so the published marts stay exactly as they were.

use crate::build::{build_relation, published_relation};
use crate::error::{PipelineError, Result};
use crate::warehouse::{Warehouse, sql_str};
use landfall_dbt::Project;
use serde::{Deserialize, Serialize};

/// Schema holding each published version of each mart, as `<mart>__v<seq>`.
pub const ARCHIVE_SCHEMA: &str = "archive";
/// Published versions kept for rollback.
pub const KEEP_VERSIONS: i64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub publish_seq: i64,
    pub batch: String,
    pub run_id: String,
    pub relations: Vec<String>,
}

fn archived(name: &str, seq: i64) -> String {
    format!("{ARCHIVE_SCHEMA}.{name}__v{seq}")
}

/// The next publish's sequence number.
pub async fn next_seq(wh: &dyn Warehouse) -> Result<i64> {
    Ok(wh
        .query("select coalesce(max(publish_seq), 0) + 1 from audit.publishes")
        .await?
        .scalar_i64())
}

/// Publish every model whose config says `meta: {publish: true}`, as number `seq` (from
/// [`next_seq`]); old versions go with [`prune`].
pub async fn publish(project: &Project, wh: &dyn Warehouse, run_id: &str, batch: &str, seq: i64) -> Result<Published> {
    let models: Vec<_> = project.models.iter().filter(|m| m.config.publish()).collect();
    if models.is_empty() {
        return Err(PipelineError::config(
            "no model is marked for publishing (set +meta: {publish: true} on the marts folder in dbt_project.yml)",
        ));
    }
    // The archive copies come first: new tables nobody reads, so where the engine cannot make
    // them part of the publish's atomic step (Snowflake) a failure only leaves them to be
    // replaced by the next publish.
    let mut prepare = vec![format!("create schema if not exists {ARCHIVE_SCHEMA}")];
    let mut schemas = Vec::new();
    let mut copies = Vec::new();
    let mut names = Vec::new();
    for m in &models {
        let to = published_relation(m);
        if !schemas.contains(&to.schema) {
            prepare.push(format!("create schema if not exists {}", to.schema));
            schemas.push(to.schema.clone());
        }
        let arch = archived(&to.name, seq);
        prepare.push(format!(
            "create or replace table {arch} as select * from {}",
            build_relation(m, wh, run_id)
        ));
        copies.push((arch, to.to_string()));
        names.push(to.to_string());
    }
    let then = vec![
        "update audit.publishes set active = false where active".to_string(),
        format!(
            "insert into audit.publishes (publish_seq, run_id, batch, published_at, active, models) values ({seq}, {}, {}, current_timestamp::timestamp, true, {})",
            sql_str(run_id),
            sql_str(batch),
            sql_str(&names.join(","))
        ),
        // The run succeeds with its publish, in the same commit.
        format!(
            "update audit.runs set published = true, status = 'succeeded', finished_at = coalesce(finished_at, current_timestamp::timestamp) where run_id = {}",
            sql_str(run_id)
        ),
    ];
    wh.publish_tables(&prepare, &copies, &then).await?;
    Ok(Published {
        publish_seq: seq,
        batch: batch.to_string(),
        run_id: run_id.to_string(),
        relations: names,
    })
}

/// Drop archived versions older than the last [`KEEP_VERSIONS`] (publish number `seq` kept).
pub async fn prune(wh: &dyn Warehouse, seq: i64) -> Result<()> {
    let old = wh
        .query(&format!(
            "select publish_seq, models from audit.publishes where publish_seq <= {} and models <> ''",
            seq - KEEP_VERSIONS
        ))
        .await?;
    let mut drops = Vec::new();
    let mut updates = Vec::new();
    for r in &old.rows {
        let s = crate::warehouse::as_i64(&r[0]).unwrap_or(0);
        for rel in r[1].as_str().unwrap_or("").split(',').filter(|x| !x.is_empty()) {
            let name = rel.rsplit('.').next().unwrap_or(rel);
            drops.push(format!("drop table if exists {}", archived(name, s)));
        }
        updates.push(format!(
            "update audit.publishes set models = '' where publish_seq = {s}"
        ));
    }
    // Bookkeeping first: a version marked pruned is never offered for rollback, even where the
    // engine commits the drops on their own (Snowflake).
    updates.extend(drops);
    if updates.is_empty() {
        return Ok(());
    }
    wh.transaction(&updates).await
}

/// Republish the version published before the active one.
pub async fn rollback(wh: &dyn Warehouse) -> Result<Published> {
    let t = wh
        .query("select publish_seq, run_id, batch, models from audit.publishes where active")
        .await
        .map_err(|e| e.context("reading audit.publishes (has anything been published in this warehouse?)"))?;
    let Some(active) = t.rows.first() else {
        return Err(PipelineError::config(
            "nothing has been published yet: there is nothing to roll back",
        ));
    };
    let active_seq = crate::warehouse::as_i64(&active[0]).unwrap_or(0);
    let prev = wh
        .query(&format!(
            "select publish_seq, run_id, batch, models from audit.publishes where publish_seq < {active_seq} and models <> '' order by publish_seq desc limit 1"
        ))
        .await?;
    let Some(p) = prev.rows.first() else {
        return Err(PipelineError::config(format!(
            "the active publish (#{active_seq}) is the oldest one kept: there is no earlier version to roll back to"
        )));
    };
    let seq = crate::warehouse::as_i64(&p[0]).unwrap_or(0);
    let run_id = p[1].as_str().unwrap_or_default().to_string();
    let batch = p[2].as_str().unwrap_or_default().to_string();
    let rels: Vec<String> = p[3]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    let copies: Vec<(String, String)> = rels
        .iter()
        .map(|rel| {
            let name = rel.rsplit('.').next().unwrap_or(rel);
            (archived(name, seq), rel.clone())
        })
        .collect();
    let then = vec![
        "update audit.publishes set active = false where active".to_string(),
        format!("update audit.publishes set active = true where publish_seq = {seq}"),
    ];
    wh.publish_tables(&[], &copies, &then).await?;
    Ok(Published {
        publish_seq: seq,
        batch,
        run_id,
        relations: rels,
    })
}
