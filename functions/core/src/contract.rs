//! The landing contract: which files make a batch, the columns each must carry, and how each
//! is written. It is declared in the SQL project, per source table, under
//! `config.meta.landfall` (or `meta.landfall`) in `models/**/_sources.yml`, so dbt still
//! parses the project and the pipeline learns its feed the way it learns its SQL:
//!
//! ```yaml
//! sources:
//!   - name: raw
//!     tables:
//!       - name: titles
//!         config:
//!           meta:
//!             landfall:
//!               file: titles.csv            # landing/<batch>/titles.csv
//!               required: [id, title]       # the header must have these
//!               optional: [runtime]         # loaded when present, null when not
//!               dialect: {delimiter: ",", quote: '"', escape: '"', header: true, encoding: utf-8}
//! ```
//!
//! The dialect's values above are its defaults (RFC 4180). `escape` left out is the quote (a
//! quote in a quoted field is written twice); another one (`\`) escapes the quote or itself
//! only. `header: false` makes `required` the file's columns, in order. `encoding` is UTF-8,
//! with or without a byte-order mark: the one encoding both engines read alike.
//!
//! A file's name in summaries, alerts, metrics and `audit.loads` is its table's (`titles`).

use crate::csvcheck;
use crate::error::{PipelineError, Result};
use landfall_dbt::{Project, SourceTable};
use serde_json::{Map, Value};

/// The key under a source table's meta that holds its landing contract.
pub const META_KEY: &str = "landfall";

/// Every landing file of a project, in the order the project declares them.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub files: Vec<LandingFile>,
}

/// One landing file of a batch and the raw table it loads into.
#[derive(Debug, Clone, PartialEq)]
pub struct LandingFile {
    /// The source table's name (`titles`): how the file is called everywhere.
    pub name: String,
    /// The object's name in the batch's folder (`titles.csv`).
    pub file: String,
    /// The raw relation it loads into (`raw.titles`).
    pub table: String,
    /// Columns the header must have.
    pub required: Vec<String>,
    /// Columns loaded when the header has them (null when it does not).
    pub optional: Vec<String>,
    pub dialect: Dialect,
}

pub use crate::csvcheck::Dialect;

impl Contract {
    /// The contract of `project`'s sources; a malformed declaration is `Landfall.Config`
    /// naming the YAML file and the table.
    pub fn of(project: &Project) -> Result<Self> {
        Self::from_sources(&project.sources)
    }

    /// [`of`](Self::of), from the source tables themselves.
    pub fn from_sources(sources: &[SourceTable]) -> Result<Self> {
        let mut files: Vec<LandingFile> = Vec::new();
        for s in sources {
            let Some(decl) = s.meta.get(META_KEY) else { continue };
            let f = LandingFile::parse(s, decl)?;
            if let Some(dup) = files.iter().find(|x| x.file.eq_ignore_ascii_case(&f.file)) {
                return Err(declared(
                    s,
                    format!("file '{}' is already the landing file of '{}'", f.file, dup.name),
                ));
            }
            if let Some(dup) = files.iter().find(|x| x.name == f.name) {
                return Err(declared(
                    s,
                    format!(
                        "a second landing file for table '{}' (the first loads {})",
                        f.name, dup.table
                    ),
                ));
            }
            files.push(f);
        }
        if files.is_empty() {
            return Err(PipelineError::config(format!(
                "the SQL project declares no landing file: give a source table `config: {{meta: {{{META_KEY}: {{file: <name>.csv, required: [<columns>]}}}}}}` in models/**/_sources.yml"
            )));
        }
        Ok(Self { files })
    }

    /// The landing file called `name` (`titles`).
    pub fn file(&self, name: &str) -> Option<&LandingFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The landing file whose object is called `object` in a batch's folder (`titles.csv`).
    pub fn by_object(&self, object: &str) -> Option<&LandingFile> {
        self.files.iter().find(|f| f.file == object)
    }

    /// The files' names, in declaration order.
    pub fn names(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.name.as_str()).collect()
    }

    /// `titles.csv, credits.csv`: for messages.
    pub fn objects(&self) -> String {
        self.files
            .iter()
            .map(|f| f.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl LandingFile {
    /// The required columns, as the header check takes them.
    pub fn required_refs(&self) -> Vec<&str> {
        self.required.iter().map(String::as_str).collect()
    }

    /// The optional columns, as the header check takes them.
    pub fn optional_refs(&self) -> Vec<&str> {
        self.optional.iter().map(String::as_str).collect()
    }

    /// The columns the file loads as, from its first record, and those beyond the contract
    /// (csvcheck::file_columns).
    pub fn columns_of(&self, url: &str, first_record: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        csvcheck::file_columns(
            url,
            &self.dialect,
            first_record,
            &self.required_refs(),
            &self.optional_refs(),
        )
    }

    fn parse(s: &SourceTable, decl: &Value) -> Result<Self> {
        let Value::Object(d) = decl else {
            return Err(declared(
                s,
                format!("`{META_KEY}` must be a mapping (file, required, optional, dialect)"),
            ));
        };
        for k in d.keys() {
            if !["file", "required", "optional", "dialect"].contains(&k.as_str()) {
                return Err(declared(
                    s,
                    format!("unknown key '{k}' (expected file, required, optional, dialect)"),
                ));
            }
        }
        let file = match d.get("file") {
            Some(Value::String(f)) if valid_object_name(f) => f.clone(),
            Some(other) => {
                return Err(declared(
                    s,
                    format!(
                        "file must be a file name like '{}.csv' (no folder), found {other}",
                        s.name
                    ),
                ));
            }
            None => {
                return Err(declared(
                    s,
                    format!("file is missing (the batch's object, like '{}.csv')", s.name),
                ));
            }
        };
        let required = columns(s, d, "required")?;
        if required.is_empty() {
            return Err(declared(
                s,
                "required must name at least one column the header must have",
            ));
        }
        let optional = columns(s, d, "optional")?;
        if let Some(c) = optional
            .iter()
            .find(|c| required.iter().any(|r| r.eq_ignore_ascii_case(c)))
        {
            return Err(declared(s, format!("column '{c}' is both required and optional")));
        }
        let dialect = match d.get("dialect") {
            None => Dialect::default(),
            Some(Value::Object(m)) => parse_dialect(s, m)?,
            Some(other) => return Err(declared(s, format!("dialect must be a mapping, found {other}"))),
        };
        if !dialect.header && !optional.is_empty() {
            return Err(declared(
                s,
                "optional columns need a header to name them: with `header: false` the file's columns are `required`, in order",
            ));
        }
        Ok(Self {
            name: s.name.clone(),
            file,
            table: s.relation(),
            required,
            optional,
            dialect,
        })
    }
}

fn valid_object_name(f: &str) -> bool {
    !f.is_empty() && !f.contains('/') && !f.contains('\\') && f != "." && f != ".."
}

fn columns(s: &SourceTable, d: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    let Some(v) = d.get(key) else { return Ok(vec![]) };
    let Value::Array(items) = v else {
        return Err(declared(s, format!("{key} must be a list of column names, found {v}")));
    };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let Some(c) = i.as_str().map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(declared(s, format!("{key}: {i} is not a column name")));
        };
        if out.iter().any(|x| x.eq_ignore_ascii_case(c)) {
            return Err(declared(s, format!("{key}: column '{c}' is listed twice")));
        }
        out.push(c.to_string());
    }
    Ok(out)
}

fn parse_dialect(s: &SourceTable, m: &Map<String, Value>) -> Result<Dialect> {
    let mut d = Dialect::default();
    let one_char = |k: &str, v: &Value| -> Result<u8> {
        let text = v.as_str().unwrap_or_default();
        match text.as_bytes() {
            [c] if c.is_ascii() && !matches!(c, b'\r' | b'\n') => Ok(*c),
            _ => Err(declared(
                s,
                format!("dialect.{k} must be one ASCII character other than a line break, found {v}"),
            )),
        }
    };
    let mut escape = None;
    for (k, v) in m {
        match k.as_str() {
            "delimiter" => d.delimiter = one_char(k, v)?,
            "quote" => d.quote = one_char(k, v)?,
            "escape" => escape = Some(one_char(k, v)?),
            "header" => {
                d.header = v
                    .as_bool()
                    .ok_or_else(|| declared(s, format!("dialect.header must be true or false, found {v}")))?
            }
            "encoding" => {
                let e = v.as_str().unwrap_or_default().to_ascii_lowercase().replace('_', "-");
                if !["utf-8", "utf8", "utf-8-sig"].contains(&e.as_str()) {
                    return Err(declared(
                        s,
                        format!("dialect.encoding: only utf-8 (with or without a byte-order mark) is read, found {v}"),
                    ));
                }
            }
            other => {
                return Err(declared(
                    s,
                    format!("unknown dialect key '{other}' (expected delimiter, quote, escape, header, encoding)"),
                ));
            }
        }
    }
    // Unset, the escape follows the quote: a quote is written twice.
    d.escape = escape.unwrap_or(d.quote);
    if d.delimiter == d.quote || d.delimiter == d.escape {
        return Err(declared(
            s,
            format!(
                "dialect.delimiter {:?} is also the quote or the escape: a reader could not tell them apart",
                d.delimiter as char
            ),
        ));
    }
    if d.quote.is_ascii_alphanumeric() || d.escape.is_ascii_alphanumeric() {
        return Err(declared(
            s,
            "dialect.quote and dialect.escape must not be letters or digits",
        ));
    }
    Ok(d)
}

/// `Landfall.Config` naming where the contract of `s` is declared.
fn declared(s: &SourceTable, msg: impl std::fmt::Display) -> PipelineError {
    PipelineError::config(format!(
        "{}: source '{}.{}', {META_KEY} contract: {msg}",
        s.path.display(),
        s.source,
        s.name
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn table(name: &str, meta: Value) -> SourceTable {
        SourceTable {
            source: "raw".into(),
            name: name.into(),
            schema: "raw".into(),
            identifier: name.into(),
            columns: vec![],
            meta: meta.as_object().cloned().unwrap_or_default(),
            path: "models/staging/_sources.yml".into(),
        }
    }

    /// A two-file contract, as the unit tests of the modules that read one use it.
    pub(crate) fn two_files() -> Contract {
        Contract::from_sources(&[
            table(
                "titles",
                json!({"landfall": {"file": "titles.csv", "required": ["id", "title"]}}),
            ),
            table(
                "credits",
                json!({"landfall": {"file": "credits.csv", "required": ["person_id", "id"]}}),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn a_declared_file_gets_its_table_columns_and_the_default_dialect() {
        let c = Contract::from_sources(&[
            table("audit_like", json!({"owner": "x"})),
            table(
                "titles",
                json!({"landfall": {"file": "titles.csv", "required": ["id"], "optional": ["runtime"],
                       "dialect": {"delimiter": ",", "quote": "\"", "escape": "\"", "header": true, "encoding": "UTF-8"}}}),
            ),
        ])
        .unwrap();
        assert_eq!(c.names(), vec!["titles"]);
        let f = c.by_object("titles.csv").unwrap();
        assert_eq!(
            (f.table.as_str(), f.required_refs(), f.optional_refs()),
            ("raw.titles", vec!["id"], vec!["runtime"])
        );
        assert_eq!(f.dialect, Dialect::default());
        assert!(c.file("credits").is_none());
    }

    #[test]
    fn a_declared_dialect_is_read_and_the_escape_defaults_to_the_quote() {
        let dialect = |d: Value| {
            Contract::from_sources(&[table(
                "t",
                json!({"landfall": {"file": "t.csv", "required": ["a", "b"], "dialect": d}}),
            )])
            .unwrap()
            .files[0]
                .dialect
                .clone()
        };
        let semi = dialect(json!({"delimiter": ";", "quote": "'"}));
        assert_eq!(
            (semi.delimiter, semi.quote, semi.escape, semi.header),
            (b';', b'\'', b'\'', true)
        );
        assert!(semi.doubles_quotes());
        let bs = dialect(json!({"escape": "\\", "header": false, "delimiter": "\t"}));
        assert_eq!(
            (bs.delimiter, bs.quote, bs.escape, bs.header),
            (b'\t', b'"', b'\\', false)
        );
        assert!(!bs.doubles_quotes());
    }

    #[test]
    fn a_malformed_contract_is_refused_naming_the_file_and_table() {
        let refused = |meta: Value| {
            Contract::from_sources(&[table("titles", json!({"landfall": meta}))])
                .unwrap_err()
                .message
        };
        for (meta, says) in [
            (json!({"required": ["id"]}), "file is missing"),
            (json!({"file": "a/titles.csv", "required": ["id"]}), "no folder"),
            (json!({"file": "titles.csv"}), "at least one column"),
            (json!({"file": "titles.csv", "required": ["id", "ID"]}), "listed twice"),
            (
                json!({"file": "titles.csv", "required": ["id"], "optional": ["id"]}),
                "both required and optional",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "colums": []}),
                "unknown key 'colums'",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"delimiter": ";;"}}),
                "one ASCII character",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"encoding": "latin-1"}}),
                "only utf-8",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"delimiter": "\""}}),
                "also the quote or the escape",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"quote": "é"}}),
                "one ASCII character",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"delimiter": "\n"}}),
                "other than a line break",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "optional": ["x"], "dialect": {"header": false}}),
                "optional columns need a header",
            ),
            (
                json!({"file": "titles.csv", "required": ["id"], "dialect": {"sep": ","}}),
                "unknown dialect key 'sep'",
            ),
        ] {
            let m = refused(meta.clone());
            assert!(
                m.contains(says) && m.contains("models/staging/_sources.yml") && m.contains("raw.titles"),
                "{meta}: {m}"
            );
        }
        let m = Contract::from_sources(&[
            table("a", json!({"landfall": {"file": "x.csv", "required": ["id"]}})),
            table("b", json!({"landfall": {"file": "X.csv", "required": ["id"]}})),
        ])
        .unwrap_err()
        .message;
        assert!(m.contains("already the landing file of 'a'"), "{m}");
        let m = Contract::from_sources(&[table("a", json!({}))]).unwrap_err().message;
        assert!(m.contains("declares no landing file"), "{m}");
    }
}
