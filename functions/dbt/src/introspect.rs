//! What rendering asks the run's warehouse: `run_query`, `statement`/`load_result` and the
//! `adapter` methods that read the catalog.
//!
//! Rendering stays synchronous and free of I/O. A render is given the answers it was given
//! before ([`Answers`], in the order it asked); a question it has no answer for stops it with
//! [`ProjectError::unanswered`](crate::ProjectError). The pipeline (`landfall-core`) then asks
//! the warehouse and renders again with one answer more, until the render completes. A
//! render is a function of its scope and its answers, so each question reaches the warehouse
//! once, in the order the template asks it, as in dbt.

use crate::render::Relation;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as JValue};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One question a template puts to the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Rows of a query (`run_query`, `statement(fetch_result=True)`).
    Query(String),
    /// Statements whose rows nobody reads (`statement(…)` without `fetch_result`).
    Execute(String),
    /// `adapter.get_columns_in_relation`: the relation's columns and their types (none for a
    /// relation that does not exist).
    Columns(Relation),
    /// `adapter.get_relation`: the relation, if it exists.
    Exists(Relation),
}

impl Ask {
    /// What the question is, for an error about it.
    pub fn describe(&self) -> String {
        match self {
            Ask::Query(sql) | Ask::Execute(sql) => {
                let line = sql.trim().lines().next().unwrap_or("").trim();
                format!("the statement `{}`", line.chars().take(80).collect::<String>())
            }
            Ask::Columns(r) => format!("the columns of {r}"),
            Ask::Exists(r) => format!("whether {r} exists"),
        }
    }
}

/// A query's result: column names and rows, as the warehouse returned them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A column of a relation as dbt's `Column`: `.name`, `.column`, `.data_type`, `.dtype`,
/// `.quoted`, `.is_string()`, `.is_number()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The type as the engine names it (`VARCHAR`, `DECIMAL(10,2)`).
    pub dtype: String,
    /// The type as dbt's adapter writes it: dbt-duckdb's `Column.data_type` writes a string
    /// column of unknown length as `character varying(256)`, any other as its type.
    pub data_type: String,
}

impl Column {
    pub fn new(name: String, dtype: String, target_type: &str) -> Self {
        let is_string = ["varchar", "text", "character varying", "character", "string"]
            .contains(&dtype.to_ascii_lowercase().as_str());
        let data_type = match target_type {
            "duckdb" if is_string => "character varying(256)".to_string(),
            _ => dtype.clone(),
        };
        Self { name, dtype, data_type }
    }
}

/// The warehouse's answer to an [`Ask`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Table(Table),
    Done,
    Columns(Vec<Column>),
    Exists(bool),
}

/// The answers one render attempt may use, in the order the template asks.
#[derive(Debug, Default)]
pub struct Answers {
    known: Vec<(Ask, Answer)>,
    next: AtomicUsize,
    /// The first question with no answer yet: the render stops, the caller answers it.
    unanswered: Mutex<Option<Ask>>,
}

impl Answers {
    pub fn new(known: Vec<(Ask, Answer)>) -> Self {
        Self {
            known,
            ..Self::default()
        }
    }

    /// The answer to the template's next question, which must be `ask`; an error (that stops
    /// the render) when it has none yet or the template asked something else this time.
    pub fn answer(&self, ask: Ask) -> Result<Answer, minijinja::Error> {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        match self.known.get(i) {
            Some((asked, answer)) if *asked == ask => Ok(answer.clone()),
            Some((asked, _)) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "the template asked the warehouse {} where it asked {} before: rendering must ask the same questions in the same order",
                    ask.describe(),
                    asked.describe()
                ),
            )),
            None => {
                let what = ask.describe();
                self.unanswered.lock().unwrap().get_or_insert(ask);
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("rendering waits for the warehouse's answer to {what}"),
                ))
            }
        }
    }

    /// The question this attempt stopped at, if it did.
    pub fn unanswered(&self) -> Option<Ask> {
        self.unanswered.lock().unwrap().clone()
    }
}

/// An agate table as dbt's `run_query` returns it: `.rows` (each indexable by position and
/// column name), `.columns` (each with `.name` and `.values()`), `.column_names`.
/// Column names are matched without regard to case: Snowflake's come upper-case in dbt and
/// lower-case here.
#[derive(Debug)]
pub struct AgateTable(pub Table);

fn position(columns: &[String], key: &JValue) -> Option<usize> {
    match key.as_str() {
        Some(name) => columns.iter().position(|c| c.eq_ignore_ascii_case(name)),
        None => {
            let i = key.as_i64()?;
            let i = if i < 0 { columns.len() as i64 + i } else { i };
            usize::try_from(i).ok().filter(|&i| i < columns.len())
        }
    }
}

impl Object for AgateTable {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let t = &self.0;
        match key.as_str()? {
            "rows" => Some(JValue::from(
                (0..t.rows.len())
                    .map(|i| JValue::from_object(Row(self.clone(), i)))
                    .collect::<Vec<_>>(),
            )),
            "columns" => Some(JValue::from_object(Columns(self.clone()))),
            "column_names" => Some(JValue::from_serialize(&t.columns)),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        _args: &[JValue],
    ) -> Result<JValue, minijinja::Error> {
        match method {
            "print_table" => {
                tracing::info!(target: "landfall::sql", "{:?}", self.0);
                Ok(JValue::from(""))
            }
            other => Err(minijinja::Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("a query result has no method {other} (it has rows, columns, column_names, print_table)"),
            )),
        }
    }
}

/// One row of an [`AgateTable`].
#[derive(Debug)]
struct Row(Arc<AgateTable>, usize);

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let t = &self.0.0;
        let at = position(&t.columns, key)?;
        t.rows[self.1].get(at).map(JValue::from_serialize)
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.0.rows[self.1].iter().map(JValue::from_serialize).collect())
    }
}

/// The columns of an [`AgateTable`], by position or name.
#[derive(Debug)]
struct Columns(Arc<AgateTable>);

impl Object for Columns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let at = position(&self.0.0.columns, key)?;
        Some(JValue::from_object(AgateColumn(self.0.clone(), at)))
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            (0..self.0.0.columns.len())
                .map(|i| JValue::from_object(AgateColumn(self.0.clone(), i)))
                .collect(),
        )
    }
}

/// One column of an [`AgateTable`]: `.name`, `.values()`, `.values_distinct()`.
#[derive(Debug)]
struct AgateColumn(Arc<AgateTable>, usize);

impl AgateColumn {
    fn values(&self) -> Vec<JValue> {
        self.0
            .0
            .rows
            .iter()
            .map(|r| JValue::from_serialize(&r[self.1]))
            .collect()
    }
}

impl Object for AgateColumn {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        (key.as_str()? == "name").then(|| JValue::from(self.0.0.columns[self.1].clone()))
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        _args: &[JValue],
    ) -> Result<JValue, minijinja::Error> {
        match method {
            "values" => Ok(JValue::from(self.values())),
            "values_distinct" => {
                let mut seen: Vec<JValue> = Vec::new();
                for v in self.values() {
                    if !seen.contains(&v) {
                        seen.push(v);
                    }
                }
                Ok(JValue::from(seen))
            }
            other => Err(minijinja::Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("a result column has no method {other} (it has name, values, values_distinct)"),
            )),
        }
    }
}

impl Object for Column {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "name" | "column" => Some(JValue::from(self.name.clone())),
            "data_type" => Some(JValue::from(self.data_type.clone())),
            "dtype" => Some(JValue::from(self.dtype.clone())),
            "quoted" => Some(JValue::from(format!("\"{}\"", self.name.replace('"', "\"\"")))),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        _args: &[JValue],
    ) -> Result<JValue, minijinja::Error> {
        let t = self.dtype.to_ascii_lowercase();
        let starts = |p: &[&str]| p.iter().any(|p| t.starts_with(p));
        match method {
            "is_string" => Ok(JValue::from(starts(&["varchar", "text", "string", "char"]))),
            "is_number" => Ok(JValue::from(starts(&[
                "int", "bigint", "smallint", "tinyint", "hugeint", "integer", "number", "numeric", "decimal", "float",
                "double", "real",
            ]))),
            other => Err(minijinja::Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("a column has no method {other} (it has name, data_type, quoted, is_string, is_number)"),
            )),
        }
    }
}

/// What `load_result(name)` answers: dbt's `{response, data, table}`.
pub fn load_result(answer: &Answer) -> JValue {
    let table = match answer {
        Answer::Table(t) => Some(t.clone()),
        _ => None,
    };
    let rows = table.as_ref().map(|t| t.rows.len()).unwrap_or(0);
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        "response",
        JValue::from_serialize(serde_json::json!({"code": "SUCCESS", "rows_affected": rows, "_message": "OK"})),
    );
    m.insert(
        "data",
        JValue::from_serialize(table.as_ref().map(|t| t.rows.clone()).unwrap_or_default()),
    );
    m.insert(
        "table",
        table
            .map(|t| JValue::from_object(AgateTable(t)))
            .unwrap_or(JValue::from(())),
    );
    JValue::from(m)
}
