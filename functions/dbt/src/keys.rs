//! Every key of dbt's project and schema files, in the places the engine reads them, and what
//! the engine does with it: honours it, knows it changes nothing that is built or tested
//! (inert: descriptions, docs, the semantic layer), or refuses it at load, naming the file,
//! the line and what to do instead. A key the engine does not list is refused: ignoring a
//! setting dbt would act on builds something other than dbt builds, and nothing may be
//! skipped silently (README, "The SQL project"). The list is checked against dbt's own JSON
//! schemas (tests/dbt_compat.rs walks them).

use crate::error::{ProjectError, Result};
use serde_json::Value;
use std::path::Path;

/// Where a key sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The top level of `dbt_project.yml`.
    Project,
    /// A model's configuration: `+key` in `dbt_project.yml`'s `models:`, a schema file's
    /// `config:`, or `{{ config(key=…) }}` in the model.
    ModelConfig,
    /// The top level of a schema file (`models/**/*.yml`).
    SchemaFile,
    /// A model's entry in a schema file.
    Model,
    /// A column's entry (of a model or a source table).
    Column,
    /// A column's `config:`.
    ColumnConfig,
    /// A source's entry.
    Source,
    /// A source's `config:`.
    SourceConfig,
    /// A source table's entry.
    SourceTable,
    /// A source table's `config:`.
    TableConfig,
    /// A data test's configuration (its `config:`, or a config key beside its arguments).
    TestConfig,
    /// A seed's entry in a schema file.
    Seed,
    /// A seed's configuration: `+key` in `dbt_project.yml`'s `seeds:`, or a schema file's
    /// `config:`.
    SeedConfig,
    /// A snapshot's configuration: `+key` in `dbt_project.yml`'s `snapshots:`, a schema
    /// file's `config:`, or `config()` in its `{% snapshot %}` block.
    SnapshotConfig,
    /// A snapshot's entry in a schema file (its properties: columns, tests).
    Snapshot,
    /// An entry of a model's `versions:`.
    Version,
}

impl Place {
    fn describe(self) -> &'static str {
        match self {
            Place::Project => "in dbt_project.yml",
            Place::ModelConfig => "a model config",
            Place::SchemaFile => "at the top of a schema file",
            Place::Model => "a model property",
            Place::Column => "a column property",
            Place::ColumnConfig => "a column config",
            Place::Source => "a source property",
            Place::SourceConfig => "a source config",
            Place::SourceTable => "a source table property",
            Place::TableConfig => "a source table config",
            Place::TestConfig => "a data test config",
            Place::Seed => "a seed property",
            Place::SeedConfig => "a seed config",
            Place::SnapshotConfig => "a snapshot config",
            Place::Snapshot => "a snapshot property",
            Place::Version => "a model version property",
        }
    }
}

/// What the engine does with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handling {
    /// Read and acted on as dbt acts on it.
    Honoured,
    /// Accepted: it changes nothing that is built or tested (documentation, the semantic
    /// layer, governance metadata, dbt's own housekeeping paths).
    Inert,
    /// Refused at load; the text says what to do instead.
    Refused(String),
}

/// The config keys a data test entry may carry beside its arguments (dbt reads these as
/// config, everything else as an argument of the test).
pub const TEST_CONFIG_KEYS: &[&str] = &[
    "severity",
    "where",
    "warn_if",
    "error_if",
    "enabled",
    "tags",
    "meta",
    "description",
    "alias",
    "limit",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "database",
    "schema",
    "group",
];

const DEFAULT_REFUSAL: &str =
    "landfall does not implement it, and ignoring it would build or test something other than dbt does: remove it";

fn refused(why: &str) -> Handling {
    Handling::Refused(why.to_string())
}

/// What the engine does with `key` (a config key without its `+`) holding `value` at `place`.
pub fn handling(place: Place, key: &str, value: &Value) -> Handling {
    use Handling::{Honoured, Inert};
    let key = key.trim_start_matches('+');
    match place {
        Place::Project => match key {
            "name" | "profile" | "model-paths" | "test-paths" | "macro-paths" | "vars" | "on-run-start" | "models"
            | "seeds" | "seed-paths" | "dispatch" | "snapshot-paths" => Honoured,
            // Paths of what dbt keeps for itself or builds nothing from (packages: crate::package).
            "version"
            | "config-version"
            | "require-dbt-version"
            | "clean-targets"
            | "target-path"
            | "log-path"
            | "packages-install-path"
            | "docs-paths"
            | "asset-paths"
            | "analysis-paths"
            | "query-comment"
            | "exposures"
            | "metrics"
            | "semantic-models"
            | "saved-queries"
            | "restrict-access"
            | "dbt-cloud" => Inert,
            "on-run-end" => refused(
                "on-run-end hooks are not run yet: put the statement in on-run-start, or in a model of the marts",
            ),
            "snapshots" => Honoured,
            "sources" | "data_tests" | "tests" | "unit_tests" => refused(
                "project-wide configs of this kind are not applied: set them on each source or test in its schema file",
            ),
            "quoting" => refused("identifier quoting is not configurable: names are used as written"),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::ModelConfig => match key {
            "schema" | "alias" | "enabled" | "tags" | "unique_key" | "meta" => Honoured,
            "materialized" => match value.as_str() {
                Some("table" | "view" | "incremental" | "ephemeral") => Honoured,
                _ => refused("the materializations are table, view, incremental and ephemeral"),
            },
            // What landfall's incremental build does: delete the rows of the new keys, insert
            // the new rows (append when there is no unique_key).
            "incremental_strategy" => match value.as_str() {
                Some("delete+insert" | "append") => Honoured,
                _ => refused("the incremental strategies are delete+insert and append"),
            },
            // New columns of an incremental model are not added: dbt's default, 'ignore'.
            "on_schema_change" => match value.as_str() {
                Some("ignore") => Honoured,
                _ => {
                    refused("only on_schema_change='ignore' (dbt's default) is supported: rebuild with --full-refresh")
                }
            },
            // Enforced: the built columns are checked against the schema file's (load.rs,
            // build.rs); `alias_types` changes nothing since the warehouse reads the types.
            "contract" => match value.as_object() {
                Some(c) if c.keys().all(|k| k == "enforced" || k == "alias_types") => match c.get("enforced") {
                    Some(Value::Bool(true)) => Honoured,
                    _ => Inert,
                },
                _ => refused("a contract has `enforced` and `alias_types`"),
            },
            "description" | "docs" | "persist_docs" | "access" | "group" => Inert,
            // Run before / after the model's build, in the run's warehouse session.
            "pre_hook" | "post_hook" | "pre-hook" | "post-hook" => Honoured,
            "grants" => refused(
                "landfall grants nothing on the models it builds: grant on the published schemas (infra/snowflake/setup.sql)",
            ),
            "database" => refused("models build in the run's own warehouse database: remove it"),
            "full_refresh" => refused("full_refresh is set per run (landfall run --full-refresh): remove it"),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::SchemaFile => match key {
            "models" | "sources" => Honoured,
            "version" | "macros" | "exposures" | "metrics" | "semantic_models" | "saved_queries" | "groups"
            | "analyses" | "anchors" | "data_tests" => Inert,
            // Run in the gate; their own keys are checked by unit::parse.
            "unit_tests" => Honoured,
            "seeds" => Honoured,
            "snapshots" => Honoured,
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Model => match key {
            "name" | "columns" | "config" | "tests" | "data_tests" | "meta" | "tags" => Honoured,
            // Model-level constraints are refused under an enforced contract (load.rs).
            "description"
            | "docs"
            | "access"
            | "group"
            | "deprecation_date"
            | "constraints"
            | "time_spine"
            | "semantic_model"
            | "metrics"
            | "agg_time_dimension"
            | "primary_entity"
            | "derived_semantics"
            | "static_analysis_off_reason" => Inert,
            // Each version becomes a model `<name>_v<v>` (load.rs, expand_versions).
            "versions" | "latest_version" => Honoured,
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Column => match key {
            // data_type and constraints act under an enforced contract (checked at load).
            "name" | "tests" | "data_tests" | "data_type" | "constraints" => Honoured,
            "description" | "meta" | "tags" | "config" | "granularity" | "dimension" | "entity" => Inert,
            "quote" => match value.as_bool() {
                Some(false) => Inert,
                _ => refused("quoted column names are not supported: name the column as an unquoted identifier"),
            },
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::ColumnConfig => match key {
            "meta" | "tags" => Inert,
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Source | Place::SourceTable | Place::SourceConfig | Place::TableConfig => match key {
            "name" | "tables" if place == Place::Source => Honoured,
            "schema" if place == Place::Source => Honoured,
            "name" | "identifier" | "columns" | "tests" | "data_tests" if place == Place::SourceTable => Honoured,
            "config" if matches!(place, Place::Source | Place::SourceTable) => Honoured,
            "meta" => Honoured,
            "description" | "loader" | "tags" => Inert,
            "enabled" => match value.as_bool() {
                Some(true) => Inert,
                _ => refused("disabled sources are not supported: remove the source instead"),
            },
            // Checked in the gate (load::freshness_tests).
            "freshness" | "loaded_at_field" => Honoured,
            "loaded_at_query" => refused("set loaded_at_field (a column or an expression) instead"),
            "database" | "catalog" => refused("sources are read from the run's own warehouse database: remove it"),
            "quoting" => refused("identifier quoting is not configurable: names are used as written"),
            "external" => refused("external tables are not supported: land the files instead"),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Seed => match key {
            "name" | "columns" | "config" | "tests" | "data_tests" => Honoured,
            "description" | "static_analysis_off_reason" => Inert,
            _ => refused(DEFAULT_REFUSAL),
        },
        // Read by crate::seed (column_types, delimiter) and as a model's (the rest).
        Place::SeedConfig => match key {
            "schema" | "alias" | "enabled" | "tags" | "meta" | "column_types" | "delimiter" => Honoured,
            "description" | "docs" | "persist_docs" | "group" => Inert,
            "quote_columns" => refused(
                "a seed's columns are quoted when they are not plain lower-case names, on every engine: remove quote_columns",
            ),
            "pre_hook" | "post_hook" | "pre-hook" | "post-hook" => {
                refused("hooks do not run around seeds: put the statement in on-run-start or a model's hook")
            }
            "full_refresh" => refused("a seed is loaded afresh on every run: remove full_refresh"),
            "database" => refused("seeds load into the run's own warehouse database: remove it"),
            "grants" => refused("landfall grants nothing on what it builds: grant on the published schemas"),
            "materialized" => refused("a seed is a table: remove materialized"),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Version => match key {
            "v" | "defined_in" | "columns" | "config" | "tests" | "data_tests" | "meta" | "tags" | "constraints" => {
                Honoured
            }
            "description" | "docs" | "deprecation_date" | "access" | "group" => Inert,
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::Snapshot => match key {
            "name" | "columns" | "config" | "tests" | "data_tests" => Honoured,
            "description" | "static_analysis_off_reason" => Inert,
            "relation" => refused(
                "a snapshot defined in YAML (relation:) is not supported yet: define it in a {% snapshot %} block in snapshots/",
            ),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::SnapshotConfig => match key {
            "unique_key" | "updated_at" | "check_cols" | "target_schema" | "schema" | "alias" | "enabled" | "tags"
            | "meta" | "pre_hook" | "post_hook" | "pre-hook" | "post-hook" => Honoured,
            "strategy" => match value.as_str() {
                Some("timestamp" | "check") => Honoured,
                _ => refused("the snapshot strategies are timestamp and check"),
            },
            // A row gone from the source stays current (dbt's default) or is closed.
            "hard_deletes" => match value.as_str() {
                Some("ignore" | "invalidate") => Honoured,
                _ => refused(
                    "hard_deletes is 'ignore' (a row gone from the source stays current) or 'invalidate' (it is closed); 'new_record' is not supported",
                ),
            },
            "invalidate_hard_deletes" => match value.as_bool() {
                Some(_) => Honoured,
                None => refused("invalidate_hard_deletes is true or false"),
            },
            "description" | "docs" | "persist_docs" | "group" => Inert,
            "target_database" | "database" => {
                refused("snapshots are kept in the run's own warehouse database: remove it")
            }
            "snapshot_meta_column_names" | "dbt_valid_to_current" => refused(
                "the snapshot's columns are dbt's defaults (dbt_valid_from, dbt_valid_to null while current, …): remove it",
            ),
            "grants" => refused("landfall grants nothing on what it builds: grant on the published schemas"),
            "materialized" => refused("a snapshot is a snapshot: remove materialized"),
            _ => refused(DEFAULT_REFUSAL),
        },
        Place::TestConfig => match key {
            "severity" | "where" | "warn_if" | "error_if" | "enabled" => Honoured,
            "tags" | "meta" | "description" | "alias" | "group" => Inert,
            "fail_calc" => match value.as_str().map(|s| s.replace(' ', "").to_ascii_lowercase()) {
                Some(s) if s == "count(*)" => Honoured,
                _ => refused("a test's failures are counted with count(*): remove fail_calc"),
            },
            // The failing rows into `<schema>.<test name>` (compile::failures_relation).
            "store_failures" | "schema" => Honoured,
            "store_failures_as" => match value.as_str() {
                Some("table") => Honoured,
                _ => refused("failing rows are stored as a table: store_failures_as: table"),
            },
            "database" => refused("failing rows are stored in the run's own warehouse database: remove it"),
            "limit" => refused("a test counts all its failing rows: remove limit"),
            _ => refused(DEFAULT_REFUSAL),
        },
    }
}

/// The first line (1-based) of `text` that sets `key`: `key:` or `+key:` in YAML (block or
/// flow style, quoted or not), `key=` in a `config()` call.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let bare = key.trim_start_matches('+');
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    text.lines()
        .position(|l| {
            l.match_indices(bare).any(|(i, _)| {
                let before = l[..i].trim_end_matches(['+', '"', '\'']).chars().next_back();
                let after = l[i + bare.len()..].trim_start_matches(['"', '\'']).trim_start();
                !before.is_some_and(word)
                    && (after.starts_with(':') || (after.starts_with('=') && !after.starts_with("==")))
            })
        })
        .map(|i| i + 1)
}

/// `file line N` where `text` first sets `key`, else just the file: where a message points.
pub fn located(file: &Path, text: &str, key: &str) -> String {
    match line_of(text, key) {
        Some(n) => format!("{} line {n}", file.display()),
        None => file.display().to_string(),
    }
}

/// Refuse `key` at `place` (in `file`, whose text is `text`) unless the engine honours it or
/// knows it to be inert.
pub fn check(place: Place, key: &str, value: &Value, file: &Path, text: &str) -> Result<()> {
    match handling(place, key, value) {
        Handling::Honoured | Handling::Inert => Ok(()),
        Handling::Refused(why) => {
            let at = located(file, text, key);
            Err(ProjectError::config(format!(
                "{at}: `{}` ({}) is not supported: {why}",
                key.trim_start_matches('+'),
                place.describe()
            )))
        }
    }
}

/// [`check`] every key of a YAML mapping (nothing when it is not one).
pub fn check_mapping(place: Place, node: &serde_yaml::Value, file: &Path, text: &str) -> Result<()> {
    if let serde_yaml::Value::Mapping(m) = node {
        for (k, v) in m {
            if let Some(k) = k.as_str() {
                let v = serde_json::to_value(v).unwrap_or(Value::Null);
                check(place, k, &v, file, text)?;
            }
        }
    }
    Ok(())
}

/// [`check_mapping`] a node at `place`, and its `config:` at `config_place`.
pub fn check_node(place: Place, config_place: Place, node: &serde_yaml::Value, file: &Path, text: &str) -> Result<()> {
    check_mapping(place, node, file, text)?;
    match node.get("config") {
        Some(c) => check_mapping(config_place, c, file, text),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refusal_names_the_line_and_what_to_do() {
        let text = "models:\n  - name: m\n    config:\n      +grants: {select: [r]}\n";
        let e = check(Place::ModelConfig, "grants", &json!({}), Path::new("m.yml"), text).unwrap_err();
        assert_eq!(
            handling(Place::ModelConfig, "+post-hook", &json!("select 1")),
            Handling::Honoured
        );
        assert!(
            e.message.starts_with("m.yml line 4: `grants` (a model config)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("setup.sql"), "{}", e.message);
    }

    #[test]
    fn values_decide_where_dbt_has_several_behaviours() {
        let h = |k, v| handling(Place::ModelConfig, k, &v);
        assert_eq!(h("materialized", json!("view")), Handling::Honoured);
        assert_eq!(h("materialized", json!("ephemeral")), Handling::Honoured);
        assert!(matches!(
            h("materialized", json!("materialized_view")),
            Handling::Refused(_)
        ));
        assert!(matches!(
            h("incremental_strategy", json!("merge")),
            Handling::Refused(_)
        ));
        assert_eq!(h("contract", json!({"enforced": false})), Handling::Inert);
        assert_eq!(h("contract", json!({"enforced": true})), Handling::Honoured);
        assert!(matches!(h("contract", json!({"enforce": true})), Handling::Refused(_)));
        assert!(matches!(h("not_a_dbt_key", json!(1)), Handling::Refused(_)));
        let t = |k, v| handling(Place::TestConfig, k, &v);
        assert_eq!(t("fail_calc", json!("COUNT( * )")), Handling::Honoured);
        assert!(matches!(t("fail_calc", json!("sum(n)")), Handling::Refused(_)));
        assert_eq!(t("store_failures", json!(true)), Handling::Honoured);
        assert!(matches!(t("store_failures_as", json!("view")), Handling::Refused(_)));
    }

    #[test]
    fn lines_are_found_in_yaml_and_in_config_calls() {
        assert_eq!(line_of("a: 1\n  - +b: 2\n", "b"), Some(2));
        assert_eq!(line_of("{{ config(x=1,\n  post_hook='s') }}", "post_hook"), Some(2));
        assert_eq!(line_of("where a == b", "a"), None);
    }
}
