//! The quality gate: compile every test to SQL, count failing rows, apply severities.
//!
//! Generic tests (`not_null`, `unique`, `accepted_values`, `relationships`, and project
//! `{% test %}` macros) and singular tests run against the *build* relations, before anything
//! is published. A test's result follows dbt: the number of rows its query returns, compared
//! with `error_if` / `warn_if`, and `severity: warn` never fails the gate.

use crate::asking::answered;
use crate::build::{RunVars, run_scope};
use crate::error::{PipelineError, Result};
use crate::warehouse::{Warehouse, as_i64, side_by_side, sql_str};
use futures_util::FutureExt;
use landfall_dbt::compile::{compile_test, threshold_hit};
use landfall_dbt::{Project, TestSpec, TestTarget};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub name: String,
    pub kind: String,
    pub model: Option<String>,
    pub column: Option<String>,
    pub severity: String,
    pub status: TestStatus,
    pub failures: i64,
    pub message: String,
    /// Up to [`SAMPLE_ROWS`] failing rows (warned and failed tests), for the run report. Kept
    /// out of the state data (Step Functions passes at most 256 KB between states).
    #[serde(skip)]
    pub sample: Option<crate::warehouse::Table>,
}

/// Failing rows kept per test.
pub const SAMPLE_ROWS: usize = 5;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub warned: u64,
}

impl TestCounts {
    pub fn of(results: &[TestResult]) -> Self {
        let mut c = TestCounts::default();
        for r in results {
            match r.status {
                TestStatus::Pass => c.passed += 1,
                TestStatus::Warn => c.warned += 1,
                TestStatus::Fail => c.failed += 1,
            }
        }
        c
    }
}

/// `store_failures` tests: each one's failing rows, replaced, in its audit table (dbt stores
/// them whether the test passes or not).
async fn store_failures(
    project: &Project,
    wh: &dyn Warehouse,
    scope: &landfall_dbt::RenderScope,
    compiled: &[(&TestSpec, String)],
) -> Result<()> {
    let mut schemas = Vec::new();
    let mut tables = Vec::new();
    for (t, sql) in compiled.iter().filter(|(t, _)| t.store_failures) {
        let rel = answered(wh, scope, |s| landfall_dbt::compile::failures_relation(project, t, s)).await?;
        let ddl = format!("create schema if not exists {}", rel.schema_path());
        if !schemas.contains(&ddl) {
            schemas.push(ddl);
        }
        tables.push(format!("create or replace table {rel} as\n{sql}"));
    }
    if tables.is_empty() {
        return Ok(());
    }
    wh.execute_ddl(&schemas).await?;
    for t in &tables {
        wh.execute_long(t).await?;
    }
    Ok(())
}

/// Run every test of the project against the run's build relations, results in the project's
/// order. The failing-row counts come from as few statements as the warehouse runs at once
/// ([`concurrency`](Warehouse::concurrency)): one `union all` per group, so Snowflake answers
/// the whole gate in one round trip instead of one per test. Tests with failures then read
/// their sample rows (side by side). A group whose statement fails runs its tests one by one,
/// so the error names the test.
pub async fn run_tests(project: &Project, wh: &dyn Warehouse, run: &RunVars) -> Result<Vec<TestResult>> {
    let scope = run_scope(project, wh, run).await?;
    // Unit tests need the warehouse's column types: each input relation described once, then
    // each unit test's result on its fixtures, all side by side.
    let inputs = unit_test_inputs(wh, project, &scope).await?;
    let units = project
        .tests
        .iter()
        .filter(|t| t.kind == "unit")
        .map(|t| compile_unit_test(project, wh, &scope, &inputs, t).boxed())
        .collect();
    let mut units = side_by_side(wh, units).await?.into_iter();
    let mut compiled = Vec::with_capacity(project.tests.len());
    for t in &project.tests {
        let sql = match t.kind.as_str() {
            "unit" => units.next().expect("one compiled unit test per unit test"),
            _ => answered(wh, &scope, |s| compile_test(project, t, s))
                .await
                .map_err(|e| e.context(format!("test {}", t.name)))?,
        };
        compiled.push((t, sql));
    }
    if compiled.is_empty() {
        return Ok(vec![]);
    }
    let groups = wh.concurrency().max(1).min(compiled.len());
    let per_group = compiled.len().div_ceil(groups);
    let counted = compiled
        .chunks(per_group)
        .map(|group| count_failures(wh, group).boxed())
        .collect();
    let counts: Vec<i64> = side_by_side(wh, counted).await?.into_iter().flatten().collect();
    store_failures(project, wh, &scope, &compiled).await?;
    let results = compiled
        .into_iter()
        .zip(counts)
        .map(|((t, sql), failures)| test_result(wh, t, sql, failures).boxed())
        .collect();
    side_by_side(wh, results).await
}

/// Where a unit test input is in this run: the build relation of a ref, a source's table.
/// `this` is the model's own build relation (its rows before the run, for an incremental one).
fn input_relation(
    scope: &landfall_dbt::RenderScope,
    model: &str,
    input: &landfall_dbt::unit::Input,
) -> Option<landfall_dbt::Relation> {
    use landfall_dbt::unit::Input;
    match input {
        Input::Ref(r) => scope.models.get(r).cloned(),
        Input::Source(a, b) => scope.sources.get(&(a.clone(), b.clone())).cloned(),
        Input::This => scope.models.get(model).cloned(),
    }
}

/// The column names and types of every relation a unit test's rows are cast to (dbt's
/// `get_columns_in_relation`), each described once however many unit tests read it.
async fn unit_test_inputs(
    wh: &dyn Warehouse,
    project: &Project,
    scope: &landfall_dbt::RenderScope,
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>> {
    let mut rels: Vec<String> = Vec::new();
    for ut in &project.unit_tests {
        for g in ut
            .given
            .iter()
            .filter(|g| matches!(g.rows, landfall_dbt::unit::Rows::Dict(_)))
        {
            let rel = input_relation(scope, &ut.model, &g.input)
                .ok_or_else(|| {
                    PipelineError::config(format!(
                        "unit test {}, {}: not a relation of this run",
                        ut.name,
                        g.input.label()
                    ))
                })?
                .to_string();
            if !rels.contains(&rel) {
                rels.push(rel);
            }
        }
    }
    let described = rels
        .iter()
        .map(|rel| {
            let sql = format!("select * from {rel}");
            async move {
                wh.describe(&sql)
                    .await
                    .map_err(|e| e.context(format!("the unit tests' input {rel}")))
            }
            .boxed()
        })
        .collect();
    let described = side_by_side(wh, described).await?;
    Ok(rels.into_iter().zip(described.into_iter().map(typed)).collect())
}

/// Name and castable type of each column.
fn typed(cols: Vec<crate::warehouse::ResultColumn>) -> Vec<(String, String)> {
    cols.into_iter().map(|c| (c.name, c.data_type)).collect()
}

/// A unit test's SQL, whose rows are where the model's result on the fixtures differs from
/// the expected rows. The fixtures are cast to the types of each input (`inputs`,
/// [`unit_test_inputs`]), the expected rows to those the warehouse reports for the model's
/// result on them (dbt's `get_columns_in_query`).
async fn compile_unit_test(
    project: &Project,
    wh: &dyn Warehouse,
    scope: &landfall_dbt::RenderScope,
    inputs: &std::collections::HashMap<String, Vec<(String, String)>>,
    t: &TestSpec,
) -> Result<String> {
    use landfall_dbt::Relation;
    use landfall_dbt::unit::{self, Input};
    let ut = project
        .unit_tests
        .iter()
        .find(|u| u.name == t.name)
        .ok_or_else(|| PipelineError::config(format!("unit test {} is not declared", t.name)))?;
    let m = project
        .model(&ut.model)
        .ok_or_else(|| PipelineError::config(format!("unit test {}: no model {}", ut.name, ut.model)))?;
    let target_type = wh.target_type();
    let mut s = scope.clone();
    s.this = scope.models.get(&m.name).cloned();
    s.is_incremental = ut.is_incremental.unwrap_or(false);
    s.vars.extend(ut.vars.clone());
    let mut source_ctes = Vec::new();
    for g in &ut.given {
        let what = format!("unit test {}, {}", ut.name, g.input.label());
        let columns = input_relation(scope, &m.name, &g.input)
            .and_then(|rel| inputs.get(&rel.to_string()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let body = unit::fixture_sql(&g.rows, columns, target_type, &what)?;
        match &g.input {
            Input::Ref(r) => {
                s.models.insert(r.clone(), Relation::ephemeral(r));
                s.ephemerals.insert(r.clone(), body);
            }
            Input::Source(a, b) => {
                s.sources.insert((a.clone(), b.clone()), Relation::ephemeral(b));
                source_ctes.push(format!("{} as (\n{body}\n)", g.input.cte()));
            }
            Input::This => {
                s.this = Some(Relation::new("", g.input.cte()));
                source_ctes.push(format!("{} as (\n{body}\n)", g.input.cte()));
            }
        }
    }
    let (sql, _) = answered(wh, &s, |s| {
        landfall_dbt::render::render(project, &m.raw_sql, &m.path, s)
    })
    .await
    .map_err(|e| e.context(format!("unit test {}", t.name)))?;
    let actual = landfall_dbt::render::inject_ctes(&sql, &source_ctes);
    let result = typed(
        wh.describe(&actual)
            .await
            .map_err(|e| e.context(format!("unit test {}", t.name)))?,
    );
    let what = format!("unit test {}, expect", ut.name);
    let (compared, expected) = unit::expected_sql(&ut.expect, &result, target_type, &what)?;
    Ok(unit::diff_sql(&actual, expected.as_deref(), &compared))
}

/// The failing-row count of each test of `group`, in order, in one statement.
async fn count_failures(wh: &dyn Warehouse, group: &[(&TestSpec, String)]) -> Result<Vec<i64>> {
    let one = |i: usize, sql: &str| {
        format!("select {i} as test_index, count(*) as failures from (\n{sql}\n) dbt_internal_test_{i}")
    };
    let union = group
        .iter()
        .enumerate()
        .map(|(i, (_, sql))| one(i, sql))
        .collect::<Vec<_>>()
        .join("\nunion all\n");
    let counted = match wh.query_long(&union).await {
        Err(e) if e.name == crate::error::ErrorName::Pending => return Err(e),
        other => other.ok(),
    };
    if let Some(t) = counted {
        let mut out = vec![None; group.len()];
        for r in &t.rows {
            if let (Some(i), Some(n)) = (r.first().and_then(as_i64), r.get(1).and_then(as_i64))
                && let Some(slot) = out.get_mut(i as usize)
            {
                *slot = Some(n);
            }
        }
        if out.iter().all(Option::is_some) {
            return Ok(out.into_iter().flatten().collect());
        }
    }
    // One of them is broken (or the engine refused the union): find which, one by one.
    let mut out = Vec::with_capacity(group.len());
    for (t, sql) in group {
        out.push(
            wh.query_long(&one(0, sql))
                .await
                .map_err(|e| e.context(format!("test {}", t.name)))?
                .rows
                .first()
                .and_then(|r| r.get(1))
                .and_then(as_i64)
                .unwrap_or(0),
        );
    }
    Ok(out)
}

async fn test_result(wh: &dyn Warehouse, t: &TestSpec, sql: String, failures: i64) -> Result<TestResult> {
    let status = if t.severity == "error" && threshold_hit(&t.error_if, failures)? {
        TestStatus::Fail
    } else if threshold_hit(&t.warn_if, failures)? {
        TestStatus::Warn
    } else {
        TestStatus::Pass
    };
    let model = match &t.target {
        Some(TestTarget::Model(m)) => Some(m.clone()),
        Some(TestTarget::Source(s, n)) => Some(format!("source:{s}.{n}")),
        None => None,
    };
    let message = match status {
        TestStatus::Pass => String::new(),
        _ if t.kind == "unit" => format!(
            "{} row{} of the result differ from the expected rows",
            failures,
            if failures == 1 { "" } else { "s" }
        ),
        _ => format!("{} failing row{}", failures, if failures == 1 { "" } else { "s" }),
    };
    let sample = if failures > 0 {
        // Best effort: a sample that cannot be read never fails the step.
        match wh
            .query_long(&format!(
                "select * from (\n{sql}\n) dbt_internal_test limit {SAMPLE_ROWS}"
            ))
            .await
        {
            Err(e) if e.name == crate::error::ErrorName::Pending => return Err(e),
            other => other.ok(),
        }
    } else {
        None
    };
    Ok(TestResult {
        name: t.name.clone(),
        kind: t.kind.clone(),
        model,
        column: t.column.clone(),
        severity: t.severity.clone(),
        status,
        failures,
        message,
        sample,
    })
}

/// Store results in `audit.test_results`.
pub async fn record(wh: &dyn Warehouse, run_id: &str, results: &[TestResult]) -> Result<()> {
    wh.transaction(&record_statements(run_id, results)).await
}

/// The statements that store `results` in `audit.test_results` (replacing the run's), for a
/// caller that commits them with more.
pub fn record_statements(run_id: &str, results: &[TestResult]) -> Vec<String> {
    let mut stmts = vec![format!(
        "delete from audit.test_results where run_id = {}",
        sql_str(run_id)
    )];
    for chunk in results.chunks(200) {
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, current_timestamp::timestamp, {})",
                    sql_str(run_id),
                    sql_str(&r.name),
                    sql_str(&r.kind),
                    crate::audit::opt(r.model.as_deref()),
                    crate::audit::opt(r.column.as_deref()),
                    sql_str(&r.severity),
                    sql_str(match r.status {
                        TestStatus::Pass => "pass",
                        TestStatus::Warn => "warn",
                        TestStatus::Fail => "fail",
                    }),
                    r.failures,
                    sql_str(&r.message),
                    crate::audit::opt(
                        r.sample
                            .as_ref()
                            .and_then(|t| serde_json::to_string(t).ok())
                            .map(|j| crate::alerts::truncate(&j, 8000))
                            .as_deref()
                    )
                )
            })
            .collect();
        stmts.push(format!(
            "insert into audit.test_results (run_id, test_name, test_kind, model, column_name, severity, status, failures, message, executed_at, sample_rows) values {}",
            values.join(", ")
        ));
    }
    stmts
}

/// The gate: an error naming every failing test, or `Ok`.
pub fn gate(results: &[TestResult]) -> Result<()> {
    let failed: Vec<&TestResult> = results.iter().filter(|r| r.status == TestStatus::Fail).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let list = failed
        .iter()
        .map(|r| format!("{} ({} failing rows)", r.name, r.failures))
        .collect::<Vec<_>>()
        .join(", ");
    Err(PipelineError::quality_gate(format!(
        "{} of {} tests failed, nothing was published: {list}",
        failed.len(),
        results.len()
    )))
}

/// Share of model columns (of the built relations) that at least one test covers.
pub async fn column_coverage(project: &Project, wh: &dyn Warehouse, run_id: &str) -> Result<f64> {
    let built: Vec<_> = project
        .models
        .iter()
        .filter(|m| m.config.materialized != "ephemeral")
        .collect();
    let rels: Vec<_> = built
        .iter()
        .map(|m| crate::build::build_relation(m, wh, run_id))
        .collect();
    let columns = wh.columns_of(&rels).await?;
    let mut total = 0usize;
    let mut covered = 0usize;
    for (m, cols) in built.iter().zip(columns) {
        for c in cols {
            total += 1;
            let tested = project.tests.iter().any(|t| {
                t.target == Some(TestTarget::Model(m.name.clone()))
                    && t.column.as_deref().is_some_and(|tc| tc.eq_ignore_ascii_case(&c))
            });
            if tested {
                covered += 1;
            }
        }
    }
    Ok(if total == 0 { 0.0 } else { covered as f64 / total as f64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_names_failing_tests() {
        let r = |name: &str, status| TestResult {
            name: name.into(),
            kind: "unique".into(),
            model: None,
            column: None,
            severity: "error".into(),
            status,
            failures: 3,
            message: String::new(),
            sample: None,
        };
        assert!(gate(&[r("a", TestStatus::Pass), r("b", TestStatus::Warn)]).is_ok());
        let e = gate(&[r("a", TestStatus::Pass), r("b", TestStatus::Fail)]).unwrap_err();
        assert_eq!(e.name, crate::ErrorName::QualityGate);
        assert!(e.message.contains("b (3 failing rows)"), "{}", e.message);
    }
}
