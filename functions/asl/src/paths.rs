//! Input and output processing: `InputPath`, `Parameters` (payload templates with `.$` keys,
//! the `$$` context object and intrinsic functions), `ResultSelector`, `ResultPath`,
//! `OutputPath`.

use crate::{AslError, errors};
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// Select with a path (`$…` on the input, `$$…` on the context object). A path that selects
/// nothing is a `States.Runtime` error, as in Step Functions.
pub fn select(path: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    let (doc, p) = if let Some(rest) = path.strip_prefix("$$") {
        (context, format!("${rest}"))
    } else {
        (input, path.to_string())
    };
    let jp = JsonPath::parse(&p).map_err(|e| AslError::runtime(format!("invalid path '{path}': {e}")))?;
    let nodes = jp.query(doc);
    let all = nodes.all();
    let definite = !p.contains('*') && !p.contains("..") && !p.contains('?') && !p.contains(':') && !p.contains(',');
    match (definite, all.len()) {
        (true, 1) => Ok(all[0].clone()),
        (true, _) => Err(AslError::runtime(format!(
            "the path '{path}' selects nothing in the input {}",
            preview(doc)
        ))),
        (false, _) => Ok(Value::Array(all.into_iter().cloned().collect())),
    }
}

fn preview(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// `InputPath` / `OutputPath`: absent means `$`, null means `{}`.
pub fn apply_path(path: Option<&Value>, input: &Value, context: &Value) -> Result<Value, AslError> {
    match path {
        None => Ok(input.clone()),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(p)) => select(p, input, context),
        Some(other) => Err(AslError::runtime(format!(
            "a path must be a string or null, found {other}"
        ))),
    }
}

/// Evaluate a payload template (`Parameters`, `ResultSelector`, `ItemSelector`).
pub fn payload(template: &Value, input: &Value, context: &Value) -> Result<Value, AslError> {
    match template {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if let Some(key) = k.strip_suffix(".$") {
                    let expr = v.as_str().ok_or_else(|| {
                        AslError::runtime(format!(
                            "the value of '{k}' must be a path or intrinsic function string"
                        ))
                    })?;
                    let value = if expr.starts_with('$') {
                        select(expr, input, context)?
                    } else {
                        intrinsic(expr, input, context)?
                    };
                    out.insert(key.to_string(), value);
                } else {
                    out.insert(k.clone(), payload(v, input, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => Ok(Value::Array(
            a.iter().map(|v| payload(v, input, context)).collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RefSeg {
    Key(String),
    Index(usize),
}

/// Parse a reference path (`$`, `$.a.b`, `$['a'][0]`) into segments.
fn reference_path(path: &str) -> Result<Vec<RefSeg>, AslError> {
    let bad = || {
        AslError::runtime(format!(
            "'{path}' is not a reference path (use $, $.field or $.field[0])"
        ))
    };
    let rest = path.strip_prefix('$').ok_or_else(bad)?;
    let mut segs = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err(bad());
                }
                segs.push(RefSeg::Key(rest[start..j].to_string()));
                i = j;
            }
            b'[' => {
                let end = rest[i..].find(']').map(|e| i + e).ok_or_else(bad)?;
                let inner = rest[i + 1..end].trim();
                if let Some(q) = inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
                    segs.push(RefSeg::Key(q.to_string()));
                } else if let Some(q) = inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                    segs.push(RefSeg::Key(q.to_string()));
                } else {
                    segs.push(RefSeg::Index(inner.parse().map_err(|_| bad())?));
                }
                i = end + 1;
            }
            _ => return Err(bad()),
        }
    }
    Ok(segs)
}

/// Check that a string is a valid reference path (for load-time validation).
pub fn check_reference_path(path: &str) -> Result<(), AslError> {
    reference_path(path).map(|_| ())
}

/// `ResultPath`: absent means `$` (the result replaces the input), null discards the result.
pub fn apply_result_path(path: Option<&Value>, input: &Value, result: Value) -> Result<Value, AslError> {
    let p = match path {
        None => return Ok(result),
        Some(Value::Null) => return Ok(input.clone()),
        Some(Value::String(p)) => p,
        Some(other) => {
            return Err(AslError::runtime(format!(
                "ResultPath must be a string or null, found {other}"
            )));
        }
    };
    let segs = reference_path(p)?;
    if segs.is_empty() {
        return Ok(result);
    }
    let mut out = input.clone();
    let mut cur = &mut out;
    for (n, seg) in segs.iter().enumerate() {
        let last = n + 1 == segs.len();
        match seg {
            RefSeg::Key(k) => {
                if !cur.is_object() {
                    if cur.is_null() {
                        *cur = Value::Object(Map::new());
                    } else {
                        return Err(AslError::runtime(format!(
                            "ResultPath '{p}': cannot add field '{k}' to a non-object value"
                        )));
                    }
                }
                let obj = cur.as_object_mut().unwrap();
                if last {
                    obj.insert(k.clone(), result);
                    return Ok(out);
                }
                cur = obj.entry(k.clone()).or_insert(Value::Object(Map::new()));
            }
            RefSeg::Index(i) => {
                let arr = cur
                    .as_array_mut()
                    .ok_or_else(|| AslError::runtime(format!("ResultPath '{p}': not an array")))?;
                let slot = arr
                    .get_mut(*i)
                    .ok_or_else(|| AslError::runtime(format!("ResultPath '{p}': index {i} out of range")))?;
                if last {
                    *slot = result;
                    return Ok(out);
                }
                cur = slot;
            }
        }
    }
    Ok(out)
}

// ---- intrinsic functions ----

#[derive(Debug, Clone)]
enum Arg {
    Value(Value),
    Path(String),
    Call(String, Vec<Arg>),
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> AslError {
        AslError::new(
            errors::INTRINSIC_FAILURE,
            format!(
                "cannot parse intrinsic function '{}': {what} at character {}",
                self.s, self.i
            ),
        )
    }
    fn ws(&mut self) {
        while self.s[self.i..].starts_with(' ') {
            self.i += 1;
        }
    }
    fn call(&mut self) -> Result<Arg, AslError> {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s.as_bytes()[self.i].is_ascii_alphanumeric() || self.s.as_bytes()[self.i] == b'.')
        {
            self.i += 1;
        }
        let name = self.s[start..self.i].to_string();
        self.ws();
        if !self.s[self.i..].starts_with('(') {
            return Err(self.err("expected '('"));
        }
        self.i += 1;
        let mut args = Vec::new();
        loop {
            self.ws();
            if self.s[self.i..].starts_with(')') {
                self.i += 1;
                break;
            }
            args.push(self.arg()?);
            self.ws();
            if self.s[self.i..].starts_with(',') {
                self.i += 1;
            } else if self.s[self.i..].starts_with(')') {
                self.i += 1;
                break;
            } else {
                return Err(self.err("expected ',' or ')'"));
            }
        }
        Ok(Arg::Call(name, args))
    }
    fn arg(&mut self) -> Result<Arg, AslError> {
        let rest = &self.s[self.i..];
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((k, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '\'' => {
                        self.i += k + 2;
                        return Ok(Arg::Value(Value::String(out)));
                    }
                    c => out.push(c),
                }
            }
            return Err(self.err("unterminated string"));
        }
        if rest.starts_with('$') {
            let mut depth = 0i32;
            let mut end = rest.len();
            for (k, c) in rest.char_indices() {
                match c {
                    '[' | '(' => depth += 1,
                    ']' | ')' if depth > 0 => depth -= 1,
                    ',' | ')' if depth == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            self.i += end;
            return Ok(Arg::Path(rest[..end].trim().to_string()));
        }
        if rest.starts_with("States.") {
            return self.call();
        }
        let end = rest.find([',', ')']).unwrap_or(rest.len());
        let lit = rest[..end].trim();
        self.i += end;
        serde_json::from_str(lit)
            .map(Arg::Value)
            .map_err(|_| self.err(&format!("unexpected argument '{lit}'")))
    }
}

fn eval_arg(a: &Arg, input: &Value, ctx: &Value) -> Result<Value, AslError> {
    match a {
        Arg::Value(v) => Ok(v.clone()),
        Arg::Path(p) => select(p, input, ctx),
        Arg::Call(name, args) => {
            let vals: Vec<Value> = args.iter().map(|x| eval_arg(x, input, ctx)).collect::<Result<_, _>>()?;
            call(name, vals)
        }
    }
}

fn ierr(msg: String) -> AslError {
    AslError::new(errors::INTRINSIC_FAILURE, msg)
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, AslError> {
    match name {
        "States.Format" => {
            let tmpl = args
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| ierr("States.Format needs a template string first".into()))?;
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut chars = tmpl.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '{' && chars.peek() == Some(&'}') {
                    chars.next();
                    let v = rest
                        .next()
                        .ok_or_else(|| ierr("States.Format has more {} than arguments".into()))?;
                    match v {
                        Value::String(s) => out.push_str(s),
                        Value::Object(_) | Value::Array(_) => {
                            return Err(ierr(
                                "States.Format arguments must be strings, numbers, booleans or null".into(),
                            ));
                        }
                        other => out.push_str(&other.to_string()),
                    }
                } else {
                    out.push(c);
                }
            }
            if rest.next().is_some() {
                return Err(ierr("States.Format has more arguments than {}".into()));
            }
            Ok(Value::String(out))
        }
        "States.StringToJson" => {
            let s = args
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| ierr("States.StringToJson needs one string".into()))?;
            serde_json::from_str(s).map_err(|e| ierr(format!("States.StringToJson: {e}")))
        }
        "States.JsonToString" => {
            let v = args
                .first()
                .ok_or_else(|| ierr("States.JsonToString needs one argument".into()))?;
            Ok(Value::String(v.to_string()))
        }
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayContains" => match args.as_slice() {
            [Value::Array(items), v] => Ok(Value::Bool(items.contains(v))),
            _ => Err(ierr("States.ArrayContains needs an array and a value".into())),
        },
        "States.JsonMerge" => {
            if args.len() != 3 {
                return Err(ierr("States.JsonMerge needs two objects and a boolean".into()));
            }
            if args[2] != Value::Bool(false) {
                return Err(ierr(
                    "States.JsonMerge supports only shallow merges (third argument false)".into(),
                ));
            }
            let (Some(a), Some(b)) = (args[0].as_object(), args[1].as_object()) else {
                return Err(ierr("States.JsonMerge merges two objects".into()));
            };
            let mut out = a.clone();
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(out))
        }
        "States.UUID" => {
            let mut b = crate::random_bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Ok(Value::String(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )))
        }
        other => Err(ierr(format!(
            "the intrinsic function {other} is not supported (supported: States.Format, States.StringToJson, States.JsonToString, States.Array, States.ArrayContains, States.JsonMerge, States.UUID)"
        ))),
    }
}

/// Evaluate an intrinsic function expression such as `States.Format('{}-x', $.a)`.
pub fn intrinsic(expr: &str, input: &Value, context: &Value) -> Result<Value, AslError> {
    let mut p = Parser { s: expr.trim(), i: 0 };
    if !p.s.starts_with("States.") {
        return Err(p.err("expected a path ($…) or an intrinsic function (States.…)"));
    }
    let a = p.call()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the function call"));
    }
    eval_arg(&a, input, context)
}
