//! `template.yaml` read as CloudFormation would: parameters with their defaults (and the
//! harness's overrides), conditions, and the intrinsic functions the template uses (`!Ref`,
//! `!GetAtt`, `!Sub` in both forms, `!If`, `!Equals`, `!Not`, `!And`, `!Or`,
//! `AWS::NoValue`), resolved against the emulated resources' names and ARNs. What the harness
//! hands a function is exactly what the template says, so a variable the template forgets is
//! missing in the test too.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The emulated account the stack lives in.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// A resource's `Ref` value and attributes, as the emulators know them.
#[derive(Debug, Clone, Default)]
pub struct Emulated {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// The template, parsed, with what `!Ref`/`!GetAtt` resolve to.
pub struct Template {
    doc: serde_yaml::Value,
    parameters: BTreeMap<String, String>,
    resources: BTreeMap<String, Emulated>,
}

fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => json!(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        serde_yaml::Value::String(s) => json!(s),
        serde_yaml::Value::Sequence(s) => Value::Array(s.iter().map(yaml_to_json).collect()),
        serde_yaml::Value::Mapping(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                o.insert(k.as_str().unwrap_or_default().to_string(), yaml_to_json(v));
            }
            Value::Object(o)
        }
        // `!Ref X` → {"Ref": X}, `!GetAtt A.B` → {"Fn::GetAtt": "A.B"}, `!Sub …` → {"Fn::Sub": …}
        serde_yaml::Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_string()
            } else {
                format!("Fn::{name}")
            };
            json!({ key: yaml_to_json(&t.value) })
        }
    }
}

impl Template {
    /// Read `template.yaml` with `overrides` for its parameters.
    pub fn load(path: &std::path::Path, overrides: &[(&str, &str)]) -> Template {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml is YAML");
        let mut parameters = BTreeMap::new();
        if let Some(ps) = doc["Parameters"].as_mapping() {
            for (k, v) in ps {
                if let Some(d) = v.get("Default") {
                    let d = match d {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other).unwrap().trim().to_string(),
                    };
                    parameters.insert(k.as_str().unwrap().to_string(), d);
                }
            }
        }
        for (k, v) in overrides {
            assert!(doc["Parameters"].get(*k).is_some(), "the template has no parameter {k}");
            parameters.insert(k.to_string(), v.to_string());
        }
        Template {
            doc,
            parameters,
            resources: BTreeMap::new(),
        }
    }

    /// Say what a resource is in the emulated account (its `Ref` and attributes).
    pub fn emulate(&mut self, logical_id: &str, e: Emulated) {
        assert!(
            self.doc["Resources"].get(logical_id).is_some(),
            "the template has no resource {logical_id}"
        );
        self.resources.insert(logical_id.to_string(), e);
    }

    pub fn parameter(&self, name: &str) -> &str {
        self.parameters
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} has no value (no default, no override)"))
    }

    /// A resource's properties, intrinsics left as they are (JSON form).
    pub fn raw(&self, path: &[&str]) -> Value {
        let mut v = &self.doc;
        for p in path {
            v = &v[*p];
        }
        yaml_to_json(v)
    }

    /// Evaluate a condition by name.
    pub fn condition(&self, name: &str) -> bool {
        let c = yaml_to_json(&self.doc["Conditions"][name]);
        assert!(!c.is_null(), "the template has no condition {name}");
        self.truth(&c)
    }

    fn truth(&self, v: &Value) -> bool {
        let Some((k, args)) = v.as_object().and_then(|o| o.iter().next()) else {
            panic!("not a condition: {v}");
        };
        match k.as_str() {
            "Fn::Equals" => self.resolve(&args[0]) == self.resolve(&args[1]),
            "Fn::Not" => !self.truth(&args[0]),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| self.truth(a)),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| self.truth(a)),
            "Condition" => self.condition(args.as_str().unwrap()),
            other => panic!("condition function {other} is not emulated"),
        }
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::StackName" => "landfall-e2e".into(),
            _ => {
                if let Some(p) = self.parameters.get(name) {
                    return p.clone();
                }
                self.resources
                    .get(name)
                    .unwrap_or_else(|| panic!("!Ref {name}: neither a parameter nor an emulated resource"))
                    .reference
                    .clone()
            }
        }
    }

    fn attribute(&self, spec: &str) -> String {
        let (res, attr) = spec.split_once('.').unwrap_or_else(|| panic!("!GetAtt {spec}"));
        self.resources
            .get(res)
            .and_then(|r| r.attributes.get(attr))
            .unwrap_or_else(|| panic!("!GetAtt {spec}: not emulated"))
            .clone()
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}').unwrap_or_else(|| panic!("unclosed ${{ in {text}")) + i;
            let name = &rest[i + 2..end];
            let v = if let Some(v) = vars.get(name) {
                v.clone()
            } else if name.contains('.') && !name.starts_with("AWS::") {
                self.attribute(name)
            } else {
                self.reference(name)
            };
            out.push_str(&v);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Resolve every intrinsic in `v`; `AWS::NoValue` removes the entry it stands in.
    pub fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).filter(|x| !is_no_value(x)).collect()),
            Value::Object(o) if o.len() == 1 => {
                let (k, args) = o.iter().next().unwrap();
                match k.as_str() {
                    "Ref" if args == "AWS::NoValue" => json!({"Ref": "AWS::NoValue"}),
                    "Ref" => json!(self.reference(args.as_str().unwrap())),
                    "Fn::GetAtt" => json!(self.attribute(args.as_str().unwrap())),
                    "Fn::Sub" => match args {
                        Value::String(s) => json!(self.substitute(s, &BTreeMap::new())),
                        Value::Array(a) => {
                            let vars = a[1]
                                .as_object()
                                .unwrap()
                                .iter()
                                .map(|(k, v)| (k.clone(), self.resolve(v).as_str().unwrap_or_default().to_string()))
                                .collect();
                            json!(self.substitute(a[0].as_str().unwrap(), &vars))
                        }
                        _ => panic!("!Sub {args}"),
                    },
                    "Fn::If" => {
                        let a = args.as_array().unwrap();
                        if self.condition(a[0].as_str().unwrap()) {
                            self.resolve(&a[1])
                        } else {
                            self.resolve(&a[2])
                        }
                    }
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => json!(self.truth(v)),
                    _ => Value::Object(o.iter().map(|(k, v)| (k.clone(), self.resolve(v))).collect()),
                }
            }
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .filter(|(_, v)| !is_no_value(v))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The environment a function gets: `Globals.Function.Environment` merged with its own.
    pub fn function_environment(&self, logical_id: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for path in [
            vec!["Globals", "Function", "Environment", "Variables"],
            vec!["Resources", logical_id, "Properties", "Environment", "Variables"],
        ] {
            if let Value::Object(vars) = self.resolve(&self.raw(&path)) {
                for (k, v) in vars {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    env.insert(k, v);
                }
            }
        }
        env
    }

    /// A function's layer ARNs: `Globals.Function.Layers` then its own (SAM adds list
    /// globals to a function's list).
    pub fn function_layers(&self, logical_id: &str) -> Vec<String> {
        let mut out = Vec::new();
        for path in [
            vec!["Globals", "Function", "Layers"],
            vec!["Resources", logical_id, "Properties", "Layers"],
        ] {
            if let Value::Array(arns) = self.resolve(&self.raw(&path)) {
                out.extend(arns.iter().filter_map(|a| a.as_str().map(str::to_string)));
            }
        }
        out
    }

    /// A function's `Timeout` (seconds), from its properties or the globals.
    pub fn function_timeout(&self, logical_id: &str) -> u64 {
        let own = self.raw(&["Resources", logical_id, "Properties", "Timeout"]);
        let global = self.raw(&["Globals", "Function", "Timeout"]);
        own.as_u64().or(global.as_u64()).unwrap_or(3)
    }

    /// The binary SAM builds for a function (`Metadata.BuildProperties.Binary`).
    pub fn function_binary(&self, logical_id: &str) -> String {
        self.raw(&["Resources", logical_id, "Metadata", "BuildProperties", "Binary"])
            .as_str()
            .unwrap_or_else(|| panic!("{logical_id} names no Binary"))
            .to_string()
    }

    /// Every `AWS::Serverless::Function`'s logical id.
    pub fn functions(&self) -> Vec<String> {
        self.doc["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect()
    }

    /// Whether a resource exists under the parameters given (its `Condition`).
    pub fn exists(&self, logical_id: &str) -> bool {
        match self.doc["Resources"][logical_id]["Condition"].as_str() {
            Some(c) => self.condition(c),
            None => !self.doc["Resources"][logical_id].is_null(),
        }
    }
}

fn is_no_value(v: &Value) -> bool {
    v == &json!({"Ref": "AWS::NoValue"})
}
