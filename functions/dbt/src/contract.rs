//! Model contracts (`contract: {enforced: true}`), as dbt enforces them: the columns a model's
//! SQL returns must be the ones its schema file declares — as many, the same names, the same
//! types — and a table is created with the declared types and `not_null` constraints before
//! the rows go in. Types are compared as the warehouse reports them for
//! `select cast(null as <data_type>) as <name>, …` and for the model's own SQL
//! (dbt's `get_empty_schema_sql` and `assert_columns_equivalent`), so each engine's aliases
//! (`text`, `string`, `int`) mean what they mean there. Pure: describing the queries and
//! running the statements is the caller's.

use crate::{Model, Relation};

/// `select cast(null as <data_type>) as <name>, …` for the model's declared columns.
pub fn declared_columns_sql(m: &Model) -> String {
    let cols: Vec<String> = m
        .columns
        .iter()
        .map(|c| {
            format!(
                "cast(null as {}) as {}",
                c.data_type.as_deref().unwrap_or_default(),
                c.name
            )
        })
        .collect();
    format!("select {}", cols.join(", "))
}

/// The differences between what the model returns (`sql`) and what its contract declares
/// (`yaml`), each a name and a type as the warehouse describes them; empty when they agree.
/// As dbt: the same number of columns, and each returned column declared with its type
/// (names compared as written, types case-insensitively).
pub fn mismatches(sql: &[(String, String)], yaml: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ty) in sql {
        match yaml.iter().find(|(n, _)| n == name) {
            None => out.push(format!("{name} ({ty}) is missing in the contract")),
            Some((_, want)) if !want.eq_ignore_ascii_case(ty) => {
                out.push(format!("{name} is {ty} in the model, {want} in the contract"))
            }
            Some(_) => {}
        }
    }
    for (name, ty) in yaml {
        if !sql.iter().any(|(n, _)| n == name) {
            out.push(format!("{name} ({ty}) is in the contract, not in the model's SQL"));
        }
    }
    out
}

/// The statements that build a contracted table as dbt-duckdb does: the table with the
/// declared columns, types and `not_null` constraints, then its rows, selected in the
/// contract's column order.
pub fn table_statements(m: &Model, rel: &Relation, sql: &str) -> (String, String) {
    let cols: Vec<String> = m
        .columns
        .iter()
        .map(|c| {
            let not_null = if c.constraints.iter().any(|t| t == "not_null") {
                " not null"
            } else {
                ""
            };
            format!(
                "    {} {}{not_null}",
                c.name,
                c.data_type.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    let names = names.join(", ");
    (
        format!("create or replace table {rel} (\n{}\n)", cols.join(",\n")),
        format!("insert into {rel} ({names})\nselect {names} from (\n{sql}\n) as model_subq"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(c: &[(&str, &str)]) -> Vec<(String, String)> {
        c.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn columns_agree_in_any_order_and_differ_by_name_type_or_number() {
        let yaml = cols(&[("genre", "VARCHAR"), ("n", "BIGINT")]);
        assert!(mismatches(&cols(&[("n", "bigint"), ("genre", "VARCHAR")]), &yaml).is_empty());
        assert_eq!(
            mismatches(&cols(&[("genre", "VARCHAR"), ("n", "INTEGER")]), &yaml),
            ["n is INTEGER in the model, BIGINT in the contract"]
        );
        assert_eq!(
            mismatches(&cols(&[("genre", "VARCHAR"), ("n", "BIGINT"), ("x", "DATE")]), &yaml),
            ["x (DATE) is missing in the contract"]
        );
        assert_eq!(
            mismatches(&cols(&[("genre", "VARCHAR")]), &yaml),
            ["n (BIGINT) is in the contract, not in the model's SQL"]
        );
        assert_eq!(
            mismatches(&cols(&[("Genre", "VARCHAR"), ("n", "BIGINT")]), &yaml).len(),
            2,
            "names are compared as written, as dbt does"
        );
    }
}
