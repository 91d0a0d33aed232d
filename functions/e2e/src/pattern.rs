//! EventBridge event patterns, matched as EventBridge matches them (the subset a template
//! writes: exact values in arrays, `{"prefix": …}`, nested objects, and `detail-type` keys with
//! hyphens). An event the rule does not match is never delivered.

use serde_json::Value;

/// Does `event` match `pattern`? Every field the pattern names must match; a list of values
/// matches when the event's value (or any of its values, for an array) equals one of them.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(k, want)| {
        let got = event.get(k).unwrap_or(&Value::Null);
        match want {
            Value::Object(_) => matches(want, got),
            Value::Array(options) => {
                let values: Vec<&Value> = match got {
                    Value::Array(a) => a.iter().collect(),
                    v => vec![v],
                };
                values.iter().any(|v| options.iter().any(|o| matches_one(o, v)))
            }
            _ => false,
        }
    })
}

fn matches_one(option: &Value, value: &Value) -> bool {
    match option {
        Value::Object(o) => match (o.get("prefix"), value.as_str()) {
            (Some(Value::String(p)), Some(s)) => s.starts_with(p.as_str()),
            _ => panic!("event pattern operator {option} is not emulated"),
        },
        exact => exact == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_prefixes_and_nesting() {
        let p = json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": ["b"]}, "object": {"key": [{"prefix": "landing/"}]}}});
        let e = |bucket: &str, key: &str| {
            json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 5}}})
        };
        assert!(matches(&p, &e("b", "landing/x/titles.csv")));
        assert!(!matches(&p, &e("b", "reports/x/r.html")));
        assert!(!matches(&p, &e("c", "landing/x/titles.csv")));
        let s = json!({"detail": {"status": ["FAILED", "TIMED_OUT"]}});
        assert!(matches(&s, &json!({"detail": {"status": "TIMED_OUT"}})));
        assert!(!matches(&s, &json!({"detail": {"status": "SUCCEEDED"}})));
        assert!(!matches(&s, &json!({})));
    }
}
