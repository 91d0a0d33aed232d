//! The published marts' charts. A mart asks for one under `meta.landfall.chart` (in its YAML
//! `config:` or `config()` call), so the report draws what the project declares and knows no
//! mart by name:
//!
//! ```yaml
//! - name: genre_content_share
//!   config:
//!     meta:
//!       landfall:
//!         chart: {title: Content share by genre, kind: bars, label: genre, values: [movies, shows],
//!                 order_by: "total desc, genre", limit: 20}
//! - name: titles_by_release_year
//!   config:
//!     meta:
//!       landfall:
//!         chart: {title: Titles per release year, kind: lines, x: release_year, y: titles, series: type}
//! ```
//!
//! `bars`: one stacked bar per row, labelled by `label`, one segment per column of `values`.
//! `lines`: (`x`, `y`) points, one line per value of `series` (one line without it).

use landfall_core::build::published_relation;
use landfall_core::warehouse::Warehouse;
use landfall_dbt::{Model, Project};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One mart's chart, read from the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// The element's id on the page: `chart-<model>`.
    pub id: String,
    pub title: String,
    pub data: ChartData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ChartData {
    /// One stacked bar per row: its label and one value per named column.
    Bars {
        names: Vec<String>,
        rows: Vec<(String, Vec<f64>)>,
    },
    /// Named lines of (x, y) points.
    Lines { series: BTreeMap<String, Vec<(f64, f64)>> },
    /// Declared but not drawable (a wrong key, a column the mart lacks): said on the page.
    Broken(String),
}

/// A chart as declared, checked.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Bars {
        label: String,
        values: Vec<String>,
        order_by: String,
        limit: u64,
    },
    Lines {
        x: String,
        y: String,
        series: Option<String>,
    },
}

/// The chart `m` declares: its title and spec, `None` when it declares none.
fn declared(m: &Model) -> Option<Result<(String, Spec), String>> {
    let c = m.config.meta.get("landfall")?.get("chart")?;
    Some(parse(c))
}

fn parse(c: &Value) -> Result<(String, Spec), String> {
    let Value::Object(c) = c else {
        return Err("chart must be a mapping (title, kind, …)".into());
    };
    let title = c
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or("chart needs a title")?
        .to_string();
    let kind = c.get("kind").and_then(Value::as_str).unwrap_or_default();
    let allowed: &[&str] = match kind {
        "bars" => &["title", "kind", "label", "values", "order_by", "limit"],
        "lines" => &["title", "kind", "x", "y", "series"],
        other => return Err(format!("chart kind must be bars or lines, found '{other}'")),
    };
    if let Some(k) = c.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown key '{k}' for a {kind} chart (expected {})",
            allowed.join(", ")
        ));
    }
    let spec = if kind == "bars" {
        let label = column(c, "label")?;
        let values: Vec<String> = match c.get("values") {
            Some(Value::Array(v)) if !v.is_empty() && v.len() <= PALETTE.len() => v
                .iter()
                .map(|x| x.as_str().filter(|s| is_ident(s)).map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("values must name columns")?,
            _ => return Err(format!("values must list 1 to {} columns", PALETTE.len())),
        };
        Spec::Bars {
            order_by: match c.get("order_by") {
                None => label.clone(),
                Some(Value::String(o)) if !o.contains(';') => o.clone(),
                Some(o) => return Err(format!("order_by must be an ORDER BY list, found {o}")),
            },
            limit: match c.get("limit") {
                None => 20,
                Some(l) => l
                    .as_u64()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or("limit must be 1 to 200")?,
            },
            label,
            values,
        }
    } else {
        Spec::Lines {
            x: column(c, "x")?,
            y: column(c, "y")?,
            series: c.get("series").map(|_| column(c, "series")).transpose()?,
        }
    };
    Ok((title, spec))
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn column(c: &Map<String, Value>, key: &str) -> Result<String, String> {
    c.get(key)
        .and_then(Value::as_str)
        .filter(|s| is_ident(s))
        .map(str::to_string)
        .ok_or_else(|| format!("{key} must name a column"))
}

/// Every published mart's declared chart, in the project's model order, read from its
/// published table (empty before the first publish).
pub async fn collect(wh: &dyn Warehouse, project: &Project) -> Vec<Chart> {
    let mut out = Vec::new();
    for m in project.models.iter().filter(|m| m.config.publish()) {
        let Some(decl) = declared(m) else { continue };
        let id = format!("chart-{}", m.name);
        let (title, spec) = match decl {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(model = %m.name, "{e}");
                out.push(Chart {
                    id,
                    title: m.name.clone(),
                    data: ChartData::Broken(format!("{}: meta.landfall.chart: {e}", m.name)),
                });
                continue;
            }
        };
        let rel = published_relation(m);
        let sql = match &spec {
            Spec::Bars {
                label,
                values,
                order_by,
                limit,
            } => format!(
                "select {label}, {} from {rel} order by {order_by} limit {limit}",
                values.join(", ")
            ),
            Spec::Lines { x, y, series } => format!(
                "select {x}, {}, {y} from {rel} order by {x}",
                series.as_deref().unwrap_or("null")
            ),
        };
        let rows = match super::rows_if_exists(wh, &rel, &sql).await {
            Ok(t) => t.map(|t| t.rows).unwrap_or_default(),
            Err(e) => {
                out.push(Chart {
                    id,
                    title,
                    data: ChartData::Broken(format!("{}: {}", m.name, e.message)),
                });
                continue;
            }
        };
        let data = match spec {
            Spec::Bars { values, .. } => ChartData::Bars {
                rows: rows
                    .iter()
                    .map(|r| {
                        (
                            super::text(r.first()),
                            (1..=values.len()).map(|i| super::num(r.get(i))).collect(),
                        )
                    })
                    .collect(),
                names: values,
            },
            Spec::Lines { .. } => {
                let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
                for r in &rows {
                    let name = match r.get(1) {
                        None | Some(Value::Null) => title.clone(),
                        v => super::text(v),
                    };
                    series
                        .entry(name)
                        .or_default()
                        .push((super::num(r.first()), super::num(r.get(2))));
                }
                ChartData::Lines { series }
            }
        };
        out.push(Chart { id, title, data });
    }
    out
}

/// The colours of a chart's segments and lines, in order.
pub const PALETTE: [&str; 4] = [super::BLUE, super::ORANGE, super::GREEN, super::RED];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_charts_are_checked() {
        let (t, s) = parse(&json!({"title": "T", "kind": "bars", "label": "g", "values": ["a", "b"]})).unwrap();
        assert_eq!(t, "T");
        assert_eq!(
            s,
            Spec::Bars {
                label: "g".into(),
                values: vec!["a".into(), "b".into()],
                order_by: "g".into(),
                limit: 20
            }
        );
        let (_, s) = parse(&json!({"title": "T", "kind": "lines", "x": "year", "y": "n"})).unwrap();
        assert_eq!(
            s,
            Spec::Lines {
                x: "year".into(),
                y: "n".into(),
                series: None
            }
        );
        for (c, says) in [
            (json!({"kind": "bars"}), "needs a title"),
            (json!({"title": "T", "kind": "pie"}), "bars or lines"),
            (
                json!({"title": "T", "kind": "lines", "x": "a", "y": "b", "colour": "red"}),
                "unknown key 'colour'",
            ),
            (
                json!({"title": "T", "kind": "lines", "x": "a; drop", "y": "b"}),
                "x must name a column",
            ),
            (
                json!({"title": "T", "kind": "bars", "label": "g", "values": []}),
                "1 to 4 columns",
            ),
            (
                json!({"title": "T", "kind": "bars", "label": "g", "values": ["a"], "limit": 0}),
                "limit",
            ),
        ] {
            let e = parse(&c).unwrap_err();
            assert!(e.contains(says), "{c}: {e}");
        }
    }
}
