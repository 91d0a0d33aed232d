//! dbt's `modules`, as far as the engine has it: `modules.re`, Python's `re` over the regex
//! crate (`match`, `search`, `fullmatch`, `sub`, `subn`, `split`, `findall`, `finditer`,
//! `compile`, `escape`, the flags `I`/`M`/`S`/`X`), its match objects with `group`, `groups`,
//! `groupdict`, `start`, `end`, `span`. Positions are Python's (characters, not bytes). A
//! pattern the regex crate cannot run (look-around, backreferences) fails naming it.
//! `modules.datetime` and the rest are refused at load (render.rs).

use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};
use regex::{Captures, Regex, RegexBuilder};
use std::sync::Arc;

/// The `modules` global.
#[derive(Debug)]
pub struct Modules;

/// The modules there are.
pub const MODULES: &[&str] = &["re"];

impl Object for Modules {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "re" => Some(Value::from_object(Re)),
            _ => None,
        }
    }
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

// Python's flag values.
const IGNORECASE: i64 = 2;
const MULTILINE: i64 = 8;
const DOTALL: i64 = 16;
const VERBOSE: i64 = 64;

/// Python's `re` module.
#[derive(Debug)]
struct Re;

/// A compiled pattern: its Python text and flags, the regex searching anywhere, and the same
/// anchored at the start (`match`) and at both ends (`fullmatch`).
#[derive(Debug)]
struct Pattern {
    pattern: String,
    flags: i64,
    any: Regex,
    start: Regex,
    full: Regex,
}

impl Pattern {
    fn new(pattern: &str, flags: i64) -> Result<Pattern, Error> {
        if flags & !(IGNORECASE | MULTILINE | DOTALL | VERBOSE) != 0 {
            return Err(err(format!(
                "modules.re: flags {flags} are not supported (I, M, S and X are)"
            )));
        }
        // Python's end of text is `\Z`, the regex crate's `\z`.
        let rust = pattern.replace("\\Z", "\\z");
        let build = |p: &str| {
            RegexBuilder::new(p)
                .case_insensitive(flags & IGNORECASE != 0)
                .multi_line(flags & MULTILINE != 0)
                .dot_matches_new_line(flags & DOTALL != 0)
                .ignore_whitespace(flags & VERBOSE != 0)
                .build()
                .map_err(|e| {
                    err(format!(
                        "modules.re: the pattern {pattern:?} cannot be run (landfall's regex engine has no look-around nor backreferences): {e}"
                    ))
                })
        };
        Ok(Pattern {
            pattern: pattern.to_string(),
            flags,
            any: build(&rust)?,
            start: build(&format!("\\A(?:{rust})"))?,
            full: build(&format!("\\A(?:{rust})\\z"))?,
        })
    }

    fn apply(&self, method: &str, args: &[Value]) -> Result<Value, Error> {
        let text = |i: usize| -> Result<String, Error> {
            args.get(i)
                .filter(|v| !v.is_kwargs())
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| err(format!("modules.re {method}: argument {} must be a string", i + 1)))
        };
        let int = |i: usize, name: &str| -> Result<i64, Error> {
            match args.get(i).filter(|v| !v.is_kwargs()) {
                Some(v) => i64::try_from(v.clone()),
                None => Ok(kwarg(args, name)?.map(i64::try_from).transpose()?.unwrap_or(0)),
            }
        };
        match method {
            "match" | "search" | "fullmatch" => {
                let s = text(0)?;
                let re = match method {
                    "match" => &self.start,
                    "search" => &self.any,
                    _ => &self.full,
                };
                Ok(match re.captures(&s) {
                    Some(c) => Value::from_object(Match::of(&c, re, &s)),
                    None => Value::from(()),
                })
            }
            "sub" | "subn" => {
                let repl = text(0)?;
                let s = text(1)?;
                let count = int(2, "count")?.max(0) as usize;
                let template = python_template(&repl)?;
                let n = self
                    .any
                    .find_iter(&s)
                    .take(if count == 0 { usize::MAX } else { count })
                    .count();
                let out = self.any.replacen(&s, count, template.as_str()).into_owned();
                Ok(match method {
                    "sub" => Value::from(out),
                    _ => Value::from(vec![Value::from(out), Value::from(n)]),
                })
            }
            "split" => {
                let s = text(0)?;
                let max = int(1, "maxsplit")?.max(0) as usize;
                let mut out = Vec::new();
                let mut last = 0;
                for (i, c) in self.any.captures_iter(&s).enumerate() {
                    if max != 0 && i == max {
                        break;
                    }
                    let m = c.get(0).unwrap();
                    out.push(Value::from(&s[last..m.start()]));
                    for g in c.iter().skip(1) {
                        out.push(g.map(|g| Value::from(g.as_str())).unwrap_or(Value::from(())));
                    }
                    last = m.end();
                }
                out.push(Value::from(&s[last..]));
                Ok(Value::from(out))
            }
            "findall" => {
                let s = text(0)?;
                let groups = self.any.captures_len() - 1;
                let group = |g: Option<regex::Match<'_>>| Value::from(g.map(|g| g.as_str()).unwrap_or(""));
                Ok(Value::from(
                    self.any
                        .captures_iter(&s)
                        .map(|c| match groups {
                            0 => group(c.get(0)),
                            1 => group(c.get(1)),
                            _ => Value::from(c.iter().skip(1).map(group).collect::<Vec<_>>()),
                        })
                        .collect::<Vec<_>>(),
                ))
            }
            "finditer" => {
                let s = text(0)?;
                Ok(Value::from(
                    self.any
                        .captures_iter(&s)
                        .map(|c| Value::from_object(Match::of(&c, &self.any, &s)))
                        .collect::<Vec<_>>(),
                ))
            }
            other => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!(
                    "modules.re: {other} is not supported (match, search, fullmatch, sub, subn, split, findall, finditer, compile and escape are)"
                ),
            )),
        }
    }
}

/// The keyword argument `name` of a call, if given.
fn kwarg(args: &[Value], name: &str) -> Result<Option<Value>, Error> {
    use minijinja::value::ArgType;
    match args.last().filter(|v| v.is_kwargs()) {
        Some(k) => Kwargs::from_value(Some(k))?.get::<Option<Value>>(name),
        None => Ok(None),
    }
}

/// Python's replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) as the regex crate's
/// (`${1}`, `${name}`, a literal `$` doubled).
fn python_template(repl: &str) -> Result<String, Error> {
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = d.to_string();
                    if let Some(e) = chars.peek().filter(|e| e.is_ascii_digit()) {
                        n.push(*e);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') if chars.peek() == Some(&'<') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    return Err(err(format!(
                        "modules.re: the escape \\{other} in a replacement is not supported"
                    )));
                }
                None => return Err(err("modules.re: a replacement that ends in a lone backslash")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Python's `re.escape`: every character that is special in a pattern, backslashed.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\x0b\x0c".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Object for Re {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let flag = match key.as_str()? {
            "I" | "IGNORECASE" => IGNORECASE,
            "M" | "MULTILINE" => MULTILINE,
            "S" | "DOTALL" => DOTALL,
            "X" | "VERBOSE" => VERBOSE,
            _ => return None,
        };
        Some(Value::from(flag))
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        if method == "escape" {
            let s = args.first().and_then(Value::as_str).unwrap_or_default();
            return Ok(Value::from(escape(s)));
        }
        let pattern = args.first().and_then(Value::as_str).ok_or_else(|| {
            err(format!(
                "modules.re.{method}: the first argument is the pattern, a string"
            ))
        })?;
        // Where each function takes its flags: after the pattern's own arguments.
        let flags_at = match method {
            "compile" => 1,
            "match" | "search" | "fullmatch" | "findall" | "finditer" => 2,
            "split" => 3,
            "sub" | "subn" => 4,
            _ => usize::MAX,
        };
        let positional = args.iter().filter(|v| !v.is_kwargs()).count();
        let flags = match args.get(flags_at).filter(|_| flags_at < positional) {
            Some(v) => i64::try_from(v.clone())?,
            None => kwarg(args, "flags")?.map(i64::try_from).transpose()?.unwrap_or(0),
        };
        let p = Pattern::new(pattern, flags)?;
        if method == "compile" {
            return Ok(Value::from_object(p));
        }
        let rest: Vec<Value> = args[1..]
            .iter()
            .enumerate()
            .filter(|(i, _)| i + 1 != flags_at || flags_at >= positional)
            .map(|(_, v)| v.clone())
            .collect();
        p.apply(method, &rest)
    }
}

impl Object for Pattern {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "pattern" => Some(Value::from(self.pattern.clone())),
            "flags" => Some(Value::from(self.flags)),
            "groups" => Some(Value::from(self.any.captures_len() - 1)),
            _ => None,
        }
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        self.apply(method, args)
    }
}

/// A match: its groups (by number and name), in Python's character positions.
#[derive(Debug)]
struct Match {
    string: String,
    /// Group → (start, end, text), `None` for a group that did not take part.
    groups: Vec<Option<(usize, usize, String)>>,
    names: Vec<(String, usize)>,
}

impl Match {
    fn of(c: &Captures<'_>, re: &Regex, s: &str) -> Match {
        let chars = |byte: usize| s[..byte].chars().count();
        Match {
            string: s.to_string(),
            groups: c
                .iter()
                .map(|g| g.map(|g| (chars(g.start()), chars(g.end()), g.as_str().to_string())))
                .collect(),
            names: re
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
                .collect(),
        }
    }

    fn index(&self, g: &Value) -> Result<usize, Error> {
        let i = match g.as_str() {
            Some(name) => self.names.iter().find(|(n, _)| n == name).map(|(_, i)| *i),
            None => usize::try_from(g.clone()).ok(),
        };
        i.filter(|i| *i < self.groups.len())
            .ok_or_else(|| err(format!("modules.re: no such group {g}")))
    }

    fn group(&self, g: &Value) -> Result<Value, Error> {
        Ok(match &self.groups[self.index(g)?] {
            Some((_, _, t)) => Value::from(t.clone()),
            None => Value::from(()),
        })
    }
}

impl Object for Match {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str() {
            Some("string") => Some(Value::from(self.string.clone())),
            // `m[1]`, `m['name']`, as Python's `__getitem__`.
            _ => self.group(key).ok(),
        }
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let g = args.first().cloned().unwrap_or(Value::from(0));
        let span = |g: &Value| -> Result<(i64, i64), Error> {
            Ok(match &self.groups[self.index(g)?] {
                Some((s, e, _)) => (*s as i64, *e as i64),
                None => (-1, -1),
            })
        };
        match method {
            "group" => match args.len() {
                0 | 1 => self.group(&g),
                _ => Ok(Value::from(
                    args.iter().map(|a| self.group(a)).collect::<Result<Vec<_>, _>>()?,
                )),
            },
            "groups" => Ok(Value::from(
                self.groups[1..]
                    .iter()
                    .map(|g| {
                        g.as_ref()
                            .map(|(_, _, t)| Value::from(t.clone()))
                            .unwrap_or(Value::from(()))
                    })
                    .collect::<Vec<_>>(),
            )),
            "groupdict" => Ok(Value::from_iter(self.names.iter().map(|(n, i)| {
                let v = self.groups[*i]
                    .as_ref()
                    .map(|(_, _, t)| Value::from(t.clone()))
                    .unwrap_or(Value::from(()));
                (n.clone(), v)
            }))),
            "start" => Ok(Value::from(span(&g)?.0)),
            "end" => Ok(Value::from(span(&g)?.1)),
            "span" => {
                let (s, e) = span(&g)?;
                Ok(Value::from(vec![s, e]))
            }
            other => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("modules.re: a match has no method {other} (group, groups, groupdict, start, end, span)"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.groups[0].as_ref().map(|(_, _, t)| t.as_str()).unwrap_or("");
        let (s, e) = self.groups[0].as_ref().map(|(s, e, _)| (*s, *e)).unwrap_or((0, 0));
        write!(f, "<re.Match object; span=({s}, {e}), match={whole:?}>")
    }
}

#[cfg(test)]
mod tests {
    use minijinja::Environment;

    fn render(t: &str) -> String {
        let mut env = Environment::new();
        env.add_global("modules", minijinja::Value::from_object(super::Modules));
        env.render_str(t, ()).unwrap_or_else(|e| format!("error: {e:#}"))
    }

    #[test]
    fn re_behaves_as_pythons() {
        let cases = [
            ("{{ modules.re.match('a(b)', 'abc').group(1) }}", "b"),
            ("{{ modules.re.match('b', 'abc') is none }}", "True"),
            ("{{ modules.re.search('(?P<d>[0-9]+)', 'v12x').group('d') }}", "12"),
            ("{{ modules.re.search('[0-9]+', 'éé12').span() }}", "[2, 4]"),
            ("{{ modules.re.fullmatch('[a-z]+', 'abc1') is none }}", "True"),
            (
                "{{ modules.re.sub('(\\\\w+)@(\\\\w+)', '\\\\2 at \\\\g<1> $', 'me@host') }}",
                "host at me $",
            ),
            ("{{ modules.re.sub('a', 'b', 'aaa', 2) }}", "bba"),
            ("{{ modules.re.subn('a', 'b', 'aaa') }}", "[\"bbb\", 3]"),
            ("{{ modules.re.split('(,)', 'a,b,c', 1) }}", "[\"a\", \",\", \"b,c\"]"),
            ("{{ modules.re.findall('[0-9]', 'a1b2') }}", "[\"1\", \"2\"]"),
            (
                "{{ modules.re.findall('(.)=(.)', 'a=1 b=2') }}",
                "[[\"a\", \"1\"], [\"b\", \"2\"]]",
            ),
            ("{{ modules.re.match('abc', 'ABC', modules.re.I).group() }}", "ABC"),
            (
                "{{ modules.re.match('abc', 'ABC', flags=modules.re.IGNORECASE)[0] }}",
                "ABC",
            ),
            (
                "{% set p = modules.re.compile('^v([0-9])$') %}{{ p.match('v3').groups() }} {{ p.groups }}",
                "[\"3\"] 1",
            ),
            ("{{ modules.re.escape('a.b c') }}", "a\\.b\\ c"),
            ("{{ modules.re.search('x(y)?', 'x').groups() }}", "[None]"),
        ];
        for (t, want) in cases {
            assert_eq!(render(t), want, "{t}");
        }
        assert!(render("{{ modules.re.search('(?<=a)b', 'ab') }}").contains("no look-around"));
    }
}
