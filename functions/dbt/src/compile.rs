//! Compiling a project's data tests to SQL: the query whose rows are a test's failures, as
//! dbt compiles `not_null`, `unique`, `accepted_values`, `relationships`, a project's own
//! `{% test %}` macros and singular tests, and the `error_if` / `warn_if` thresholds applied to
//! the count. Pure: running the SQL is the caller's (the pipeline's quality gate).

use crate::error::{ProjectError, Result};
use crate::{Project, RenderScope, TestSpec, TestTarget, render};
use serde_json::Value;

/// A column name as an identifier both engines read as itself: a plain lower-case name stays
/// unquoted (Snowflake folds it, as the models expect); anything else is quoted exactly.
pub fn portable_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Quote a string as a SQL literal (DuckDB and Snowflake both double single quotes).
pub fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `!= 0`, `>10`, `>= 5`, … applied to a failure count.
pub fn threshold_hit(expr: &str, failures: i64) -> Result<bool> {
    let e = expr.trim();
    let ops = ["!=", "<>", ">=", "<=", "==", "=", ">", "<"];
    let op = ops.iter().find(|o| e.starts_with(**o)).ok_or_else(|| {
        ProjectError::config(format!(
            "cannot read the threshold '{expr}' (expected e.g. '!= 0' or '>10')"
        ))
    })?;
    let n: f64 = e[op.len()..]
        .trim()
        .parse()
        .map_err(|_| ProjectError::config(format!("cannot read the threshold '{expr}': not a number after '{op}'")))?;
    let f = failures as f64;
    Ok(match *op {
        "!=" | "<>" => f != n,
        ">=" => f >= n,
        "<=" => f <= n,
        "==" | "=" => f == n,
        ">" => f > n,
        _ => f < n,
    })
}

fn jinja_literal(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(jinja_literal).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", jinja_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn value_sql(v: &Value, quote: bool) -> String {
    match v {
        Value::String(s) if quote => sql_str(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where a `store_failures` test keeps its failing rows: the schema dbt gives them (the
/// project's `generate_schema_name` of the test's `schema`, default `dbt_test__audit`; without
/// that macro, dbt's default `<target schema>_<custom>`), the test's name as the table.
pub fn failures_relation(project: &Project, t: &TestSpec, scope: &RenderScope) -> Result<crate::Relation> {
    let custom = t.store_schema.clone().unwrap_or_else(|| "dbt_test__audit".into());
    let schema = if project.macros.contains("macro generate_schema_name(") {
        render::render_call(
            project,
            &format!("generate_schema_name({}, none)", sql_str(&custom)),
            scope,
        )?
    } else {
        format!("{}_{custom}", scope.target.schema)
    };
    Ok(crate::Relation::new(schema.trim(), t.name.clone()))
}

/// A test whose kind no macro of the project or of a package defines.
pub fn no_generic_test(t: &TestSpec) -> ProjectError {
    let on = match &t.target {
        Some(TestTarget::Model(m)) => format!("model {m}"),
        Some(TestTarget::Source(s, n)) => format!("source {s}.{n}"),
        None => "a node".into(),
    };
    ProjectError::config(format!(
        "test {} on {on}: there is no generic test '{}' (built in: not_null, unique, accepted_values, relationships; or define {{% test {}(model, column_name) %}} in macros/, or install the package that has it)",
        t.name,
        t.kind,
        t.kind.rsplit('.').next().unwrap_or_default()
    ))
}

/// The SQL whose rows are the test's failures.
pub fn compile_test(project: &Project, t: &TestSpec, scope: &RenderScope) -> Result<String> {
    if let (Some(sql), Some(path)) = (&t.sql, &t.path) {
        return Ok(render::render(project, sql, path, scope)?.0);
    }
    let rel = match &t.target {
        Some(TestTarget::Model(m)) => scope.models.get(m).map(|r| r.to_string()),
        Some(TestTarget::Source(s, n)) => scope.sources.get(&(s.clone(), n.clone())).map(|r| r.to_string()),
        None => None,
    }
    .ok_or_else(|| ProjectError::config(format!("test {}: its model is not part of this project", t.name)))?;
    let rel = match &t.where_ {
        Some(w) => format!("(select * from {rel} where {w}) dbt_subquery"),
        None => rel,
    };
    let col = t.column.clone().unwrap_or_default();
    let need_col = || {
        if col.is_empty() {
            Err(ProjectError::config(format!(
                "test {} ({}) needs a column",
                t.name, t.kind
            )))
        } else {
            Ok(())
        }
    };
    Ok(match t.kind.as_str() {
        "not_null" => {
            need_col()?;
            format!("select {col} from {rel} where {col} is null")
        }
        "unique" => {
            need_col()?;
            format!(
                "select {col} as unique_field, count(*) as n_records from {rel} where {col} is not null group by {col} having count(*) > 1"
            )
        }
        "accepted_values" => {
            need_col()?;
            let quote = t.args.get("quote").and_then(Value::as_bool).unwrap_or(true);
            let vals = t
                .args
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| ProjectError::config(format!("test {}: accepted_values needs 'values'", t.name)))?;
            let list = vals.iter().map(|v| value_sql(v, quote)).collect::<Vec<_>>().join(", ");
            format!(
                "with all_values as (select {col} as value_field, count(*) as n_records from {rel} group by {col}) \
                 select * from all_values where value_field not in ({list})"
            )
        }
        "relationships" => {
            need_col()?;
            let to = t
                .args
                .get("to")
                .and_then(Value::as_str)
                .ok_or_else(|| ProjectError::config(format!("test {}: relationships needs 'to'", t.name)))?;
            let field = t
                .args
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| ProjectError::config(format!("test {}: relationships needs 'field'", t.name)))?;
            let (to_rel, _) = render::render(
                project,
                &format!("{{{{ {to} }}}}"),
                std::path::Path::new(&t.name),
                scope,
            )?;
            format!(
                "with child as (select {col} as from_field from {rel} where {col} is not null), \
                 parent as (select {field} as to_field from {to_rel}) \
                 select from_field from child left join parent on child.from_field = parent.to_field where parent.to_field is null"
            )
        }
        "freshness_error_after" | "freshness_warn_after" => {
            let arg = |k: &str| t.args.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let field = arg("loaded_at_field");
            let period = arg("period");
            let count = t.args.get("count").and_then(Value::as_u64).unwrap_or(0);
            // Both sides as the loads write `_loaded_at`: the session's timestamp, no zone.
            let threshold = if scope.target.type_ == "snowflake" {
                format!("dateadd({period}, -{count}, current_timestamp::timestamp)")
            } else {
                format!("now()::timestamp - interval '{count} {period}'")
            };
            let filter = t
                .args
                .get("filter")
                .and_then(Value::as_str)
                .map(|f| format!(" where {f}"))
                .unwrap_or_default();
            format!(
                "select max_loaded_at from (select max({field}) as max_loaded_at from {rel}{filter}) freshness \
                 where max_loaded_at is null or max_loaded_at < {threshold}"
            )
        }
        custom => {
            // `model` is the relation itself, with `.identifier`, `.schema` as in dbt; with a
            // `where`, the filtered subquery as text (dbt's get_where_subquery).
            let model = match (&t.where_, &t.target) {
                (None, Some(TestTarget::Model(m))) => format!("ref({})", jinja_literal(&Value::String(m.clone()))),
                (None, Some(TestTarget::Source(s, n))) => format!(
                    "source({}, {})",
                    jinja_literal(&Value::String(s.clone())),
                    jinja_literal(&Value::String(n.clone()))
                ),
                _ => jinja_literal(&Value::String(rel.clone())),
            };
            let mut args = vec![format!("model={model}")];
            if !col.is_empty() {
                args.push(format!("column_name={}", jinja_literal(&Value::String(col.clone()))));
            }
            for (k, v) in &t.args {
                if k != "column_name" {
                    args.push(format!("{k}={}", jinja_literal(v)));
                }
            }
            let Some(callee) = crate::package::generic_test_macro(project, custom)? else {
                return Err(no_generic_test(t));
            };
            render::render_call(project, &format!("{callee}({})", args.join(", ")), scope)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(threshold_hit("!= 0", 1).unwrap());
        assert!(!threshold_hit("!= 0", 0).unwrap());
        assert!(threshold_hit(">10", 11).unwrap());
        assert!(!threshold_hit("> 10", 10).unwrap());
        assert!(threshold_hit(">=10", 10).unwrap());
        assert!(threshold_hit("<> 0", 3).unwrap());
        assert!(threshold_hit("bogus", 1).is_err());
    }
}
