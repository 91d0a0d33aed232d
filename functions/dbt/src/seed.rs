//! Seeds: `seeds/*.csv` read at load, each column typed as dbt types it (agate's type tester
//! as dbt configures it), and the statements that make a table of it.
//!
//! The tester tries, for every value of a column that is not null (`""` or `null`, any case,
//! spaces around), in dbt's order: integer (a number with no fraction: `7`, ` 7`, `1.0`,
//! `1e3`), number, date (`%Y-%m-%d`), datetime (`%Y-%m-%d %H:%M:%S`), ISO datetime
//! (`2020-01-02T03:04:05.5`), boolean (`true`/`false`, any case), else text. A column with no
//! value is an integer, as in dbt. `column_types` names a column's type instead. A value dbt's
//! tester would type but dbt-duckdb then cannot load (a number written `1,000`, `$5` or `5%`;
//! an integer past 32 bits; a timestamp with an offset) is refused at load naming the file,
//! line and column, since dbt fails on it too: `column_types` is the way out.

use crate::error::{ProjectError, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// A seed column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedType {
    Integer,
    Number,
    Date,
    Timestamp,
    Boolean,
    Text,
    /// `column_types`: the engine's type, as written.
    Declared(String),
}

impl SeedType {
    /// The type the column is created with: dbt-duckdb's and dbt-snowflake's names for what
    /// agate found.
    pub fn sql(&self, target_type: &str) -> String {
        let snowflake = target_type == "snowflake";
        match self {
            SeedType::Integer => "INTEGER".into(),
            SeedType::Number if snowflake => "FLOAT".into(),
            SeedType::Number => "DOUBLE".into(),
            SeedType::Date => "DATE".into(),
            SeedType::Timestamp if snowflake => "TIMESTAMP_NTZ".into(),
            SeedType::Timestamp => "TIMESTAMP".into(),
            SeedType::Boolean => "BOOLEAN".into(),
            SeedType::Text => "VARCHAR".into(),
            SeedType::Declared(t) => t.clone(),
        }
    }
}

/// A seed file, read and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    pub columns: Vec<String>,
    pub types: Vec<SeedType>,
    /// Each value as the SQL literal it is inserted as (`null` for a missing one).
    pub rows: Vec<Vec<String>>,
}

/// Rows per `insert` statement (Snowflake takes at most 16,384 rows in one `values`).
const ROWS_PER_INSERT: usize = 1000;

fn is_null(v: &str) -> bool {
    let t = v.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// A plain number (`-1.5`, `.5`, `1e3`): its value.
fn number(v: &str) -> Option<f64> {
    let t = v.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = mantissa.replace('.', "");
    let plain = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && mantissa.matches('.').count() <= 1
        && exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
    if plain { t.parse().ok() } else { None }
}

/// A number as agate reads it besides plain ones (currency signs, `%`, group commas): dbt
/// types the column a number and dbt-duckdb then fails to load it.
fn decorated_number(v: &str) -> bool {
    let t: String = v.trim().chars().filter(|c| !"$€£¥%, ".contains(*c)).collect();
    t != v.trim() && number(&t).is_some()
}

/// `YYYY-M-D`, as `strptime('%Y-%m-%d')` takes it: `YYYY-MM-DD`.
fn date(v: &str) -> Option<String> {
    let mut parts = v.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    let (y, m, d): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let month = time::Month::try_from(m).ok()?;
    time::Date::from_calendar_date(y, month, d).ok()?;
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// `H:M:S` (and a fraction when `fraction`): `HH:MM:SS[.ffffff]`.
fn clock(v: &str, fraction: bool) -> Option<String> {
    let (hms, frac) = match v.split_once('.') {
        Some((a, f)) if fraction && !f.is_empty() && f.len() <= 6 && f.chars().all(|c| c.is_ascii_digit()) => {
            (a, Some(f))
        }
        Some(_) => return None,
        None => (v, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let ok = |p: &str, max: u32| (1..=2).contains(&p.len()) && p.parse::<u32>().is_ok_and(|n| n <= max);
    let (h, m, s) = match parts[..] {
        [h, m, s] if ok(h, 23) && ok(m, 59) && ok(s, 59) => (h, m, s),
        [h, m] if fraction && ok(h, 23) && ok(m, 59) => (h, m, "0"),
        _ => return None,
    };
    let n = |p: &str| p.parse::<u32>().unwrap_or(0);
    let mut out = format!("{:02}:{:02}:{:02}", n(h), n(m), n(s));
    if let Some(f) = frac {
        out += &format!(".{f}");
    }
    Some(out)
}

/// `%Y-%m-%d %H:%M:%S`.
fn datetime(v: &str) -> Option<String> {
    let (d, t) = v.split_once(' ')?;
    Some(format!("{} {}", date(d)?, clock(t, false)?))
}

/// An ISO 8601 datetime without an offset (`2020-01-02T03:04:05.5`); `Err` with one.
fn iso_datetime(v: &str) -> Option<std::result::Result<String, ()>> {
    let (d, t) = v.split_once('T')?;
    let d = date(d)?;
    let offset = t.find(['Z', '+']).or_else(|| t.rfind('-'));
    match offset {
        Some(i) => clock(&t[..i], true).map(|_| Err(())),
        None => clock(t, true).map(|c| Ok(format!("{d} {c}"))),
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Where a seed value is, for a refusal.
fn at(file: &Path, line: u64, column: &str) -> String {
    format!("{} line {line}, column {column}", file.display())
}

/// The type agate finds for `values` (line, text) of `column`, or the refusal of a value dbt
/// would type but could not load.
fn infer(file: &Path, column: &str, values: &[(u64, &str)]) -> Result<SeedType> {
    let present: Vec<(u64, &str)> = values.iter().copied().filter(|(_, v)| !is_null(v)).collect();
    let all = |f: &dyn Fn(&str) -> bool| present.iter().all(|(_, v)| f(v));
    let refuse = |line: u64, why: String| {
        Err(ProjectError::config(format!(
            "{}: {why}; dbt types the column so and dbt-duckdb cannot load it: give the column a type in the seed's `column_types`",
            at(file, line, column)
        )))
    };
    if let Some((line, v)) = present.iter().find(|(_, v)| decorated_number(v))
        && all(&|v| number(v).is_some() || decorated_number(v))
    {
        return refuse(*line, format!("'{v}' is a number written with a sign or separator"));
    }
    if all(&|v| number(v).is_some_and(|n| n.fract() == 0.0)) {
        if let Some((line, v)) = present
            .iter()
            .find(|(_, v)| number(v).is_some_and(|n| n.abs() > i32::MAX as f64))
        {
            return refuse(*line, format!("'{v}' is past an INTEGER's range"));
        }
        return Ok(SeedType::Integer);
    }
    if all(&|v| number(v).is_some()) {
        return Ok(SeedType::Number);
    }
    if all(&|v| date(v.trim()).is_some()) {
        return Ok(SeedType::Date);
    }
    if all(&|v| datetime(v.trim()).is_some()) {
        return Ok(SeedType::Timestamp);
    }
    if all(&|v| iso_datetime(v.trim()).is_some()) {
        if let Some((line, v)) = present
            .iter()
            .find(|(_, v)| matches!(iso_datetime(v.trim()), Some(Err(_))))
        {
            return refuse(*line, format!("'{v}' is a timestamp with a time zone offset"));
        }
        return Ok(SeedType::Timestamp);
    }
    if all(&|v| boolean(v).is_some()) {
        return Ok(SeedType::Boolean);
    }
    Ok(SeedType::Text)
}

/// A value as the literal it is inserted as, for its column's type.
fn literal(v: &str, t: &SeedType, target_type: &str) -> String {
    use crate::compile::sql_str;
    // A text column keeps the value as written, `null` included (dbt-duckdb reads the file
    // so); only an empty one is null.
    if matches!(t, SeedType::Text) {
        return if v.is_empty() { "null".into() } else { sql_str(v) };
    }
    if is_null(v) {
        return "null".into();
    }
    let v = v.trim();
    match t {
        SeedType::Integer => format!("{}", number(v).unwrap_or(0.0) as i64),
        SeedType::Number => format!("{:?}", number(v).unwrap_or(0.0)),
        SeedType::Date => format!("cast({} as DATE)", sql_str(&date(v).unwrap_or_default())),
        SeedType::Timestamp => {
            let ts = datetime(v)
                .or_else(|| iso_datetime(v).and_then(Result::ok))
                .unwrap_or_default();
            format!("cast({} as {})", sql_str(&ts), t.sql(target_type))
        }
        SeedType::Boolean => boolean(v).unwrap_or(false).to_string(),
        SeedType::Declared(ty) => format!("cast({} as {ty})", sql_str(v)),
        SeedType::Text => unreachable!("handled above"),
    }
}

/// Read the seed `file` (its text), with its `delimiter` and `column_types`.
pub fn read(file: &Path, text: &str, delimiter: Option<&str>, column_types: &Map<String, Value>) -> Result<RawSeed> {
    let delim = match delimiter {
        None => b',',
        Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        Some(d) => {
            return Err(ProjectError::config(format!(
                "{}: the seed's delimiter '{d}' is not one ASCII character",
                file.display()
            )));
        }
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let bad = |e: csv::Error| ProjectError::config(format!("{}: the seed does not read as CSV: {e}", file.display()));
    let columns: Vec<String> = r.headers().map_err(bad)?.iter().map(str::to_string).collect();
    if columns.iter().any(|c| c.trim().is_empty()) {
        return Err(ProjectError::config(format!(
            "{} line 1: every seed column needs a name in the header",
            file.display()
        )));
    }
    for name in column_types.keys() {
        if !columns.contains(name) {
            return Err(ProjectError::config(format!(
                "{}: column_types names '{name}', which is not a column of the seed ({})",
                file.display(),
                columns.join(", ")
            )));
        }
    }
    let mut cells: Vec<(u64, Vec<String>)> = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(bad)?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != columns.len() {
            return Err(ProjectError::config(format!(
                "{} line {line}: {} values where the header has {} columns",
                file.display(),
                rec.len(),
                columns.len()
            )));
        }
        cells.push((line, rec.iter().map(str::to_string).collect()));
    }
    Ok(RawSeed {
        columns,
        cells,
        column_types: column_types.clone(),
        file: file.to_path_buf(),
    })
}

/// A seed file's header and values, before typing.
#[derive(Debug, Clone)]
pub struct RawSeed {
    columns: Vec<String>,
    cells: Vec<(u64, Vec<String>)>,
    column_types: Map<String, Value>,
    file: std::path::PathBuf,
}

impl RawSeed {
    /// Type every column (crate docs) and write the values as literals for `target_type`.
    pub fn typed(&self, target_type: &str) -> Result<Seed> {
        let mut types = Vec::with_capacity(self.columns.len());
        for (i, c) in self.columns.iter().enumerate() {
            types.push(match self.column_types.get(c) {
                Some(Value::String(t)) => SeedType::Declared(t.clone()),
                Some(other) => {
                    return Err(ProjectError::config(format!(
                        "{}: column_types of '{c}' must be a type name, not {other}",
                        self.file.display()
                    )));
                }
                None => {
                    let values: Vec<(u64, &str)> = self.cells.iter().map(|(l, r)| (*l, r[i].as_str())).collect();
                    infer(&self.file, c, &values)?
                }
            });
        }
        let rows = self
            .cells
            .iter()
            .map(|(_, r)| r.iter().zip(&types).map(|(v, t)| literal(v, t, target_type)).collect())
            .collect();
        Ok(Seed {
            columns: self.columns.clone(),
            types,
            rows,
        })
    }
}

/// The statements that make `relation` the seed on `target_type`: the table with the seed's
/// types, then its rows, a thousand per `insert`.
pub fn statements(seed: &Seed, relation: &str, target_type: &str) -> Vec<String> {
    let cols: Vec<String> = seed.columns.iter().map(|c| crate::compile::portable_ident(c)).collect();
    let defs: Vec<String> = cols
        .iter()
        .zip(&seed.types)
        .map(|(c, t)| format!("{c} {}", t.sql(target_type)))
        .collect();
    let mut out = vec![format!("create or replace table {relation} ({})", defs.join(", "))];
    for chunk in seed.rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = chunk.iter().map(|r| format!("({})", r.join(", "))).collect();
        out.push(format!(
            "insert into {relation} ({}) values\n{}",
            cols.join(", "),
            values.join(",\n")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(csv: &str) -> Result<Vec<SeedType>> {
        read(Path::new("seeds/s.csv"), csv, None, &Map::new())?
            .typed("duckdb")
            .map(|s| s.types)
    }

    /// What dbt-duckdb made of the same values (checked by hand against dbt 1.11 once, and
    /// against dbt in tests/dbt_compat.rs for every run).
    #[test]
    fn columns_are_typed_as_agate_types_them() {
        use SeedType::*;
        let csv = "i,n,d,ts,iso,b,t,e,mixed\n 7,0.5,2020-1-2,2020-01-02 03:04:05,2020-01-02T03:04:05,TRUE, a ,,1\n1e3,2,2021-02-03,2021-02-03 04:05:06,2021-02-03T04:05:06.5,false,null,,x\n-0.0,,,,,null,b,,2.5\n";
        assert_eq!(
            types(csv).unwrap(),
            [
                Integer, Number, Date, Timestamp, Timestamp, Boolean, Text, Integer, Text
            ]
        );
        let s = read(Path::new("s.csv"), csv, None, &Map::new())
            .unwrap()
            .typed("duckdb")
            .unwrap();
        assert_eq!(
            s.rows[0],
            [
                "7",
                "0.5",
                "cast('2020-01-02' as DATE)",
                "cast('2020-01-02 03:04:05' as TIMESTAMP)",
                "cast('2020-01-02 03:04:05' as TIMESTAMP)",
                "true",
                "' a '",
                "null",
                "'1'"
            ]
        );
        assert_eq!(s.rows[1][0], "1000");
        assert_eq!(s.rows[1][4], "cast('2021-02-03 04:05:06.5' as TIMESTAMP)");
        assert_eq!(s.rows[1][6], "'null'", "text keeps the word null, as dbt-duckdb");
        assert_eq!(s.rows[2][5], "null");
        // Space and T datetimes mixed: neither tester takes the column.
        assert_eq!(types("a\n2020-01-02 03:04:05\n2020-01-02T03:04:05\n").unwrap(), [Text]);
    }

    #[test]
    fn values_dbt_types_but_cannot_load_are_refused_with_their_place() {
        for (csv, says) in [
            ("n\n1\n\"1,000\"\n", "line 3, column n: '1,000' is a number written"),
            ("n\n$5\n", "line 2, column n: '$5'"),
            (
                "big\n12345678901\n",
                "line 2, column big: '12345678901' is past an INTEGER",
            ),
            (
                "ts\n2020-01-02T03:04:05Z\n",
                "line 2, column ts: '2020-01-02T03:04:05Z' is a timestamp with a time zone",
            ),
        ] {
            let e = types(csv).unwrap_err().message;
            assert!(e.contains(says) && e.contains("column_types"), "{csv}: {e}");
        }
        let mut declared = Map::new();
        declared.insert("big".into(), Value::String("bigint".into()));
        let s = read(Path::new("s.csv"), "big\n12345678901\n", None, &declared)
            .unwrap()
            .typed("snowflake")
            .unwrap();
        assert_eq!(s.types, [SeedType::Declared("bigint".into())]);
        assert_eq!(
            statements(&s, "build_main.s", "snowflake"),
            [
                "create or replace table build_main.s (big bigint)",
                "insert into build_main.s (big) values\n(cast('12345678901' as bigint))"
            ]
        );
    }
}
