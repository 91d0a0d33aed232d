//! `landfall run` end to end: the JSON contract, exit codes, bad input of every kind, the
//! quality gate, reloads, a second batch, rollback and alerts (file and Slack over HTTP).

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use std::io::{Read, Write};
use support::*;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_generated_batch_publishes_and_the_json_summary_keeps_its_contract() {
    let f = Fixture::new();
    f.generate("b1", 300, 1);
    let o = f.run("b1");
    assert_ok(&o);
    let s = &o.summary;
    // stdout is exactly one JSON document
    assert_eq!(o.stdout.trim().lines().count(), 1, "{}", o.stdout);
    assert_eq!(s["batch"], "b1");
    assert_eq!(s["error"], Value::Null);
    assert_eq!(s["loaded"]["titles"], 300);
    let credits_rows = lines(&f.batch_dir("b1").join("credits.csv")).len() as i64 - 1;
    assert_eq!(s["loaded"]["credits"], credits_rows);
    // the generator writes the export's two junk credits
    assert_eq!(s["rejected"]["credits"], 2);
    assert_eq!(s["rejected"]["titles"], 0);
    assert_eq!(s["tests"]["failed"], 0);
    assert!(s["tests"]["passed"].as_u64().unwrap() >= 30);
    assert!(s["warnings"].as_array().unwrap().is_empty(), "{}", s["warnings"]);
    let steps: Vec<&str> = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for want in [
        "ValidateInput",
        "CheckFiles",
        "LoadFile[titles]",
        "LoadFile[credits]",
        "BuildStaging",
        "BuildIntermediate",
        "BuildMarts",
        "RunQualityChecks",
        "Publish",
    ] {
        assert!(steps.contains(&want), "{want} missing from {steps:?}");
    }
    for st in s["steps"].as_array().unwrap() {
        assert_eq!(st["status"], "succeeded");
        assert!(st["duration_ms"].is_u64());
    }
    // progress went to stderr
    assert!(o.stderr.contains("Publish"), "{}", o.stderr);
    // published marts answer the business questions
    assert_eq!(f.query("select count(*) from marts.title_popularity").scalar_i64(), 300);
    let top = f.query("select max(rank), count(distinct genre) from marts.top_actors_by_genre");
    assert_eq!(top.rows[0][0], 10);
    let health = f.query("select tests_failed, rows_loaded, rows_rejected, pass_rate from marts.data_health");
    assert_eq!(health.rows.len(), 1);
    assert_eq!(health.rows[0][0], 0);
    assert_eq!(health.rows[0][1], 300 + credits_rows);
    assert_eq!(health.rows[0][2], 2);
    assert_eq!(health.rows[0][3], 100.0);
    // quarantine says why
    let q = f.query("select reason, count(*) from build_staging.quarantine group by reason order by 1");
    assert_eq!(
        q.rows,
        vec![
            vec![Value::from("no title id"), Value::from(1)],
            vec![Value::from("unknown role"), Value::from(1)]
        ]
    );
    // no alert on success by default
    assert!(f.alerts_sent().is_empty());
}

/// Bad input of every kind: BadInput naming the file (and line or column), exit 1, an alert,
/// and neither the published marts nor the raw tables change.
#[test]
fn bad_input_is_refused_with_file_and_line_and_changes_nothing() {
    let f = Fixture::new();
    f.generate("good", 200, 2);
    assert_ok(&f.run("good"));
    let marts = f.marts_snapshot();
    let raw = f.raw_snapshot();

    type Breaker = Box<dyn Fn(&std::path::Path)>;
    let rewrite = |file: &'static str, edit: fn(Vec<String>) -> Vec<String>| -> Breaker {
        Box::new(move |dir: &std::path::Path| {
            let p = dir.join(file);
            let l = edit(lines(&p));
            std::fs::write(&p, l.join("\n") + "\n").unwrap();
        })
    };
    let cases: Vec<(&str, Breaker, Vec<&str>)> = vec![
        (
            "missing",
            Box::new(|d: &std::path::Path| std::fs::remove_file(d.join("credits.csv")).unwrap()),
            vec!["credits.csv", "missing"],
        ),
        (
            "empty",
            Box::new(|d: &std::path::Path| std::fs::write(d.join("titles.csv"), "").unwrap()),
            vec!["titles.csv", "empty"],
        ),
        (
            "header-only",
            rewrite("credits.csv", |l| l[..1].to_vec()),
            vec!["credits.csv", "header but no data rows"],
        ),
        (
            "renamed-column",
            rewrite("titles.csv", |mut l| {
                l[0] = l[0].replacen(",title,", ",titel,", 1);
                l
            }),
            vec!["titles.csv", "line 1", "'title'", "'titel'"],
        ),
        (
            "unterminated-quote",
            rewrite("credits.csv", |mut l| {
                l.insert(11, "7,tm10000,\"Open Quote,Somebody,ACTOR".into());
                l
            }),
            vec!["credits.csv", "line 12, column 11", "unterminated"],
        ),
        (
            "unterminated-quote-at-end",
            rewrite("credits.csv", |mut l| {
                l.push("7,tm10000,\"Open Quote,Somebody,ACTOR".into());
                l
            }),
            vec!["credits.csv", "never closed", "column 11"],
        ),
        (
            "field-count",
            rewrite("credits.csv", |mut l| {
                l.insert(20, "7,tm10000,Somebody,ACTOR".into());
                l
            }),
            vec!["credits.csv", "line 21", "expected 5 fields", "found 4"],
        ),
        (
            "bad-utf8",
            Box::new(|d: &std::path::Path| {
                let p = d.join("credits.csv");
                let mut bytes = std::fs::read(&p).unwrap();
                let line5 = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(3).unwrap().0 + 1;
                bytes.splice(line5..line5, b"8,tm10000,Caf\xe9 Noir,x,ACTOR\n".iter().copied());
                std::fs::write(&p, bytes).unwrap();
            }),
            vec!["credits.csv", "line 5", "column 14", "UTF-8"],
        ),
    ];
    for (i, (name, breaker, expect)) in cases.iter().enumerate() {
        let batch = format!("bad-{name}");
        f.generate(&batch, 200, 2);
        breaker(&f.batch_dir(&batch));
        let o = f.run(&batch);
        let cause = assert_failed(&o, "Landfall.BadInput");
        for e in expect {
            assert!(cause.contains(e), "{name}: cause should mention {e:?}: {cause}");
        }
        let alerts = f.alerts_sent();
        assert_eq!(alerts.len(), i + 1, "{name}: one alert per failed run");
        let a = alerts.last().unwrap();
        assert_eq!(a["error"], "Landfall.BadInput");
        assert_eq!(a["batch"], batch.as_str());
        assert!(
            a["failed_state"].as_str().unwrap().starts_with("Check")
                || a["failed_state"].as_str().unwrap().starts_with("Load"),
            "{a}"
        );
        assert_eq!(f.marts_snapshot(), marts, "{name}: published marts changed");
        assert_eq!(f.raw_snapshot(), raw, "{name}: raw tables changed");
    }
}

#[test]
fn extra_columns_load_as_text_and_are_reported() {
    let f = Fixture::new();
    f.generate("x1", 150, 3);
    let p = f.batch_dir("x1").join("credits.csv");
    let l: Vec<String> = lines(&p)
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l + ",source_system" } else { l + ",crm" })
        .collect();
    std::fs::write(&p, l.join("\n") + "\n").unwrap();
    let o = f.run("x1");
    assert_ok(&o);
    let w = o.summary["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|x| x.as_str().unwrap().contains("'source_system'")),
        "{w:?}"
    );
    assert_eq!(
        f.query("select count(*) from raw.credits where source_system = 'crm'")
            .scalar_i64(),
        lines(&p).len() as i64 - 1
    );
}

/// The batch's files are the project's landing contract, not Rust: a project that lands credits
/// as `people.csv` (with an optional column) runs on such batches and refuses a batch with the
/// old name, naming the file it needs.
#[test]
fn the_landing_contract_is_the_projects() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let sources = project.join("models/staging/_sources.yml");
    let yml = std::fs::read_to_string(&sources).unwrap();
    let changed = yml.replace(
        "file: credits.csv",
        "file: people.csv\n              optional: [billing]",
    );
    assert_ne!(changed, yml);
    std::fs::write(&sources, changed).unwrap();

    let g = f.generated_batch("p1", 150, 5);
    let dir = f.batch_dir("p1");
    std::fs::rename(dir.join("credits.csv"), dir.join("people.csv")).unwrap();
    let o = f.run_project("p1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(
        o.summary["loaded"]["credits"].as_u64(),
        Some(g.credits),
        "{}",
        o.summary
    );
    let billing = f.query("select count(*) from raw.credits where _batch = 'p1' and billing is null");
    assert_eq!(billing.scalar_i64() as u64, g.credits);

    // A batch with the old name is missing the declared file.
    f.generated_batch("p2", 150, 6);
    let o = f.run_project("p2", &project, &[], &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let cause = o.summary["error"]["cause"].as_str().unwrap_or_default();
    assert!(
        cause.contains("people.csv: missing") && cause.contains("titles.csv, people.csv"),
        "{cause}"
    );
}

/// The records of an RFC 4180 file (`,` and `"`, quotes doubled).
fn read_rfc4180(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (_, '"') => quoted = !quoted,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (_, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Write `records` with `delimiter`, every field quoted in `"`, a quote inside escaped with
/// `escape` (itself too, when it is not the quote).
fn write_dialect(path: &std::path::Path, records: &[Vec<String>], delimiter: &str, escape: char) {
    let mut out = String::new();
    for r in records {
        let fields: Vec<String> = r
            .iter()
            .map(|f| {
                let mut v = f.clone();
                if escape != '"' {
                    v = v.replace(escape, &format!("{escape}{escape}"));
                }
                format!("\"{}\"", v.replace('"', &format!("{escape}\"")))
            })
            .collect();
        out += &fields.join(delimiter);
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// The same batch in other dialects, declared in the contract, publishes the same marts:
/// titles separated by semicolons with backslash escapes, credits by pipes without a header
/// (the contract's columns, in order). Read as the old dialect, the same files are refused.
#[test]
fn a_feed_in_declared_dialects_publishes_what_the_plain_files_publish() {
    let plain = Fixture::new();
    let g = plain.generated_batch("b1", 300, 9);
    let o = plain.run("b1");
    assert_ok(&o);
    let expected = business_marts(&plain);

    let f = Fixture::new();
    f.generate("b1", 300, 9);
    let project = f.dir.path().join("project");
    copy_project(&project);
    let sources = project.join("models/staging/_sources.yml");
    let yml = std::fs::read_to_string(&sources).unwrap();
    let default = r#"dialect: {delimiter: ",", quote: '"', escape: '"', header: true, encoding: utf-8}"#;
    let titles_at = yml.find(default).unwrap();
    let mut changed = yml.clone();
    changed.replace_range(
        titles_at..titles_at + default.len(),
        r#"dialect: {delimiter: ";", escape: "\\"}"#,
    );
    let changed = changed.replacen(default, r#"dialect: {delimiter: "|", header: false}"#, 1);
    assert!(!changed.contains(default), "both files' dialects changed");
    std::fs::write(&sources, &changed).unwrap();

    let dir = f.batch_dir("b1");
    let titles = read_rfc4180(&dir.join("titles.csv"));
    assert!(
        titles
            .iter()
            .any(|r| r.iter().any(|v| v.contains('"') || v.contains(','))),
        "the data has quotes and commas to escape"
    );
    write_dialect(&dir.join("titles.csv"), &titles, ";", '\\');
    let credits = read_rfc4180(&dir.join("credits.csv"));
    assert_eq!(credits[0], ["person_id", "id", "name", "character", "role"]);
    write_dialect(&dir.join("credits.csv"), &credits[1..], "|", '"');

    let o2 = f.run_project("b1", &project, &[], &[]);
    assert_ok(&o2);
    assert_eq!(o2.summary["loaded"], o.summary["loaded"], "{}", o2.summary);
    assert_eq!(o2.summary["loaded"]["credits"].as_u64(), Some(g.credits));
    assert_eq!(o2.summary["rejected"], o.summary["rejected"]);
    assert_eq!(business_marts(&f), expected, "the marts differ from the plain files'");

    // The plain project reads the same files as commas: refused before any load, naming why.
    let o3 = f.run("b1");
    let cause = assert_failed(&o3, "Landfall.BadInput");
    assert!(
        cause.contains("titles.csv line 1, column 5: expected a comma or the end of the line after the closing quote of column 1, found ';'"),
        "{cause}"
    );
    assert_eq!(business_marts(&f), expected, "the published marts are untouched");
}

/// A third declared file is one more item of the LoadRaw Map: the batch waits for it, loads it
/// beside the others (named for it in steps, metrics and faults), and a failure of its load
/// alone fails the run with nothing of the batch committed and the published marts untouched.
#[test]
fn a_third_declared_file_loads_in_the_map_and_its_failure_commits_nothing() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let sources = project.join("models/staging/_sources.yml");
    let yml = std::fs::read_to_string(&sources).unwrap();
    let ratings = "      - name: ratings\n        config:\n          meta:\n            landfall:\n              file: ratings.csv\n              required: [id, stars]\n              dialect: {delimiter: \";\"}\n  - name: audit\n";
    let changed = yml.replacen("  - name: audit\n", ratings, 1);
    assert_ne!(changed, yml);
    std::fs::write(&sources, changed).unwrap();

    f.generate("b1", 150, 3);
    // Without its third file the batch is incomplete.
    let o = f.run_project("b1", &project, &[], &[]);
    let cause = assert_failed(&o, "Landfall.BadInput");
    assert!(
        cause.contains("ratings.csv: missing") && cause.contains("titles.csv, credits.csv, ratings.csv"),
        "{cause}"
    );
    std::fs::write(f.batch_dir("b1").join("ratings.csv"), "id;stars\ntm1;4\ntm2;\"3;5\"\n").unwrap();
    let o = f.run_project("b1", &project, &[], &[]);
    assert_ok(&o);
    assert_eq!(o.summary["loaded"]["ratings"], 2, "{}", o.summary["loaded"]);
    let names = step_names(&o);
    for file in ["titles", "credits", "ratings"] {
        assert!(names.contains(&format!("LoadFile[{file}]")), "{names:?}");
    }
    let m = o.summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "LoadFile[ratings]")
        .unwrap();
    assert_eq!(m["metrics"]["RowsLoaded"], 2.0);
    assert_eq!(
        f.query("select stars from raw.ratings where id = 'tm2'").rows[0][0],
        "3;5"
    );
    let marts = f.marts_snapshot();

    // The next batch's ratings fail to load, every attempt: the run fails at that file.
    f.generate("b2", 160, 4);
    std::fs::write(f.batch_dir("b2").join("ratings.csv"), "id;stars\ntm9;1\n").unwrap();
    let o = f.run_project("b2", &project, &[], &[("LANDFALL_FAULTS", "LoadFile[ratings]:9")]);
    let cause = assert_failed(&o, "Landfall.Transient");
    assert!(cause.contains("LoadFile[ratings]"), "{cause}");
    assert_eq!(o.summary["failed_state"], "LoadFile[ratings]");
    let titles = o.summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "LoadFile[titles]")
        .unwrap();
    assert_eq!(titles["status"], "succeeded", "the other files loaded");
    for t in ["titles", "credits", "ratings"] {
        let n = f
            .query(&format!("select count(*) from raw.{t} where _batch = 'b2'"))
            .scalar_i64();
        assert_eq!(n, 0, "raw.{t} holds none of the failed batch");
    }
    assert_eq!(f.marts_snapshot(), marts, "the published marts are untouched");
}

/// Rewrite a CSV as Excel's "CSV UTF-8" saves it: a byte-order mark, every header name quoted,
/// CRLF after each record (line breaks inside quoted fields stay as they were).
fn save_as_excel(path: &std::path::Path, bom: bool) {
    let text = std::fs::read_to_string(path).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    let mut out = String::from(if bom { "\u{feff}" } else { "" });
    out += &header
        .split(',')
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(",");
    out += "\r\n";
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '\n' if !quoted => out += "\r\n",
            _ => out.push(c),
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The business marts (not data_health, which names the run).
fn business_marts(f: &Fixture) -> Vec<landfall_core::warehouse::Table> {
    MARTS[..4]
        .iter()
        .map(|m| f.query(&format!("select * from marts.{m} order by all")))
        .collect()
}

#[test]
fn files_saved_by_excel_load_like_the_plain_files() {
    let plain = Fixture::new();
    plain.generate("b1", 300, 9);
    let o = plain.run("b1");
    assert_ok(&o);
    let expected = business_marts(&plain);
    for bom in [true, false] {
        let f = Fixture::new();
        f.generate("b1", 300, 9);
        for file in ["titles.csv", "credits.csv"] {
            save_as_excel(&f.batch_dir("b1").join(file), bom);
        }
        let first = std::fs::read(f.batch_dir("b1").join("titles.csv")).unwrap();
        assert_eq!(first.starts_with(b"\xef\xbb\xbf\"id\",\"title\""), bom);
        let e = f.run("b1");
        assert_ok(&e);
        assert_eq!(e.summary["loaded"], o.summary["loaded"], "bom {bom}");
        assert_eq!(e.summary["rejected"], o.summary["rejected"], "bom {bom}");
        assert!(
            e.summary["warnings"].as_array().unwrap().is_empty(),
            "{}",
            e.summary["warnings"]
        );
        assert_eq!(
            business_marts(&f),
            expected,
            "bom {bom}: the marts differ from the plain files'"
        );
        // No column name carries the mark or the quotes, no value a stray carriage return.
        let cols = f.query(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = 'titles'",
        );
        assert!(cols.rows.iter().any(|r| r[0] == "id"), "{:?}", cols.rows);
        assert_eq!(
            f.query("select (select count(*) from raw.credits where role like '%\r%') + (select count(*) from raw.titles where tmdb_score like '%\r%')").scalar_i64(),
            0
        );
    }
}

#[test]
fn a_duplicated_title_id_fails_the_gate_and_publishes_nothing() {
    let f = Fixture::new();
    f.generate("ok", 200, 4);
    assert_ok(&f.run("ok"));
    let marts = f.marts_snapshot();
    f.generate("dup", 200, 5);
    let p = f.batch_dir("dup").join("titles.csv");
    let mut text = std::fs::read_to_string(&p).unwrap();
    // the first data record again, at the end (it has no embedded newline in this seed's first row)
    let first = text.lines().nth(1).unwrap().to_string();
    text.push_str(&first);
    text.push('\n');
    std::fs::write(&p, text).unwrap();
    let o = f.run("dup");
    let cause = assert_failed(&o, "Landfall.QualityGate");
    assert!(cause.contains("unique_stg_titles_title_id"), "{cause}");
    assert!(o.summary["tests"]["failed"].as_u64().unwrap() >= 1);
    let failing = o.summary["failing_tests"].as_array().unwrap();
    assert!(
        failing
            .iter()
            .any(|t| t["name"] == "unique_stg_titles_title_id" && t["failures"] == 1),
        "{failing:?}"
    );
    assert_eq!(
        f.marts_snapshot(),
        marts,
        "a failed gate must leave the published marts as they were"
    );
    let a = f.alerts_sent();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["error"], "Landfall.QualityGate");
    assert_eq!(a[0]["failed_state"], "RunQualityChecks");
    assert!(
        a[0]["failing_tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "unique_stg_titles_title_id")
    );
}

/// The reject gate is per file, declared next to its contract: credits tolerating no rejected
/// row fail the gate on the batch's two junk credits, naming that file's test; titles (none
/// rejected) pass theirs; nothing is published.
#[test]
fn each_file_declares_the_share_of_rejected_rows_it_tolerates() {
    let f = Fixture::new();
    let project = f.dir.path().join("project");
    copy_project(&project);
    let sources = project.join("models/staging/_sources.yml");
    let yml = std::fs::read_to_string(&sources).unwrap();
    let gate = "- rejected_share:\n              arguments: {max_pct: 1}";
    let at = yml.rfind(gate).expect("the credits gate");
    let mut changed = yml.clone();
    changed.replace_range(
        at..at + gate.len(),
        "- rejected_share:\n              arguments: {max_pct: 0}",
    );
    std::fs::write(&sources, changed).unwrap();
    f.generate("b1", 200, 4);
    let o = f.run_project("b1", &project, &[], &[]);
    let cause = assert_failed(&o, "Landfall.QualityGate");
    assert!(cause.contains("rejected_share_source_raw_credits"), "{cause}");
    assert_eq!(o.summary["rejected"]["credits"], 2);
    let failing = failing_test_names(&o);
    assert_eq!(
        failing.iter().filter(|n| n.contains("rejected_share")).count(),
        1,
        "{failing:?}"
    );
    // The flagship project tolerates 1 % per file: the same batch passes both gates.
    assert_ok(&f.run("b1"));
}

#[test]
fn reload_replaces_a_second_batch_follows_and_rollback_restores() {
    let f = Fixture::new();
    f.generate("b1", 250, 6);
    assert_ok(&f.run("b1"));
    let b1 = f.marts_snapshot();
    let raw_b1 = f
        .query("select count(*) from raw.credits where _batch = 'b1'")
        .scalar_i64();
    // reload of the same batch: no duplicates anywhere
    assert_ok(&f.run("b1"));
    assert_eq!(
        f.query("select count(*) from raw.credits where _batch = 'b1'")
            .scalar_i64(),
        raw_b1
    );
    assert_eq!(f.query("select count(*) from raw.titles").scalar_i64(), 250);
    let after_reload = f.marts_snapshot();
    assert_eq!(after_reload[..4], b1[..4], "business marts are the same after a reload");
    // a second batch: the marts follow it, raw keeps both
    f.generate("b2", 180, 7);
    assert_ok(&f.run("b2"));
    assert_eq!(f.query("select count(*) from marts.title_popularity").scalar_i64(), 180);
    assert_eq!(f.query("select count(distinct _batch) from raw.titles").scalar_i64(), 2);
    assert_eq!(f.query("select count(*) from marts.data_health").scalar_i64(), 3);
    // rollback: the previous publish (b1's reload) is back
    let out = f
        .cmd()
        .args(["rollback", "--json", "--warehouse"])
        .arg(f.warehouse())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["batch"], "b1");
    assert_eq!(f.marts_snapshot(), after_reload);
}

/// `landfall run` of a batch older than the published one: superseded (exit 3, one JSON
/// document that says why, a notice), the marts untouched; `--force-publish` publishes it.
#[test]
fn an_older_batch_is_superseded_with_exit_3_unless_forced() {
    let f = Fixture::new();
    f.generate("2026-11-26", 200, 8);
    assert_ok(&f.run("2026-11-26"));
    let live = f.marts_snapshot();
    f.generate("2026-11-25", 190, 9);
    let o = f.run("2026-11-25");
    assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.summary["status"], "superseded", "{}", o.stdout);
    assert_eq!(o.summary["published"], false);
    assert!(o.summary["error"].is_null(), "{}", o.stdout);
    let why = o.summary["superseded"].as_str().unwrap();
    assert!(why.contains("'2026-11-26'") && why.contains("force_publish"), "{why}");
    assert_eq!(f.marts_snapshot(), live, "the newer batch's marts stay");
    let notices: Vec<Value> = f
        .alerts_sent()
        .into_iter()
        .filter(|a| a["status"] == "superseded")
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        f.alerts_sent().iter().all(|a| a["status"] != "failed"),
        "no failure alert"
    );

    let o = f.run_with("2026-11-25", &["--force-publish"], &[]);
    assert_ok(&o);
    assert_eq!(f.query("select count(*) from marts.title_popularity").scalar_i64(), 190);
}

#[test]
fn exit_code_2_for_usage_and_configuration_errors() {
    let f = Fixture::new();
    let o = f.cmd().args(["run", "--landing", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "missing --batch");
    let o = f
        .cmd()
        .args(["run", "--landing", "nowhere", "--batch", "b", "--project"])
        .arg(project_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nowhere"));
    let o = f
        .cmd()
        .args(["run", "--landing", ".", "--batch", "b", "--project", "no-such-project"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dbt_project.yml"));

    // With --json, exactly one JSON document on stdout on these paths too.
    let one_doc = |args: &[&str], says: &str| {
        let o = f.cmd().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        let mut docs = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
        let doc = docs
            .next()
            .unwrap_or_else(|| panic!("{args:?}: no JSON on stdout"))
            .unwrap();
        assert!(docs.next().is_none(), "{args:?}: one document only: {stdout}");
        assert_eq!(doc["status"], "error", "{doc}");
        assert_eq!(doc["error"]["name"], "Landfall.Config", "{doc}");
        assert_eq!(doc["published"], false);
        assert!(
            doc["error"]["cause"].as_str().unwrap().contains(says),
            "{args:?}: {doc}"
        );
    };
    one_doc(&["run", "--json", "--landing", "x"], "--batch");
    one_doc(
        &[
            "run",
            "--json",
            "--landing",
            ".",
            "--batch",
            "b",
            "--project",
            "no-such-project",
        ],
        "dbt_project.yml",
    );
    one_doc(&["run", "--json", "--landing", "nowhere", "--batch", "b"], "nowhere");
}

#[test]
fn an_invalid_batch_id_is_bad_input() {
    let f = Fixture::new();
    let o = f.run("../etc");
    let cause = assert_failed(&o, "Landfall.BadInput");
    assert!(cause.contains("not a valid batch id"), "{cause}");
}

/// A one-shot HTTP server on 127.0.0.1 that answers `status` and hands back the request body.
fn webhook_server(statuses: Vec<u16>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T000/B000/SECRETWEBHOOKTOKEN",
        listener.local_addr().unwrap()
    );
    let h = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for status in statuses {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let body = loop {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(p) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= p + 4 + len {
                        break text[p + 4..].to_string();
                    }
                }
                if n == 0 {
                    break String::new();
                }
            };
            bodies.push(body);
            let extra = if status == 429 { "Retry-After: 0\r\n" } else { "" };
            write!(
                s,
                "HTTP/1.1 {status} X\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok"
            )
            .unwrap();
        }
        bodies
    });
    (url, h)
}

#[test]
fn failure_alerts_reach_slack_over_http_with_retry_and_without_the_secret() {
    let f = Fixture::new();
    f.generate("s1", 100, 8);
    std::fs::remove_file(f.batch_dir("s1").join("titles.csv")).unwrap();
    // first answer 429 (retried after Retry-After), then 200
    let (url, server) = webhook_server(vec![429, 200]);
    let o = f.run_with("s1", &[], &[("LANDFALL_SLACK_WEBHOOK_URL", url.as_str())]);
    assert_failed(&o, "Landfall.BadInput");
    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 2, "one retry after 429");
    let payload: Value = serde_json::from_str(&bodies[1]).unwrap();
    let text = payload.to_string();
    assert!(
        text.contains("Landfall.BadInput") && text.contains("s1") && text.contains("titles.csv"),
        "{text}"
    );
    assert!(payload["blocks"].as_array().unwrap().len() >= 2);
    assert!(payload["text"].as_str().unwrap().chars().count() <= 100);
    for place in [
        o.stdout.as_str(),
        o.stderr.as_str(),
        &std::fs::read_to_string(f.alerts()).unwrap(),
    ] {
        assert!(
            !place.contains("SECRETWEBHOOKTOKEN"),
            "the webhook secret leaked: {place}"
        );
    }
    assert_eq!(f.alerts_sent().len(), 1);
}

#[test]
fn demo_generates_a_batch_and_publishes_it() {
    let f = Fixture::new();
    let out = f
        .cmd()
        .args(["demo", "--dir", "d", "--titles", "120", "--project"])
        .arg(project_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("published: yes") && stdout.contains("titles 120"),
        "{stdout}"
    );
    let t = query_file(
        &f.dir.path().join("d/landfall.duckdb"),
        "select count(*) from marts.title_popularity",
    );
    assert_eq!(t.scalar_i64(), 120);
}

fn steps(o: &Outcome) -> Vec<Value> {
    o.summary["steps"].as_array().unwrap().clone()
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {steps:?}"))
}

#[test]
fn the_run_walks_every_state_of_the_state_machine_in_order() {
    let f = Fixture::new();
    f.generate("w1", 120, 9);
    let o = f.run("w1");
    assert_ok(&o);
    let names: Vec<String> = steps(&o)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("{n} not in {names:?}"))
    };
    let order = [
        "ValidateInput",
        "CheckFiles",
        "LoadRaw",
        "BuildStaging",
        "BuildIntermediate",
        "BuildMarts",
        "RunQualityChecks",
        "Publish",
        "NotifySuccess",
        "Succeeded",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{} should come before {}: {names:?}", w[0], w[1]);
    }
    assert!(pos("LoadRaw") < pos("LoadFile[titles]") && pos("LoadFile[titles]") < pos("BuildStaging"));
    assert!(pos("LoadRaw") < pos("LoadFile[credits]") && pos("LoadFile[credits]") < pos("BuildStaging"));
    assert!(!names.iter().any(|n| n == "NotifyFailure" || n == "Failed"));
    for s in steps(&o) {
        assert_eq!(s["attempts"], 1, "{s}");
        assert_eq!(s["status"], "succeeded", "{s}");
    }
}

#[test]
fn a_transient_fault_is_retried_with_backoff_and_still_publishes() {
    let f = Fixture::new();
    f.generate("t1", 120, 10);
    let started = std::time::Instant::now();
    let o = f.run_with("t1", &[], &[("LANDFALL_FAULTS", "LoadFile[credits]:2")]);
    assert_ok(&o);
    // the ASL's 5-minute backoff is reported, not waited
    assert!(started.elapsed().as_secs() < 60);
    let s = steps(&o);
    let lc = step(&s, "LoadFile[credits]");
    assert_eq!(lc["attempts"], 3);
    assert_eq!(lc["status"], "succeeded");
    let delays: Vec<u64> = lc["retry_delays_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(delays.len(), 2);
    // IntervalSeconds 300, BackoffRate 2, full jitter: each delay within [0, 300 s · 2^n]
    assert!(delays[0] <= 300_000 && delays[1] <= 600_000, "{delays:?}");
    assert_eq!(step(&s, "LoadFile[titles]")["attempts"], 1);
    // The summary's metrics are the numbers the Lambdas publish as EMF, per Task state.
    let metrics = o.summary["metrics"].as_array().unwrap();
    let m = |state: &str| {
        metrics
            .iter()
            .find(|m| m["state"] == state)
            .unwrap_or_else(|| panic!("no metrics for {state}: {metrics:?}"))["metrics"]
            .clone()
    };
    assert_eq!(m("LoadFile[credits]")["Retries"], 2.0);
    assert_eq!(
        m("LoadFile[credits]")["RowsLoaded"].as_f64(),
        o.summary["loaded"]["credits"].as_f64()
    );
    assert_eq!(m("LoadFile[titles]")["Retries"], 0.0);
    assert_eq!(
        m("RunQualityChecks")["TestsPassed"].as_f64(),
        o.summary["tests"]["passed"].as_f64()
    );
    assert_eq!(m("RunQualityChecks")["TestsFailed"], 0.0);
    assert_eq!(m("Publish")["Failed"], 0.0);
    assert!(
        o.stderr.contains("LoadFile[credits]") && o.stderr.contains("attempt 3"),
        "{}",
        o.stderr
    );
    assert!(f.alerts_sent().is_empty());
}

#[test]
fn exhausted_retries_go_to_notify_failure_and_publish_nothing() {
    let f = Fixture::new();
    f.generate("g1", 120, 11);
    assert_ok(&f.run("g1"));
    let marts = f.marts_snapshot();
    f.generate("g2", 130, 12);
    let o = f.run_with("g2", &[], &[("LANDFALL_FAULTS", "BuildMarts:99")]);
    let cause = assert_failed(&o, "Landfall.Transient");
    assert!(cause.contains("BuildMarts"), "{cause}");
    assert_eq!(o.summary["failed_state"], "BuildMarts");
    let s = steps(&o);
    let bm = step(&s, "BuildMarts");
    // one try and MaxAttempts (3) retries
    assert_eq!(bm["attempts"], 4);
    assert_eq!(bm["retry_delays_ms"].as_array().unwrap().len(), 3);
    assert_eq!(step(&s, "NotifyFailure")["status"], "succeeded");
    assert_eq!(step(&s, "Failed")["status"], "failed");
    assert!(!s.iter().any(|x| x["name"] == "Publish"));
    let a = f.alerts_sent();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["failed_state"], "BuildMarts");
    assert_eq!(a[0]["error"], "Landfall.Transient");
    assert_eq!(f.marts_snapshot(), marts, "the published marts are unchanged");
}

#[test]
fn a_malformed_fault_spec_is_a_usage_error() {
    let f = Fixture::new();
    f.generate("m1", 50, 1);
    let o = f.run_with("m1", &[], &[("LANDFALL_FAULTS", "LoadFile[credits]")]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("State:N"), "{}", o.stderr);
}

/// The mart's fast formulation gives exactly what the plain definition gives, ties included.
#[test]
fn top_actors_by_genre_matches_the_plain_definition() {
    let f = Fixture::new();
    f.generate("ta", 600, 13);
    // --keep-build: the models as built stay in the file after a successful run
    assert_ok(&f.run_with("ta", &["--keep-build"], &[]));
    let plain = f.query(
        "with perf as (
             select g.genre, c.person_id, count(distinct c.title_id) as performances
             from build_staging.stg_credits c join build_intermediate.int_title_genres g on g.title_id = c.title_id
             where c.role = 'ACTOR' group by 1, 2),
         names as (select person_id, min(person_name) as actor_name from build_staging.stg_credits where role = 'ACTOR' group by 1)
         select p.genre, p.person_id, n.actor_name, p.performances,
                row_number() over (partition by p.genre order by p.performances desc, n.actor_name, p.person_id) as rank
         from perf p join names n on n.person_id = p.person_id
         qualify rank <= 10 order by all",
    );
    let mart = f.query("select * from marts.top_actors_by_genre order by all");
    assert_eq!(plain.rows.len(), 190);
    assert_eq!(mart.rows, plain.rows);
}

#[test]
fn a_batch_with_60_percent_fewer_credits_fails_the_gate_on_drift() {
    let f = Fixture::new();
    f.generate("d1", 300, 21);
    assert_ok(&f.run("d1"));
    let marts = f.marts_snapshot();
    // same titles, 60 % of the credit rows dropped
    f.generate("d2", 300, 21);
    let keep = keep_tenths(&f.batch_dir("d2").join("credits.csv"), 4);
    let o = f.run("d2");
    let cause = assert_failed(&o, "Landfall.QualityGate");
    assert!(cause.contains("row_count_drift_source_raw_credits__50"), "{cause}");
    assert!(!cause.contains("raw_titles__50"), "titles did not drift: {cause}");
    assert!(
        o.summary["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("row_count_drift_source_raw_credits__20"))
    );
    assert_eq!(f.marts_snapshot(), marts, "nothing published");
    // the failed run's builds are kept in the file to inspect: every credit row of d2 is in
    // staging or in the quarantine, and the marts as built are there too
    let staged = f.query("select count(*) from build_staging.stg_credits").scalar_i64();
    let rejected = f
        .query("select count(*) from build_staging.quarantine where source = 'credits'")
        .scalar_i64();
    assert_eq!((staged + rejected) as usize, keep);
    assert!(
        f.query("select count(*) from build_marts.top_actors_by_genre")
            .scalar_i64()
            > 0
    );
    // a batch within ±20 % passes without drift warnings
    f.generate("d3", 280, 22);
    let o = f.run("d3");
    assert_ok(&o);
    assert!(
        !o.summary["warnings"].to_string().contains("row_count_drift"),
        "{}",
        o.summary["warnings"]
    );
    // a successful run keeps only its quarantine; the failed run's builds are gone, not stale
    let kept = f.query(
        "select schema_name || '.' || table_name from duckdb_tables() \
         where database_name = current_database() and schema_name like 'build%' order by 1",
    );
    assert_eq!(kept.rows, vec![vec![serde_json::json!("build_staging.quarantine")]]);
}
