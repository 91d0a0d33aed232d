//! The SQL this adapter generates, as pure functions: statement splitting, the COPY load and
//! the schema-swap publish. Kept apart from the session so it is tested without a server, and
//! so the statements fakesnow cannot run (`CLONE` of a schema, `SWAP WITH`) are still checked.

use landfall_core::csvcheck::Dialect;
use landfall_core::warehouse::sql_str;

/// Split a script into statements on `;`, ignoring semicolons inside quotes, `$$` blocks and
/// comments. Snowflake's query endpoint takes one statement per request (multi-statement needs
/// a session parameter and returns child results), so scripts are sent statement by statement.
pub fn split_statements(script: &str) -> Vec<String> {
    let b = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut has_code = false;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                has_code = true;
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q == b'\'' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'$' if b.get(i + 1) == Some(&b'$') => {
                has_code = true;
                i = script[i + 2..].find("$$").map(|p| i + 2 + p + 2).unwrap_or(b.len());
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = script[i..].find('\n').map(|p| i + p + 1).unwrap_or(b.len());
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = script[i + 2..].find("*/").map(|p| i + 2 + p + 2).unwrap_or(b.len());
            }
            b';' => {
                if has_code {
                    out.push(script[start..i].trim().to_string());
                }
                start = i + 1;
                has_code = false;
                i += 1;
            }
            c => {
                if !c.is_ascii_whitespace() {
                    has_code = true;
                }
                i += 1;
            }
        }
    }
    if has_code {
        out.push(script[start..].trim().to_string());
    }
    out
}

pub use landfall_core::warehouse::portable_ident as ident;

/// Where a landing object is read from: `@<stage>/<dir>/` plus the file name for `FILES = (…)`.
pub fn stage_path(stage: &str, location: &str) -> (String, String) {
    let loc = location.trim_start_matches('/');
    match loc.rsplit_once('/') {
        Some((dir, file)) => (format!("@{stage}/{dir}/"), file.to_string()),
        None => (format!("@{stage}/"), loc.to_string()),
    }
}

/// The table a file is copied into before it joins the raw table: a transient table next to
/// it, one per raw table and load. Not a temporary one: the COPY is submitted asynchronously
/// and the next poll, which moves the rows, may run in another Lambda container and so another
/// session (crate `landfall_core::inflight`). Its `_row_number` is an ordered identity, so
/// every row keeps its record number in the file.
pub fn landing_table(table: &str, load_id: &str) -> String {
    landfall_core::build::landing_table(table, load_id)
}

pub fn landing_ddl(table: &str, load_id: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| format!("{c} varchar")).collect();
    format!(
        "create or replace transient table {} (_row_number integer autoincrement start 1 increment 1 order, {})",
        landing_table(table, load_id),
        cols.join(", ")
    )
}

/// `COPY INTO` the landing table from the external stage over the landing bucket: only the named
/// file, aborting on the first bad record, and `FORCE` because a retried or reloaded batch must
/// load again (Snowflake's load history would otherwise skip a file it has seen). The file
/// format is the contract's dialect, inline ([`csv_format`]).
pub fn copy_into(
    table: &str,
    load_id: &str,
    columns: &[String],
    stage: &str,
    dialect: &Dialect,
    location: &str,
) -> String {
    let (dir, file) = stage_path(stage, location);
    format!(
        "copy into {} ({}) from {dir} files = ({}) file_format = ({}) on_error = abort_statement force = true",
        landing_table(table, load_id),
        columns.join(", "),
        sql_str(&file),
        csv_format(dialect),
    )
}

/// The CSV file format options of a dialect: fields optionally enclosed in the quote (a quote
/// doubled inside is one quote, unless another escape is declared), no escapes outside quotes,
/// empty strings kept as empty strings (typing happens in staging), nothing read as null, a
/// record with another field count an error, UTF-8 (Snowflake skips a byte-order mark itself).
pub fn csv_format(d: &Dialect) -> String {
    let escape = if d.doubles_quotes() {
        "none".to_string()
    } else {
        char_literal(d.escape)
    };
    format!(
        "type = csv skip_header = {} field_delimiter = {} field_optionally_enclosed_by = {} escape = {escape} escape_unenclosed_field = none empty_field_as_null = false null_if = () error_on_column_count_mismatch = true encoding = 'UTF8'",
        u8::from(d.header),
        char_literal(d.delimiter),
        char_literal(d.quote),
    )
}

/// One character as a Snowflake string literal, where the backslash is an escape.
fn char_literal(c: u8) -> String {
    match c {
        b'\\' => r"'\\'".into(),
        b'\'' => r"'\''".into(),
        b'\t' => r"'\t'".into(),
        c => format!("'{}'", c as char),
    }
}

/// Statements in one transaction as one request: an anonymous Snowflake Scripting block that
/// commits them together, or rolls back and re-raises the first error (Snowflake's documented
/// pattern for transactions in a block).
pub fn transaction_block(statements: &[String]) -> String {
    let mut all = vec!["begin transaction".to_string()];
    all.extend(statements.iter().cloned());
    all.push("commit".into());
    script_block(&all)
}

/// Statements run in order by Snowflake as one request: an anonymous Snowflake Scripting block
/// that stops at the first error, rolls back an open transaction and re-raises the error.
pub fn script_block(statements: &[String]) -> String {
    let body = format!(
        "begin {}; exception when other then rollback; raise; end;",
        statements.join("; ")
    );
    format!("execute immediate {}", sql_str(&body))
}

/// The ids of a run's statements still running or waiting, from the user's query history
/// (`INFORMATION_SCHEMA.QUERY_HISTORY_BY_USER`, current within seconds) by the query tag every
/// statement of the run carries, `landfall:<env>:<run_id>`.
pub fn running_statements(run_id: &str) -> String {
    format!(
        "select query_id from table(information_schema.query_history_by_user(result_limit => 10000)) \
         where endswith(query_tag, {}) \
         and execution_status in ('RUNNING', 'QUEUED', 'RESUMING_WAREHOUSE', 'BLOCKED')",
        sql_str(&format!(":{run_id}"))
    )
}

/// The raw table, every contract column as text plus the lineage columns (DESIGN.md §3).
pub fn raw_ddl(table: &str, columns: &[String]) -> String {
    let mut cols: Vec<String> = columns.iter().map(|c| format!("{c} varchar")).collect();
    cols.extend(
        landfall_core::warehouse::RAW_LINEAGE_COLUMNS
            .iter()
            .map(|s| s.to_string()),
    );
    format!("create table if not exists {table} ({})", cols.join(", "))
}

/// Publish copies into one schema atomically: clone the published schema (every mart already
/// there stays), replace the republished tables in the clone, then `SWAP WITH` — one DDL
/// statement, so readers see the old marts or the new ones. The old version ends up in the
/// clone's name and is dropped.
pub fn swap_publish(schema: &str, copies: &[(String, String)]) -> Vec<String> {
    let next = format!("{schema}__landfall_next");
    let mut s = vec![
        format!("create schema if not exists {schema}"),
        format!("create or replace schema {next} clone {schema}"),
    ];
    for (source, target) in copies {
        let name = target.rsplit('.').next().unwrap_or(target);
        s.push(format!("create or replace table {next}.{name} clone {source}"));
    }
    s.push(format!("alter schema {next} swap with {schema}"));
    s.push(format!("drop schema if exists {next}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_one_block_that_rolls_back_and_reraises() {
        let b = transaction_block(&["delete from t where x = 'a'".into(), "insert into t values (1)".into()]);
        assert_eq!(
            b,
            "execute immediate 'begin begin transaction; delete from t where x = ''a''; insert into t values (1); commit; exception when other then rollback; raise; end;'"
        );
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let s = "create table a (x varchar);\n-- a comment; still a comment\ninsert into a values ('x;y', 'it''s; fine', 'a\\';b');\n/* block; */ select \"we;ird\" from a; $$ body; $$;  ;\n";
        let v = split_statements(s);
        assert_eq!(v.len(), 4, "{v:#?}");
        assert_eq!(v[0], "create table a (x varchar)");
        assert!(v[1].ends_with("'a\\';b')"), "{}", v[1]);
        assert!(v[2].starts_with("/* block; */ select \"we;ird\""));
        assert_eq!(v[3], "$$ body; $$");
        assert!(split_statements("  -- nothing\n ; ").is_empty());
    }

    #[test]
    fn copy_reads_one_file_from_the_stage_and_aborts_on_bad_records() {
        let cols = vec!["id".to_string(), "title".to_string()];
        let sql = copy_into(
            "raw.titles",
            "b-1",
            &cols,
            "raw.landing",
            &Dialect::default(),
            "2026-11-26/titles.csv",
        );
        assert_eq!(
            sql,
            format!(
                "copy into raw._landfall_load_titles__{} (id, title) from @raw.landing/2026-11-26/ files = ('titles.csv') file_format = (type = csv skip_header = 1 field_delimiter = ',' field_optionally_enclosed_by = '\"' escape = none escape_unenclosed_field = none empty_field_as_null = false null_if = () error_on_column_count_mismatch = true encoding = 'UTF8') on_error = abort_statement force = true",
                landfall_core::build::build_tag("b-1")
            )
        );
        let semi = Dialect {
            delimiter: b';',
            quote: b'\'',
            escape: b'\\',
            header: false,
        };
        assert!(
            csv_format(&semi).starts_with(
                r"type = csv skip_header = 0 field_delimiter = ';' field_optionally_enclosed_by = '\'' escape = '\\' escape_unenclosed_field = none"
            ),
            "{}",
            csv_format(&semi)
        );
        assert!(landing_ddl("raw.titles", "b-1", &cols).contains("autoincrement start 1 increment 1 order"));
        assert_eq!(ident("imdb_score"), "imdb_score");
        assert_eq!(ident("Extra Col"), "\"Extra Col\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn publish_clones_then_swaps_in_one_statement() {
        let s = swap_publish(
            "marts",
            &[
                ("archive.a__v3".into(), "marts.a".into()),
                ("archive.b__v3".into(), "marts.b".into()),
            ],
        );
        assert_eq!(
            s,
            vec![
                "create schema if not exists marts",
                "create or replace schema marts__landfall_next clone marts",
                "create or replace table marts__landfall_next.a clone archive.a__v3",
                "create or replace table marts__landfall_next.b clone archive.b__v3",
                "alter schema marts__landfall_next swap with marts",
                "drop schema if exists marts__landfall_next",
            ]
        );
        // Exactly one statement changes what readers of `marts` see.
        assert_eq!(
            s.iter()
                .filter(|x| x.contains(" marts") && x.starts_with("alter"))
                .count(),
            1
        );
    }
}
