//! The run report: one self-contained HTML page per run (inline CSS and SVG, no script, nothing
//! fetched), for people who would rather look than read logs. It shows the run and its states
//! as a timeline, the lineage from sources to marts with every test on its model, the test
//! results with samples of failing and quarantined rows, the `data_health` history, and the
//! charts the published marts declare (charts).
//!
//! [`collect`] reads everything from the warehouse (`audit.*`, the quarantine model, the
//! published marts) and the SQL project (the lineage); [`render`] is pure, so its output is
//! tested without a warehouse. `landfall run` writes it after every run, `landfall report`
//! for any stored run, and the notify Lambda puts it in the landing bucket under
//! `reports/<batch>/`.

mod charts;

pub use charts::{Chart, ChartData};

use landfall_core::audit::StepRow;
use landfall_core::build::build_relation;
use landfall_core::reporting::{ReportSink, RunReport};
use landfall_core::warehouse::{Table, Warehouse, as_i64, sql_str};
use landfall_core::{PipelineError, Result};
use landfall_dbt::{Project, Relation, TestTarget};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Collect, render and put a run's report.
pub async fn publish(wh: &dyn Warehouse, project: &Project, sink: &dyn ReportSink, run_id: &str) -> Result<String> {
    let r = collect(wh, project, Some(run_id)).await?;
    sink.put(&r.run.batch, &r.run.run_id, render(&r)).await
}

/// The notify function's [`RunReport`]: each run's report, put where `sink` puts pages.
pub struct ToSink<'a>(pub &'a dyn ReportSink);

#[async_trait::async_trait]
impl RunReport for ToSink<'_> {
    async fn publish(&self, wh: &dyn Warehouse, project: &Project, run_id: &str) -> Result<String> {
        publish(wh, project, self.0, run_id).await
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub batch: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub failed_state: Option<String>,
    pub error_name: Option<String>,
    pub error_cause: Option<String>,
    pub rows_loaded: i64,
    pub rows_rejected: i64,
    pub published: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRow {
    pub name: String,
    pub model: String,
    pub severity: String,
    pub status: String,
    pub failures: i64,
    pub sample: Option<Table>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineageNode {
    pub id: String,
    pub label: String,
    pub layer: usize,
    /// (test name, status) of the tests attached to this node.
    pub tests: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthPoint {
    pub run_id: String,
    pub batch: String,
    pub pass_rate: f64,
    pub rows_loaded: f64,
    pub rows_rejected: f64,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub run: RunInfo,
    pub steps: Vec<StepRow>,
    pub layers: Vec<String>,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<(String, String)>,
    pub tests: Vec<TestRow>,
    pub quarantine: Option<Table>,
    pub health: Vec<HealthPoint>,
    /// The charts the published marts declare (`meta.landfall.chart`).
    pub charts: Vec<Chart>,
    pub generated_at: String,
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn num(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Every state of a definition in document order (serde_json keeps it: `preserve_order`), each
/// with the Parallel or Map state whose branch or iterations hold it.
fn walk_states(definition: &str) -> Vec<(String, Option<String>)> {
    fn walk(states: &Value, parent: Option<&str>, out: &mut Vec<(String, Option<String>)>) {
        for (name, s) in states.as_object().into_iter().flatten() {
            out.push((name.clone(), parent.map(str::to_string)));
            for b in s.get("Branches").and_then(Value::as_array).into_iter().flatten() {
                walk(&b["States"], Some(name), out);
            }
            if let Some(it) = s.get("ItemProcessor").or_else(|| s.get("Iterator")) {
                walk(&it["States"], Some(name), out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(definition) {
        walk(&v["States"], None, &mut out);
    }
    out
}

/// State → the Parallel state whose branch holds it, from a definition's JSON.
pub fn branch_parents(definition: &str) -> BTreeMap<String, String> {
    walk_states(definition)
        .into_iter()
        .filter_map(|(name, parent)| Some((name, parent?)))
        .collect()
}

/// The result of `sql` when `rel` exists (nothing is published before the first good run).
async fn rows_if_exists(wh: &dyn Warehouse, rel: &Relation, sql: &str) -> Result<Option<Table>> {
    if wh.relation_exists(rel).await.unwrap_or(false) {
        Ok(Some(wh.query(sql).await?))
    } else {
        Ok(None)
    }
}

/// Read a run's report from the warehouse: `run_id`, or the latest run.
pub async fn collect(wh: &dyn Warehouse, project: &Project, run_id: Option<&str>) -> Result<Report> {
    let filter = match run_id {
        Some(id) => format!("where run_id = {}", sql_str(id)),
        None => String::new(),
    };
    let t = wh
        .query(&format!(
            "select run_id, batch, status, cast(started_at as varchar), cast(finished_at as varchar), failed_state, error_name, error_cause, rows_loaded, rows_rejected, published from audit.runs {filter} order by started_at desc limit 1"
        ))
        .await
        .map_err(|e| e.context("reading audit.runs (has this warehouse run the pipeline?)"))?;
    let Some(r) = t.rows.first() else {
        return Err(PipelineError::config(match run_id {
            Some(id) => format!("no run '{id}' in audit.runs"),
            None => "audit.runs is empty: no run to report on".into(),
        }));
    };
    let opt = |i: usize| Some(text(r.get(i))).filter(|s| !s.is_empty());
    let run = RunInfo {
        run_id: text(r.first()),
        batch: text(r.get(1)),
        status: text(r.get(2)),
        started_at: text(r.get(3)),
        finished_at: text(r.get(4)),
        failed_state: opt(5),
        error_name: opt(6),
        error_cause: opt(7),
        rows_loaded: as_i64(r.get(8).unwrap_or(&Value::Null)).unwrap_or(0),
        rows_rejected: as_i64(r.get(9).unwrap_or(&Value::Null)).unwrap_or(0),
        published: matches!(r.get(10), Some(Value::Bool(true))) || text(r.get(10)) == "true",
    };
    let rid = sql_str(&run.run_id);
    let mut steps: Vec<StepRow> = wh
        .query(&format!(
            "select state, status, attempts, duration_ms, error_name from audit.run_steps where run_id = {rid}"
        ))
        .await
        .map(|t| {
            t.rows
                .iter()
                .map(|r| StepRow {
                    state: text(r.first()),
                    status: text(r.get(1)),
                    attempts: num(r.get(2)) as u32,
                    duration_ms: num(r.get(3)) as u64,
                    error_name: Some(text(r.get(4))).filter(|s| !s.is_empty()),
                })
                .collect()
        })
        .unwrap_or_default();
    // States inside a Parallel branch are drawn from their branch's start; the timeline takes
    // the definition's order (states it does not know go last).
    let states = walk_states(landfall_core::definition::STATE_MACHINE);
    // A Map iteration's step is named for its item (`LoadFile[titles]`): the state is `LoadFile`.
    let state_of = |step: &str| step.split('[').next().unwrap_or(step).to_string();
    for s in &mut steps {
        let state = state_of(&s.state);
        if !s.state.contains('/')
            && let Some((_, Some(p))) = states.iter().find(|(n, _)| *n == state)
        {
            s.state = format!("{p}/{}", s.state);
        }
    }
    let rank = |step: &str| {
        let leaf = state_of(step.rsplit('/').next().unwrap_or(step));
        states.iter().position(|(n, _)| *n == leaf).unwrap_or(states.len())
    };
    steps.sort_by_key(|s| (rank(&s.state), s.state.clone()));

    let tests: Vec<TestRow> = wh
        .query(&format!(
            "select test_name, model, severity, status, failures, sample_rows from audit.test_results where run_id = {rid} order by test_name"
        ))
        .await?
        .rows
        .iter()
        .map(|r| TestRow {
            name: text(r.first()),
            model: text(r.get(1)),
            severity: text(r.get(2)),
            status: text(r.get(3)),
            failures: num(r.get(4)) as i64,
            sample: r
                .get(5)
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .map(|v| Table {
                    columns: v["columns"]
                        .as_array()
                        .map(|a| a.iter().map(|c| text(Some(c))).collect())
                        .unwrap_or_default(),
                    rows: v["rows"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|r| r.as_array().cloned()).collect())
                        .unwrap_or_default(),
                }),
        })
        .collect();

    // Lineage: sources → staging → intermediate → marts, tests on their nodes.
    let status_of: BTreeMap<&str, &str> = tests.iter().map(|t| (t.name.as_str(), t.status.as_str())).collect();
    let mut layers = vec!["sources".to_string()];
    for m in &project.models {
        if !layers.contains(&m.layer) {
            layers.push(m.layer.clone());
        }
    }
    let rank = |l: &str| {
        ["sources", "staging", "intermediate", "marts"]
            .iter()
            .position(|x| *x == l)
            .unwrap_or(4)
    };
    layers.sort_by_key(|l| rank(l));
    let mut nodes = Vec::new();
    for s in &project.sources {
        nodes.push(LineageNode {
            id: format!("source:{}.{}", s.source, s.name),
            label: format!("{}.{}", s.source, s.name),
            layer: 0,
            tests: vec![],
        });
    }
    for m in &project.models {
        nodes.push(LineageNode {
            id: m.name.clone(),
            label: m.name.clone(),
            layer: layers.iter().position(|l| *l == m.layer).unwrap_or(0),
            tests: vec![],
        });
    }
    for t in &project.tests {
        let id = match &t.target {
            Some(TestTarget::Model(m)) => m.clone(),
            Some(TestTarget::Source(s, n)) => format!("source:{s}.{n}"),
            None => continue,
        };
        if let Some(n) = nodes.iter_mut().find(|n| n.id == id) {
            let st = status_of.get(t.name.as_str()).copied().unwrap_or("not run");
            n.tests.push((t.name.clone(), st.to_string()));
        }
    }
    // Singular tests name no model in their declaration; attach them where their results say.
    for t in &tests {
        if !nodes.iter().any(|n| n.tests.iter().any(|(name, _)| name == &t.name))
            && let Some(n) = nodes.iter_mut().find(|n| n.id == t.model)
        {
            n.tests.push((t.name.clone(), t.status.clone()));
        }
    }
    let mut edges = Vec::new();
    for m in &project.models {
        for r in &m.refs {
            edges.push((r.clone(), m.name.clone()));
        }
        for (s, n) in &m.sources {
            edges.push((format!("source:{s}.{n}"), m.name.clone()));
        }
    }

    let quarantine = match project.quarantine_model() {
        Some(m) => {
            // The run's own build; a local warehouse file keeps the latest run's untagged.
            let rel = build_relation(m, wh, &run.run_id);
            let kept = Relation::new(landfall_core::build::untagged(&rel.schema), rel.name.clone());
            // Best effort: the report shows what it can read.
            let sample = |r: Relation| async move {
                rows_if_exists(wh, &r, &format!("select * from {r} limit 10"))
                    .await
                    .ok()
                    .flatten()
            };
            match sample(rel).await {
                None if run_id.is_none() => sample(kept).await,
                rows => rows,
            }
        }
        None => None,
    };

    let mut health: Vec<HealthPoint> = wh
        .query(
            "select r.run_id, r.batch, r.rows_loaded, r.rows_rejected, t.passed, t.total
             from audit.runs r
             left join (select run_id, count(*) as total, count(case when status = 'pass' then 1 end) as passed
                        from audit.test_results group by run_id) t on t.run_id = r.run_id
             order by r.started_at desc limit 30",
        )
        .await?
        .rows
        .iter()
        .map(|r| {
            let total = num(r.get(5));
            HealthPoint {
                run_id: text(r.first()),
                batch: text(r.get(1)),
                rows_loaded: num(r.get(2)),
                rows_rejected: num(r.get(3)),
                pass_rate: if total > 0.0 {
                    100.0 * num(r.get(4)) / total
                } else {
                    0.0
                },
            }
        })
        .collect();
    health.reverse();

    let charts = charts::collect(wh, project).await;

    Ok(Report {
        run,
        steps,
        layers,
        nodes,
        edges,
        tests,
        quarantine,
        health,
        charts,
        generated_at: landfall_core::clock::now_rfc3339(),
    })
}

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const GREEN: &str = "#2e7d32";
const AMBER: &str = "#f59e0b";
const RED: &str = "#c62828";
const GREY: &str = "#9e9e9e";
const BLUE: &str = "#1f77b4";
const ORANGE: &str = "#ff7f0e";

fn status_color(status: &str) -> &'static str {
    match status {
        "pass" | "succeeded" => GREEN,
        "warn" => AMBER,
        "fail" | "failed" => RED,
        _ => GREY,
    }
}

fn fmt_ms(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// Each state as a bar on a common time axis (a state inside a branch starts where its
/// branch starts), with its duration and attempts.
pub fn timeline_svg(steps: &[StepRow]) -> String {
    if steps.is_empty() {
        return "<p class=\"muted\" id=\"timeline\">No state timeline was recorded for this run.</p>".into();
    }
    let mut offsets: BTreeMap<String, u64> = BTreeMap::new();
    let mut cursor = 0u64;
    let mut placed = Vec::new();
    for s in steps {
        let (start, advance) = match s.state.rsplit_once('/') {
            Some((parent, _)) => (offsets.get(parent).copied().unwrap_or(cursor), false),
            None => (cursor, true),
        };
        offsets.insert(s.state.clone(), start);
        placed.push((s, start));
        if advance {
            cursor = start + s.duration_ms;
        }
    }
    let total = placed
        .iter()
        .map(|(s, st)| st + s.duration_ms)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (label_w, bar_w, row_h) = (190.0, 560.0, 24.0);
    let h = row_h * placed.len() as f64 + 10.0;
    let mut o = format!(
        "<svg id=\"timeline\" role=\"img\" aria-label=\"state timeline\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        w = label_w + bar_w + 180.0
    );
    for (i, (s, start)) in placed.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let x = label_w + bar_w * (*start as f64 / total);
        let w = (bar_w * (s.duration_ms as f64 / total)).max(2.0);
        let depth = s.state.matches('/').count();
        let name = s.state.rsplit('/').next().unwrap_or(&s.state);
        let attempts = if s.attempts > 1 {
            format!(" · {} attempts", s.attempts)
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<text x=\"{tx}\" y=\"{ty}\" class=\"lbl\">{n}</text><rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"16\" rx=\"3\" fill=\"{c}\"><title>{n}: {d}{a}{e}</title></rect><text x=\"{lx:.1}\" y=\"{ty}\" class=\"val\">{d}{a}</text>",
            tx = 4.0 + 12.0 * depth as f64,
            ty = y + 12.5,
            n = esc(name),
            c = status_color(&s.status),
            d = fmt_ms(s.duration_ms),
            a = attempts,
            e = s
                .error_name
                .as_deref()
                .map(|e| format!(" · {}", esc(e)))
                .unwrap_or_default(),
            lx = x + w + 6.0,
        );
    }
    o.push_str("</svg>");
    o
}

/// The lineage as a layered graph: one column per layer, edges from inputs to models, and a
/// dot per attached test (green pass, amber warn, red fail).
pub fn lineage_svg(layers: &[String], nodes: &[LineageNode], edges: &[(String, String)]) -> String {
    let (col_w, node_w, node_h, gap) = (250.0, 200.0, 46.0, 16.0);
    let mut pos: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut per_layer = vec![0usize; layers.len().max(1)];
    for n in nodes {
        let l = n.layer.min(per_layer.len() - 1);
        let x = 20.0 + col_w * l as f64;
        let y = 40.0 + per_layer[l] as f64 * (node_h + gap);
        per_layer[l] += 1;
        pos.insert(n.id.as_str(), (x, y));
    }
    let h = 50.0 + per_layer.iter().max().copied().unwrap_or(1) as f64 * (node_h + gap);
    let w = 40.0 + col_w * layers.len() as f64;
    let mut o = format!(
        "<svg id=\"lineage\" role=\"img\" aria-label=\"lineage\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"
    );
    for (i, l) in layers.iter().enumerate() {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"22\" class=\"layer\">{}</text>",
            20.0 + col_w * i as f64,
            esc(l)
        );
    }
    for (from, to) in edges {
        if let (Some((x1, y1)), Some((x2, y2))) = (pos.get(from.as_str()), pos.get(to.as_str())) {
            let (sx, sy, ex, ey) = (x1 + node_w, y1 + node_h / 2.0, *x2, y2 + node_h / 2.0);
            let _ = write!(
                o,
                "<path class=\"edge\" d=\"M{sx:.1},{sy:.1} C{:.1},{sy:.1} {:.1},{ey:.1} {ex:.1},{ey:.1}\"/>",
                sx + 30.0,
                ex - 30.0
            );
        }
    }
    for n in nodes {
        let (x, y) = pos[n.id.as_str()];
        let worst = if n.tests.iter().any(|(_, s)| s == "fail") {
            RED
        } else if n.tests.iter().any(|(_, s)| s == "warn") {
            AMBER
        } else {
            "#90a4ae"
        };
        let _ = write!(
            o,
            "<g class=\"node\" id=\"node-{id}\"><rect x=\"{x}\" y=\"{y}\" width=\"{node_w}\" height=\"{node_h}\" rx=\"6\" stroke=\"{worst}\"/><text x=\"{tx}\" y=\"{ty}\" class=\"nlabel\">{label}</text>",
            id = esc(&n.id.replace([':', '.'], "-")),
            tx = x + 8.0,
            ty = y + 17.0,
            label = esc(&n.label),
        );
        for (i, (name, status)) in n.tests.iter().enumerate().take(22) {
            let _ = write!(
                o,
                "<circle class=\"test test-{status}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\"><title>{}: {}</title></circle>",
                x + 12.0 + 8.5 * i as f64,
                y + 33.0,
                status_color(status),
                esc(name),
                esc(status)
            );
        }
        o.push_str("</g>");
    }
    o.push_str("</svg>");
    o
}

/// Horizontal stacked bars: one per row, one segment per named value.
pub fn bars_svg(id: &str, title: &str, names: &[String], rows: &[(String, Vec<f64>)]) -> String {
    if rows.is_empty() {
        return format!("<p class=\"muted\" id=\"{}\">{}: no data yet.</p>", esc(id), esc(title));
    }
    let total = |v: &[f64]| v.iter().sum::<f64>();
    let max = rows.iter().map(|(_, v)| total(v)).fold(1.0, f64::max);
    let (label_w, bar_w, row_h) = (120.0, 420.0, 20.0);
    let h = row_h * rows.len() as f64 + 34.0;
    let mut o = format!(
        "<svg id=\"{}\" role=\"img\" aria-label=\"{}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        esc(id),
        esc(title),
        w = label_w + bar_w + 90.0
    );
    for (i, (label, values)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let sum = total(values);
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"lbl\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + 11.0,
            esc(label)
        );
        let mut x = label_w;
        for (j, v) in values.iter().enumerate() {
            let w = bar_w * v / max;
            let share = if sum > 0.0 { 100.0 * v / sum } else { 0.0 };
            let _ = write!(
                o,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"14\" fill=\"{}\"><title>{} {} ({share:.0} %)</title></rect>",
                charts::PALETTE[j % charts::PALETTE.len()],
                trim_num(*v),
                esc(names.get(j).map(String::as_str).unwrap_or(""))
            );
            x += w;
        }
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"val\">{}</text>",
            x + 6.0,
            y + 11.0,
            trim_num(sum)
        );
    }
    let ly = h - 12.0;
    for (j, name) in names.iter().enumerate() {
        let x = label_w + 84.0 * j as f64;
        let _ = write!(
            o,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{ly:.1}\" class=\"val\">{}</text>",
            ly - 9.0,
            charts::PALETTE[j % charts::PALETTE.len()],
            x + 14.0,
            esc(name)
        );
    }
    o.push_str("</svg>");
    o
}

/// A line chart of one or more series of (x, y) points, with its axes' ranges labelled.
/// One line of a chart: its name, its colour and its (x, y) points.
pub type Series<'a> = (String, &'a str, Vec<(f64, f64)>);

pub fn line_chart_svg(id: &str, title: &str, series: &[Series<'_>], w: f64, h: f64) -> String {
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|(_, _, p)| p.iter().copied()).collect();
    if pts.is_empty() {
        return format!("<p class=\"muted\" id=\"{}\">{}: no data yet.</p>", esc(id), esc(title));
    }
    let (x0, x1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let y1 = pts.iter().fold(0.0f64, |a, (_, y)| a.max(*y)).max(1.0);
    let (l, r, t, b) = (48.0, 12.0, 22.0, 26.0);
    let sx = |x: f64| l + (w - l - r) * if x1 > x0 { (x - x0) / (x1 - x0) } else { 0.5 };
    let sy = |y: f64| t + (h - t - b) * (1.0 - y / y1);
    let mut o = format!(
        "<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-label=\"{title}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><text x=\"{l}\" y=\"14\" class=\"ctitle\">{title}</text><line class=\"axis\" x1=\"{l}\" y1=\"{yb:.1}\" x2=\"{xr:.1}\" y2=\"{yb:.1}\"/><line class=\"axis\" x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{yb:.1}\"/><text x=\"{lx:.1}\" y=\"{t2:.1}\" class=\"val\" text-anchor=\"end\">{ymax}</text><text x=\"{lx:.1}\" y=\"{yb:.1}\" class=\"val\" text-anchor=\"end\">0</text><text x=\"{l}\" y=\"{xl:.1}\" class=\"val\">{xmin}</text><text x=\"{xr:.1}\" y=\"{xl:.1}\" class=\"val\" text-anchor=\"end\">{xmax}</text>",
        id = esc(id),
        title = esc(title),
        yb = h - b,
        xr = w - r,
        lx = l - 4.0,
        t2 = t + 4.0,
        ymax = trim_num(y1),
        xl = h - 8.0,
        xmin = trim_num(x0),
        xmax = trim_num(x1),
    );
    for (i, (name, color, p)) in series.iter().enumerate() {
        let d: Vec<String> = p.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
        let _ = write!(
            o,
            "<polyline class=\"line\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            d.join(" "),
            esc(name)
        );
        for (x, y) in p {
            let _ = write!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{}: {} → {}</title></circle>",
                sx(*x),
                sy(*y),
                esc(name),
                trim_num(*x),
                trim_num(*y)
            );
        }
        if series.len() > 1 {
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"15\" class=\"val\">{}</text>",
                w - r - 150.0 + 75.0 * i as f64,
                w - r - 136.0 + 75.0 * i as f64,
                esc(name)
            );
        }
    }
    o.push_str("</svg>");
    o
}

fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn table_html(t: &Table, class: &str) -> String {
    let mut o = format!("<table class=\"{class}\"><tr>");
    for c in &t.columns {
        let _ = write!(o, "<th>{}</th>", esc(c));
    }
    o.push_str("</tr>");
    for r in &t.rows {
        o.push_str("<tr>");
        for v in r {
            let s = text(Some(v));
            let _ = write!(o, "<td>{}</td>", esc(&landfall_core::alerts::truncate(&s, 120)));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d252c;background:#f6f7f9}
header{padding:18px 28px;background:#1d252c;color:#fff}header h1{margin:0 0 4px;font-size:20px}
main{padding:8px 28px 40px;max-width:1200px}section{background:#fff;border:1px solid #e0e3e7;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:16px;margin:0 0 10px}.pill{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.ok{background:#2e7d32}.bad{background:#c62828}.muted{color:#6b7680}.err{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}td,th{border-bottom:1px solid #eceff1;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}.st-fail{color:#c62828;font-weight:600}.st-warn{color:#b26a00;font-weight:600}.st-pass{color:#2e7d32}
svg text{font:12px system-ui,sans-serif;fill:#1d252c}svg .layer{font-weight:700;text-transform:uppercase;fill:#6b7680}
svg .node rect{fill:#fff;stroke-width:2}svg .edge{fill:none;stroke:#b0bec5;stroke-width:1.5}svg .axis{stroke:#90a4ae}
svg .val{fill:#455a64;font-size:11px}svg .ctitle{font-weight:600}.charts{display:flex;flex-wrap:wrap;gap:18px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}dt{color:#6b7680}dd{margin:0}";

/// The page, self-contained.
pub fn render(r: &Report) -> String {
    let ok = r.run.status == "succeeded";
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Landfall run {id} ({batch}): {status}</title><style>{CSS}</style></head><body>",
        id = esc(&r.run.run_id),
        batch = esc(&r.run.batch),
        status = esc(&r.run.status),
    );
    let _ = write!(
        o,
        "<header><h1>Landfall · batch {batch}</h1><span id=\"status\" class=\"pill {cls}\">{status}</span> <span>{published}</span></header><main>",
        batch = esc(&r.run.batch),
        cls = if ok { "ok" } else { "bad" },
        status = esc(&r.run.status),
        published = if r.run.published {
            "published to marts"
        } else {
            "nothing published: the marts below are the ones published before this run"
        },
    );
    // The run
    let _ = write!(
        o,
        "<section id=\"run\"><h2>The run</h2><dl><dt>run</dt><dd>{}</dd><dt>started</dt><dd>{}</dd><dt>finished</dt><dd>{}</dd><dt>rows loaded</dt><dd>{}</dd><dt>rows rejected</dt><dd>{}</dd></dl>",
        esc(&r.run.run_id),
        esc(&r.run.started_at),
        esc(&r.run.finished_at),
        r.run.rows_loaded,
        r.run.rows_rejected
    );
    if let Some(e) = &r.run.error_name {
        let _ = write!(
            o,
            "<div class=\"err\" id=\"error\"><strong>{}</strong> in <strong>{}</strong><br>{}</div>",
            esc(e),
            esc(r.run.failed_state.as_deref().unwrap_or("?")),
            esc(r.run.error_cause.as_deref().unwrap_or(""))
        );
    }
    let _ = write!(o, "<h2>States</h2>{}</section>", timeline_svg(&r.steps));
    // Lineage
    let _ = write!(
        o,
        "<section><h2>Lineage</h2><p class=\"muted\">Sources → staging → intermediate → marts; a dot per test (green pass, amber warn, red fail; hover for its name).</p>{}</section>",
        lineage_svg(&r.layers, &r.nodes, &r.edges)
    );
    // Quality
    let counts = |s: &str| r.tests.iter().filter(|t| t.status == s).count();
    let _ = write!(
        o,
        "<section id=\"quality\"><h2>Quality: {} passed, {} warned, {} failed</h2><table id=\"tests\"><tr><th>test</th><th>on</th><th>severity</th><th>status</th><th>failing rows</th></tr>",
        counts("pass"),
        counts("warn"),
        counts("fail")
    );
    let mut sorted: Vec<&TestRow> = r.tests.iter().collect();
    sorted.sort_by_key(|t| {
        (
            match t.status.as_str() {
                "fail" => 0,
                "warn" => 1,
                _ => 2,
            },
            t.name.clone(),
        )
    });
    for t in &sorted {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"st-{s}\">{s}</td><td>{}</td></tr>",
            esc(&t.name),
            esc(&t.model),
            esc(&t.severity),
            t.failures,
            s = esc(&t.status)
        );
    }
    o.push_str("</table>");
    for t in sorted.iter().filter(|t| t.status != "pass") {
        if let Some(s) = &t.sample {
            let _ = write!(
                o,
                "<h3>Failing rows of {} (first {})</h3>{}",
                esc(&t.name),
                s.rows.len(),
                table_html(s, "sample")
            );
        }
    }
    match &r.quarantine {
        Some(q) if !q.rows.is_empty() => {
            let _ = write!(
                o,
                "<h3>Quarantined rows (latest build, first {})</h3>{}",
                q.rows.len(),
                table_html(q, "quarantine")
            );
        }
        _ => o.push_str("<p class=\"muted\">No quarantined rows in the latest build.</p>"),
    }
    o.push_str("</section>");
    // Health history
    let idx = |f: fn(&HealthPoint) -> f64| -> Vec<(f64, f64)> {
        r.health
            .iter()
            .enumerate()
            .map(|(i, h)| ((i + 1) as f64, f(h)))
            .collect()
    };
    let _ = write!(
        o,
        "<section id=\"health\"><h2>Data health, last {} runs</h2><div class=\"charts\" id=\"chart-health\">{}{}{}</div></section>",
        r.health.len(),
        line_chart_svg(
            "chart-pass-rate",
            "pass rate (%)",
            &[("pass rate".into(), GREEN, idx(|h| h.pass_rate))],
            360.0,
            170.0
        ),
        line_chart_svg(
            "chart-rows-loaded",
            "rows loaded",
            &[("rows loaded".into(), BLUE, idx(|h| h.rows_loaded))],
            360.0,
            170.0
        ),
        line_chart_svg(
            "chart-rows-rejected",
            "rows rejected",
            &[("rows rejected".into(), RED, idx(|h| h.rows_rejected))],
            360.0,
            170.0
        ),
    );
    // Marts: the charts they declare.
    o.push_str("<section id=\"marts\"><h2>Published marts</h2>");
    if r.charts.is_empty() {
        o.push_str("<p class=\"muted\">No published mart declares a chart (meta.landfall.chart).</p>");
    } else {
        o.push_str("<div class=\"charts\">");
        for c in &r.charts {
            let svg = match &c.data {
                ChartData::Bars { names, rows } => bars_svg(&c.id, &c.title, names, rows),
                ChartData::Lines { series } => {
                    let lines: Vec<Series<'_>> = series
                        .iter()
                        .enumerate()
                        .map(|(i, (k, v))| (k.clone(), charts::PALETTE[i % charts::PALETTE.len()], v.clone()))
                        .collect();
                    line_chart_svg(&c.id, &c.title, &lines, 560.0, 300.0)
                }
                ChartData::Broken(why) => {
                    format!(
                        "<p class=\"err\" id=\"{}\">This chart cannot be drawn: {}</p>",
                        esc(&c.id),
                        esc(why)
                    )
                }
            };
            let _ = write!(o, "<div><h3>{}</h3>{svg}</div>", esc(&c.title));
        }
        o.push_str("</div>");
    }
    o.push_str("</section>");
    let _ = write!(
        o,
        "<p class=\"muted\">Generated {} by landfall.</p></main></body></html>",
        esc(&r.generated_at)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            run: RunInfo {
                run_id: "b1-x".into(),
                batch: "b1".into(),
                status: "failed".into(),
                failed_state: Some("RunQualityChecks".into()),
                error_name: Some("Landfall.QualityGate".into()),
                error_cause: Some("1 of 2 tests failed: row_count_drift <50 %>".into()),
                ..Default::default()
            },
            steps: vec![
                StepRow {
                    state: "LoadRaw".into(),
                    status: "succeeded".into(),
                    attempts: 1,
                    duration_ms: 40,
                    error_name: None,
                },
                StepRow {
                    state: "LoadRaw/LoadFile[credits]".into(),
                    status: "succeeded".into(),
                    attempts: 3,
                    duration_ms: 30,
                    error_name: None,
                },
                StepRow {
                    state: "RunQualityChecks".into(),
                    status: "failed".into(),
                    attempts: 1,
                    duration_ms: 20,
                    error_name: Some("Landfall.QualityGate".into()),
                },
            ],
            layers: vec!["sources".into(), "staging".into()],
            nodes: vec![
                LineageNode {
                    id: "source:raw.credits".into(),
                    label: "raw.credits".into(),
                    layer: 0,
                    tests: vec![("drift".into(), "fail".into())],
                },
                LineageNode {
                    id: "stg_credits".into(),
                    label: "stg_credits".into(),
                    layer: 1,
                    tests: vec![("nn".into(), "pass".into()), ("w".into(), "warn".into())],
                },
            ],
            edges: vec![("source:raw.credits".into(), "stg_credits".into())],
            tests: vec![TestRow {
                name: "drift".into(),
                model: "source:raw.credits".into(),
                severity: "error".into(),
                status: "fail".into(),
                failures: 1,
                sample: Some(Table {
                    columns: vec!["n".into()],
                    rows: vec![vec![Value::from(3)]],
                }),
            }],
            charts: vec![
                Chart {
                    id: "chart-genre_content_share".into(),
                    title: "Content share by genre".into(),
                    data: ChartData::Bars {
                        names: vec!["movies".into(), "shows".into()],
                        rows: vec![("drama".into(), vec![10.0, 5.0])],
                    },
                },
                Chart {
                    id: "chart-titles_by_release_year".into(),
                    title: "Titles per release year".into(),
                    data: ChartData::Lines {
                        series: [("MOVIE".to_string(), vec![(2000.0, 3.0), (2001.0, 5.0)])]
                            .into_iter()
                            .collect(),
                    },
                },
                Chart {
                    id: "chart-broken".into(),
                    title: "broken".into(),
                    data: ChartData::Broken("x: chart kind must be bars or lines, found '<pie>'".into()),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_what_it_shows() {
        let html = render(&sample());
        assert!(
            !html.contains("<script")
                && !html.contains("src=\"http")
                && !html.contains("@import")
                && !html.contains("url(")
        );
        assert!(html.contains("row_count_drift &lt;50 %&gt;"), "the cause is escaped");
        for id in [
            "id=\"timeline\"",
            "id=\"lineage\"",
            "id=\"chart-genre_content_share\"",
            "id=\"chart-titles_by_release_year\"",
            "id=\"chart-broken\"",
            "id=\"chart-pass-rate\"",
            "id=\"tests\"",
            "id=\"error\"",
        ] {
            assert!(html.contains(id), "{id} missing");
        }
        assert!(html.contains("nothing published"));
        assert!(
            html.contains(
                "This chart cannot be drawn: x: chart kind must be bars or lines, found &#39;&lt;pie&gt;&#39;"
            ) || html.contains("This chart cannot be drawn: x: chart kind must be bars or lines, found '&lt;pie&gt;'"),
            "a broken chart says why, escaped"
        );
    }

    #[test]
    fn failed_tests_are_red_and_warned_amber_in_the_lineage() {
        let r = sample();
        let svg = lineage_svg(&r.layers, &r.nodes, &r.edges);
        assert!(
            svg.contains(&format!(
                "class=\"test test-fail\" cx=\"32.0\" cy=\"73.0\" r=\"4\" fill=\"{RED}\""
            )),
            "{svg}"
        );
        assert!(
            svg.contains(&format!(
                "test test-warn\" cx=\"290.5\" cy=\"73.0\" r=\"4\" fill=\"{AMBER}\""
            )),
            "{svg}"
        );
        assert!(svg.contains("<path class=\"edge\""), "the edge is drawn");
    }

    #[test]
    fn the_load_states_sit_in_the_load_raw_map() {
        let p = branch_parents(landfall_core::definition::STATE_MACHINE);
        for s in ["LoadFile", "AwaitLoadFile", "PollLoadFile", "LoadedFile"] {
            assert_eq!(p.get(s).map(String::as_str), Some("LoadRaw"), "{s}");
        }
        assert!(!p.contains_key("BuildStaging"));
    }

    #[test]
    fn a_branch_state_starts_with_its_branch_and_shows_its_attempts() {
        let svg = timeline_svg(&sample().steps);
        // LoadRaw and LoadRaw/LoadFile[credits] share the start; RunQualityChecks starts after LoadRaw.
        let xs: Vec<&str> = svg
            .match_indices("<rect class=\"bar\" x=\"")
            .map(|(i, _)| &svg[i + 21..i + 26])
            .collect();
        assert_eq!(xs[0], xs[1]);
        assert_ne!(xs[0], xs[2]);
        assert!(svg.contains("3 attempts"));
        assert!(svg.contains(&format!("fill=\"{RED}\"><title>RunQualityChecks")));
    }
}
