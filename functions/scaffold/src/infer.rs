//! The columns of a sample: each one's snake_case name, the type every value parses as, and
//! whether any value is empty. Types are the ones both engines cast text to alike.

use crate::sniff::{Sniffed, reader, snake};
use landfall_core::{PipelineError, Result};

/// A type every non-empty sample value of a column parses as (text otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Double,
    Boolean,
    Date,
    Text,
}

impl ColumnType {
    /// The SQL type the staging model casts to (`None`: kept as text).
    pub fn sql(self) -> Option<&'static str> {
        match self {
            Self::Integer => Some("bigint"),
            Self::Double => Some("double"),
            Self::Boolean => Some("boolean"),
            Self::Date => Some("date"),
            Self::Text => None,
        }
    }

    fn admits(self, v: &str) -> bool {
        match self {
            // A leading zero is an identifier's (`007`), not a number's: kept as text.
            Self::Integer => {
                let digits = v.strip_prefix('-').unwrap_or(v);
                !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !(digits.len() > 1 && digits.starts_with('0'))
                    && v.parse::<i64>().is_ok()
            }
            Self::Double => {
                let int = v
                    .trim_start_matches(['-', '+'])
                    .split(['.', 'e', 'E'])
                    .next()
                    .unwrap_or("");
                !(int.len() > 1 && int.starts_with('0'))
                    && v.bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
                    && v.parse::<f64>().is_ok_and(f64::is_finite)
            }
            Self::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            Self::Date => {
                let b = v.as_bytes();
                b.len() == 10
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b.iter()
                        .enumerate()
                        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
                    && matches!(v[5..7].parse::<u8>(), Ok(1..=12))
                    && matches!(v[8..10].parse::<u8>(), Ok(1..=31))
            }
            Self::Text => true,
        }
    }
}

/// One column of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// As the file names it (the contract's column).
    pub name: String,
    /// As the staging model names it.
    pub column: String,
    pub ty: ColumnType,
    /// No sample value is empty.
    pub not_null: bool,
}

/// The columns of a sample whose dialect is `sniffed` (the sample already passed csvcheck).
pub fn infer_columns(bytes: &[u8], sniffed: &Sniffed) -> Result<Vec<Column>> {
    let n = sniffed.names.len();
    let candidates = [
        ColumnType::Integer,
        ColumnType::Double,
        ColumnType::Boolean,
        ColumnType::Date,
    ];
    let mut possible = vec![candidates.to_vec(); n];
    let mut empties = vec![0u64; n];
    let mut values = vec![0u64; n];
    let mut r = reader(bytes, &sniffed.dialect);
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| PipelineError::bad_input(format!("sample: {e}")))?;
        if i == 0 && sniffed.dialect.header {
            continue;
        }
        for (c, v) in rec.iter().enumerate().take(n) {
            let v = v.trim();
            if v.is_empty() {
                empties[c] += 1;
                continue;
            }
            values[c] += 1;
            possible[c].retain(|t| t.admits(v));
        }
    }
    let mut taken: Vec<String> = vec!["source_row".into()];
    Ok(sniffed
        .names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let base = snake(name);
            let mut column = base.clone();
            let mut k = 2;
            while taken.contains(&column) {
                column = format!("{base}_{k}");
                k += 1;
            }
            taken.push(column.clone());
            Column {
                name: name.clone(),
                column,
                ty: if values[c] == 0 {
                    ColumnType::Text
                } else {
                    possible[c].first().copied().unwrap_or(ColumnType::Text)
                },
                not_null: empties[c] == 0,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_typed_when_every_value_parses_and_not_null_when_none_is_empty() {
        let text = "Order ID;Amount;Paid;Day;Code;Note;source_row\n1;2.50;true;2026-01-31;007;x;a\n2;3;FALSE;2026-02-01;12;;b\n";
        let s = crate::sniff("t.csv", text.as_bytes()).unwrap();
        let cols = infer_columns(text.as_bytes(), &s).unwrap();
        let got: Vec<(&str, ColumnType, bool)> = cols.iter().map(|c| (c.column.as_str(), c.ty, c.not_null)).collect();
        assert_eq!(
            got,
            [
                ("order_id", ColumnType::Integer, true),
                ("amount", ColumnType::Double, true),
                ("paid", ColumnType::Boolean, true),
                ("day", ColumnType::Date, true),
                ("code", ColumnType::Text, true),
                ("note", ColumnType::Text, false),
                ("source_row_2", ColumnType::Text, true),
            ]
        );
        assert_eq!(cols[0].name, "Order ID");
        assert!(!ColumnType::Date.admits("2026-13-01"));
    }
}
