//! Reading and checking a state machine definition. Anything the engine cannot execute
//! faithfully is refused here, at load, with the state and field named — never misread.

use crate::paths::check_reference_path;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A definition the engine refuses, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid or unsupported state machine definition: {0}")]
pub struct DefinitionError(pub String);

fn derr(msg: impl Into<String>) -> DefinitionError {
    DefinitionError(msg.into())
}

#[derive(Debug, Clone, PartialEq)]
pub enum Jitter {
    None,
    Full,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Task {
        resource: String,
        timeout_seconds: Option<u64>,
    },
    Pass {
        result: Option<Value>,
    },
    Choice {
        choices: Vec<Value>,
        default: Option<String>,
    },
    Wait {
        seconds: Option<u64>,
        seconds_path: Option<String>,
        timestamp: Option<String>,
        timestamp_path: Option<String>,
    },
    Parallel {
        branches: Vec<Machine>,
    },
    Map {
        iterator: Box<Machine>,
        items_path: Option<String>,
        item_selector: Option<Value>,
        max_concurrency: u64,
    },
    Succeed,
    Fail {
        error: Option<String>,
        cause: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    pub next: Option<String>,
    pub end: bool,
    pub input_path: Option<Value>,
    pub output_path: Option<Value>,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub result_path: Option<Value>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

/// A state machine (the top level, a Parallel branch or a Map iterator).
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

const COMMON: &[&str] = &["Type", "Comment", "Next", "End", "InputPath", "OutputPath"];

fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "Task" => &[
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "TimeoutSeconds",
            "Credentials",
        ],
        "Pass" => &["Result", "Parameters", "ResultPath"],
        "Choice" => &["Choices", "Default"],
        "Wait" => &["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        "Parallel" => &[
            "Branches",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Map" => &[
            "Iterator",
            "ItemProcessor",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "MaxConcurrency",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause"],
        _ => &[],
    }
}

fn u64_field(m: &Map<String, Value>, k: &str, where_: &str, min: u64) -> Result<Option<u64>, DefinitionError> {
    match m.get(k) {
        None => Ok(None),
        Some(v) => {
            let n = v
                .as_u64()
                .ok_or_else(|| derr(format!("{where_}: {k} must be a whole number, found {v}")))?;
            if n < min {
                return Err(derr(format!("{where_}: {k} must be at least {min}, found {n}")));
            }
            Ok(Some(n))
        }
    }
}

fn str_list(v: Option<&Value>, where_: &str, k: &str) -> Result<Vec<String>, DefinitionError> {
    let a = v
        .and_then(Value::as_array)
        .ok_or_else(|| derr(format!("{where_}: {k} must be a non-empty list of strings")))?;
    let out: Vec<String> = a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
    if out.is_empty() || out.len() != a.len() {
        return Err(derr(format!("{where_}: {k} must be a non-empty list of strings")));
    }
    Ok(out)
}

fn check_error_lists(lists: &[&Vec<String>], where_: &str, what: &str) -> Result<(), DefinitionError> {
    for (i, l) in lists.iter().enumerate() {
        if l.iter().any(|e| e == "States.ALL") && (l.len() > 1 || i + 1 != lists.len()) {
            return Err(derr(format!(
                "{where_}: in {what}, States.ALL must be alone in the last ErrorEquals"
            )));
        }
    }
    Ok(())
}

fn path_field(
    m: &Map<String, Value>,
    k: &str,
    where_: &str,
    reference: bool,
) -> Result<Option<Value>, DefinitionError> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Value::Null)),
        Some(Value::String(s)) if s.starts_with('$') => {
            if reference {
                check_reference_path(s).map_err(|e| derr(format!("{where_}: {k}: {}", e.cause)))?;
            }
            Ok(Some(Value::String(s.clone())))
        }
        Some(other) => Err(derr(format!(
            "{where_}: {k} must be a path starting with $ or null, found {other}"
        ))),
    }
}

fn parse_state(name: &str, v: &Value, parent: &str) -> Result<State, DefinitionError> {
    let where_ = format!("{parent}state '{name}'");
    let m = v
        .as_object()
        .ok_or_else(|| derr(format!("{where_}: must be an object")))?;
    let ty = m
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| derr(format!("{where_}: missing Type")))?;
    if !matches!(
        ty,
        "Task" | "Pass" | "Choice" | "Wait" | "Parallel" | "Map" | "Succeed" | "Fail"
    ) {
        return Err(derr(format!("{where_}: Type '{ty}' is not a state type")));
    }
    for k in m.keys() {
        let common_ok = COMMON.contains(&k.as_str()) && !(matches!(ty, "Fail") && k != "Type" && k != "Comment");
        if !common_ok && !allowed(ty).contains(&k.as_str()) {
            return Err(derr(format!(
                "{where_}: field '{k}' is not supported on a {ty} state by this engine"
            )));
        }
    }
    if m.get("QueryLanguage").is_some() {
        return Err(derr(format!("{where_}: JSONata is not supported")));
    }
    let next = m
        .get("Next")
        .map(|n| {
            n.as_str()
                .map(str::to_string)
                .ok_or_else(|| derr(format!("{where_}: Next must be a string")))
        })
        .transpose()?;
    let end = match m.get("End") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(o) => return Err(derr(format!("{where_}: End must be true or false, found {o}"))),
    };
    let terminal = matches!(ty, "Choice" | "Succeed" | "Fail");
    if !terminal && (next.is_some() == end) {
        return Err(derr(format!("{where_}: needs exactly one of Next or End: true")));
    }
    if terminal && (next.is_some() || end) {
        return Err(derr(format!("{where_}: a {ty} state cannot have Next or End")));
    }
    let mut retry = Vec::new();
    if let Some(r) = m.get("Retry") {
        for (i, x) in r
            .as_array()
            .ok_or_else(|| derr(format!("{where_}: Retry must be a list")))?
            .iter()
            .enumerate()
        {
            let w = format!("{where_} Retry[{i}]");
            let rm = x.as_object().ok_or_else(|| derr(format!("{w}: must be an object")))?;
            for k in rm.keys() {
                if !matches!(
                    k.as_str(),
                    "ErrorEquals"
                        | "IntervalSeconds"
                        | "MaxAttempts"
                        | "BackoffRate"
                        | "MaxDelaySeconds"
                        | "JitterStrategy"
                        | "Comment"
                ) {
                    return Err(derr(format!("{w}: unknown field '{k}'")));
                }
            }
            let backoff = match rm.get("BackoffRate") {
                None => 2.0,
                Some(b) => b
                    .as_f64()
                    .filter(|b| *b >= 1.0)
                    .ok_or_else(|| derr(format!("{w}: BackoffRate must be a number ≥ 1.0, found {b}")))?,
            };
            let jitter = match rm.get("JitterStrategy").map(|j| j.as_str()) {
                None | Some(Some("NONE")) => Jitter::None,
                Some(Some("FULL")) => Jitter::Full,
                Some(other) => {
                    return Err(derr(format!(
                        "{w}: JitterStrategy must be FULL or NONE, found {other:?}"
                    )));
                }
            };
            let max_attempts = u64_field(rm, "MaxAttempts", &w, 0)?.unwrap_or(3);
            if max_attempts > 99_999_999 {
                return Err(derr(format!("{w}: MaxAttempts must be below 99999999")));
            }
            retry.push(Retrier {
                error_equals: str_list(rm.get("ErrorEquals"), &w, "ErrorEquals")?,
                interval_seconds: u64_field(rm, "IntervalSeconds", &w, 1)?.unwrap_or(1),
                max_attempts: max_attempts as u32,
                backoff_rate: backoff,
                max_delay_seconds: u64_field(rm, "MaxDelaySeconds", &w, 1)?,
                jitter,
            });
        }
    }
    let mut catch = Vec::new();
    if let Some(c) = m.get("Catch") {
        for (i, x) in c
            .as_array()
            .ok_or_else(|| derr(format!("{where_}: Catch must be a list")))?
            .iter()
            .enumerate()
        {
            let w = format!("{where_} Catch[{i}]");
            let cm = x.as_object().ok_or_else(|| derr(format!("{w}: must be an object")))?;
            for k in cm.keys() {
                if !matches!(k.as_str(), "ErrorEquals" | "Next" | "ResultPath" | "Comment") {
                    return Err(derr(format!("{w}: unknown field '{k}'")));
                }
            }
            catch.push(Catcher {
                error_equals: str_list(cm.get("ErrorEquals"), &w, "ErrorEquals")?,
                next: cm
                    .get("Next")
                    .and_then(Value::as_str)
                    .ok_or_else(|| derr(format!("{w}: missing Next")))?
                    .to_string(),
                result_path: path_field(cm, "ResultPath", &w, true)?,
            });
        }
    }
    check_error_lists(
        &retry.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
        &where_,
        "Retry",
    )?;
    check_error_lists(
        &catch.iter().map(|c| &c.error_equals).collect::<Vec<_>>(),
        &where_,
        "Catch",
    )?;

    let kind = match ty {
        "Task" => {
            let resource = m
                .get("Resource")
                .and_then(Value::as_str)
                .ok_or_else(|| derr(format!("{where_}: a Task needs a Resource")))?;
            if resource.ends_with(".waitForTaskToken") || resource.ends_with(".sync") || resource.ends_with(".sync:2") {
                return Err(derr(format!(
                    "{where_}: the integration pattern of '{resource}' is not supported (request-response only)"
                )));
            }
            Kind::Task {
                resource: resource.to_string(),
                timeout_seconds: u64_field(m, "TimeoutSeconds", &where_, 1)?,
            }
        }
        "Pass" => Kind::Pass {
            result: m.get("Result").cloned(),
        },
        "Choice" => {
            let choices = m
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| derr(format!("{where_}: Choices must be a non-empty list")))?;
            for (i, c) in choices.iter().enumerate() {
                crate::choice::validate(c, true).map_err(|e| derr(format!("{where_} Choices[{i}]: {e}")))?;
            }
            Kind::Choice {
                choices: choices.clone(),
                default: m.get("Default").and_then(Value::as_str).map(str::to_string),
            }
        }
        "Wait" => {
            let n = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                .iter()
                .filter(|k| m.contains_key(**k))
                .count();
            if n != 1 {
                return Err(derr(format!(
                    "{where_}: a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                )));
            }
            Kind::Wait {
                seconds: u64_field(m, "Seconds", &where_, 0)?,
                seconds_path: m.get("SecondsPath").and_then(Value::as_str).map(str::to_string),
                timestamp: m.get("Timestamp").and_then(Value::as_str).map(str::to_string),
                timestamp_path: m.get("TimestampPath").and_then(Value::as_str).map(str::to_string),
            }
        }
        "Parallel" => {
            let bs = m
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| derr(format!("{where_}: Branches must be a non-empty list")))?;
            let branches = bs
                .iter()
                .enumerate()
                .map(|(i, b)| parse_machine(b, &format!("{where_} Branches[{i}] ")))
                .collect::<Result<Vec<_>, _>>()?;
            Kind::Parallel { branches }
        }
        "Map" => {
            let it = m
                .get("ItemProcessor")
                .or_else(|| m.get("Iterator"))
                .ok_or_else(|| derr(format!("{where_}: a Map needs an ItemProcessor (or Iterator)")))?;
            if let Some(mode) = it
                .get("ProcessorConfig")
                .and_then(|p| p.get("Mode"))
                .and_then(Value::as_str)
                && mode != "INLINE"
            {
                return Err(derr(format!("{where_}: only inline Map is supported, not {mode}")));
            }
            let mut it = it.clone();
            if let Some(o) = it.as_object_mut() {
                o.remove("ProcessorConfig");
            }
            Kind::Map {
                iterator: Box::new(parse_machine(&it, &format!("{where_} ItemProcessor "))?),
                items_path: m.get("ItemsPath").and_then(Value::as_str).map(str::to_string),
                item_selector: m.get("ItemSelector").or_else(|| m.get("Parameters")).cloned(),
                max_concurrency: u64_field(m, "MaxConcurrency", &where_, 0)?.unwrap_or(0),
            }
        }
        "Succeed" => Kind::Succeed,
        "Fail" => Kind::Fail {
            error: m.get("Error").and_then(Value::as_str).map(str::to_string),
            cause: m.get("Cause").and_then(Value::as_str).map(str::to_string),
        },
        _ => unreachable!(),
    };
    let parameters = if matches!(kind, Kind::Map { .. }) {
        None
    } else {
        m.get("Parameters").cloned()
    };
    Ok(State {
        name: name.to_string(),
        kind,
        next,
        end,
        input_path: path_field(m, "InputPath", &where_, false)?,
        output_path: path_field(m, "OutputPath", &where_, false)?,
        parameters,
        result_selector: m.get("ResultSelector").cloned(),
        result_path: path_field(m, "ResultPath", &where_, true)?,
        retry,
        catch,
    })
}

fn parse_machine(v: &Value, parent: &str) -> Result<Machine, DefinitionError> {
    let m = v
        .as_object()
        .ok_or_else(|| derr(format!("{parent}must be an object")))?;
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds"
        ) {
            return Err(derr(format!("{parent}field '{k}' is not supported")));
        }
    }
    let start_at = m
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| derr(format!("{parent}missing StartAt")))?
        .to_string();
    let states_v = m
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| derr(format!("{parent}missing States")))?;
    let mut states = BTreeMap::new();
    for (name, s) in states_v {
        if name.is_empty() || name.len() > 80 {
            return Err(derr(format!("{parent}state names must be 1-80 characters: '{name}'")));
        }
        states.insert(name.clone(), parse_state(name, s, parent)?);
    }
    if !states.contains_key(&start_at) {
        return Err(derr(format!("{parent}StartAt '{start_at}' names no state")));
    }
    let names: Vec<&String> = states.keys().collect();
    for s in states.values() {
        let mut targets: Vec<&String> = s.next.iter().chain(s.catch.iter().map(|c| &c.next)).collect();
        if let Kind::Choice { choices, default } = &s.kind {
            targets.extend(default.iter());
            for c in choices {
                if let Some(n) = c.get("Next").and_then(Value::as_str)
                    && !names.iter().any(|x| x.as_str() == n)
                {
                    return Err(derr(format!(
                        "{parent}state '{}': a choice goes to '{n}', which is not a state here",
                        s.name
                    )));
                }
            }
        }
        for t in targets {
            if !names.contains(&t) {
                return Err(derr(format!(
                    "{parent}state '{}': goes to '{t}', which is not a state here",
                    s.name
                )));
            }
        }
    }
    // Every state must be reachable from StartAt.
    let mut seen = vec![start_at.clone()];
    let mut i = 0;
    while i < seen.len() {
        let s = &states[&seen[i]];
        let mut next: Vec<String> = s
            .next
            .iter()
            .cloned()
            .chain(s.catch.iter().map(|c| c.next.clone()))
            .collect();
        if let Kind::Choice { choices, default } = &s.kind {
            next.extend(default.iter().cloned());
            next.extend(
                choices
                    .iter()
                    .filter_map(|c| c.get("Next").and_then(Value::as_str).map(str::to_string)),
            );
        }
        for n in next {
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        i += 1;
    }
    if let Some(u) = states.keys().find(|k| !seen.contains(k)) {
        return Err(derr(format!("{parent}state '{u}' is unreachable from StartAt")));
    }
    Ok(Machine {
        start_at,
        states,
        timeout_seconds: u64_field(m, "TimeoutSeconds", parent, 1)?,
    })
}

impl Machine {
    /// Parse and check a definition (the JSON text of a `.asl.json` file, substitutions applied).
    pub fn parse(definition: &Value) -> Result<Machine, DefinitionError> {
        parse_machine(definition, "")
    }
}

/// Replace `${Name}` with values (SAM's DefinitionSubstitutions); unknown names are an error.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find("${") {
        out.push_str(&rest[..p]);
        let end = rest[p..]
            .find('}')
            .ok_or_else(|| derr("unterminated ${ in the definition"))?
            + p;
        let key = &rest[p + 2..end];
        let v = values
            .get(key)
            .ok_or_else(|| derr(format!("no value for the substitution ${{{key}}}")))?;
        out.push_str(v);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `${Name}` placeholders a definition uses.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(p) = rest.find("${") {
        let Some(e) = rest[p..].find('}') else { break };
        let k = rest[p + 2..p + e].to_string();
        if !out.contains(&k) {
            out.push(k);
        }
        rest = &rest[p + e + 1..];
    }
    out
}
