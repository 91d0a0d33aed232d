//! Unit tests (`unit_tests:` in a schema file, dbt 1.8+): a model's SQL run on fixture rows
//! given for each of its inputs, its result compared with the expected rows, as dbt compiles
//! them. Each input becomes a CTE (`__dbt__cte__<name>`) of its rows cast to the input
//! relation's column types (columns a row leaves out are null), the expected rows are cast to
//! the model's result types, and the two are compared as multisets (order-insensitive, as
//! dbt's sorted diff). Pure: the types come from the warehouse, which the caller asks.

use crate::error::{ProjectError, Result};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

/// A unit test as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitTest {
    pub name: String,
    pub model: String,
    pub given: Vec<Given>,
    pub expect: Rows,
    /// `overrides: {vars: …}`, over the project's and the run's.
    pub vars: Map<String, Value>,
    /// `overrides: {macros: {is_incremental: …}}`: false when not given (dbt's default), which
    /// dbt allows only for a model that is not incremental.
    pub is_incremental: Option<bool>,
    /// The schema file and line that declare it.
    pub at: String,
    pub path: PathBuf,
}

/// What a fixture stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Ref(String),
    Source(String, String),
    /// `input: this`: the model's own rows before the run, for its incremental branch.
    This,
}

impl Input {
    /// `ref('m')` or `source('s', 't')`, quoted either way.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let args = |inner: &str| -> Option<Vec<String>> {
            inner
                .split(',')
                .map(|a| {
                    let a = a.trim();
                    let q = a.chars().next().filter(|c| *c == '\'' || *c == '"')?;
                    a.strip_prefix(q)?.strip_suffix(q).map(str::to_string)
                })
                .collect()
        };
        if let Some(inner) = t.strip_prefix("ref(").and_then(|r| r.strip_suffix(')')) {
            match args(inner)?.as_slice() {
                [m] => Some(Input::Ref(m.clone())),
                _ => None,
            }
        } else if let Some(inner) = t.strip_prefix("source(").and_then(|r| r.strip_suffix(')')) {
            match args(inner)?.as_slice() {
                [s, n] => Some(Input::Source(s.clone(), n.clone())),
                _ => None,
            }
        } else {
            None
        }
    }

    /// The CTE dbt names the input's fixture: the model's, or the source table's, name.
    pub fn cte(&self) -> String {
        match self {
            Input::Ref(m) => format!("{}{m}", crate::render::EPHEMERAL_PREFIX),
            Input::Source(_, t) => format!("{}{t}", crate::render::EPHEMERAL_PREFIX),
            Input::This => format!("{}this", crate::render::EPHEMERAL_PREFIX),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Input::Ref(m) => format!("ref('{m}')"),
            Input::Source(s, t) => format!("source('{s}', '{t}')"),
            Input::This => "this".into(),
        }
    }
}

/// An input's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub input: Input,
    pub rows: Rows,
}

/// Fixture rows: `dict` (the default) and `csv` as rows of values by column, or `sql`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    Dict(Vec<Map<String, Value>>),
    Sql(String),
}

fn refuse(at: &str, why: impl std::fmt::Display) -> ProjectError {
    ProjectError::config(format!("{at}: {why}"))
}

/// Read one entry of `unit_tests:`. `at` names the file and line in messages; `fixtures` are
/// the folders fixture files are looked up in (`<test-path>/fixtures`, as dbt has them).
pub fn parse(node: &Yaml, file: &Path, text: &str, fixtures: &[PathBuf]) -> Result<Option<UnitTest>> {
    let name = node.get("name").and_then(Yaml::as_str).unwrap_or_default().to_string();
    let at = match crate::load::line_naming(text, &name) {
        Some(n) => format!("{} line {n}", file.display()),
        None => file.display().to_string(),
    };
    let Yaml::Mapping(map) = node else {
        return Err(refuse(
            &at,
            "a unit test is a mapping with name, model, given and expect",
        ));
    };
    for (k, _) in map {
        let k = k.as_str().unwrap_or_default();
        if !matches!(
            k,
            "name" | "model" | "given" | "expect" | "overrides" | "config" | "description"
        ) {
            return Err(refuse(
                &at,
                format!(
                    "unit test {name}: '{k}' is not supported (the keys are name, model, given, expect, overrides, config, description)"
                ),
            ));
        }
    }
    if name.is_empty() {
        return Err(refuse(&at, "a unit test needs a name"));
    }
    let model = node
        .get("model")
        .and_then(Yaml::as_str)
        .ok_or_else(|| refuse(&at, format!("unit test {name} needs the model it tests")))?
        .to_string();
    let mut enabled = true;
    if let Some(Yaml::Mapping(c)) = node.get("config") {
        for (k, v) in c {
            match k.as_str().unwrap_or_default() {
                "enabled" => enabled = v.as_bool().unwrap_or(true),
                "tags" | "meta" => {}
                other => {
                    return Err(refuse(
                        &at,
                        format!("unit test {name}: config '{other}' is not supported (enabled, tags and meta are)"),
                    ));
                }
            }
        }
    }
    if !enabled {
        return Ok(None);
    }
    let mut given = Vec::new();
    for g in node.get("given").and_then(Yaml::as_sequence).into_iter().flatten() {
        let text = g.get("input").and_then(Yaml::as_str).unwrap_or_default();
        let input = match Input::parse(text) {
            Some(i) => i,
            None if text.trim() == "this" => Input::This,
            None => {
                return Err(refuse(
                    &at,
                    format!("unit test {name}: input '{text}' is not ref('…') or source('…', '…')"),
                ));
            }
        };
        given.push(Given {
            rows: rows(g, &at, &format!("unit test {name}, {}", input.label()), fixtures)?,
            input,
        });
    }
    let expect = node
        .get("expect")
        .ok_or_else(|| refuse(&at, format!("unit test {name} needs expect: rows")))?;
    let expect = rows(expect, &at, &format!("unit test {name}, expect"), fixtures)?;
    if let Rows::Dict(r) = &expect
        && let Some(first) = r.first()
        && let Some(odd) = r
            .iter()
            .position(|row| row.len() != first.len() || !row.keys().all(|k| first.contains_key(k)))
    {
        return Err(refuse(
            &at,
            format!(
                "unit test {name}: expected row {} has other columns than the first; give every expected row the same columns",
                odd + 1
            ),
        ));
    }
    let mut vars = Map::new();
    let mut is_incremental = None;
    if let Some(Yaml::Mapping(o)) = node.get("overrides") {
        for (k, v) in o {
            match k.as_str().unwrap_or_default() {
                "vars" => {
                    if let Value::Object(m) = crate::load::yaml_to_json(v) {
                        vars = m;
                    }
                }
                "macros" => {
                    for (mk, mv) in v.as_mapping().into_iter().flatten() {
                        match (mk.as_str().unwrap_or_default(), mv.as_bool()) {
                            ("is_incremental", Some(b)) => is_incremental = Some(b),
                            (other, _) => {
                                return Err(refuse(
                                    &at,
                                    format!(
                                        "unit test {name}: overriding macro '{other}' is not supported (is_incremental is)"
                                    ),
                                ));
                            }
                        }
                    }
                }
                other => {
                    return Err(refuse(
                        &at,
                        format!(
                            "unit test {name}: overrides '{other}' is not supported (vars and macros.is_incremental are)"
                        ),
                    ));
                }
            }
        }
    }
    Ok(Some(UnitTest {
        name,
        model,
        given,
        expect,
        vars,
        is_incremental,
        at,
        path: file.to_path_buf(),
    }))
}

/// The file `<name>.<ext>` in `dirs` or below them, as dbt finds a fixture.
fn find_fixture(dirs: &[PathBuf], name: &str, ext: &str) -> Option<PathBuf> {
    let file = format!("{name}.{ext}");
    let mut todo: Vec<PathBuf> = dirs.to_vec();
    while let Some(d) = todo.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n == file.as_str()) {
                return Some(p);
            }
        }
    }
    None
}

/// `rows` (and `format`), or a `fixture` file, of a given input or of expect.
fn rows(node: &Yaml, at: &str, what: &str, fixtures: &[PathBuf]) -> Result<Rows> {
    let format = node.get("format").and_then(Yaml::as_str).unwrap_or("dict");
    let from_file;
    let rows = match node.get("fixture") {
        None => node.get("rows"),
        Some(_) if node.get("rows").is_some() => {
            return Err(refuse(at, format!("{what}: give rows or a fixture, not both")));
        }
        Some(f) => {
            let name = f.as_str().unwrap_or_default();
            if !matches!(format, "csv" | "sql") {
                return Err(refuse(
                    at,
                    format!("{what}: a fixture file needs format: csv or format: sql, as in dbt"),
                ));
            }
            let path = find_fixture(fixtures, name, format).ok_or_else(|| {
                refuse(
                    at,
                    format!(
                        "{what}: no fixture file {name}.{format} in {}",
                        fixtures
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| refuse(at, format!("{what}: cannot read {}: {e}", path.display())))?;
            from_file = Yaml::String(text);
            Some(&from_file)
        }
    };
    match (format, rows) {
        ("dict", None | Some(Yaml::Null)) => Ok(Rows::Dict(vec![])),
        ("dict", Some(Yaml::Sequence(rs))) => rs
            .iter()
            .map(|r| match crate::load::yaml_to_json(r) {
                Value::Object(m) => Ok(m.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect()),
                _ => Err(refuse(at, format!("{what}: each row is a mapping of column to value"))),
            })
            .collect::<Result<Vec<_>>>()
            .map(Rows::Dict),
        ("csv", Some(Yaml::String(text))) => {
            let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| refuse(at, format!("{what}: {e}")))?
                .iter()
                .map(|h| h.trim().to_lowercase())
                .collect();
            let mut out = Vec::new();
            for r in reader.records() {
                let r = r.map_err(|e| refuse(at, format!("{what}: {e}")))?;
                // As dbt: an empty value is null, every other one a string.
                out.push(
                    header
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| {
                            let v = if v.is_empty() {
                                Value::Null
                            } else {
                                Value::String(v.to_string())
                            };
                            (h.clone(), v)
                        })
                        .collect(),
                );
            }
            Ok(Rows::Dict(out))
        }
        ("sql", Some(Yaml::String(sql))) => Ok(Rows::Sql(sql.clone())),
        ("dict" | "csv" | "sql", _) => Err(refuse(
            at,
            format!("{what}: rows do not match format {format} (dict: a list of mappings; csv and sql: a string)"),
        )),
        (other, _) => Err(refuse(at, format!("{what}: format '{other}' is not dict, csv or sql"))),
    }
}

/// dbt's `safe_cast` as each adapter compiles it (cross_db.sql): DuckDB casts, Snowflake
/// try-casts from text.
fn safe_cast(value: &str, is_number: bool, ty: &str, target_type: &str) -> String {
    if target_type == "snowflake" {
        if is_number {
            format!("try_cast('{value}' as {ty})")
        } else {
            format!("try_cast({value} as {ty})")
        }
    } else {
        format!("cast({value} as {ty})")
    }
}

/// A fixture value as dbt's `format_row` writes it: a string quoted, null as null, a number or
/// boolean as itself, then cast to the column's type.
fn value_sql(v: &Value, ty: &str, target_type: &str) -> String {
    match v {
        Value::Null => safe_cast("null", false, ty, target_type),
        Value::String(s) => safe_cast(&crate::compile::sql_str(s), false, ty, target_type),
        Value::Bool(b) => safe_cast(if *b { "True" } else { "False" }, true, ty, target_type),
        Value::Number(n) => safe_cast(&n.to_string(), true, ty, target_type),
        other => safe_cast(&crate::compile::sql_str(&other.to_string()), false, ty, target_type),
    }
}

fn unknown_column(what: &str, col: &str, columns: &[(String, String)]) -> ProjectError {
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    ProjectError::config(format!(
        "{what}: invalid column name '{col}' (its columns are {})",
        names.join(", ")
    ))
}

/// An input's fixture: its rows as `select … union all select …`, every column of the input
/// relation (`columns`: name and type, in order) in each, the ones a row leaves out null.
pub fn fixture_sql(rows: &Rows, columns: &[(String, String)], target_type: &str, what: &str) -> Result<String> {
    let rows = match rows {
        Rows::Sql(sql) => return Ok(sql.clone()),
        Rows::Dict(r) => r,
    };
    let select = |row: &Map<String, Value>| -> Result<String> {
        for k in row.keys() {
            if !columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                return Err(unknown_column(what, k, columns));
            }
        }
        let cols: Vec<String> = columns
            .iter()
            .map(|(n, ty)| {
                let v = row.get(&n.to_lowercase()).unwrap_or(&Value::Null);
                format!("{} as {n}", value_sql(v, ty, target_type))
            })
            .collect();
        Ok(format!("select {}", cols.join(", ")))
    };
    if rows.is_empty() {
        return Ok(format!("{}\nlimit 0", select(&Map::new())?));
    }
    Ok(rows
        .iter()
        .map(select)
        .collect::<Result<Vec<_>>>()?
        .join("\nunion all\n"))
}

/// The expected rows, cast to the model's result types (`columns`), and the columns they
/// compare: the first row's, or every column of the model when no row is expected.
pub fn expected_sql(
    rows: &Rows,
    columns: &[(String, String)],
    target_type: &str,
    what: &str,
) -> Result<(Vec<String>, Option<String>)> {
    let rows = match rows {
        Rows::Sql(sql) => return Ok((columns.iter().map(|(n, _)| n.clone()).collect(), Some(sql.clone()))),
        Rows::Dict(r) => r,
    };
    let Some(first) = rows.first() else {
        return Ok((columns.iter().map(|(n, _)| n.clone()).collect(), None));
    };
    let mut compared = Vec::new();
    for k in first.keys() {
        match columns.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
            Some((n, _)) => compared.push(n.clone()),
            None => return Err(unknown_column(what, k, columns)),
        }
    }
    let selects: Vec<String> = rows
        .iter()
        .map(|row| {
            let cols: Vec<String> = compared
                .iter()
                .map(|n| {
                    let ty = &columns.iter().find(|(c, _)| c == n).expect("a compared column").1;
                    let v = row.get(&n.to_lowercase()).unwrap_or(&Value::Null);
                    format!("{} as {n}", value_sql(v, ty, target_type))
                })
                .collect();
            format!("select {}", cols.join(", "))
        })
        .collect();
    Ok((compared, Some(selects.join("\nunion all\n"))))
}

/// The rows where the model's result (`actual`, its fixtures inlined) and `expected` differ,
/// each with how often it is in either: a multiset comparison (null equal to null), as dbt's
/// sorted diff. No row: the unit test passes.
pub fn diff_sql(actual: &str, expected: Option<&str>, compared: &[String]) -> String {
    let cols = compared.join(", ");
    let expected = match expected {
        Some(e) => {
            format!("    union all\n    select {cols}, 0, 1 from (\n{e}\n    ) as dbt_internal_unit_test_expected\n")
        }
        None => String::new(),
    };
    format!(
        "select {cols}, sum(dbt_internal_actual) as actual_rows, sum(dbt_internal_expected) as expected_rows from (\n\
         \x20   select {cols}, 1 as dbt_internal_actual, 0 as dbt_internal_expected from (\n{actual}\n    ) as dbt_internal_unit_test_actual\n\
         {expected}) as dbt_internal_unit_test\n\
         group by {cols}\n\
         having sum(dbt_internal_actual) <> sum(dbt_internal_expected)"
    )
}

/// Checks a unit test against the project at load: its model exists and is built, every
/// input of the model has rows and nothing else does (dbt needs each one), an ephemeral
/// input's rows are SQL (its columns cannot be read from the warehouse).
pub fn check(project: &crate::Project, ut: &UnitTest) -> Result<()> {
    let at = &ut.at;
    let versioned = |n: &str| project.versions.iter().any(|v| v.name == n);
    let given_versioned = ut.given.iter().find_map(|g| match &g.input {
        Input::Ref(r) if versioned(r) => Some(r.clone()),
        _ => None,
    });
    if let Some(n) = given_versioned.or_else(|| versioned(&ut.model).then(|| ut.model.clone())) {
        return Err(refuse(
            at,
            format!(
                "unit test {}: model {n} has versions, and unit tests of versioned models are not supported yet: test a model without versions",
                ut.name
            ),
        ));
    }
    let Some(m) = project.models.iter().find(|m| m.name == ut.model) else {
        return Err(refuse(
            at,
            format!(
                "unit test {} tests model '{}', which the project does not have (or disables)",
                ut.name, ut.model
            ),
        ));
    };
    if m.config.materialized == "ephemeral" {
        return Err(refuse(
            at,
            format!(
                "unit test {}: model {} is ephemeral; dbt unit-tests built models only",
                ut.name, m.name
            ),
        ));
    }
    let inputs: Vec<Input> = m
        .refs
        .iter()
        .map(|r| Input::Ref(r.clone()))
        .chain(m.sources.iter().map(|(s, t)| Input::Source(s.clone(), t.clone())))
        .collect();
    if m.config.materialized == "incremental" && ut.is_incremental.is_none() {
        return Err(refuse(
            at,
            format!(
                "unit test {}: model {} is incremental, so the test says which branch it tests: overrides: {{macros: {{is_incremental: true}}}} (or false), as dbt requires",
                ut.name, m.name
            ),
        ));
    }
    for g in &ut.given {
        if g.input == Input::This {
            if m.config.materialized != "incremental" {
                return Err(refuse(
                    at,
                    format!(
                        "unit test {}: input this is an incremental model's own rows, and model {} is a {}",
                        ut.name, m.name, m.config.materialized
                    ),
                ));
            }
            continue;
        }
        if !inputs.contains(&g.input) {
            return Err(refuse(
                at,
                format!(
                    "unit test {}: {} is not an input of model {}",
                    ut.name,
                    g.input.label(),
                    m.name
                ),
            ));
        }
        if let Input::Ref(r) = &g.input
            && project.model(r).is_some_and(|x| x.config.materialized == "ephemeral")
            && !matches!(g.rows, Rows::Sql(_))
        {
            return Err(refuse(
                at,
                format!(
                    "unit test {}: the ephemeral input {} needs format: sql, as in dbt",
                    ut.name,
                    g.input.label()
                ),
            ));
        }
    }
    if let Some(missing) = inputs.iter().find(|i| !ut.given.iter().any(|g| &g.input == *i)) {
        return Err(refuse(
            at,
            format!(
                "unit test {}: model {} reads {}, which has no rows under given: (dbt needs every input; rows: [] for none)",
                ut.name,
                m.name,
                missing.label()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[(&str, &str)]) -> Vec<(String, String)> {
        c.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn inputs_parse_as_dbt_writes_them() {
        assert_eq!(Input::parse("ref('stg')"), Some(Input::Ref("stg".into())));
        assert_eq!(
            Input::parse("source(\"raw\", 'orders')"),
            Some(Input::Source("raw".into(), "orders".into()))
        );
        assert_eq!(Input::parse("ref(stg)"), None);
        assert_eq!(Input::Source("raw".into(), "orders".into()).cte(), "__dbt__cte__orders");
    }

    #[test]
    fn fixtures_cast_every_column_and_null_the_missing_ones() {
        let c = cols(&[("id", "BIGINT"), ("name", "VARCHAR")]);
        let rows = Rows::Dict(vec![
            serde_json::json!({"id": 1, "name": "O'Neil"})
                .as_object()
                .unwrap()
                .clone(),
            serde_json::json!({"id": 2}).as_object().unwrap().clone(),
        ]);
        assert_eq!(
            fixture_sql(&rows, &c, "duckdb", "t").unwrap(),
            "select cast(1 as BIGINT) as id, cast('O''Neil' as VARCHAR) as name\nunion all\nselect cast(2 as BIGINT) as id, cast(null as VARCHAR) as name"
        );
        assert_eq!(
            fixture_sql(&Rows::Dict(vec![]), &c, "snowflake", "t").unwrap(),
            "select try_cast(null as BIGINT) as id, try_cast(null as VARCHAR) as name\nlimit 0"
        );
        let bad = Rows::Dict(vec![serde_json::json!({"nope": 1}).as_object().unwrap().clone()]);
        let e = fixture_sql(&bad, &c, "duckdb", "unit test t, ref('x')")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid column name 'nope' (its columns are id, name)"),
            "{e}"
        );
    }
}
