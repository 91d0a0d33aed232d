//! Choice rules: every comparison operator of the ASL (with its `…Path` form), the type tests
//! `IsNull`, `IsPresent`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`, and `And`,
//! `Or`, `Not`.

use crate::AslError;
use crate::paths::select;
use serde_json::Value;

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
];
const NUMERIC_OPS: &[&str] = &[
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
];
const TIMESTAMP_OPS: &[&str] = &[
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
];
const TYPE_TESTS: &[&str] = &[
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

fn operator(rule: &serde_json::Map<String, Value>) -> Option<&str> {
    rule.keys()
        .map(String::as_str)
        .find(|k| !matches!(*k, "Variable" | "Next" | "Comment"))
}

fn is_known(op: &str) -> bool {
    let base = op.strip_suffix("Path").unwrap_or(op);
    STRING_OPS.contains(&base)
        || NUMERIC_OPS.contains(&base)
        || TIMESTAMP_OPS.contains(&base)
        || base == "BooleanEquals"
        || base == "StringMatches" && !op.ends_with("Path")
        || TYPE_TESTS.contains(&op)
}

/// Check a rule's shape; `top` rules need `Next`, nested ones must not have it.
pub fn validate(rule: &Value, top: bool) -> Result<(), String> {
    let m = rule.as_object().ok_or("a choice rule must be an object")?;
    if top != m.contains_key("Next") {
        return Err(if top {
            "a top-level choice rule needs Next".into()
        } else {
            "a nested choice rule cannot have Next".into()
        });
    }
    let ops: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "Variable" | "Next" | "Comment"))
        .collect();
    if ops.len() != 1 {
        return Err(format!("a choice rule needs exactly one operator, found {ops:?}"));
    }
    match ops[0] {
        "And" | "Or" => {
            let a = m[ops[0]]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or(format!("{} needs a non-empty list of rules", ops[0]))?;
            for r in a {
                validate(r, false)?;
            }
            if m.contains_key("Variable") {
                return Err(format!("{} cannot have a Variable", ops[0]));
            }
            Ok(())
        }
        "Not" => validate(&m["Not"], false),
        op if is_known(op) => {
            let var = m
                .get("Variable")
                .and_then(Value::as_str)
                .ok_or(format!("{op} needs a Variable path"))?;
            if !var.starts_with('$') {
                return Err(format!("Variable must be a path, found '{var}'"));
            }
            Ok(())
        }
        op => Err(format!("'{op}' is not a choice operator this engine knows")),
    }
}

fn parse_ts(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Evaluate a rule against the state's effective input.
pub fn eval(rule: &Value, input: &Value, ctx: &Value) -> Result<bool, AslError> {
    let m = rule
        .as_object()
        .ok_or_else(|| AslError::runtime("a choice rule must be an object"))?;
    let op = operator(m).ok_or_else(|| AslError::runtime("a choice rule without an operator"))?;
    match op {
        "And" => {
            for r in m["And"].as_array().into_iter().flatten() {
                if !eval(r, input, ctx)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        "Or" => {
            for r in m["Or"].as_array().into_iter().flatten() {
                if eval(r, input, ctx)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        "Not" => Ok(!eval(&m["Not"], input, ctx)?),
        _ => {
            let var_path = m.get("Variable").and_then(Value::as_str).unwrap_or("$");
            let expected = &m[op];
            if op == "IsPresent" {
                let present = select(var_path, input, ctx).is_ok();
                return Ok(present == expected.as_bool().unwrap_or(true));
            }
            let var = select(var_path, input, ctx)?;
            if TYPE_TESTS.contains(&op) {
                let want = expected.as_bool().unwrap_or(true);
                let is = match op {
                    "IsNull" => var.is_null(),
                    "IsNumeric" => var.is_number(),
                    "IsString" => var.is_string(),
                    "IsBoolean" => var.is_boolean(),
                    _ => var.as_str().and_then(parse_ts).is_some(),
                };
                return Ok(is == want);
            }
            let (base, rhs) = match op.strip_suffix("Path") {
                Some(b) => (b, select(expected.as_str().unwrap_or("$"), input, ctx)?),
                None => (op, expected.clone()),
            };
            Ok(compare(base, &var, &rhs))
        }
    }
}

fn ord_op(base: &str, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    if base.ends_with("LessThanEquals") {
        o != Greater
    } else if base.ends_with("GreaterThanEquals") {
        o != Less
    } else if base.ends_with("LessThan") {
        o == Less
    } else if base.ends_with("GreaterThan") {
        o == Greater
    } else {
        o == Equal
    }
}

/// Comparisons of mismatched types are false, as the specification says.
fn compare(base: &str, var: &Value, rhs: &Value) -> bool {
    if base == "StringMatches" {
        return match (var.as_str(), rhs.as_str()) {
            (Some(v), Some(p)) => wildcard(v, p),
            _ => false,
        };
    }
    if base == "BooleanEquals" {
        return matches!((var.as_bool(), rhs.as_bool()), (Some(a), Some(b)) if a == b);
    }
    if STRING_OPS.contains(&base) {
        return match (var.as_str(), rhs.as_str()) {
            (Some(a), Some(b)) => ord_op(base, a.cmp(b)),
            _ => false,
        };
    }
    if NUMERIC_OPS.contains(&base) {
        return match (var.as_f64(), rhs.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ord_op(base, o)),
            _ => false,
        };
    }
    if TIMESTAMP_OPS.contains(&base) {
        return match (var.as_str().and_then(parse_ts), rhs.as_str().and_then(parse_ts)) {
            (Some(a), Some(b)) => ord_op(base, a.cmp(&b)),
            _ => false,
        };
    }
    false
}

/// `*` matches any run of characters; `\*` is a literal star.
fn wildcard(s: &str, pat: &str) -> bool {
    let mut toks: Vec<Option<char>> = Vec::new(); // None = star
    let mut it = pat.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(n) = it.next() {
                    toks.push(Some(n));
                }
            }
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // classic DP over (token, char)
    let mut dp = vec![false; s.len() + 1];
    dp[0] = true;
    for t in &toks {
        let mut next = vec![false; s.len() + 1];
        match t {
            None => {
                let mut any = false;
                for i in 0..=s.len() {
                    any |= dp[i];
                    next[i] = any;
                }
            }
            Some(c) => {
                for i in 1..=s.len() {
                    next[i] = dp[i - 1] && s[i - 1] == *c;
                }
            }
        }
        dp = next;
    }
    dp[s.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard("log-2026.txt", "log-*.txt"));
        assert!(wildcard("a*b", "a\\*b"));
        assert!(!wildcard("axb", "a\\*b"));
        assert!(wildcard("", "*"));
        assert!(!wildcard("abc", "*d"));
    }

    #[test]
    fn mismatched_types_compare_false() {
        let input = json!({"n": "5"});
        let r = json!({"Variable": "$.n", "NumericEquals": 5});
        assert!(!eval(&r, &input, &json!({})).unwrap());
    }
}
