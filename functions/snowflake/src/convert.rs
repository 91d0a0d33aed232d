//! Snowflake results (Arrow batches, or JSON rowsets for DML) as the pipeline's [`Table`].

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use firn::{QueryData, QueryResult};
use landfall_core::warehouse::{ResultColumn, Table};
use serde_json::{Number, Value};

/// Snowflake folds unquoted identifiers to upper case; the pipeline names columns in lower case
/// (as DuckDB returns them), so all-upper names are folded back.
pub fn column_name(n: &str) -> String {
    if n.chars().any(|c| c.is_ascii_lowercase()) {
        n.to_string()
    } else {
        n.to_ascii_lowercase()
    }
}

/// A result column: its family as dbt-snowflake names it (the connector's `FIELD_TYPES`:
/// `Fixed` → `FIXED`, `TimestampNtz` → `TIMESTAMP_NTZ`), and a type to cast to (`FIXED` with
/// its precision and scale is `NUMBER(p,s)`, `REAL` is `FLOAT`, `TEXT` is `VARCHAR`).
pub fn result_column(f: &firn::FieldSchema) -> ResultColumn {
    let mut family = String::new();
    for (i, c) in format!("{:?}", f.type_).chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            family.push('_');
        }
        family.push(c.to_ascii_uppercase());
    }
    let data_type = match family.as_str() {
        "FIXED" => format!("NUMBER({},{})", f.precision.unwrap_or(38), f.scale.unwrap_or(0)),
        "REAL" => "FLOAT".into(),
        "TEXT" => "VARCHAR".into(),
        _ => family.clone(),
    };
    ResultColumn {
        name: column_name(&f.name),
        data_type,
        family,
    }
}

pub fn to_table(r: QueryResult) -> Result<Table, String> {
    let columns: Vec<String> = r.metadata.column_schema.iter().map(|f| column_name(&f.name)).collect();
    let mut rows = Vec::new();
    match r.data {
        QueryData::Empty => {}
        QueryData::Json(j) => {
            for row in j.value.as_array().into_iter().flatten() {
                rows.push(row.as_array().cloned().unwrap_or_default());
            }
        }
        QueryData::Arrow(batches) => {
            for b in &batches {
                append_batch(b, &mut rows)?;
            }
        }
    }
    Ok(Table { columns, rows })
}

fn append_batch(b: &RecordBatch, rows: &mut Vec<Vec<Value>>) -> Result<(), String> {
    let cols: Vec<Vec<Value>> = b
        .columns()
        .iter()
        .map(|c| column_values(c.as_ref()))
        .collect::<Result<_, _>>()?;
    for i in 0..b.num_rows() {
        rows.push(cols.iter().map(|c| c[i].clone()).collect());
    }
    Ok(())
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

fn column_values(a: &dyn Array) -> Result<Vec<Value>, String> {
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let p = a.as_primitive::<$t>();
            (0..a.len())
                .map(|i| if p.is_null(i) { Value::Null } else { $f(p.value(i)) })
                .collect()
        }};
    }
    Ok(match a.data_type() {
        DataType::Null => vec![Value::Null; a.len()],
        DataType::Boolean => {
            let p = a.as_boolean();
            (0..a.len())
                .map(|i| {
                    if p.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(p.value(i))
                    }
                })
                .collect()
        }
        DataType::Int8 => prim!(Int8Type, |v: i8| Value::from(v)),
        DataType::Int16 => prim!(Int16Type, |v: i16| Value::from(v)),
        DataType::Int32 => prim!(Int32Type, |v: i32| Value::from(v)),
        DataType::Int64 => prim!(Int64Type, |v: i64| Value::from(v)),
        DataType::UInt8 => prim!(UInt8Type, |v: u8| Value::from(v)),
        DataType::UInt16 => prim!(UInt16Type, |v: u16| Value::from(v)),
        DataType::UInt32 => prim!(UInt32Type, |v: u32| Value::from(v)),
        DataType::UInt64 => prim!(UInt64Type, |v: u64| Value::from(v)),
        DataType::Float32 => prim!(Float32Type, |v: f32| float(v as f64)),
        DataType::Float64 => prim!(Float64Type, float),
        DataType::Decimal128(_, scale) => {
            let s = *scale;
            prim!(Decimal128Type, |v: i128| {
                if s <= 0 {
                    i64::try_from(v * 10i128.pow((-s) as u32))
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(v.to_string()))
                } else {
                    float(v as f64 / 10f64.powi(s as i32))
                }
            })
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = arrow_cast::cast(a, &DataType::Utf8).map_err(|e| e.to_string())?;
            let s = s.as_string::<i32>();
            (0..a.len())
                .map(|i| {
                    if s.is_null(i) {
                        Value::Null
                    } else {
                        Value::String(s.value(i).to_string())
                    }
                })
                .collect()
        }
        other => {
            // Dates, timestamps, times, binary, semi-structured: their display form; a
            // timestamp as DuckDB's reads and dbt renders it (`2026-01-02 03:04:05`, as
            // Python writes a datetime), not Arrow's ISO `T`.
            let timestamp = matches!(other, DataType::Timestamp(..));
            let opts = arrow_cast::display::FormatOptions::default();
            let f = arrow_cast::display::ArrayFormatter::try_new(a, &opts).map_err(|e| e.to_string())?;
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else if timestamp {
                        Value::String(f.value(i).to_string().replacen('T', " ", 1))
                    } else {
                        Value::String(f.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Decimal128Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn numbers_strings_and_nulls_become_json() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(3), None])),
            Arc::new(
                Decimal128Array::from(vec![Some(1234), Some(5)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![Some("a"), None])),
        ];
        let b = RecordBatch::try_from_iter(vec![
            ("N", cols[0].clone()),
            ("D", cols[1].clone()),
            ("s", cols[2].clone()),
        ])
        .unwrap();
        let mut rows = Vec::new();
        append_batch(&b, &mut rows).unwrap();
        assert_eq!(rows[0], vec![Value::from(3), float(12.34), Value::from("a")]);
        assert_eq!(rows[1], vec![Value::Null, float(0.05), Value::Null]);
        assert_eq!(column_name("TEST_NAME"), "test_name");
        assert_eq!(column_name("MixedCase"), "MixedCase");
    }
}
