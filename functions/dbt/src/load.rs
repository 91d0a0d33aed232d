//! Reading a dbt project folder into [`Project`].

use super::render::{self, Captured, RenderScope, Target};
use crate::error::{ProjectError, Result};
use crate::keys::{self, Place};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Model configuration after folder defaults and the model's own `config()` call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelConfig {
    /// `table`, `view` or `incremental`.
    pub materialized: String,
    /// Custom schema (dbt's `schema` config); `None` means the target schema.
    pub schema: Option<String>,
    pub tags: Vec<String>,
    pub unique_key: Vec<String>,
    pub enabled: bool,
    pub alias: Option<String>,
    pub meta: Map<String, Value>,
    /// SQL run before / after the model is built, with `this` the model's relation; every
    /// level's hooks add up, the project's before the model's own (as dbt has them).
    pub pre_hook: Vec<String>,
    pub post_hook: Vec<String>,
    /// `contract: {enforced: true}`: the built columns must be the schema file's, name and
    /// `data_type`, or the build fails (and a table is created with those types).
    pub contract_enforced: bool,
    /// A seed's `column_types` (column → the engine's type) and `delimiter`.
    pub column_types: Map<String, Value>,
    pub delimiter: Option<String>,
    /// A snapshot's `strategy`, `updated_at`, `check_cols` and whether a row gone from the
    /// source is closed (`hard_deletes: invalidate`, dbt's older `invalidate_hard_deletes`).
    pub strategy: Option<String>,
    pub updated_at: Option<String>,
    pub check_cols: Option<Value>,
    pub invalidate_hard_deletes: bool,
}

/// A hook config's statements: a string, a `{sql: …}` mapping, or a list of either.
fn hook_statements(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => o
            .get("sql")
            .and_then(Value::as_str)
            .map(str::to_string)
            .into_iter()
            .collect(),
        Value::Array(a) => a.iter().flat_map(hook_statements).collect(),
        _ => vec![],
    }
}

impl ModelConfig {
    fn apply(&mut self, key: &str, v: &Value) -> Result<()> {
        let key = key.trim_start_matches('+');
        match key {
            "materialized" => self.materialized = v.as_str().unwrap_or_default().to_string(),
            "schema" => self.schema = v.as_str().map(str::to_string),
            "alias" => self.alias = v.as_str().map(str::to_string),
            "enabled" => self.enabled = v.as_bool().unwrap_or(true),
            "tags" | "tag" => {
                let more: Vec<String> = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                    _ => vec![],
                };
                for t in more {
                    if !self.tags.contains(&t) {
                        self.tags.push(t);
                    }
                }
            }
            "unique_key" => {
                self.unique_key = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                    _ => vec![],
                }
            }
            "pre_hook" | "pre-hook" => self.pre_hook.extend(hook_statements(v)),
            "post_hook" | "post-hook" => self.post_hook.extend(hook_statements(v)),
            "contract" => {
                if let Some(e) = v.get("enforced").and_then(Value::as_bool) {
                    self.contract_enforced = e;
                }
            }
            "meta" => {
                if let Value::Object(m) = v {
                    for (k, x) in m {
                        self.meta.insert(k.clone(), x.clone());
                    }
                }
            }
            "column_types" => {
                if let Value::Object(m) = v {
                    self.column_types.extend(m.clone());
                }
            }
            "delimiter" => self.delimiter = v.as_str().map(str::to_string),
            "strategy" => self.strategy = v.as_str().map(str::to_string),
            "updated_at" => self.updated_at = v.as_str().map(str::to_string),
            "check_cols" => self.check_cols = Some(v.clone()),
            "hard_deletes" => self.invalidate_hard_deletes = v.as_str() == Some("invalidate"),
            "invalidate_hard_deletes" => self.invalidate_hard_deletes = v.as_bool().unwrap_or(false),
            // A snapshot's schema, as written (dbt's legacy target_schema).
            "target_schema" => self.schema = v.as_str().map(str::to_string),
            _ => {} // other dbt configs (docs, persist_docs, …) mean nothing here
        }
        Ok(())
    }

    /// Published models carry `meta: {publish: true}` (set per folder in dbt_project.yml).
    pub fn publish(&self) -> bool {
        self.meta.get("publish").and_then(Value::as_bool).unwrap_or(false)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub tests: Vec<TestSpec>,
    /// `data_type`, as written: what an enforced contract holds the column to.
    pub data_type: Option<String>,
    /// The `type` of each of its `constraints` (under an enforced contract).
    pub constraints: Vec<String>,
    /// Where it is declared (`models/x.yml line 7`), for messages.
    pub at: String,
}

/// What a test is attached to.
#[derive(Debug, Clone, PartialEq)]
pub enum TestTarget {
    Model(String),
    Source(String, String),
}

/// A test as declared: generic (from a schema file) or singular (a file in `tests/`).
#[derive(Debug, Clone, PartialEq)]
pub struct TestSpec {
    /// Unique, dbt-style name, e.g. `not_null_stg_titles_title_id`.
    pub name: String,
    /// `not_null`, `unique`, … or `singular`.
    pub kind: String,
    pub target: Option<TestTarget>,
    pub column: Option<String>,
    pub args: Map<String, Value>,
    /// `error` or `warn`.
    pub severity: String,
    pub where_: Option<String>,
    pub warn_if: String,
    pub error_if: String,
    /// For singular tests: the file and its SQL.
    pub path: Option<PathBuf>,
    pub sql: Option<String>,
    /// `store_failures: true`: the failing rows go to a table named after the test, in the
    /// `dbt_test__audit` schema (or the test's `schema`), as dbt stores them.
    pub store_failures: bool,
    pub store_schema: Option<String>,
}

impl TestSpec {
    /// A test of `kind` with dbt's defaults: severity error, failing on any row, stored nowhere.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            name: String::new(),
            kind: kind.into(),
            target: None,
            column: None,
            args: Map::new(),
            severity: "error".into(),
            where_: None,
            warn_if: "!= 0".into(),
            error_if: "!= 0".into(),
            path: None,
            sql: None,
            store_failures: false,
            store_schema: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceTable {
    pub source: String,
    pub name: String,
    pub schema: String,
    pub identifier: String,
    pub columns: Vec<ColumnSpec>,
    /// The source's and the table's `meta` and `config.meta`, merged as dbt merges them (the
    /// table's over the source's, `config.meta` over `meta`).
    pub meta: Map<String, Value>,
    /// The YAML file that declares it, for messages.
    pub path: PathBuf,
}

impl SourceTable {
    pub fn relation(&self) -> String {
        format!("{}.{}", self.schema, self.identifier)
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// Path relative to the project root, e.g. `models/staging/stg_titles.sql`.
    pub path: PathBuf,
    /// First folder under the model path: `staging`, `intermediate`, `marts`.
    pub layer: String,
    pub raw_sql: String,
    pub config: ModelConfig,
    pub refs: Vec<String>,
    pub sources: Vec<(String, String)>,
    pub columns: Vec<ColumnSpec>,
    /// Where its schema file declares model-level `constraints`, if it does.
    pub constraints_at: Option<String>,
    /// A seed (`materialized: seed`, from `seeds/<name>.csv`): its header and values.
    pub seed: Option<std::sync::Arc<crate::seed::RawSeed>>,
}

impl Model {
    /// A model as its file gives it, before the parse learns its refs and a schema file its
    /// columns.
    fn new(name: String, path: PathBuf, layer: String, raw_sql: String, config: ModelConfig) -> Model {
        Model {
            name,
            path,
            layer,
            raw_sql,
            config,
            refs: vec![],
            sources: vec![],
            columns: vec![],
            constraints_at: None,
            seed: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    /// `target.name` in templates, as dbt has it: `DBT_TARGET`, else the default target of the
    /// project's profile in `profiles.yml` (beside the project, or in `DBT_PROFILES_DIR`);
    /// `landfall` when there is no profile to read.
    pub target_name: String,
    pub vars: Map<String, Value>,
    pub on_run_start: Vec<String>,
    /// Models in DAG order (every model after the models it refers to).
    pub models: Vec<Model>,
    pub sources: Vec<SourceTable>,
    pub tests: Vec<TestSpec>,
    /// All macro files, converted for minijinja (`{% test %}` blocks as macros, empty list and
    /// dict literals mutable), prepended to each rendered template.
    pub macros: String,
    /// Where each macro file's text starts in [`Project::macros`] (its first line, 0-based),
    /// for messages that name the file.
    pub macro_files: Vec<(usize, PathBuf)>,
    /// `unit_tests:` of the schema files; each is also in [`Project::tests`] (kind `unit`),
    /// run in the gate with the other tests.
    pub unit_tests: Vec<crate::unit::UnitTest>,
    /// The packages whose macros and generic tests the project may use (crate::package).
    pub packages: Vec<crate::package::Package>,
    /// `dispatch:` of dbt_project.yml: a macro namespace and the packages (the project's own
    /// name among them) `adapter.dispatch` searches for it, in order.
    pub dispatch: Vec<(String, Vec<String>)>,
    /// The versioned models: each version is the model `<name>_v<v>` of [`Project::models`].
    pub versions: Vec<Versioned>,
}

/// A model with `versions:` (dbt's model versions): each version is a model of its own,
/// `<name>_v<v>` (its relation's name too, as dbt names it); `ref('<name>')` is the latest,
/// `ref('<name>', v=…)` one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub name: String,
    /// `latest_version`, else the greatest `v`.
    pub latest: String,
    /// Each `v` and the model it is.
    pub versions: Vec<(String, String)>,
}

impl Versioned {
    /// The model `ref(name, v=…)` reads: the version asked for, else the latest.
    pub fn model(&self, v: Option<&str>) -> Option<&str> {
        let v = v.unwrap_or(&self.latest);
        self.versions.iter().find(|(x, _)| x == v).map(|(_, m)| m.as_str())
    }
}

/// A YAML scalar as text (`v: 2` and `v: '2'` alike).
fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A version's columns, as dbt resolves them: the model's columns (all, or those `include`d,
/// minus those `exclude`d), each replaced by the version's own definition of it, then the
/// version's other columns. A version that lists no columns has the model's.
fn version_columns(top: Option<&Yaml>, version: Option<&Yaml>, at: &str) -> Result<Yaml> {
    let top: Vec<Yaml> = top.and_then(Yaml::as_sequence).cloned().unwrap_or_default();
    let Some(own) = version.and_then(Yaml::as_sequence) else {
        return Ok(Yaml::Sequence(top));
    };
    let name_of = |c: &Yaml| c.get("name").and_then(Yaml::as_str).map(str::to_string);
    let names = |y: Option<&Yaml>| -> Vec<String> {
        y.and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let (mut include, mut exclude) = (None, Vec::new());
    let mut defined = Vec::new();
    for c in own {
        match c.get("include") {
            Some(Yaml::String(s)) if s == "all" || s == "*" => exclude = names(c.get("exclude")),
            Some(list @ Yaml::Sequence(_)) => {
                include = Some(names(Some(list)));
                exclude = names(c.get("exclude"));
            }
            Some(other) => {
                return Err(ProjectError::config(format!(
                    "{at}: include is 'all' or a list of columns, found {other:?}"
                )));
            }
            None => defined.push(c.clone()),
        }
    }
    let mut out: Vec<Yaml> = top
        .into_iter()
        .filter(|c| {
            name_of(c).is_some_and(|n| include.as_ref().is_none_or(|i| i.contains(&n)) && !exclude.contains(&n))
        })
        .collect();
    for c in defined {
        match out.iter().position(|x| name_of(x) == name_of(&c)) {
            Some(i) => out[i] = c,
            None => out.push(c),
        }
    }
    Ok(Yaml::Sequence(out))
}

/// Each versioned model of the schema files becomes one model per version: the file
/// (`defined_in`, else `<name>_v<v>.sql`, else `<name>.sql`, as dbt looks) renamed
/// `<name>_v<v>`, described by the model's entry with the version's columns, config, tests
/// and meta over it.
fn expand_versions(
    models: &mut [Model],
    yml_models: &mut BTreeMap<String, (Yaml, PathBuf, String)>,
) -> Result<Vec<Versioned>> {
    let names: Vec<String> = yml_models
        .iter()
        .filter(|(_, (y, _, _))| y.get("versions").is_some_and(|v| !v.is_null()))
        .map(|(n, _)| n.clone())
        .collect();
    let mut out = Vec::new();
    for n in names {
        let (y, f, text) = yml_models.remove(&n).unwrap();
        let at = keys::located(&f, &text, "versions");
        let Some(list) = y.get("versions").and_then(Yaml::as_sequence) else {
            return Err(ProjectError::config(format!(
                "{at}: versions is a list of {{v: …}}, as in dbt"
            )));
        };
        let mut versions = Vec::new();
        for e in list {
            keys::check_node(Place::Version, Place::ModelConfig, e, &f, &text)?;
            let v = e
                .get("v")
                .and_then(scalar_text)
                .ok_or_else(|| ProjectError::config(format!("{at}: each version of model {n} needs its v")))?;
            let internal = format!("{n}_v{v}");
            let defined_in = e.get("defined_in").and_then(Yaml::as_str);
            let file = match defined_in {
                Some(d) => models.iter().position(|m| m.name == d),
                None => models
                    .iter()
                    .position(|m| m.name == internal)
                    .or_else(|| models.iter().position(|m| m.name == n)),
            };
            let Some(i) = file else {
                return Err(ProjectError::config(format!(
                    "{at}: model {n} version {v} has no file: {}.sql (or {n}.sql), or name it with defined_in",
                    defined_in.unwrap_or(&internal)
                )));
            };
            models[i].name = internal.clone();
            let mut entry = match y.clone() {
                Yaml::Mapping(m) => m,
                _ => serde_yaml::Mapping::new(),
            };
            entry.remove("versions");
            entry.remove("latest_version");
            entry.insert("name".into(), internal.clone().into());
            entry.insert(
                "columns".into(),
                version_columns(y.get("columns"), e.get("columns"), &at)?,
            );
            let mut config = y.get("config").and_then(Yaml::as_mapping).cloned().unwrap_or_default();
            for (k, v) in e.get("config").and_then(Yaml::as_mapping).into_iter().flatten() {
                config.insert(k.clone(), v.clone());
            }
            entry.insert("config".into(), Yaml::Mapping(config));
            for k in ["tests", "data_tests"] {
                let mut tests: Vec<Yaml> = y.get(k).and_then(Yaml::as_sequence).cloned().unwrap_or_default();
                tests.extend(e.get(k).and_then(Yaml::as_sequence).cloned().unwrap_or_default());
                if !tests.is_empty() {
                    entry.insert(k.into(), Yaml::Sequence(tests));
                }
            }
            for k in ["meta", "tags", "constraints"] {
                if let Some(x) = e.get(k) {
                    entry.insert(k.into(), x.clone());
                }
            }
            if yml_models.contains_key(&internal) {
                return Err(ProjectError::config(format!(
                    "{at}: model {n} version {v} is {internal}, which another entry describes"
                )));
            }
            yml_models.insert(internal.clone(), (Yaml::Mapping(entry), f.clone(), text.clone()));
            versions.push((v, internal));
        }
        let latest = match y.get("latest_version").and_then(scalar_text) {
            Some(l) => l,
            None => versions
                .iter()
                .map(|(v, _)| v.clone())
                .max_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => a.cmp(b),
                })
                .unwrap_or_default(),
        };
        if !versions.iter().any(|(v, _)| *v == latest) {
            return Err(ProjectError::config(format!(
                "{}: latest_version {latest} of model {n} is none of its versions",
                keys::located(&f, &text, "latest_version")
            )));
        }
        out.push(Versioned {
            name: n,
            latest,
            versions,
        });
    }
    Ok(out)
}

/// The target dbt would pick: `DBT_TARGET` (dbt's environment form of `--target`), else the
/// default target of `profile` in the `profiles.yml` dbt would read for this project
/// (`DBT_PROFILES_DIR`, else beside the project), rendered like dbt renders it (`env_var`).
fn profile_target(root: &Path, profile: &str) -> Result<String> {
    if let Some(t) = std::env::var("DBT_TARGET").ok().filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_string());
    }
    let dir = std::env::var("DBT_PROFILES_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.to_path_buf());
    let path = dir.join("profiles.yml");
    if !path.is_file() {
        return Ok("landfall".into());
    }
    let y = read_yaml(&path)?;
    let Some(target) = y.get(profile).and_then(|p| p.get("target")) else {
        return Ok("landfall".into());
    };
    let text = match target {
        Yaml::String(s) => s.clone(),
        other => {
            return Err(cfg_err(
                &path,
                format!("profile '{profile}': target must be a name, found {other:?}"),
            ));
        }
    };
    if !text.contains("{{") {
        return Ok(text);
    }
    let mut env = minijinja::Environment::new();
    env.add_function("env_var", |name: String, default: Option<String>| {
        std::env::var(&name).ok().or(default).ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                format!("env_var('{name}') is not set and has no default"),
            )
        })
    });
    env.render_str(&text, ())
        .map(|t| t.trim().to_string())
        .map_err(|e| cfg_err(&path, format!("profile '{profile}': target: {e}")))
}

pub(crate) fn yaml_to_json(y: &Yaml) -> Value {
    serde_json::to_value(y).unwrap_or(Value::Null)
}

pub(crate) fn cfg_err(path: &Path, msg: impl std::fmt::Display) -> ProjectError {
    ProjectError::config(format!("{}: {msg}", path.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| cfg_err(path, e))
}

fn read_yaml(path: &Path) -> Result<Yaml> {
    Ok(read_yaml_text(path)?.0)
}

/// A YAML file, parsed, and its text (for the lines of messages).
pub(crate) fn read_yaml_text(path: &Path) -> Result<(Yaml, String)> {
    let text = read(path)?;
    let y = serde_yaml::from_str(&text).map_err(|e| cfg_err(path, format!("invalid YAML: {e}")))?;
    Ok((y, text))
}

pub(crate) fn files_with_ext(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_with_ext(&p, exts, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(p);
        }
    }
}

pub(crate) fn string_list(v: Option<&Yaml>, default: &str) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(s)) => s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => vec![default.to_string()],
    }
}

const CONFIG_KEYS: &[&str] = &[
    "materialized",
    "schema",
    "tags",
    "tag",
    "unique_key",
    "enabled",
    "alias",
    "meta",
    "docs",
    "persist_docs",
    "database",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "grants",
    "contract",
    "pre-hook",
    "post-hook",
    "quoting",
    "column_types",
    "delimiter",
    "quote_columns",
    "sql_header",
    "group",
    "access",
];

/// Folder configs from `models:` in dbt_project.yml, keyed by folder path below the project.
/// Config key/value pairs that apply to one folder path.
type FolderConfig = (Vec<String>, Vec<(String, Value)>);

/// `file`/`text`: dbt_project.yml, for refusals (crate::keys).
fn folder_configs(
    place: Place,
    node: &Yaml,
    path: Vec<String>,
    out: &mut Vec<FolderConfig>,
    file: &Path,
    text: &str,
) -> Result<()> {
    let Yaml::Mapping(m) = node else { return Ok(()) };
    let mut here = Vec::new();
    for (k, v) in m {
        let Some(k) = k.as_str() else { continue };
        // dbt: a `+key`, a known config name, or any key whose value is not a mapping is a
        // config; any other key is a folder.
        if k.starts_with('+') || CONFIG_KEYS.contains(&k) || !matches!(v, Yaml::Mapping(_)) {
            let value = yaml_to_json(v);
            keys::check(place, k, &value, file, text)?;
            here.push((k.trim_start_matches('+').to_string(), value));
        } else {
            let mut p = path.clone();
            p.push(k.to_string());
            folder_configs(place, v, p, out, file, text)?;
        }
    }
    out.push((path, here));
    Ok(())
}

/// Parse one schema-file test entry into a spec (name filled in later); `None` when the test
/// is disabled (`enabled: false`). `text` is the file's, for refusals (crate::keys).
fn parse_test(entry: &Yaml, file: &Path, text: &str) -> Result<Option<TestSpec>> {
    let (kind, body) = match entry {
        Yaml::String(s) => (s.clone(), Map::new()),
        Yaml::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().unwrap();
            let k = k
                .as_str()
                .ok_or_else(|| cfg_err(file, "a test name must be a string"))?
                .to_string();
            let body = match yaml_to_json(v) {
                Value::Object(o) => o,
                Value::Null => Map::new(),
                other => {
                    return Err(cfg_err(
                        file,
                        format!("test '{k}': expected a mapping of arguments, found {other}"),
                    ));
                }
            };
            (k, body)
        }
        other => return Err(cfg_err(file, format!("cannot read test entry {other:?}"))),
    };
    let mut spec = TestSpec::new(kind.clone());
    let mut enabled = true;
    let mut apply_config = |k: &str, v: &Value, spec: &mut TestSpec| -> Result<()> {
        keys::check(Place::TestConfig, k, v, file, text)?;
        match k {
            "severity" => spec.severity = v.as_str().unwrap_or("error").to_lowercase(),
            "where" => spec.where_ = v.as_str().map(str::to_string),
            "warn_if" => spec.warn_if = v.as_str().unwrap_or("!= 0").to_string(),
            "error_if" => spec.error_if = v.as_str().unwrap_or("!= 0").to_string(),
            "enabled" => enabled = v.as_bool().unwrap_or(true),
            "store_failures" => spec.store_failures = v.as_bool().unwrap_or(false),
            "schema" => spec.store_schema = v.as_str().map(str::to_string),
            _ => {}
        }
        Ok(())
    };
    for (k, v) in &body {
        match k.as_str() {
            "config" => {
                if let Value::Object(c) = v {
                    for (ck, cv) in c {
                        apply_config(ck, cv, &mut spec)?;
                    }
                }
            }
            "arguments" => {
                if let Value::Object(a) = v {
                    spec.args.extend(a.clone());
                }
            }
            // A test's own name (dbt's `name:`) replaces the generated one.
            "name" => spec.name = v.as_str().unwrap_or_default().to_string(),
            "test_name" => {}
            _ if keys::TEST_CONFIG_KEYS.contains(&k.as_str()) => apply_config(k, v, &mut spec)?,
            _ => {
                spec.args.insert(k.clone(), v.clone());
            }
        }
    }
    if !enabled {
        return Ok(None);
    }
    if !matches!(spec.severity.as_str(), "error" | "warn") {
        return Err(cfg_err(
            file,
            format!(
                "test '{kind}': severity must be 'error' or 'warn', found '{}'",
                spec.severity
            ),
        ));
    }
    Ok(Some(spec))
}

fn parse_columns(
    cols: Option<&Yaml>,
    target: &TestTarget,
    file: &Path,
    text: &str,
    tests: &mut Vec<TestSpec>,
) -> Result<Vec<ColumnSpec>> {
    let mut out = Vec::new();
    let Some(Yaml::Sequence(cols)) = cols else {
        return Ok(out);
    };
    for c in cols {
        let name = c
            .get("name")
            .and_then(Yaml::as_str)
            .ok_or_else(|| cfg_err(file, "a column needs a name"))?
            .to_string();
        keys::check_node(Place::Column, Place::ColumnConfig, c, file, text)?;
        let mut specs = Vec::new();
        for key in ["tests", "data_tests"] {
            if let Some(Yaml::Sequence(ts)) = c.get(key) {
                for t in ts {
                    let Some(mut spec) = parse_test(t, file, text)? else {
                        continue;
                    };
                    spec.target = Some(target.clone());
                    spec.column = Some(name.clone());
                    specs.push(spec);
                }
            }
        }
        tests.extend(specs.iter().cloned());
        let data_type = c.get("data_type").and_then(Yaml::as_str).map(str::to_string);
        let constraints = match c.get("constraints") {
            Some(Yaml::Sequence(cs)) => cs
                .iter()
                .map(|x| x.get("type").and_then(Yaml::as_str).unwrap_or_default().to_string())
                .collect(),
            _ => vec![],
        };
        let at = match line_naming(text, &name) {
            Some(n) => format!("{} line {n}", file.display()),
            None => file.display().to_string(),
        };
        out.push(ColumnSpec {
            name,
            tests: specs,
            data_type,
            constraints,
            at,
        });
    }
    Ok(out)
}

/// The first line that declares `name: <name>` (quoted or not).
pub(crate) fn line_naming(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("name:")
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
        })
        .map(|i| i + 1)
}

fn model_level_tests(
    node: &Yaml,
    target: &TestTarget,
    file: &Path,
    text: &str,
    tests: &mut Vec<TestSpec>,
) -> Result<()> {
    for key in ["tests", "data_tests"] {
        if let Some(Yaml::Sequence(ts)) = node.get(key) {
            for t in ts {
                let Some(mut spec) = parse_test(t, file, text)? else {
                    continue;
                };
                spec.target = Some(target.clone());
                spec.column = spec.args.get("column_name").and_then(Value::as_str).map(str::to_string);
                tests.push(spec);
            }
        }
    }
    Ok(())
}

/// A source table's `freshness` as tests of the gate: one per threshold (`error_after` fails
/// the gate, `warn_after` warns), each failing when the newest `loaded_at_field` (optionally
/// under `filter`) is older than its threshold, or when there is none. The table's settings
/// override the source's (`freshness: null` turns it off), `config:` the properties'.
fn freshness_tests(source: &Yaml, table: &Yaml, target: &TestTarget, file: &Path, text: &str) -> Result<Vec<TestSpec>> {
    // The last place that sets it wins: source, its config, table, its config.
    let setting = |key: &str| -> Option<Value> {
        let mut found = None;
        for node in [source, table] {
            for n in [Some(node), node.get("config")].into_iter().flatten() {
                if let Some(v) = n.get(key) {
                    found = Some(yaml_to_json(v));
                }
            }
        }
        found
    };
    let Some(Value::Object(freshness)) = setting("freshness") else {
        return Ok(vec![]);
    };
    let field = setting("loaded_at_field").and_then(|v| v.as_str().map(str::to_string));
    let Some(field) = field else {
        return Err(keys_error(
            file,
            text,
            "freshness",
            "freshness needs loaded_at_field (the column or expression of each row's load time): set it on the source or the table",
        ));
    };
    let mut out = Vec::new();
    for (threshold, severity) in [("error_after", "error"), ("warn_after", "warn")] {
        let Some(rule) = freshness.get(threshold).filter(|r| !r.is_null()) else {
            continue;
        };
        let count = rule.get("count").and_then(Value::as_u64);
        let period = rule.get("period").and_then(Value::as_str);
        let (Some(count), Some(period @ ("minute" | "hour" | "day"))) = (count, period) else {
            return Err(keys_error(
                file,
                text,
                threshold,
                "a freshness threshold is {count: <positive number>, period: minute | hour | day}",
            ));
        };
        let mut args = Map::new();
        args.insert("loaded_at_field".into(), Value::String(field.clone()));
        args.insert("count".into(), Value::from(count));
        args.insert("period".into(), Value::String(period.into()));
        if let Some(f) = freshness.get("filter").and_then(Value::as_str) {
            args.insert("filter".into(), Value::String(f.into()));
        }
        out.push(TestSpec {
            target: Some(target.clone()),
            args,
            severity: severity.into(),
            ..TestSpec::new(format!("freshness_{threshold}"))
        });
    }
    Ok(out)
}

fn keys_error(file: &Path, text: &str, key: &str, why: &str) -> ProjectError {
    ProjectError::config(format!("{}: {why}", keys::located(file, text, key)))
}

/// The kinds of test the engine compiles itself (crate::compile), not through a macro.
const BUILT_IN_TESTS: &[&str] = &[
    "not_null",
    "unique",
    "accepted_values",
    "relationships",
    "singular",
    "unit",
    "freshness_error_after",
    "freshness_warn_after",
];

/// dbt's generic-test naming, made unique with a numeric suffix when needed.
fn name_tests(tests: &mut [TestSpec]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in tests.iter_mut() {
        if !t.name.is_empty() {
            continue;
        }
        let on = match &t.target {
            Some(TestTarget::Model(m)) => m.clone(),
            Some(TestTarget::Source(s, n)) => format!("source_{s}_{n}"),
            None => String::new(),
        };
        // A package's test (`dbt_utils.expression_is_true`) as dbt names it: `dbt_utils_…`.
        let mut name = format!("{}_{}", t.kind.replace('.', "_"), on);
        if let Some(c) = &t.column {
            name += &format!("_{c}");
        }
        if let Some(Value::Array(vals)) = t.args.get("values") {
            let v: Vec<String> = vals
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .collect();
            name += &format!("__{}", v.join("__"));
        }
        if !BUILT_IN_TESTS.contains(&t.kind.as_str()) {
            // project generic tests: scalar arguments tell two uses apart (e.g. two thresholds)
            for v in t.args.values() {
                match v {
                    Value::Number(n) => name += &format!("__{n}"),
                    Value::String(x) if x.len() <= 20 => name += &format!("__{x}"),
                    _ => {}
                }
            }
        }
        if let Some(to) = t.args.get("to").and_then(Value::as_str) {
            let to: String = to.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
            name += &format!("_{to}");
        }
        let name = render::truncate_ident(&name);
        let n = seen.entry(name.clone()).or_default();
        *n += 1;
        t.name = if *n == 1 { name } else { format!("{name}_{n}") };
    }
}

/// The `.sql` macro files below `dirs`, converted for minijinja ([`convert_macros`], empty
/// literals mutable) as one template text, and where each file starts in it (its first line,
/// 0-based; paths below `root`) for messages that name the file.
pub(crate) fn read_macros(root: &Path, dirs: &[PathBuf]) -> Result<(String, Vec<(usize, PathBuf)>)> {
    let mut macros = String::new();
    let mut macro_files = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        files_with_ext(dir, &["sql"], &mut files);
        for f in files {
            let shown = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
            let text = read(&f)?;
            macro_files.push((macros.matches('\n').count(), shown));
            macros.push_str(&crate::mutable::rewrite_empty_literals(&convert_macros(&text)));
            macros.push('\n');
        }
    }
    Ok((macros, macro_files))
}

/// Where line `i` (0-based) of a macros text read by [`read_macros`] is: `file line n`.
pub(crate) fn macro_file_line(files: &[(usize, PathBuf)], i: usize) -> Option<String> {
    let (start, file) = files.iter().rev().find(|(start, _)| *start <= i)?;
    Some(format!("{} line {}", file.display(), i - start + 1))
}

/// Each file's part of a macros text read by [`read_macros`], with the file.
pub(crate) fn macro_file_texts<'a>(text: &str, files: &'a [(usize, PathBuf)]) -> Vec<(&'a Path, String)> {
    let lines: Vec<&str> = text.lines().collect();
    files
        .iter()
        .enumerate()
        .map(|(i, (start, file))| {
            let end = files.get(i + 1).map(|f| f.0).unwrap_or(lines.len()).min(lines.len());
            (file.as_path(), lines[(*start).min(end)..end].join("\n"))
        })
        .collect()
}

/// `dispatch:` of dbt_project.yml: each `macro_namespace` with its `search_order`, every name
/// in it the project's or an installed package's (or `dbt`).
fn read_dispatch(
    y: &Yaml,
    name: &str,
    packages: &[crate::package::Package],
    pf: &Path,
    text: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let entries = match y.get("dispatch") {
        None | Some(Yaml::Null) => return Ok(out),
        Some(Yaml::Sequence(entries)) => entries,
        Some(_) => {
            return Err(keys_error(
                pf,
                text,
                "dispatch",
                "dispatch is a list of {macro_namespace, search_order}, as in dbt",
            ));
        }
    };
    for d in entries {
        let ns = d.get("macro_namespace").and_then(Yaml::as_str);
        let order = d.get("search_order").and_then(Yaml::as_sequence);
        let (Some(ns), Some(order)) = (ns, order) else {
            return Err(keys_error(
                pf,
                text,
                "dispatch",
                "each dispatch entry needs a macro_namespace and a search_order list, as in dbt",
            ));
        };
        let order: Vec<String> = order.iter().filter_map(Yaml::as_str).map(str::to_string).collect();
        if let Some(unknown) = order
            .iter()
            .find(|p| p.as_str() != name && p.as_str() != "dbt" && !packages.iter().any(|k| &k.name == *p))
        {
            return Err(keys_error(
                pf,
                text,
                "search_order",
                &format!("dispatch of {ns}: '{unknown}' is neither this project nor an installed package"),
            ));
        }
        out.push((ns.to_string(), order));
    }
    Ok(out)
}

/// Turn dbt's `{% test x(...) %}` blocks into minijinja macros named `test_x`.
fn convert_macros(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("{%") {
        out.push_str(&rest[..p]);
        let Some(e) = rest[p..].find("%}") else {
            out.push_str(&rest[p..]);
            rest = "";
            break;
        };
        let tag = &rest[p..p + e + 2];
        let inner = tag[2..tag.len() - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if let Some(decl) = inner.strip_prefix("test ") {
            let lead = if tag.starts_with("{%-") { "{%-" } else { "{%" };
            let trail = if tag.ends_with("-%}") { "-%}" } else { "%}" };
            out.push_str(&format!("{lead} macro test_{} {trail}", decl.trim()));
        } else if inner == "endtest" {
            out.push_str(&tag.replace("endtest", "endmacro"));
        } else {
            out.push_str(tag);
        }
        rest = &rest[p + e + 2..];
    }
    out.push_str(rest);
    out
}

impl Project {
    /// Load and parse the project at `root`.
    pub fn load(root: impl AsRef<Path>) -> Result<Project> {
        let root = root.as_ref().to_path_buf();
        let pf = root.join("dbt_project.yml");
        if !pf.is_file() {
            return Err(ProjectError::config(format!(
                "{}: no dbt_project.yml (is --project pointing at the transform/ folder?)",
                root.display()
            )));
        }
        let (y, project_text) = read_yaml_text(&pf)?;
        keys::check_mapping(Place::Project, &y, &pf, &project_text)?;
        let name = y
            .get("name")
            .and_then(Yaml::as_str)
            .ok_or_else(|| cfg_err(&pf, "missing 'name'"))?
            .to_string();
        let model_paths = string_list(y.get("model-paths"), "models");
        let test_paths = string_list(y.get("test-paths"), "tests");
        let macro_paths = string_list(y.get("macro-paths"), "macros");
        let vars = match y.get("vars").map(yaml_to_json) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let profile = y.get("profile").and_then(Yaml::as_str).unwrap_or(&name).to_string();
        let target_name = profile_target(&root, &profile)?;
        let on_run_start = string_list(y.get("on-run-start"), "")
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();

        let mut folder_cfg = Vec::new();
        if let Some(Yaml::Mapping(models)) = y.get("models") {
            for (k, v) in models {
                let k = k.as_str().unwrap_or_default();
                if k == name {
                    folder_configs(Place::ModelConfig, v, vec![], &mut folder_cfg, &pf, &project_text)?;
                } else if k.starts_with('+') || CONFIG_KEYS.contains(&k) || !matches!(v, Yaml::Mapping(_)) {
                    // Project-wide model configs (`models: {+materialized: table}`).
                    let value = yaml_to_json(v);
                    keys::check(Place::ModelConfig, k, &value, &pf, &project_text)?;
                    folder_cfg.push((vec![], vec![(k.trim_start_matches('+').to_string(), value)]));
                } else {
                    return Err(keys_error(
                        &pf,
                        &project_text,
                        k,
                        &format!(
                            "models: '{k}' configures the models of a package (or is a typo of the project's name '{name}'), and landfall builds no package's models"
                        ),
                    ));
                }
            }
        }
        refuse_unsupported_files(&root, &model_paths)?;
        // Shallow folders first so deeper ones override.
        folder_cfg.sort_by_key(|(p, _)| p.len());

        // Generic tests may be in `<test-path>/generic` too, where they are no singular tests.
        let generic_dirs: Vec<PathBuf> = test_paths.iter().map(|t| root.join(t).join("generic")).collect();
        let macro_dirs: Vec<PathBuf> = macro_paths
            .iter()
            .map(|d| root.join(d))
            .chain(generic_dirs.clone())
            .collect();
        let (macros, macro_files) = read_macros(&root, &macro_dirs)?;
        let packages = crate::package::load(&root, &y, &name)?;
        let dispatch = read_dispatch(&y, &name, &packages, &pf, &project_text)?;

        let mut models = load_seeds(&root, &y, &name, &pf, &project_text)?;
        for s in load_snapshots(&root, &y, &name, &pf, &project_text)? {
            if models.iter().any(|m| m.name == s.name) {
                return Err(cfg_err(
                    &s.path,
                    format!("snapshot '{}' is named like a seed; names must be unique", s.name),
                ));
            }
            models.push(s);
        }
        let mut yml_models: BTreeMap<String, (Yaml, PathBuf, String)> = BTreeMap::new();
        let mut sources = Vec::new();
        let mut tests = Vec::new();
        let mut unit_tests = Vec::new();
        for mp in &model_paths {
            let base = root.join(mp);
            let mut files = Vec::new();
            files_with_ext(&base, &["sql"], &mut files);
            for f in files {
                let dirs = folders_below(&base, &f);
                let config = folder_config(&folder_cfg, &dirs, "view")?;
                let mname = f.file_stem().unwrap().to_string_lossy().into_owned();
                if models.iter().any(|m: &Model| m.name == mname) {
                    return Err(cfg_err(
                        &f,
                        format!("a second model named '{mname}'; model names must be unique"),
                    ));
                }
                models.push(Model::new(
                    mname,
                    f.strip_prefix(&root).unwrap_or(&f).to_path_buf(),
                    dirs.first().cloned().unwrap_or_default(),
                    read(&f)?,
                    config,
                ));
            }
        }
        // Unit test fixture files, and not singular tests: `<test-path>/fixtures/`.
        let fixture_dirs: Vec<PathBuf> = test_paths.iter().map(|t| root.join(t).join("fixtures")).collect();
        // Property files, as dbt reads them: beside the models, the seeds and the snapshots.
        let seed_paths = string_list(y.get("seed-paths"), "seeds");
        let snapshot_paths = string_list(y.get("snapshot-paths"), "snapshots");
        for base in model_paths
            .iter()
            .chain(&seed_paths)
            .chain(&snapshot_paths)
            .map(|d| root.join(d))
        {
            let mut ymls = Vec::new();
            files_with_ext(&base, &["yml", "yaml"], &mut ymls);
            for f in ymls {
                let (y, text) = read_yaml_text(&f)?;
                keys::check_mapping(Place::SchemaFile, &y, &f, &text)?;
                let rel_f = f.strip_prefix(&root).unwrap_or(&f);
                for u in y.get("unit_tests").and_then(Yaml::as_sequence).into_iter().flatten() {
                    if let Some(ut) = crate::unit::parse(u, rel_f, &text, &fixture_dirs)? {
                        if unit_tests.iter().any(|x: &crate::unit::UnitTest| x.name == ut.name) {
                            return Err(cfg_err(rel_f, format!("a second unit test named '{}'", ut.name)));
                        }
                        tests.push(TestSpec {
                            name: ut.name.clone(),
                            target: Some(TestTarget::Model(ut.model.clone())),
                            path: Some(rel_f.to_path_buf()),
                            ..TestSpec::new("unit")
                        });
                        unit_tests.push(ut);
                    }
                }
                for (kind, place, config_place) in [
                    ("models", Place::Model, Place::ModelConfig),
                    ("seeds", Place::Seed, Place::SeedConfig),
                    ("snapshots", Place::Snapshot, Place::SnapshotConfig),
                ] {
                    for m in y.get(kind).and_then(Yaml::as_sequence).into_iter().flatten() {
                        let n = m
                            .get("name")
                            .and_then(Yaml::as_str)
                            .ok_or_else(|| cfg_err(&f, format!("an entry of {kind} needs a name")))?;
                        keys::check_node(place, config_place, m, &f, &text)?;
                        yml_models.insert(n.to_string(), (m.clone(), f.clone(), text.clone()));
                    }
                }
                if let Some(Yaml::Sequence(ss)) = y.get("sources") {
                    for s in ss {
                        let sname = s
                            .get("name")
                            .and_then(Yaml::as_str)
                            .ok_or_else(|| cfg_err(&f, "a source needs a name"))?;
                        keys::check_node(Place::Source, Place::SourceConfig, s, &f, &text)?;
                        let schema = s.get("schema").and_then(Yaml::as_str).unwrap_or(sname);
                        if let Some(Yaml::Sequence(ts)) = s.get("tables") {
                            for t in ts {
                                let tname = t
                                    .get("name")
                                    .and_then(Yaml::as_str)
                                    .ok_or_else(|| cfg_err(&f, "a source table needs a name"))?;
                                keys::check_node(Place::SourceTable, Place::TableConfig, t, &f, &text)?;
                                let target = TestTarget::Source(sname.to_string(), tname.to_string());
                                let columns = parse_columns(t.get("columns"), &target, &f, &text, &mut tests)?;
                                model_level_tests(t, &target, &f, &text, &mut tests)?;
                                tests.extend(freshness_tests(s, t, &target, &f, &text)?);
                                let mut meta = Map::new();
                                for node in [s, t] {
                                    for m in [node.get("meta"), node.get("config").and_then(|c| c.get("meta"))] {
                                        if let Some(Value::Object(m)) = m.map(yaml_to_json) {
                                            meta.extend(m);
                                        }
                                    }
                                }
                                sources.push(SourceTable {
                                    source: sname.to_string(),
                                    name: tname.to_string(),
                                    schema: schema.to_string(),
                                    identifier: t.get("identifier").and_then(Yaml::as_str).unwrap_or(tname).to_string(),
                                    columns,
                                    meta,
                                    path: f.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        let versions = expand_versions(&mut models, &mut yml_models)?;
        for (n, (y, f, text)) in &yml_models {
            let Some(m) = models.iter_mut().find(|m| &m.name == n) else {
                return Err(cfg_err(
                    f,
                    format!(
                        "describes model, seed or snapshot '{n}', but there is no {n}.sql, {n}.csv nor {{% snapshot {n} %}}"
                    ),
                ));
            };
            let target = TestTarget::Model(n.clone());
            m.columns = parse_columns(y.get("columns"), &target, f, text, &mut tests)?;
            if y.get("constraints").is_some() {
                m.constraints_at = Some(keys::located(f, text, "constraints"));
            }
            model_level_tests(y, &target, f, text, &mut tests)?;
            // `meta` and `tags` beside `config` (dbt's older form) configure the model too.
            for k in ["meta", "tags"] {
                if let Some(v) = y.get(k) {
                    m.config.apply(k, &yaml_to_json(v))?;
                }
            }
            if let Some(c) = y.get("config").map(yaml_to_json).and_then(|v| v.as_object().cloned()) {
                for (k, v) in c {
                    m.config.apply(&k, &v)?;
                }
            }
        }
        read_seeds(&root, &mut models)?;
        for tp in &test_paths {
            let mut files = Vec::new();
            files_with_ext(&root.join(tp), &["sql"], &mut files);
            for f in files
                .into_iter()
                .filter(|f| !fixture_dirs.iter().chain(&generic_dirs).any(|d| f.starts_with(d)))
            {
                let sql = read(&f)?;
                tests.push(TestSpec {
                    name: f.file_stem().unwrap().to_string_lossy().into_owned(),
                    path: Some(f.strip_prefix(&root).unwrap_or(&f).to_path_buf()),
                    sql: Some(sql),
                    ..TestSpec::new("singular")
                });
            }
        }
        name_tests(&mut tests);
        let mut project = Project {
            root,
            name,
            target_name,
            vars,
            on_run_start,
            models,
            sources,
            tests,
            macros,
            macro_files,
            unit_tests,
            packages,
            dispatch,
            versions,
        };
        project.parse()?;
        Ok(project)
    }

    /// Render every model once (as dbt's parser does) to collect `config()`, `ref()` and
    /// `source()`, then order the models so each comes after what it refers to.
    fn parse(&mut self) -> Result<()> {
        // The macros first: a name one lacks is refused with its own file and line, in
        // branches the models' renders do not take too.
        render::check_macros(self)?;
        let names: Vec<String> = self.models.iter().map(|m| m.name.clone()).collect();
        for i in 0..self.models.len() {
            let scope = RenderScope::parsing(self);
            let (_, cap) = render::render(self, &self.models[i].raw_sql, &self.models[i].path, &scope)?;
            let m = &mut self.models[i];
            apply_captured(m, &cap)?;
            for r in &m.refs {
                if !names.contains(r) {
                    return Err(ProjectError::config(format!(
                        "{}: ref('{r}') names no model of this project (models: {})",
                        m.path.display(),
                        names.join(", ")
                    )));
                }
            }
            for (s, t) in &m.sources {
                if !self.sources.iter().any(|x| &x.source == s && &x.name == t) {
                    return Err(ProjectError::config(format!(
                        "{}: source('{s}', '{t}') is not declared in any schema file",
                        m.path.display()
                    )));
                }
            }
        }
        self.models.retain(|m| m.config.enabled);
        // An ephemeral model is inlined where it is referenced: nothing to publish or test.
        for m in self.models.iter().filter(|m| m.config.materialized == "ephemeral") {
            if m.config.publish() {
                return Err(ProjectError::config(format!(
                    "{}: an ephemeral model is never built, so it cannot be published: make it a view or a table",
                    m.path.display()
                )));
            }
            if let Some(t) = self
                .tests
                .iter()
                .find(|t| t.target == Some(TestTarget::Model(m.name.clone())))
            {
                return Err(ProjectError::config(format!(
                    "{}: test {} is on the ephemeral model {}, which is never built: test a model that selects from it",
                    m.path.display(),
                    t.name,
                    m.name
                )));
            }
        }
        for m in self.models.iter().filter(|m| m.config.contract_enforced) {
            check_contract(m)?;
        }
        for m in self.models.iter().filter(|m| m.config.materialized == "snapshot") {
            crate::snapshot::strategy(&m.config, &format!("{} (snapshot {})", m.path.display(), m.name))?;
        }
        for m in &self.models {
            for (which, hooks) in [("pre_hook", &m.config.pre_hook), ("post_hook", &m.config.post_hook)] {
                for (i, hook) in hooks.iter().enumerate() {
                    let at = PathBuf::from(format!("{} {which} {}", m.path.display(), i + 1));
                    render::check_names(self, hook, &at)?;
                }
            }
        }
        for hook in &self.on_run_start {
            render::check_names(self, hook, Path::new("dbt_project.yml on-run-start"))?;
        }
        self.models = topo_sort(std::mem::take(&mut self.models))?;
        for ut in &self.unit_tests {
            crate::unit::check(self, ut)?;
        }
        // A generic test is a macro of the project or of a package: one that none defines is
        // refused here, as dbt's parse refuses it.
        for t in self.tests.iter().filter(|t| !BUILT_IN_TESTS.contains(&t.kind.as_str())) {
            if crate::package::generic_test_macro(self, &t.kind)?.is_none() {
                return Err(crate::compile::no_generic_test(t));
            }
        }
        // Singular tests must reference known models too.
        for t in &self.tests {
            if let (Some(sql), Some(path)) = (&t.sql, &t.path) {
                let scope = RenderScope::parsing(self);
                let (_, cap) = render::render(self, sql, path, &scope)?;
                for r in &cap.refs {
                    if !names.contains(r) {
                        return Err(ProjectError::config(format!(
                            "{}: ref('{r}') names no model of this project",
                            path.display()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The model rejected rows go to: `var('quarantine_model')`, by default `quarantine`.
    pub fn quarantine_model(&self) -> Option<&Model> {
        self.model(
            self.vars
                .get("quarantine_model")
                .and_then(Value::as_str)
                .unwrap_or("quarantine"),
        )
    }

    pub fn source(&self, source: &str, name: &str) -> Option<&SourceTable> {
        self.sources.iter().find(|s| s.source == source && s.name == name)
    }

    /// Models of one layer (folder), in DAG order.
    pub fn layer(&self, layer: &str) -> Vec<&Model> {
        self.models.iter().filter(|m| m.layer == layer).collect()
    }

    /// The project's layers in build order (the order their first model appears in the DAG).
    pub fn layers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.models {
            if !out.contains(&m.layer) {
                out.push(m.layer.clone());
            }
        }
        out
    }

    /// Default values for the target, with project vars.
    pub fn target(&self, target_type: &str, database: &str) -> Target {
        Target {
            type_: target_type.to_string(),
            name: self.target_name.clone(),
            schema: "main".into(),
            database: database.to_string(),
        }
    }
}

/// What an enforced contract needs, refused at load when missing (dbt finds most of it only
/// when it builds): a table or a view, every column with a `data_type`, and constraints that
/// both engines enforce (`not_null`).
fn check_contract(m: &Model) -> Result<()> {
    let refuse = |at: &str, why: String| Err(ProjectError::config(format!("{at}: {why}")));
    let path = m.path.display().to_string();
    if !matches!(m.config.materialized.as_str(), "table" | "view") {
        return refuse(
            &path,
            format!(
                "model {} enforces a contract, which landfall does for tables and views, not for materialized='{}' (dbt requires on_schema_change 'append_new_columns' or 'fail' for an incremental one): make it a table or drop the contract",
                m.name, m.config.materialized
            ),
        );
    }
    if m.columns.is_empty() {
        return refuse(
            &path,
            format!(
                "model {} enforces a contract but no schema file lists its columns: declare each with its data_type",
                m.name
            ),
        );
    }
    if let Some(at) = &m.constraints_at {
        return refuse(
            at,
            format!(
                "model {}'s model-level constraints are not enforced by landfall: use column constraints (not_null) or tests (unique, relationships)",
                m.name
            ),
        );
    }
    for c in &m.columns {
        if c.data_type.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return refuse(
                &c.at,
                format!(
                    "column {} of model {} has no data_type, which its enforced contract needs",
                    c.name, m.name
                ),
            );
        }
        if let Some(other) = c.constraints.iter().find(|t| t.as_str() != "not_null") {
            return refuse(
                &c.at,
                format!(
                    "column {} of model {}: constraint '{other}' is not enforced by landfall (Snowflake does not enforce it either): keep not_null as a constraint and test the rest (unique, relationships, accepted_values)",
                    c.name, m.name
                ),
            );
        }
    }
    Ok(())
}

fn apply_captured(m: &mut Model, cap: &Captured) -> Result<()> {
    let place = match m.config.materialized.as_str() {
        "snapshot" => Place::SnapshotConfig,
        _ => Place::ModelConfig,
    };
    for (k, v) in &cap.config {
        keys::check(place, k, v, &m.path, &m.raw_sql)?;
        m.config.apply(k, v)?;
    }
    m.refs = cap.refs.clone();
    m.sources = cap.sources.clone();
    Ok(())
}

/// The folders between `base` and the file `f`.
fn folders_below(base: &Path, f: &Path) -> Vec<String> {
    f.strip_prefix(base)
        .ok()
        .and_then(Path::parent)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The config of a file in `dirs`: `materialized` by default, then every folder config on its
/// path, shallow folders first (`folder_cfg` is sorted so).
fn folder_config(folder_cfg: &[FolderConfig], dirs: &[String], materialized: &str) -> Result<ModelConfig> {
    let mut config = ModelConfig {
        materialized: materialized.into(),
        enabled: true,
        ..Default::default()
    };
    for (p, kvs) in folder_cfg {
        if dirs.starts_with(p) {
            for (k, v) in kvs {
                config.apply(k, v)?;
            }
        }
    }
    Ok(config)
}

/// The project's seeds (`seed-paths`, default `seeds/`): each CSV a model of materialization
/// `seed`, built in BuildStaging (before any model can ref it), configured by `seeds:` in
/// dbt_project.yml as dbt configures it (folders, `+column_types`, `+delimiter`, `+schema`, …)
/// and typed at load so a value dbt could not load is refused now (crate::seed).
/// The folder configs of `kind` (`seeds`, `snapshots`) in dbt_project.yml, shallow folders
/// first so deeper ones override.
fn project_folder_configs(
    project: &Yaml,
    kind: &str,
    place: Place,
    name: &str,
    pf: &Path,
    text: &str,
) -> Result<Vec<FolderConfig>> {
    let mut folder_cfg = Vec::new();
    if let Some(Yaml::Mapping(nodes)) = project.get(kind) {
        for (k, v) in nodes {
            let k = k.as_str().unwrap_or_default();
            if k == name {
                folder_configs(place, v, vec![], &mut folder_cfg, pf, text)?;
            } else if k.starts_with('+') || CONFIG_KEYS.contains(&k) || !matches!(v, Yaml::Mapping(_)) {
                let value = yaml_to_json(v);
                keys::check(place, k, &value, pf, text)?;
                folder_cfg.push((vec![], vec![(k.trim_start_matches('+').to_string(), value)]));
            } else {
                return Err(keys_error(
                    pf,
                    text,
                    k,
                    &format!(
                        "{kind}: '{k}' configures the {kind} of a package (or is a typo of the project's name), and landfall builds no package's {kind}"
                    ),
                ));
            }
        }
    }
    folder_cfg.sort_by_key(|(p, _)| p.len());
    Ok(folder_cfg)
}

/// The `{% snapshot %}` blocks of the snapshot paths, each a model materialized `snapshot`
/// (crate::snapshot), configured by `snapshots:` of dbt_project.yml and its `config()`.
fn load_snapshots(root: &Path, project: &Yaml, name: &str, pf: &Path, text: &str) -> Result<Vec<Model>> {
    let folder_cfg = project_folder_configs(project, "snapshots", Place::SnapshotConfig, name, pf, text)?;
    let mut snapshots: Vec<Model> = Vec::new();
    for dir in string_list(project.get("snapshot-paths"), "snapshots") {
        let base = root.join(&dir);
        let mut files = Vec::new();
        files_with_ext(&base, &["sql"], &mut files);
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
            let file_text = read(&f)?;
            for b in crate::snapshot::blocks(&rel, &file_text)? {
                if snapshots.iter().any(|m| m.name == b.name) {
                    return Err(cfg_err(&rel, format!("a second snapshot named '{}'", b.name)));
                }
                let mut config = folder_config(&folder_cfg, &folders_below(&base, &f), "snapshot")?;
                config.schema = config.schema.or(Some("snapshots".into()));
                // Its lines are the file's, for messages.
                let sql = format!("{}{}", "\n".repeat(b.line - 1), b.body);
                snapshots.push(Model::new(b.name, rel.clone(), "snapshots".into(), sql, config));
            }
        }
    }
    Ok(snapshots)
}

fn load_seeds(root: &Path, project: &Yaml, name: &str, pf: &Path, text: &str) -> Result<Vec<Model>> {
    let folder_cfg = project_folder_configs(project, "seeds", Place::SeedConfig, name, pf, text)?;
    let mut seeds = Vec::new();
    for dir in string_list(project.get("seed-paths"), "seeds") {
        let base = root.join(&dir);
        let mut files = Vec::new();
        files_with_ext(&base, &["csv"], &mut files);
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f).to_path_buf();
            let config = folder_config(&folder_cfg, &folders_below(&base, &f), "seed")?;
            let sname = f.file_stem().unwrap().to_string_lossy().into_owned();
            if seeds.iter().any(|m: &Model| m.name == sname) {
                return Err(cfg_err(
                    &rel,
                    format!("a second seed named '{sname}'; names must be unique"),
                ));
            }
            seeds.push(Model::new(sname, rel, "staging".into(), String::new(), config));
        }
    }
    Ok(seeds)
}

/// Read and type each seed once its configuration is complete (schema files included).
fn read_seeds(root: &Path, models: &mut [Model]) -> Result<()> {
    for m in models
        .iter_mut()
        .filter(|m| m.config.materialized == "seed" && m.config.enabled)
    {
        let text = read(&root.join(&m.path))?;
        let raw = crate::seed::read(&m.path, &text, m.config.delimiter.as_deref(), &m.config.column_types)?;
        // Typed now so that a value dbt could not load is refused at load.
        raw.typed("duckdb")?;
        m.seed = Some(std::sync::Arc::new(raw));
    }
    Ok(())
}

/// Refuse, at load, the files of what the engine does not build: Python models, a snapshot
/// block among the models (a package's: crate::package). dbt would build them, so ignoring
/// them would publish less than dbt does.
fn refuse_unsupported_files(root: &Path, model_paths: &[String]) -> Result<()> {
    let refuse = |f: &Path, why: &str| {
        Err(ProjectError::config(format!(
            "{}: {why}",
            f.strip_prefix(root).unwrap_or(f).display()
        )))
    };
    let mut found = Vec::new();
    for dir in model_paths {
        files_with_ext(&root.join(dir), &["py"], &mut found);
        if let Some(f) = found.first() {
            return refuse(f, "Python models are not supported: write the model in SQL");
        }
        let mut sql = Vec::new();
        files_with_ext(&root.join(dir), &["sql"], &mut sql);
        for f in sql {
            let text = read(&f)?;
            if text.contains("{% snapshot") || text.contains("{%- snapshot") {
                return refuse(
                    &f,
                    "a snapshot block belongs in the snapshot paths (snapshots/), as in dbt: move it there",
                );
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm, taking ready models in their load order so the result is stable.
fn topo_sort(models: Vec<Model>) -> Result<Vec<Model>> {
    let mut remaining = models;
    let mut done: Vec<Model> = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let pos = remaining
            .iter()
            .position(|m| m.refs.iter().all(|r| done.iter().any(|d| &d.name == r)));
        match pos {
            Some(p) => done.push(remaining.remove(p)),
            None => {
                let names: Vec<String> = remaining.iter().map(|m| m.name.clone()).collect();
                return Err(ProjectError::config(format!(
                    "the models {} refer to each other in a cycle",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_test_blocks() {
        let s = convert_macros("{% test is_even(model, column_name) %}select 1{% endtest %}");
        assert_eq!(s, "{% macro test_is_even(model, column_name) %}select 1{% endmacro %}");
    }

    #[test]
    fn parses_both_test_styles() {
        let y: Yaml = serde_yaml::from_str(
            "- accepted_values:\n    arguments:\n      values: [a, b]\n    config:\n      severity: warn\n      where: \"x > 1\"\n- relationships:\n    to: ref('m')\n    field: id\n    error_if: '>10'\n",
        )
        .unwrap();
        let Yaml::Sequence(s) = y else { panic!() };
        let a = parse_test(&s[0], Path::new("f.yml"), "").unwrap().unwrap();
        assert_eq!(a.kind, "accepted_values");
        assert_eq!(a.severity, "warn");
        assert_eq!(a.where_.as_deref(), Some("x > 1"));
        assert_eq!(a.args["values"], serde_json::json!(["a", "b"]));
        let r = parse_test(&s[1], Path::new("f.yml"), "").unwrap().unwrap();
        assert_eq!(r.args["to"], "ref('m')");
        assert_eq!(r.error_if, ">10");
        assert_eq!(r.severity, "error");
    }

    #[test]
    fn a_disabled_test_is_dropped_and_a_refused_config_named() {
        let y: Yaml = serde_yaml::from_str(
            "- unique:
    config:
      enabled: false
",
        )
        .unwrap();
        assert_eq!(parse_test(&y[0], Path::new("f.yml"), "").unwrap(), None);
        let text = "- unique:\n    config:\n      limit: 5\n";
        let y: Yaml = serde_yaml::from_str(text).unwrap();
        let e = parse_test(&y[0], Path::new("f.yml"), text).unwrap_err();
        assert!(e.message.starts_with("f.yml line 3: `limit`"), "{}", e.message);
    }
}
