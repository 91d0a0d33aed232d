//! Snapshots, as dbt builds them: `{% snapshot name %}…{% endsnapshot %}` blocks in the
//! snapshot paths, each a table of the query's rows with dbt's columns (`dbt_scd_id`,
//! `dbt_updated_at`, `dbt_valid_from`, `dbt_valid_to`, null while current). The first build
//! creates it; each later build closes the current rows that changed (strategy `timestamp`: a
//! newer `updated_at`; `check`: a `check_cols` value differs) and inserts their new versions and
//! the new keys, through a staging table as dbt's snapshot materialization does (its SQL, here
//! in Rust, so both engines run the same statements). Rows gone from the source stay current
//! (dbt's `hard_deletes: ignore`), or are closed at the build's time (`invalidate`).

use crate::error::{ProjectError, Result};
use crate::load::ModelConfig;
use std::path::Path;

/// One `{% snapshot %}` block of a file: its name, its body, the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    pub body: String,
    pub line: usize,
}

/// The `{% snapshot name %}` blocks of `text` (from `file`, for messages).
pub fn blocks(file: &Path, text: &str) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = find_tag(rest, "snapshot") {
        let (start, end, inner) = open;
        let name = inner.trim_start_matches("snapshot").trim().to_string();
        let line = text[..offset + start].matches('\n').count() + 1;
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(ProjectError::config(format!(
                "{} line {line}: a snapshot block is {{% snapshot name %}}, found {{% {inner} %}}",
                file.display()
            )));
        }
        let after = &rest[end..];
        let Some((close_start, close_end, _)) = find_tag(after, "endsnapshot") else {
            return Err(ProjectError::config(format!(
                "{} line {line}: snapshot {name} has no {{% endsnapshot %}}",
                file.display()
            )));
        };
        out.push(Block {
            name,
            body: after[..close_start].to_string(),
            line,
        });
        offset += end + close_end;
        rest = &after[close_end..];
    }
    Ok(out)
}

/// The first `{% word … %}` tag of `text`: (start, end, its inner text).
fn find_tag<'a>(text: &'a str, word: &str) -> Option<(usize, usize, &'a str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("{%") {
        let start = from + i;
        let end = start + text[start..].find("%}")? + 2;
        let inner = text[start + 2..end - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if inner == word || inner.starts_with(&format!("{word} ")) {
            return Some((start, end, inner));
        }
        from = end;
    }
    None
}

/// A snapshot's strategy, from its config.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// A row changed when its `updated_at` is newer than its current version's.
    Timestamp { updated_at: String },
    /// A row changed when one of these columns differs (`None`: every column of the query).
    Check { columns: Option<Vec<String>> },
}

/// What a snapshot's config must say, checked at load: `unique_key`, `strategy` and what the
/// strategy needs.
pub fn strategy(config: &ModelConfig, at: &str) -> Result<Strategy> {
    let refuse = |why: &str| Err(ProjectError::config(format!("{at}: {why}")));
    if config.unique_key.is_empty() {
        return refuse("a snapshot needs a unique_key, as in dbt");
    }
    match config.strategy.as_deref() {
        Some("timestamp") => match &config.updated_at {
            Some(u) => Ok(Strategy::Timestamp { updated_at: u.clone() }),
            None => refuse("strategy 'timestamp' needs updated_at, as in dbt"),
        },
        Some("check") => match &config.check_cols {
            Some(serde_json::Value::String(s)) if s == "all" => Ok(Strategy::Check { columns: None }),
            Some(serde_json::Value::Array(cols)) if !cols.is_empty() => Ok(Strategy::Check {
                columns: Some(cols.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()),
            }),
            _ => refuse("strategy 'check' needs check_cols: 'all' or a list of columns, as in dbt"),
        },
        Some(other) => refuse(&format!(
            "the snapshot strategies are timestamp and check, not '{other}'"
        )),
        None => refuse("a snapshot needs a strategy (timestamp or check), as in dbt"),
    }
}

/// What the engine calls "now" for a snapshot, as dbt's adapters do (`snapshot_get_time`).
pub fn now(target_type: &str) -> &'static str {
    match target_type {
        "snowflake" => "to_timestamp_ntz(current_timestamp())",
        _ => "now()::timestamp",
    }
}

/// The `updated_at` expression a strategy stamps rows with.
fn stamp(strategy: &Strategy, target_type: &str) -> String {
    match strategy {
        Strategy::Timestamp { updated_at } => updated_at.clone(),
        Strategy::Check { .. } => now(target_type).to_string(),
    }
}

/// dbt's `snapshot_hash_arguments`: an md5 of the arguments as text, `|` between.
fn scd_id(args: &[String]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| format!("coalesce(cast({a} as varchar), '')"))
        .collect();
    format!("md5({})", parts.join(" || '|' || "))
}

/// The unique key's columns in a staging select (`dbt_unique_key`, or `_1`, `_2` … for a list).
fn key_fields(keys: &[String]) -> Vec<(String, String)> {
    match keys {
        [one] => vec![(one.clone(), "dbt_unique_key".into())],
        many => many
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), format!("dbt_unique_key_{}", i + 1)))
            .collect(),
    }
}

/// The first build: the query's rows, each its first version.
pub fn create(target: &str, sql: &str, config: &ModelConfig, strategy: &Strategy, target_type: &str) -> String {
    let u = stamp(strategy, target_type);
    let mut args = config.unique_key.clone();
    args.push(u.clone());
    format!(
        "create table {target} as\nselect *,\n    {} as dbt_scd_id,\n    {u} as dbt_updated_at,\n    {u} as dbt_valid_from,\n    coalesce(nullif({u}, {u}), null) as dbt_valid_to\nfrom (\n{sql}\n) sbq",
        scd_id(&args)
    )
}

/// The staging table of a later build, as dbt's `snapshot_staging_table`: the rows to insert
/// (new keys, new versions of changed rows) and the current rows to close (by `dbt_scd_id`).
/// `check_cols` are the columns `check` compares (for `all`: every column of the query); none
/// means every row changed (dbt's `get_true_sql` when a checked column is new).
pub fn staging(
    staging: &str,
    target: &str,
    sql: &str,
    config: &ModelConfig,
    strategy: &Strategy,
    check_cols: &[String],
    target_type: &str,
) -> String {
    let u = stamp(strategy, target_type);
    let fields = key_fields(&config.unique_key);
    let select_keys = fields
        .iter()
        .map(|(k, f)| format!("{k} as {f}"))
        .collect::<Vec<_>>()
        .join(", ");
    let join = fields
        .iter()
        .map(|(_, f)| format!("snapshotted_data.{f} = source_data.{f}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let all = |side: &str, test: &str| {
        fields
            .iter()
            .map(|(_, f)| format!("{side}.{f} {test}"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let changed = match strategy {
        Strategy::Timestamp { updated_at } => format!("(snapshotted_data.dbt_valid_from < source_data.{updated_at})"),
        Strategy::Check { .. } => {
            let per: Vec<String> = check_cols
                .iter()
                .map(|c| {
                    format!(
                        "snapshotted_data.{c} != source_data.{c} or ((snapshotted_data.{c} is null) and not (source_data.{c} is null)) or ((not snapshotted_data.{c} is null) and (source_data.{c} is null))"
                    )
                })
                .collect();
            match per.is_empty() {
                true => "(TRUE)".to_string(),
                false => format!("({})", per.join(" or ")),
            }
        }
    };
    let mut args = config.unique_key.clone();
    args.push(u.clone());
    let scd = scd_id(&args);
    // dbt's deletes: the current rows whose key the source no longer has, closed now.
    let (deletes, union_deletes) = if config.invalidate_hard_deletes {
        let now = now(target_type);
        (
            format!(
                ",
deletes_source_data as (
    select *, {select_keys} from snapshot_query
),
deletes as (
    select 'delete' as dbt_change_type, source_data.*, {now} as dbt_valid_from, {now} as dbt_updated_at,
        {now} as dbt_valid_to, snapshotted_data.dbt_scd_id
    from snapshotted_data
    left join deletes_source_data as source_data on {join}
    where {}
)",
                all("source_data", "is null")
            ),
            "\nunion all\nselect * from deletes".to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        "create or replace table {staging} as
with snapshot_query as (
{sql}
),
snapshotted_data as (
    select *, {select_keys} from {target} where dbt_valid_to is null
),
insertions_source_data as (
    select *, {select_keys}, {u} as dbt_updated_at, {u} as dbt_valid_from,
        coalesce(nullif({u}, {u}), null) as dbt_valid_to, {scd} as dbt_scd_id
    from snapshot_query
),
updates_source_data as (
    select *, {select_keys}, {u} as dbt_updated_at, {u} as dbt_valid_from, {u} as dbt_valid_to
    from snapshot_query
),
insertions as (
    select 'insert' as dbt_change_type, source_data.*
    from insertions_source_data as source_data
    left outer join snapshotted_data on {join}
    where {} or ({} and ({changed}))
),
updates as (
    select 'update' as dbt_change_type, source_data.*, snapshotted_data.dbt_scd_id
    from updates_source_data as source_data
    join snapshotted_data on {join}
    where ({changed})
){deletes}
select * from insertions
union all
select * from updates{union_deletes}",
        all("snapshotted_data", "is null"),
        all("snapshotted_data", "is not null"),
    )
}

/// The merge of the staging table into the snapshot, in one transaction: close the changed
/// current rows, insert the new versions (`columns`: the snapshot's).
pub fn merge(target: &str, staging: &str, columns: &[String]) -> Vec<String> {
    let cols = columns.join(", ");
    let source_cols = columns
        .iter()
        .map(|c| format!("DBT_INTERNAL_SOURCE.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        format!(
            "update {target} as DBT_INTERNAL_TARGET set dbt_valid_to = DBT_INTERNAL_SOURCE.dbt_valid_to from {staging} as DBT_INTERNAL_SOURCE where DBT_INTERNAL_SOURCE.dbt_scd_id = DBT_INTERNAL_TARGET.dbt_scd_id and DBT_INTERNAL_SOURCE.dbt_change_type in ('update', 'delete') and DBT_INTERNAL_TARGET.dbt_valid_to is null"
        ),
        format!(
            "insert into {target} ({cols}) select {source_cols} from {staging} as DBT_INTERNAL_SOURCE where DBT_INTERNAL_SOURCE.dbt_change_type = 'insert'"
        ),
    ]
}

/// dbt's own columns of a snapshot, which `check_cols: all` does not compare.
pub const DBT_COLUMNS: &[&str] = &["dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_with_their_names_and_lines() {
        let text =
            "-- two\n{% snapshot a %}\nselect 1\n{% endsnapshot %}\n\n{%- snapshot b -%}select 2{%- endsnapshot -%}\n";
        let b = blocks(Path::new("s.sql"), text).unwrap();
        assert_eq!(
            b.iter().map(|b| (b.name.as_str(), b.line)).collect::<Vec<_>>(),
            [("a", 2), ("b", 6)]
        );
        assert_eq!(b[0].body, "\nselect 1\n");
        assert_eq!(b[1].body, "select 2");
        let e = blocks(Path::new("s.sql"), "{% snapshot a %}select 1").unwrap_err();
        assert!(
            e.message.contains("s.sql line 1: snapshot a has no {% endsnapshot %}"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_strategy_needs_what_dbt_needs() {
        let cfg = |s: &str, extra: &dyn Fn(&mut ModelConfig)| {
            let mut c = ModelConfig {
                unique_key: vec!["id".into()],
                strategy: Some(s.into()),
                ..Default::default()
            };
            extra(&mut c);
            strategy(&c, "s.sql").map_err(|e| e.message)
        };
        assert!(cfg("timestamp", &|_| {}).unwrap_err().contains("needs updated_at"));
        assert_eq!(
            cfg("timestamp", &|c| c.updated_at = Some("u".into())).unwrap(),
            Strategy::Timestamp { updated_at: "u".into() }
        );
        assert_eq!(
            cfg("check", &|c| c.check_cols = Some(serde_json::json!("all"))).unwrap(),
            Strategy::Check { columns: None }
        );
        assert!(cfg("check", &|_| {}).unwrap_err().contains("needs check_cols"));
        assert!(cfg("merge", &|_| {}).unwrap_err().contains("timestamp and check"));
    }
}
