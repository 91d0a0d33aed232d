//! Rendering dbt-flavoured Jinja with minijinja.
//!
//! One fresh minijinja environment per render: the project's macros are prepended to the
//! template text (so a macro sees `target`, `var` and friends exactly as dbt's do), and the
//! dbt context functions are closures over the [`RenderScope`] of this one render. What the
//! template called (`ref`, `source`, `config`) is captured for the parser.

use super::load::Project;
use crate::error::{ProjectError, Result};
use crate::introspect::{Answer, Answers, Ask};
use minijinja::value::{Kwargs, Object, Value as JValue};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// `target` in templates.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: String,
    pub schema: String,
    pub database: String,
}

/// A relation as templates see it: renders as `schema.name`, with `.schema`, `.name`,
/// `.identifier` and `.database` attributes like dbt's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: String,
    pub name: String,
}

impl Relation {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            database: None,
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.database {
            // A database named after a file (`my-wh.duckdb`) need not be an identifier.
            Some(db)
                if !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || db.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                write!(f, "\"{}\".{}.{}", db.replace('"', "\"\""), self.schema, self.name)
            }
            Some(db) => write!(f, "{db}.{}.{}", self.schema, self.name),
            None if self.schema.is_empty() => write!(f, "{}", self.name),
            None => write!(f, "{}.{}", self.schema, self.name),
        }
    }
}

/// The prefix dbt gives the CTE an ephemeral model becomes.
pub const EPHEMERAL_PREFIX: &str = "__dbt__cte__";

impl Relation {
    /// What `ref()` of an ephemeral model renders: the name of the CTE it is inlined as.
    pub fn ephemeral(model: &str) -> Self {
        Self::new("", format!("{EPHEMERAL_PREFIX}{model}"))
    }
}

impl Relation {
    /// The relation's schema, qualified with its database when it has one.
    pub fn schema_path(&self) -> String {
        match &self.database {
            Some(db) => format!("{db}.{}", self.schema),
            None => self.schema.clone(),
        }
    }
}

impl Object for Relation {
    /// A relation is true, as dbt's: `{% if adapter.get_relation(…) %}`.
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        match key.as_str()? {
            "schema" => Some(JValue::from(self.schema.clone())),
            "name" | "identifier" | "table" => Some(JValue::from(self.name.clone())),
            "database" => Some(self.database.clone().map(JValue::from).unwrap_or(JValue::from(()))),
            _ => None,
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self)
    }
}

/// dbt's `exceptions`: `raise_compiler_error(msg)` fails the render with the user's message
/// (the file and line say where), `warn(msg)` logs it and renders nothing.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> std::result::Result<JValue, minijinja::Error> {
        let msg = args.first().map(|v| v.to_string()).unwrap_or_default();
        match method {
            "raise_compiler_error" => Err(jerr(ErrorKind::InvalidOperation, msg)),
            "warn" => {
                tracing::warn!("{msg}");
                Ok(JValue::from(""))
            }
            other => Err(jerr(
                ErrorKind::UnknownMethod,
                format!("exceptions.{other} is not supported (raise_compiler_error, warn are)"),
            )),
        }
    }
}

/// dbt's cross-database macros as dbt-duckdb and dbt-snowflake compile them
/// (`cross_db.sql`), in the macros template ([`MACROS_TEMPLATE`]) and called through
/// [`DbtNamespace`].
const CROSS_DB: &str = include_str!("cross_db.sql");

/// Where each tag of `text` that opens with `word` (`{% word …` / `{%- word …`) has its
/// argument: the offset just past the word and the spaces after it.
fn tag_arguments<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word).filter_map(move |(i, _)| {
        let after = i + word.len();
        let opens = text[..i].trim_end_matches([' ', '-']).ends_with("{%");
        let spaced = text[after..].starts_with(char::is_whitespace);
        (opens && spaced).then(|| after + (text[after..].len() - text[after..].trim_start().len()))
    })
}

/// The identifier at the start of `text`.
fn leading_ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The names of the macros `text` defines (`{% macro name(` / `{%- macro name(`).
pub(crate) fn macro_names(text: &str) -> impl Iterator<Item = &str> {
    tag_arguments(text, "macro").map(move |at| leading_ident(&text[at..]))
}

/// The names `{% set a = … %}` / `{% set a, b = … %}` / `{% set a %}…{% endset %}` assign in
/// `text`. minijinja's analysis scopes a `set` inside `{% if %}` to the branch, where at run
/// time (as in Jinja) it outlives it: `{% if execute %}{% set r = run_query(…) %}{% endif %}`.
fn set_names(text: &str) -> impl Iterator<Item = &str> {
    tag_arguments(text, "set").flat_map(move |at| {
        let rest = &text[at..];
        let end = rest.find(['=', '%', '}']).unwrap_or(rest.len());
        rest[..end]
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
    })
}

/// The `dbt` namespace: `dbt.concat(…)` calls the macro `__dbt_concat` of `cross_db.sql`.
#[derive(Debug)]
struct DbtNamespace;

impl Object for DbtNamespace {
    fn call_method(
        self: &Arc<Self>,
        state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> std::result::Result<JValue, minijinja::Error> {
        match with_macro(state, MACROS_TEMPLATE, &format!("__dbt_{method}"), |ms, m| {
            m.call(ms, args)
        })? {
            Some(v) => Ok(v),
            None => {
                let known: Vec<&str> = macro_names(CROSS_DB).filter_map(|n| n.strip_prefix("__dbt_")).collect();
                Err(jerr(
                    ErrorKind::UnknownMethod,
                    format!(
                        "dbt.{method} is not supported (the cross-database macros are {})",
                        known.join(", ")
                    ),
                ))
            }
        }
    }
}

/// The template holding every macro (cross-database and the project's), on its own: a macro
/// sees only the names defined after it or named in its body (minijinja's closures), so the
/// namespaces look macros up here rather than in the caller's state. Compiled on first use
/// (the render's loader), so a render that calls no namespace does not pay for it.
const MACROS_TEMPLATE: &str = "__macros__";

/// The template holding a package's macros (and the cross-database ones), as
/// [`MACROS_TEMPLATE`] holds the project's: a package's macros call each other by name.
fn package_template(package: &str) -> String {
    format!("{MACROS_TEMPLATE}{package}")
}

/// Call `f` with the macro `name` of `template` and the state it was defined in, if there is one.
fn with_macro<R>(
    state: &minijinja::State<'_, '_>,
    template: &str,
    name: &str,
    f: impl FnOnce(&minijinja::State<'_, '_>, JValue) -> std::result::Result<R, minijinja::Error>,
) -> std::result::Result<Option<R>, minijinja::Error> {
    let macros = state.env().get_template(template)?;
    let captured = macros.render_captured(minijinja::context! {})?;
    let ms = captured.state();
    match ms.lookup(name).filter(|m| !m.is_undefined()) {
        Some(m) => f(ms, m).map(Some),
        None => Ok(None),
    }
}

/// The prefix a project's or a package's macro definitions take in the template that serves
/// them, so that a bare call finds the global that calls the macro in a frame of its own
/// ([`MacroFn`]) rather than the macro itself: what `return()` returns is handed back whatever
/// its kind, as in dbt. dbt's own macros (cross_db.sql) return nothing and keep their names.
const DEFINED_PREFIX: &str = "__lf_";

/// `text` with each macro definition's name prefixed ([`DEFINED_PREFIX`]).
fn prefixed_definitions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    let mut last = 0;
    for at in tag_arguments(text, "macro") {
        out.push_str(&text[last..at]);
        out.push_str(DEFINED_PREFIX);
        last = at;
    }
    out.push_str(&text[last..]);
    out
}

/// The values `return()` handed back, one slot per macro call in progress (innermost last).
type Frames = Arc<Mutex<Vec<Option<JValue>>>>;

/// Call the macro `name` of `template` in a frame: its `return()` value if it returned one
/// (the rest of its output discarded, as dbt discards it), else what it rendered.
fn call_framed(
    state: &minijinja::State<'_, '_>,
    frames: &Frames,
    template: &str,
    name: &str,
    args: &[JValue],
) -> std::result::Result<Option<JValue>, minijinja::Error> {
    frames.lock().unwrap().push(None);
    let out = with_macro(state, template, &format!("{DEFINED_PREFIX}{name}"), |ms, m| {
        m.call(ms, args)
    });
    let returned = frames.lock().unwrap().pop().flatten();
    Ok(out?.map(|rendered| returned.unwrap_or(rendered)))
}

/// A macro by its name, called in the state of the template it is defined in: a project's or
/// a package's in a frame ([`call_framed`]); one of dbt's own (what `adapter.dispatch(…,
/// 'dbt')` answers) without one, as it returns nothing.
#[derive(Debug)]
struct MacroFn {
    template: String,
    name: String,
    frames: Option<Frames>,
}

impl Object for MacroFn {
    fn call(
        self: &Arc<Self>,
        state: &minijinja::State<'_, '_>,
        args: &[JValue],
    ) -> std::result::Result<JValue, minijinja::Error> {
        let out = match &self.frames {
            Some(f) => call_framed(state, f, &self.template, &self.name, args)?,
            None => with_macro(state, &self.template, &self.name, |ms, m| m.call(ms, args))?,
        };
        out.ok_or_else(|| jerr(ErrorKind::UnknownFunction, format!("macro {} went away", self.name)))
    }
}

/// A package's namespace (or the project's, by its name): `my_pkg.cents(col)` calls the macro
/// `cents` of the package, in its own template, as dbt's `<package>.<macro>` does.
#[derive(Debug)]
struct Namespace {
    set: Arc<MacroSet>,
    frames: Frames,
}

impl Object for Namespace {
    /// `money.ten` without calling it: how the package's template binds its macros' bare names.
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let name = key.as_str()?;
        self.set.defines(name).then(|| {
            JValue::from_object(MacroFn {
                template: self.set.template.clone(),
                name: name.to_string(),
                frames: Some(self.frames.clone()),
            })
        })
    }

    fn call_method(
        self: &Arc<Self>,
        state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> std::result::Result<JValue, minijinja::Error> {
        call_framed(state, &self.frames, &self.set.template, method, args)?.ok_or_else(|| {
            jerr(
                ErrorKind::UnknownMethod,
                format!("package {} has no macro {method}", self.set.namespace),
            )
        })
    }
}

/// The macros of one namespace: the project's (by its name) or a package's, the template
/// they are in and their text (to know which macros exist without running it).
#[derive(Debug)]
struct MacroSet {
    namespace: String,
    template: String,
    /// The names of the macros it defines, dbt's cross-database ones included.
    names: std::collections::HashSet<String>,
    /// What the template holds: the macros with their definitions prefixed.
    served: String,
}

impl MacroSet {
    /// The set of `namespace`'s `macros`, served as `template` after `first_line`.
    fn new(namespace: &str, template: String, macros: &str, first_line: &str) -> MacroSet {
        MacroSet {
            namespace: namespace.to_string(),
            template,
            names: macro_names(CROSS_DB)
                .chain(macro_names(macros))
                .map(str::to_string)
                .collect(),
            served: format!("{first_line}{CROSS_DB}{}", prefixed_definitions(macros)),
        }
    }

    fn defines(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// dbt's `adapter`, as far as the engine has it: `adapter.dispatch(name, macro_namespace)`
/// finds `<target.type>__<name>`, else `default__<name>`, in each package of the namespace's
/// `dispatch:` search order (default: the namespace itself, the project's macros without one;
/// `dbt` is dbt's own cross-database macro); `get_columns_in_relation` and
/// `get_relation` ask the run's warehouse (crate::introspect), answering `[]` and `none`
/// while parsing as dbt's parse does; `quote` quotes an identifier. Any other method is
/// refused at load (`refuse_unknown_names`).
#[derive(Debug)]
struct Adapter {
    target_type: String,
    /// The project's macros first, then each package's.
    sets: Vec<Arc<MacroSet>>,
    /// The project's `dispatch:` search orders.
    dispatch: Vec<(String, Vec<String>)>,
    scope: Arc<RenderScope>,
    frames: Frames,
}

/// The `adapter` methods the engine has.
const ADAPTER_METHODS: &[&str] = &["dispatch", "get_columns_in_relation", "get_relation", "quote"];

impl Adapter {
    fn get_columns_in_relation(&self, args: &[JValue]) -> std::result::Result<JValue, minijinja::Error> {
        let (positional, kwargs) = split_args(args)?;
        let rel = match (positional.first(), &kwargs) {
            (Some(r), _) => r.clone(),
            (None, Some(k)) => k.get::<JValue>("relation")?,
            (None, None) => JValue::UNDEFINED,
        };
        let rel = rel.downcast_object_ref::<Relation>().cloned().ok_or_else(|| {
            jerr(
                ErrorKind::InvalidOperation,
                "adapter.get_columns_in_relation needs a relation (ref(), source(), this)",
            )
        })?;
        if self.scope.parsing {
            return Ok(JValue::from(Vec::<JValue>::new()));
        }
        match ask(&self.scope, Ask::Columns(rel))? {
            Answer::Columns(cols) => Ok(JValue::from(
                cols.into_iter().map(JValue::from_object).collect::<Vec<_>>(),
            )),
            other => Err(wrong_answer(&other)),
        }
    }

    fn get_relation(&self, args: &[JValue]) -> std::result::Result<JValue, minijinja::Error> {
        let (positional, kwargs) = split_args(args)?;
        let arg = |i: usize, name: &str| -> std::result::Result<Option<String>, minijinja::Error> {
            let v = match (positional.get(i), &kwargs) {
                (Some(v), _) => v.clone(),
                (None, Some(k)) => k.get::<Option<JValue>>(name)?.unwrap_or_default(),
                (None, None) => JValue::UNDEFINED,
            };
            Ok((!v.is_undefined() && !v.is_none()).then(|| v.to_string()))
        };
        let (database, schema, identifier) = (arg(0, "database")?, arg(1, "schema")?, arg(2, "identifier")?);
        let (Some(schema), Some(identifier)) = (schema, identifier) else {
            return Err(jerr(
                ErrorKind::MissingArgument,
                "adapter.get_relation needs database, schema and identifier",
            ));
        };
        if self.scope.parsing {
            return Ok(JValue::from(()));
        }
        let rel = Relation {
            database,
            ..Relation::new(schema, identifier)
        };
        match ask(&self.scope, Ask::Exists(rel.clone()))? {
            Answer::Exists(true) => Ok(JValue::from_object(rel)),
            Answer::Exists(false) => Ok(JValue::from(())),
            other => Err(wrong_answer(&other)),
        }
    }
}

/// A call's positional arguments, and its keyword arguments (the last value, when it is them).
fn split_args(args: &[JValue]) -> std::result::Result<(&[JValue], Option<Kwargs>), minijinja::Error> {
    use minijinja::value::ArgType;
    match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => Ok((rest, Some(Kwargs::from_value(Some(last))?))),
        _ => Ok((args, None)),
    }
}

/// Ask the warehouse through the render's answers (crate::introspect).
fn ask(scope: &RenderScope, question: Ask) -> std::result::Result<Answer, minijinja::Error> {
    match &scope.answers {
        Some(a) => a.answer(question),
        None => Err(jerr(
            ErrorKind::InvalidOperation,
            format!("{} cannot be asked of the warehouse here", question.describe()),
        )),
    }
}

fn wrong_answer(a: &Answer) -> minijinja::Error {
    jerr(
        ErrorKind::InvalidOperation,
        format!("the warehouse gave an answer of the wrong kind ({a:?})"),
    )
}

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        _state: &minijinja::State<'_, '_>,
        method: &str,
        args: &[JValue],
    ) -> std::result::Result<JValue, minijinja::Error> {
        match method {
            "dispatch" => {}
            "get_columns_in_relation" => return self.get_columns_in_relation(args),
            "get_relation" => return self.get_relation(args),
            "quote" => {
                let name = args.first().map(|v| v.to_string()).unwrap_or_default();
                return Ok(JValue::from(format!("\"{}\"", name.replace('"', "\"\""))));
            }
            other => {
                return Err(jerr(
                    ErrorKind::UnknownMethod,
                    format!("adapter.{other} is not supported ({} are)", ADAPTER_METHODS.join(", ")),
                ));
            }
        }
        let (positional, kwargs) = split_args(args)?;
        let name = positional
            .first()
            .and_then(JValue::as_str)
            .map(str::to_string)
            .ok_or_else(|| jerr(ErrorKind::MissingArgument, "adapter.dispatch needs a macro name"))?;
        let namespace = match (positional.get(1), &kwargs) {
            (Some(n), _) => n.as_str().map(str::to_string),
            (None, Some(k)) => k.get::<Option<String>>("macro_namespace")?,
            (None, None) => None,
        };
        let root = &self.sets[0];
        let order: Vec<String> = match namespace.as_deref() {
            None => vec![root.namespace.clone()],
            Some(ns) => self
                .dispatch
                .iter()
                .find(|(n, _)| n == ns)
                .map(|(_, order)| order.clone())
                .unwrap_or_else(|| vec![ns.to_string()]),
        };
        let mut candidates: Vec<(&Arc<MacroSet>, String)> = Vec::new();
        for package in &order {
            if package == "dbt" {
                candidates.push((root, format!("__dbt_{name}")));
            } else if let Some(set) = self.sets.iter().find(|s| &s.namespace == package) {
                candidates.push((set, format!("{}__{name}", self.target_type)));
                candidates.push((set, format!("default__{name}")));
            }
        }
        if let Some((set, c)) = candidates.iter().find(|(set, c)| set.defines(c)) {
            // dbt's own macros keep their names; the project's and packages' are prefixed.
            let own = c.starts_with("__dbt_");
            return Ok(JValue::from_object(MacroFn {
                template: set.template.clone(),
                name: c.clone(),
                frames: (!own).then(|| self.frames.clone()),
            }));
        }
        Err(jerr(
            ErrorKind::InvalidOperation,
            format!(
                "adapter.dispatch('{name}'{}): no macro {} (searched {})",
                namespace.map(|n| format!(", '{n}'")).unwrap_or_default(),
                candidates
                    .iter()
                    .map(|(_, c)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                order.join(", ")
            ),
        ))
    }
}

/// `run_query(sql)`, `{% call statement(name, fetch_result) %}…{% endcall %}` and
/// `load_result(name)`, asking the run's warehouse (crate::introspect). While parsing
/// (`execute` is false) nothing runs: `run_query` answers `none`, a statement's body is not
/// even rendered, as in dbt.
fn add_warehouse_calls(env: &mut Environment<'_>, scope: &Arc<RenderScope>) {
    let results: Arc<Mutex<HashMap<String, JValue>>> = Arc::default();
    {
        let s = scope.clone();
        env.add_function(
            "run_query",
            move |sql: JValue| -> std::result::Result<JValue, minijinja::Error> {
                if s.parsing {
                    // None in dbt, whose lookups answer undefined while parsing.
                    return Ok(JValue::UNDEFINED);
                }
                match ask(&s, Ask::Query(sql.to_string()))? {
                    Answer::Table(t) => Ok(JValue::from_object(crate::introspect::AgateTable(t))),
                    other => Err(wrong_answer(&other)),
                }
            },
        );
    }
    {
        let (s, r) = (scope.clone(), results.clone());
        env.add_function(
            "statement",
            move |state: &minijinja::State<'_, '_>,
                  args: minijinja::value::Rest<JValue>|
                  -> std::result::Result<JValue, minijinja::Error> {
                let (positional, kwargs) = split_args(&args)?;
                let arg = |i: usize, name: &str| -> std::result::Result<JValue, minijinja::Error> {
                    Ok(match (positional.get(i), &kwargs) {
                        (Some(v), _) => v.clone(),
                        (None, Some(k)) => k.get::<Option<JValue>>(name)?.unwrap_or_default(),
                        (None, None) => JValue::UNDEFINED,
                    })
                };
                let name = arg(0, "name")?;
                let fetch = arg(1, "fetch_result")?.is_true();
                let caller = kwargs
                    .as_ref()
                    .map(|k| k.get::<Option<JValue>>("caller"))
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| {
                        jerr(
                            ErrorKind::InvalidOperation,
                            "statement() is a call block: {% call statement('name', fetch_result=True) %}…{% endcall %}",
                        )
                    })?;
                if s.parsing {
                    return Ok(JValue::from(""));
                }
                let sql = caller.call(state, &[])?.to_string();
                let answer = match fetch {
                    true => ask(&s, Ask::Query(sql))?,
                    false => ask(&s, Ask::Execute(sql))?,
                };
                if !name.is_undefined() && !name.is_none() {
                    r.lock()
                        .unwrap()
                        .insert(name.to_string(), crate::introspect::load_result(&answer));
                }
                Ok(JValue::from(""))
            },
        );
    }
    let s = scope.clone();
    env.add_function("load_result", move |name: String| {
        let missing = if s.parsing { JValue::UNDEFINED } else { JValue::from(()) };
        results.lock().unwrap().get(&name).cloned().unwrap_or(missing)
    });
}

/// Everything one render may look up.
#[derive(Debug, Clone)]
pub struct RenderScope {
    pub target: Target,
    pub vars: Map<String, Value>,
    /// Model name → where it is (or will be) built.
    pub models: HashMap<String, Relation>,
    /// (source, table) → relation.
    pub sources: HashMap<(String, String), Relation>,
    pub this: Option<Relation>,
    pub is_incremental: bool,
    pub invocation_id: String,
    /// While parsing, an unknown `var()` renders as empty instead of failing.
    pub parsing: bool,
    /// Ephemeral model → its compiled SQL, inlined as a CTE wherever it is referenced
    /// ([`with_ephemerals`]).
    pub ephemerals: HashMap<String, String>,
    /// `run_started_at` (RFC 3339); `None` while parsing: the time of the parse, as dbt's
    /// parse sees its own invocation's start.
    pub run_started_at: Option<String>,
    /// The warehouse's answers to what this render may ask (crate::introspect); `None` with
    /// `parsing`, where nothing is asked. Renders of one scope share them, in order.
    pub answers: Option<Arc<Answers>>,
}

impl RenderScope {
    /// The scope the parser renders with: placeholder relations, no incremental branch.
    pub fn parsing(project: &Project) -> Self {
        let models = project
            .models
            .iter()
            .map(|m| (m.name.clone(), Relation::new("__parse__", m.name.clone())))
            .collect();
        let sources = project
            .sources
            .iter()
            .map(|s| {
                (
                    (s.source.clone(), s.name.clone()),
                    Relation::new(s.schema.clone(), s.identifier.clone()),
                )
            })
            .collect();
        Self {
            target: project.target("duckdb", "landfall"),
            vars: project.vars.clone(),
            models,
            sources,
            this: None,
            is_incremental: false,
            invocation_id: "parse".into(),
            parsing: true,
            ephemerals: HashMap::new(),
            run_started_at: None,
            answers: None,
        }
    }
}

/// What a render called.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub refs: Vec<String>,
    pub sources: Vec<(String, String)>,
    pub config: Vec<(String, Value)>,
}

/// Shorten an identifier to 63 characters (a safe limit for both engines), keeping it unique-ish.
pub fn truncate_ident(s: &str) -> String {
    if s.len() <= 63 {
        return s.to_string();
    }
    let h = s
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("{}_{:08x}", &s[..54], h as u32)
}

fn jerr(kind: ErrorKind, msg: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(kind, msg.into())
}

/// Render `source` (from `path`, for messages) with the project's macros and the scope's context.
pub fn render(project: &Project, source: &str, path: &Path, scope: &RenderScope) -> Result<(String, Captured)> {
    let cap = Arc::new(Mutex::new(Captured::default()));
    let mut scope = scope.clone();
    if !scope.parsing && scope.answers.is_none() {
        // A caller that does not answer (crate::introspect) learns what was asked from the error.
        scope.answers = Some(Arc::new(Answers::default()));
    }
    let scope = Arc::new(scope);
    let mut env = environment(project, &scope, &cap)?;
    let text = crate::mutable::rewrite_empty_literals(source);
    let map_err = |e: minijinja::Error| {
        let what = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
        let loc = match (e.name(), e.line()) {
            (Some("__model__"), Some(l)) => format!("{} line {l}", path.display()),
            (Some(t), Some(l)) => match macro_location(project, t, l) {
                Some(at) => format!("{} (in the macro at {at})", path.display()),
                None => format!("{} (in a macro)", path.display()),
            },
            _ => format!("{} (in a macro)", path.display()),
        };
        ProjectError {
            unanswered: scope.answers.as_ref().and_then(|a| a.unanswered()).map(Box::new),
            ..ProjectError::config(format!("{loc}: cannot render the template: {what}"))
        }
    };
    env.add_template_owned("__model__", text).map_err(map_err)?;
    let tmpl = env.get_template("__model__").map_err(map_err)?;
    if scope.parsing {
        let macros = MacroText { text: "", files: &[] };
        refuse_unknown_names(&env, &tmpl, project, &macros, source, path)?;
        refuse_call_blocks_into_macros(project, source, path)?;
    }
    let out = tmpl.render(minijinja::context! {}).map_err(map_err)?;
    drop(tmpl);
    drop(env);
    let cap = Arc::try_unwrap(cap)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_else(|a| a.lock().unwrap().clone());
    let out = inject_ephemerals(out.trim(), &cap.refs, scope.as_ref());
    Ok((out, cap))
}

/// Check, once at load, that the project's and each package's macros use only names the engine
/// provides, as [`render`] checks each model's: a macro is rendered only when called, where a
/// lenient render would print nothing for a name it lacks. A `{% call %}` block into one of
/// them is refused too ([`refuse_call_blocks_into_macros`]).
pub fn check_macros(project: &Project) -> Result<()> {
    let cap = Arc::new(Mutex::new(Captured::default()));
    let scope = Arc::new(RenderScope::parsing(project));
    let mut env = environment(project, &scope, &cap)?;
    let sets = std::iter::once((project.name.as_str(), &project.macros, &project.macro_files)).chain(
        project
            .packages
            .iter()
            .map(|p| (p.name.as_str(), &p.macros, &p.macro_files)),
    );
    for (name, text, files) in sets {
        let Some((_, first)) = files.first() else { continue };
        let t = format!("__check__{name}");
        env.add_template_owned(t.clone(), text.clone())
            .map_err(|e| ProjectError::config(format!("{}: {e}", first.display())))?;
        let tmpl = env.get_template(&t).map_err(|e| ProjectError::config(e.to_string()))?;
        let macros = MacroText { text, files };
        refuse_unknown_names(&env, &tmpl, project, &macros, "", first)?;
        for (file, part) in crate::load::macro_file_texts(text, files) {
            refuse_call_blocks_into_macros(project, &part, file)?;
        }
    }
    Ok(())
}

/// Where line `line` of the macros template `template` is: a macro file and its line.
fn macro_location(project: &Project, template: &str, line: usize) -> Option<String> {
    let cross = CROSS_DB.matches('\n').count();
    let (files, skip) = if template == MACROS_TEMPLATE {
        (&project.macro_files, cross)
    } else {
        let p = project
            .packages
            .iter()
            .find(|p| package_template(&p.name) == template)?;
        (&p.macro_files, cross + 1)
    };
    crate::load::macro_file_line(files, line.checked_sub(1 + skip)?)
}

/// A `{% call m(…) %}` block into a project's or a package's macro is refused: the macro runs
/// in its own template ([`MacroFn`]), where the block's body, which belongs to the caller's,
/// cannot be called. (`{% call statement(…) %}` is the engine's own and works.)
fn refuse_call_blocks_into_macros(project: &Project, text: &str, path: &Path) -> Result<()> {
    for at in tag_arguments(text, "call") {
        let callee: String = text[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        let bare = callee.rsplit('.').next().unwrap_or(&callee);
        let ours = macro_names(&project.macros).any(|m| m == callee)
            || project
                .packages
                .iter()
                .any(|p| callee.starts_with(&format!("{}.", p.name)) && macro_names(&p.macros).any(|m| m == bare));
        if ours {
            let line = text[..at].matches('\n').count() + 1;
            return Err(ProjectError::config(format!(
                "{} line {line}: a {{% call {callee}(…) %}} block is not supported (only statement's is): pass the text to the macro as an argument",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A macro template's text and where each of its files starts, for messages that name them.
struct MacroText<'a> {
    text: &'a str,
    files: &'a [(usize, std::path::PathBuf)],
}

/// The environment one render runs in: dbt's context, as closures over `scope`, capturing in
/// `cap` what the template called; the project's and the packages' macro templates.
fn environment(
    project: &Project,
    scope: &Arc<RenderScope>,
    cap: &Arc<Mutex<Captured>>,
) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    // dbt's parse renders with an undefined that answers itself to any lookup, so
    // `load_result('x')['data'][0]` parses where `execute` guards only its `statement`.
    env.set_undefined_behavior(match scope.parsing {
        true => UndefinedBehavior::Chainable,
        false => UndefinedBehavior::Lenient,
    });
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(false);
    {
        let (s, c) = (scope.clone(), cap.clone());
        let versioned = project.versions.clone();
        env.add_function(
            "ref",
            move |args: minijinja::value::Rest<JValue>| -> std::result::Result<JValue, minijinja::Error> {
                // ref('model'), ref('package', 'model'), ref('model', v=2) / version=2
                let (positional, kwargs) = split_args(&args)?;
                let name = positional
                    .last()
                    .map(|v| v.to_string())
                    .ok_or_else(|| jerr(ErrorKind::MissingArgument, "ref() needs a model name"))?;
                let version = match &kwargs {
                    Some(k) => match k.get::<Option<JValue>>("v")? {
                        Some(v) => Some(v),
                        None => k.get::<Option<JValue>>("version")?,
                    },
                    None => None,
                }
                .map(|v| v.to_string());
                let name = match (versioned.iter().find(|x| x.name == name), &version) {
                    (Some(x), v) => x.model(v.as_deref()).map(str::to_string).ok_or_else(|| {
                        jerr(
                            ErrorKind::InvalidOperation,
                            format!(
                                "ref('{name}', v={}): model {name} has versions {}",
                                v.as_deref().unwrap_or_default(),
                                x.versions
                                    .iter()
                                    .map(|(v, _)| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?,
                    (None, Some(v)) => {
                        return Err(jerr(
                            ErrorKind::InvalidOperation,
                            format!("ref('{name}', v={v}): model {name} has no versions"),
                        ));
                    }
                    (None, None) => name,
                };
                let rel = s.models.get(&name).cloned().ok_or_else(|| {
                    jerr(
                        ErrorKind::InvalidOperation,
                        format!("ref('{name}') names no model of this project"),
                    )
                })?;
                let mut c = c.lock().unwrap();
                if !c.refs.contains(&name) {
                    c.refs.push(name);
                }
                Ok(JValue::from_object(rel))
            },
        );
    }
    {
        let (s, c) = (scope.clone(), cap.clone());
        env.add_function(
            "source",
            move |src: String, table: String| -> std::result::Result<JValue, minijinja::Error> {
                let rel = s.sources.get(&(src.clone(), table.clone())).cloned().ok_or_else(|| {
                    jerr(
                        ErrorKind::InvalidOperation,
                        format!("source('{src}', '{table}') is not declared in any schema file"),
                    )
                })?;
                let mut c = c.lock().unwrap();
                let key = (src, table);
                if !c.sources.contains(&key) {
                    c.sources.push(key);
                }
                Ok(JValue::from_object(rel))
            },
        );
    }
    {
        let c = cap.clone();
        env.add_function(
            "config",
            move |kwargs: Kwargs| -> std::result::Result<String, minijinja::Error> {
                let keys: Vec<String> = kwargs.args().map(str::to_string).collect();
                let mut c = c.lock().unwrap();
                for k in keys {
                    let v: JValue = kwargs.get(&k)?;
                    let v = serde_json::to_value(&v).map_err(|e| jerr(ErrorKind::InvalidOperation, e.to_string()))?;
                    c.config.push((k, v));
                }
                Ok(String::new())
            },
        );
    }
    {
        let s = scope.clone();
        env.add_function(
            "var",
            move |name: String, default: Option<JValue>| -> std::result::Result<JValue, minijinja::Error> {
                match s.vars.get(&name) {
                    Some(v) => Ok(JValue::from_serialize(v)),
                    None => match default {
                        Some(d) => Ok(d),
                        None if s.parsing => Ok(JValue::from("")),
                        None => Err(jerr(
                            ErrorKind::UndefinedError,
                            format!("required var '{name}' is not set (pass it in vars)"),
                        )),
                    },
                }
            },
        );
    }
    env.add_function(
        "env_var",
        |name: String, default: Option<String>| -> std::result::Result<String, minijinja::Error> {
            match std::env::var(&name) {
                Ok(v) => Ok(v),
                Err(_) => default.ok_or_else(|| {
                    jerr(
                        ErrorKind::UndefinedError,
                        format!("env_var('{name}') is not set and has no default"),
                    )
                }),
            }
        },
    );
    {
        let s = scope.clone();
        env.add_function("is_incremental", move || s.is_incremental);
    }
    // dbt's log: to the run's log (info=True: as dbt prints it on the console), nothing rendered.
    env.add_function("log", |msg: JValue, info: Option<JValue>| {
        // `log(msg, True)` or `log(msg, info=True)` (keyword arguments arrive as a map).
        let info = info.is_some_and(|v| match v.get_attr("info") {
            Ok(i) if !i.is_undefined() => i.is_true(),
            _ => v.is_true() && v.kind() != minijinja::value::ValueKind::Map,
        });
        if info {
            tracing::info!(target: "landfall::sql", "{msg}");
        } else {
            tracing::debug!(target: "landfall::sql", "{msg}");
        }
        String::new()
    });
    env.add_global("exceptions", JValue::from_object(Exceptions));
    env.add_global("modules", JValue::from_object(crate::modules::Modules));
    env.add_global("dbt", JValue::from_object(DbtNamespace));
    let frames: Frames = Arc::default();
    let mut sets = vec![Arc::new(MacroSet::new(
        &project.name,
        MACROS_TEMPLATE.to_string(),
        &project.macros,
        "",
    ))];
    for p in &project.packages {
        // A package's macros call each other by their bare names (in one file, as dbt allows):
        // each name is bound, on the template's first line, to the package's framed macro.
        let binds: String = macro_names(&p.macros)
            .map(|m| format!("{{% set {m} = {}.{m} %}}", p.name))
            .collect();
        sets.push(Arc::new(MacroSet::new(
            &p.name,
            package_template(&p.name),
            &p.macros,
            &format!("{binds}\n"),
        )));
    }
    for set in &sets {
        env.add_global(
            set.namespace.clone(),
            JValue::from_object(Namespace {
                set: set.clone(),
                frames: frames.clone(),
            }),
        );
    }
    // The project's macros by their bare names, each called in a frame of its own.
    for name in macro_names(&project.macros) {
        env.add_global(
            name.to_string(),
            JValue::from_object(MacroFn {
                template: MACROS_TEMPLATE.to_string(),
                name: name.to_string(),
                frames: Some(frames.clone()),
            }),
        );
    }
    {
        let sets = sets.clone();
        env.set_loader(move |name| Ok(sets.iter().find(|s| s.template == name).map(|s| s.served.clone())));
    }
    env.add_global(
        "adapter",
        JValue::from_object(Adapter {
            target_type: scope.target.type_.clone(),
            sets,
            dispatch: project.dispatch.clone(),
            scope: scope.clone(),
            frames: frames.clone(),
        }),
    );
    add_warehouse_calls(&mut env, scope);
    // dbt's `return()` hands a value back from a macro: into the frame of the macro call in
    // progress ([`call_framed`]; the first return wins, as dbt stops at it). A macro defined in
    // the model's own file is called without a frame: its text value is rendered in place, any
    // other kind refused, since its text would read differently (`'False'` is true).
    env.add_function("return", move |v: JValue| -> std::result::Result<JValue, minijinja::Error> {
        use minijinja::value::ValueKind;
        if let Some(slot) = frames.lock().unwrap().last_mut() {
            if slot.is_none() {
                *slot = Some(v);
            }
            return Ok(JValue::from(""));
        }
        match v.kind() {
            ValueKind::String | ValueKind::Number | ValueKind::Undefined => Ok(v),
            ValueKind::Plain if v.as_object().is_some() => Ok(v),
            other => Err(jerr(
                ErrorKind::InvalidOperation,
                format!("return() of a {other} from a macro defined in a model's file is not supported: define the macro in macros/"),
            )),
        }
    });
    // dbt's `execute`: false while the project is parsed, true when a node is built or tested.
    env.add_global("execute", JValue::from(!scope.parsing));
    env.add_function("__landfall_list", || {
        JValue::from_object(crate::mutable::List::default())
    });
    env.add_function("__landfall_dict", || {
        JValue::from_object(crate::mutable::Dict::default())
    });
    let started = match &scope.run_started_at {
        Some(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|e| ProjectError::config(format!("the run's start time '{s}' is not RFC 3339: {e}")))?,
        None => time::OffsetDateTime::now_utc(),
    };
    env.add_global(
        "run_started_at",
        JValue::from_object(crate::datetime::DateTime(started.to_offset(time::UtcOffset::UTC))),
    );
    env.add_function("print", |_msg: JValue| String::new());
    env.add_global("target", JValue::from_serialize(&scope.target));
    env.add_global("invocation_id", JValue::from(scope.invocation_id.clone()));
    if let Some(this) = &scope.this {
        env.add_global("this", JValue::from_object(this.clone()));
    }
    env.add_global("project_name", JValue::from(project.name.clone()));
    Ok(env)
}

/// Compile the project's ephemeral models for `scope` (in DAG order, so one may ref another)
/// and make their refs render as the CTEs they are inlined as, as dbt compiles them.
pub fn with_ephemerals(project: &Project, mut scope: RenderScope) -> Result<RenderScope> {
    for m in project.models.iter().filter(|m| m.config.materialized == "ephemeral") {
        scope.models.insert(m.name.clone(), Relation::ephemeral(&m.name));
    }
    for m in project.models.iter().filter(|m| m.config.materialized == "ephemeral") {
        let (sql, _) = render(project, &m.raw_sql, &m.path, &scope)?;
        scope.ephemerals.insert(m.name.clone(), sql);
    }
    Ok(scope)
}

/// `sql` with a CTE for each ephemeral model among `refs` (`with __dbt__cte__m as (…)`), merged
/// into the statement's own `with` when it has one. An ephemeral's compiled SQL carries the
/// CTEs of the ephemerals it refs itself.
pub fn inject_ephemerals(sql: &str, refs: &[String], scope: &RenderScope) -> String {
    let ctes: Vec<String> = refs
        .iter()
        .filter_map(|r| {
            scope
                .ephemerals
                .get(r)
                .map(|body| format!("{EPHEMERAL_PREFIX}{r} as (\n{body}\n)"))
        })
        .collect();
    inject_ctes(sql, &ctes)
}

/// `sql` with `ctes` (each `name as (…)`) ahead of it, merged into the statement's own `with`
/// when it has one, as dbt prepends an ephemeral model's or a unit test fixture's CTE.
pub fn inject_ctes(sql: &str, ctes: &[String]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let ctes = ctes.join(",\n");
    // The first word that is not in a comment: is it the statement's own `with`?
    let mut rest = sql;
    let mut at = 0;
    loop {
        let t = rest.trim_start();
        at += rest.len() - t.len();
        if let Some(after) = t.strip_prefix("--") {
            let end = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
            at += 2 + end;
            rest = &after[end..];
        } else if let Some(after) = t.strip_prefix("/*") {
            let end = after.find("*/").map(|i| i + 2).unwrap_or(after.len());
            at += 2 + end;
            rest = &after[end..];
        } else {
            break;
        }
    }
    let head = &sql[at..];
    let is_with =
        head.len() > 4 && head[..4].eq_ignore_ascii_case("with") && head[4..].starts_with(|c: char| c.is_whitespace());
    if is_with {
        format!("{}with {ctes},\n{}", &sql[..at], head[4..].trim_start())
    } else {
        format!("with {ctes}\n{sql}")
    }
}

/// dbt's context names the engine does not provide, and what to do instead. Any other name a
/// template reads without defining it is refused too: dbt fails on an undefined name when it
/// compiles, where a lenient render would silently print nothing.
fn unsupported_name(name: &str) -> String {
    match name {
        "graph" | "selected_resources" => {
            "rendering that reads the project graph is not supported yet: compute the value in SQL".into()
        }
        n if n.starts_with("adapter.") => format!(
            "the adapter methods landfall has are {}: compute the value in SQL or with run_query",
            ADAPTER_METHODS.join(", ")
        ),
        "modules" => "landfall has modules.re, not Python's other modules (for modules.datetime, compute dates in SQL or use run_started_at)".into(),
        "dbt_utils" | "dbt_expectations" | "dbt_date" | "audit_helper" | "codegen" => {
            "it is a package's namespace, and no package of that name is installed: declare it in packages.yml and run `dbt deps`".into()
        }
        _ => "it is not defined here (not a project macro nor a name of dbt's context that landfall provides)".into(),
    }
}

/// Names every render defines though the parse does not: `this` exists while a model builds;
/// minijinja's own inside macros and loops.
const IMPLICIT_NAMES: &[&str] = &["this", "loop", "caller", "varargs", "kwargs", "self", "super"];

/// Refuse the first name `tmpl` (`source` after the `macros`, from `path`) reads that is not
/// defined, or a method `adapter` or a package's namespace lacks, naming its file and line.
fn refuse_unknown_names(
    env: &Environment<'_>,
    tmpl: &minijinja::Template<'_, '_>,
    project: &Project,
    macros: &MacroText<'_>,
    source: &str,
    path: &Path,
) -> Result<()> {
    let mut defined: std::collections::HashSet<&str> = env.globals().map(|(n, _)| n).collect();
    // A macro may call one defined further down (or in a later file): all are defined by the
    // time anything renders.
    defined.extend(macro_names(CROSS_DB).chain(macro_names(macros.text)));
    defined.extend(set_names(source).chain(set_names(macros.text)));
    // One analysis (it parses the template again): names with their attribute lookups.
    let read = tmpl.undeclared_variables(true);
    let mut unknown: Vec<String> = read
        .iter()
        .map(|n| n.split('.').next().unwrap_or(n))
        .filter(|n| !defined.contains(n) && !IMPLICIT_NAMES.contains(n))
        .map(str::to_string)
        .collect();
    // `adapter` is defined, with some of dbt's methods; a namespace, with its macros.
    let lacks = |n: &str| {
        let (head, method) = n.split_once('.')?;
        if head == "adapter" {
            return Some(!ADAPTER_METHODS.contains(&method));
        }
        if head == "modules" {
            let module = method.split('.').next().unwrap_or(method);
            return Some(!crate::modules::MODULES.contains(&module));
        }
        let text = match project.packages.iter().find(|p| p.name == head) {
            Some(p) => &p.macros,
            None if head == project.name => &project.macros,
            None => return None,
        };
        Some(!macro_names(text).chain(macro_names(CROSS_DB)).any(|m| m == method))
    };
    unknown.extend(
        read.iter()
            .filter(|n| lacks(n) == Some(true))
            .map(|n| match n.strip_prefix("modules.") {
                // The module, not the path through it: `modules.datetime`.
                Some(rest) => format!("modules.{}", rest.split('.').next().unwrap_or(rest)),
                None => n.clone(),
            }),
    );
    unknown.sort();
    unknown.dedup();
    let Some(name) = unknown.first() else { return Ok(()) };
    let word = |l: &str| {
        l.match_indices(name.as_str()).any(|(i, _)| {
            let ok = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            ok(l[..i].chars().next_back()) && ok(l[i + name.len()..].chars().next())
        })
    };
    let in_macros = macros.text.lines().position(word);
    let at = match (source.lines().position(word), in_macros) {
        (Some(i), _) => format!("{} line {}", path.display(), i + 1),
        (None, Some(i)) => {
            crate::load::macro_file_line(macros.files, i).unwrap_or_else(|| format!("{} (in a macro)", path.display()))
        }
        (None, None) => path.display().to_string(),
    };
    let why = match name.split_once('.') {
        Some(("modules", _)) => unsupported_name("modules"),
        Some((head, method)) if head != "adapter" => format!("package {head} has no macro {method}"),
        _ => unsupported_name(name),
    };
    Err(ProjectError::config(format!("{at}: `{name}` is not supported: {why}")))
}

/// Check, as the parse does for models, that a template the engine renders later (a hook)
/// uses only names it provides.
pub fn check_names(project: &Project, source: &str, path: &Path) -> Result<()> {
    render(project, source, path, &RenderScope::parsing(project)).map(|_| ())
}

/// Render a macro call (e.g. a custom generic test `test_x(model=…, column_name=…)`).
pub fn render_call(project: &Project, call: &str, scope: &RenderScope) -> Result<String> {
    render(
        project,
        &format!("{{{{ {call} }}}}"),
        Path::new("<generic test>"),
        scope,
    )
    .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::Relation;

    #[test]
    fn a_database_that_is_no_identifier_is_quoted() {
        let r = |db: &str| {
            Relation {
                database: Some(db.into()),
                ..Relation::new("raw", "titles")
            }
            .to_string()
        };
        assert_eq!(r("warehouse"), "warehouse.raw.titles");
        assert_eq!(r("my-wh"), "\"my-wh\".raw.titles");
        assert_eq!(r("2026"), "\"2026\".raw.titles");
        assert_eq!(Relation::new("raw", "titles").to_string(), "raw.titles");
    }
}
