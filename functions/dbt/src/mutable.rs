//! dbt's Jinja is Python's: `{% set cols = [] %}{% do cols.append(c) %}` grows a list, and
//! `{% do d.update({...}) %}` a dict. minijinja's values are immutable, so a list or dict
//! literal that starts empty in a `set` becomes one of these objects (`set x = []` is rewritten
//! to `set x = __landfall_list()`: macros once at load, a template when it renders), with
//! Python's mutating methods.

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::{Arc, Mutex};

fn arg(args: &[Value], i: usize, method: &str) -> Result<Value, Error> {
    args.get(i)
        .cloned()
        .ok_or_else(|| Error::new(ErrorKind::MissingArgument, format!("{method}() needs an argument")))
}

/// A Python list: `append`, `extend`, `insert`, `pop`, `remove`, `index`, `count`.
#[derive(Debug, Default)]
pub struct List(Mutex<Vec<Value>>);

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.0.lock().unwrap();
        let i = key.as_i64()?;
        let i = if i < 0 { items.len() as i64 + i } else { i };
        items.get(usize::try_from(i).ok()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.lock().unwrap().clone())
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let mut items = self.0.lock().unwrap();
        match method {
            "append" => items.push(arg(args, 0, method)?),
            "extend" => items.extend(arg(args, 0, method)?.try_iter()?),
            "insert" => {
                let at = arg(args, 0, method)?.as_usize().unwrap_or(0).min(items.len());
                items.insert(at, arg(args, 1, method)?);
            }
            "pop" => {
                let at = match args.first() {
                    Some(i) => i.as_i64().unwrap_or(-1),
                    None => -1,
                };
                let at = if at < 0 { items.len() as i64 + at } else { at };
                return usize::try_from(at)
                    .ok()
                    .filter(|&i| i < items.len())
                    .map(|i| items.remove(i))
                    .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "pop from an empty list"));
            }
            "remove" => {
                let v = arg(args, 0, method)?;
                let at = items.iter().position(|x| *x == v).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("list.remove({v}): not in the list"),
                    )
                })?;
                items.remove(at);
            }
            "index" => {
                let v = arg(args, 0, method)?;
                return items.iter().position(|x| *x == v).map(Value::from).ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, format!("list.index({v}): not in the list"))
                });
            }
            "count" => {
                let v = arg(args, 0, method)?;
                return Ok(Value::from(items.iter().filter(|x| **x == v).count()));
            }
            other => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("list.{other}() is not supported (append, extend, insert, pop, remove, index, count are)"),
                ));
            }
        }
        Ok(Value::from(()))
    }
}

/// A Python dict: `update`, `pop`, `get`, `setdefault`, `keys`, `values`, `items`.
#[derive(Debug, Default)]
pub struct Dict(Mutex<Vec<(Value, Value)>>);

impl Dict {
    fn set(entries: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        match entries.iter_mut().find(|(x, _)| *x == k) {
            Some(e) => e.1 = v,
            None => entries.push((k, v)),
        }
    }
}

impl Object for Dict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let entries = self.0.lock().unwrap();
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.lock().unwrap().iter().map(|(k, _)| k.clone()).collect())
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let mut entries = self.0.lock().unwrap();
        let pairs = |entries: &Vec<(Value, Value)>| -> Vec<Value> {
            entries
                .iter()
                .map(|(k, v)| Value::from(vec![k.clone(), v.clone()]))
                .collect()
        };
        Ok(match method {
            "update" => {
                let other = arg(args, 0, method)?;
                for k in other.try_iter()? {
                    let v = other.get_item(&k)?;
                    Dict::set(&mut entries, k, v);
                }
                Value::from(())
            }
            "get" => {
                let k = arg(args, 0, method)?;
                let found = entries.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone());
                found.unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(())))
            }
            "pop" => {
                let k = arg(args, 0, method)?;
                match entries.iter().position(|(x, _)| *x == k) {
                    Some(i) => entries.remove(i).1,
                    None => args.get(1).cloned().ok_or_else(|| {
                        Error::new(ErrorKind::InvalidOperation, format!("dict.pop({k}): no such key"))
                    })?,
                }
            }
            "setdefault" => {
                let k = arg(args, 0, method)?;
                match entries.iter().find(|(x, _)| *x == k) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let v = args.get(1).cloned().unwrap_or(Value::from(()));
                        entries.push((k, v.clone()));
                        v
                    }
                }
            }
            "keys" => Value::from(entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()),
            "values" => Value::from(entries.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()),
            "items" => Value::from(pairs(&entries)),
            other => {
                return Err(Error::new(
                    ErrorKind::UnknownMethod,
                    format!("dict.{other}() is not supported (update, get, pop, setdefault, keys, values, items are)"),
                ));
            }
        })
    }
}

/// Rewrite `{% set x = [] %}` / `{% set x = {} %}` (any whitespace control) to the mutable
/// objects; everything else is left as written.
pub fn rewrite_empty_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{%") {
        let Some(close) = rest[open..].find("%}") else { break };
        let tag = &rest[open..open + close + 2];
        out.push_str(&rest[..open]);
        let inner = tag[2..tag.len() - 2]
            .trim_start_matches(['-', '+'])
            .trim_end_matches(['-', '+'])
            .trim();
        let rewritten = inner.strip_prefix("set ").and_then(|s| {
            let (name, value) = s.split_once('=')?;
            let (name, value) = (name.trim(), value.trim());
            let ctor = match value.replace(' ', "").as_str() {
                "[]" => "__landfall_list()",
                "{}" => "__landfall_dict()",
                _ => return None,
            };
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then(|| tag.replacen(value, ctor, 1))
        });
        out.push_str(rewritten.as_deref().unwrap_or(tag));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_empty_literals_in_set_tags_are_rewritten() {
        assert_eq!(
            rewrite_empty_literals("{%- set cols = [] -%}{% set d = { } %}{% set x = [1] %}{{ [] }}"),
            "{%- set cols = __landfall_list() -%}{% set d = __landfall_dict() %}{% set x = [1] %}{{ [] }}"
        );
    }

    #[test]
    fn lists_and_dicts_mutate_as_pythons_do() {
        let mut env = minijinja::Environment::new();
        env.add_function("__landfall_list", || Value::from_object(List::default()));
        env.add_function("__landfall_dict", || Value::from_object(Dict::default()));
        let t = rewrite_empty_literals(
            "{% set c = [] %}{% for x in ['a', 'b', 'c'] %}{% do c.append(x) %}{% endfor %}{% do c.pop(0) %}\
             {% set d = {} %}{% do d.update({'k': 1}) %}{% do d.update({'k': 2, 'j': 3}) %}\
             {{ c | join(',') }} {{ c | length }} {{ d['k'] }} {{ d.get('z', 9) }} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}",
        );
        assert_eq!(env.render_str(&t, ()).unwrap(), "b,c 2 2 9 k2j3");
    }
}
