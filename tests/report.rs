//! The run report in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `make test`) renders the report of a passing run and of a run the drift check fails, takes
//! screenshots into `test-output/`, and measures that the lineage, the timeline and the charts
//! are laid out with a visible size — not only that a file exists.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn chromium() -> String {
    let bin = std::env::var("LANDFALL_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{bin} not found: `make test` installs Debian's chromium (or set LANDFALL_CHROMIUM)"
    );
    bin
}

/// Parts of the report every run's page draws with a visible size.
const ALWAYS_SHOWN: [&str; 7] = [
    "status",
    "timeline",
    "lineage",
    "tests",
    "chart-genre_content_share",
    "chart-titles_by_release_year",
    "chart-pass-rate",
];

fn browser(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap()
}

/// The size each element has once Chromium laid the page out.
fn measure(report: &Path) -> Value {
    let html = std::fs::read_to_string(report).unwrap();
    let probe = r##"<pre id="measure"></pre><script>
      const ids = ["status","timeline","lineage","tests","chart-genre_content_share","chart-titles_by_release_year","chart-pass-rate","chart-rows-loaded","chart-rows-rejected"];
      const out = {};
      for (const id of ids) { const e = document.getElementById(id); const r = e && e.getBoundingClientRect();
        out[id] = e ? {tag: e.tagName.toLowerCase(), w: r.width, h: r.height} : null; }
      const box = s => [...document.querySelectorAll(s)].filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length;
      out.nodes = box("#lineage g.node"); out.edges = box("#lineage path.edge");
      out.failed_dots = box("#lineage circle.test-fail"); out.warned_dots = box("#lineage circle.test-warn");
      out.passed_dots = box("#lineage circle.test-pass"); out.bars = box("#chart-genre_content_share rect.bar");
      out.year_lines = box("#chart-titles_by_release_year polyline");
      document.getElementById("measure").textContent = JSON.stringify(out);
    </script>"##;
    // A measuring copy: the report itself carries no script.
    let probe_file = report.with_extension("probe.html");
    std::fs::write(&probe_file, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let out = browser(
        &["--dump-dom", "--window-size=1400,3000"],
        &format!("file://{}", probe_file.display()),
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("<pre id=\"measure\">")
        .unwrap_or_else(|| panic!("no DOM from chromium: {}", String::from_utf8_lossy(&out.stderr)))
        + 18;
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end].replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn screenshot(report: &Path, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-output");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(name);
    let _ = std::fs::remove_file(&png);
    // Headless Chromium now and then exits without writing the file when the machine is busy
    // (seen once in a full `make test`); it gets three tries before the test says so.
    let mut out = None;
    for _ in 0..3 {
        out = Some(browser(
            &[&format!("--screenshot={}", png.display()), "--window-size=1400,2600"],
            &format!("file://{}", report.display()),
        ));
        if png.is_file() {
            break;
        }
    }
    assert!(
        png.is_file(),
        "no screenshot after 3 tries: {}",
        String::from_utf8_lossy(&out.expect("one try").stderr)
    );
    assert!(
        std::fs::metadata(&png).unwrap().len() > 20_000,
        "the screenshot is (nearly) blank"
    );
    png
}

fn visible(m: &Value, id: &str) {
    let e = &m[id];
    assert!(e.is_object(), "#{id} is missing: {m}");
    assert!(
        e["w"].as_f64().unwrap() > 50.0 && e["h"].as_f64().unwrap() > 20.0,
        "#{id} has no visible size: {e}"
    );
}

#[test]
fn the_report_of_a_passing_and_of_a_drifting_run_render_in_chromium() {
    let f = Fixture::new();
    f.generate("r1", 300, 31);
    let ok = f.run("r1");
    assert_ok(&ok);
    let report = PathBuf::from(ok.summary["report"].as_str().expect("the summary names the report"));
    assert!(
        report.starts_with(f.warehouse().parent().unwrap().join("reports/r1")),
        "{}",
        report.display()
    );
    let m = measure(&report);
    for id in ALWAYS_SHOWN.iter().chain(&["chart-rows-loaded"]) {
        visible(&m, id);
    }
    assert_eq!(m["lineage"]["tag"], "svg");
    assert!(
        m["nodes"].as_u64().unwrap() >= 12,
        "sources, staging, intermediate and marts: {m}"
    );
    assert!(m["edges"].as_u64().unwrap() >= 10, "{m}");
    assert!(m["passed_dots"].as_u64().unwrap() >= 30, "a dot per test: {m}");
    assert_eq!(m["failed_dots"], 0);
    assert!(m["bars"].as_u64().unwrap() >= 10, "genre bars: {m}");
    assert_eq!(m["year_lines"], 2, "MOVIE and SHOW: {m}");
    let png = screenshot(&report, "report-pass.png");
    eprintln!("screenshot: {}", png.display());

    // Same titles, 60 % of the credits gone: the drift check fails the gate.
    f.generate("r2", 300, 31);
    keep_tenths(&f.batch_dir("r2").join("credits.csv"), 4);
    let bad = f.run("r2");
    assert_failed(&bad, "Landfall.QualityGate");
    let report = PathBuf::from(bad.summary["report"].as_str().expect("a failed run has a report too"));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("row_count_drift_source_raw_credits__50"),
        "the report says why"
    );
    assert!(html.contains("nothing published"));
    assert!(html.contains("Landfall.QualityGate"));
    // The failing test's sample (the row counts it compared) is shown.
    assert!(html.contains("Failing rows of row_count_drift_source_raw_credits__50"));
    let m = measure(&report);
    for id in ALWAYS_SHOWN {
        visible(&m, id);
    }
    assert!(
        m["failed_dots"].as_u64().unwrap() >= 1,
        "the failed drift test is a red dot: {m}"
    );
    assert!(
        m["warned_dots"].as_u64().unwrap() >= 1,
        "the ±20 % drift warning is amber: {m}"
    );
    let png = screenshot(&report, "report-drift-fail.png");
    eprintln!("screenshot: {}", png.display());

    // The alert links the report.
    let alert = f.alerts_sent().pop().expect("an alert");
    assert_eq!(alert["report"].as_str().map(PathBuf::from), Some(report.clone()));

    // `landfall report` writes the same report for a stored run.
    let again = f.warehouse().parent().unwrap().join("again.html");
    let out = f
        .cmd()
        .args(["report", "--warehouse"])
        .arg(f.warehouse())
        .args(["--run", ok.summary["run_id"].as_str().unwrap(), "--out"])
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&again).unwrap();
    assert!(html.contains(ok.summary["run_id"].as_str().unwrap()) && html.contains(">succeeded<"));
    let out = f
        .cmd()
        .args(["report", "--warehouse"])
        .arg(f.warehouse())
        .args(["--run", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 'nope'"));
}
