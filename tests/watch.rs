//! `landfall watch` as a real process on a landing folder: files copied in run once per batch
//! version, a file written slowly is never read half-written, a duplicate copy does not run
//! again, a failed run does not stop the watch, a half-landed batch is alerted once, and
//! SIGINT stops it cleanly.

#[path = "support/mod.rs"]
mod support;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

struct Watching {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Watching {
    fn start(f: &Fixture) -> Watching {
        let mut child = f
            .cmd()
            .args(["watch", "--landing"])
            .arg(f.landing())
            .arg("--warehouse")
            .arg(f.warehouse())
            .arg("--alerts")
            .arg(f.alerts())
            .arg("--project")
            .arg(project_dir())
            .args([
                "--half-landed-after",
                "1s",
                "--settle",
                "1s",
                "--poll-interval",
                "100ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let s = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watching { child, stderr }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait until the watch's log has `text` `n` times.
    fn wait_for(&self, text: &str, n: usize) {
        let start = Instant::now();
        while self.log().matches(text).count() < n {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "no {n}× '{text}' in the watch's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_batch(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for f in ["titles.csv", "credits.csv"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
}

#[test]
fn watch_runs_each_batch_version_once_and_stops_cleanly() {
    let f = Fixture::new();
    let src = tempfile::tempdir().unwrap();
    let w = Watching::start(&f);
    w.wait_for("landfall watch: watching", 1);

    // A batch copied in: one run, published.
    let b1 = datasets::generated(&src.path().join("b1"), 200, 41);
    copy_batch(&b1.dir, &f.batch_dir("b1"));
    w.wait_for("batch b1: published", 1);
    assert_eq!(
        f.query("select count(*) from marts.title_popularity").scalar_i64() as u64,
        b1.titles
    );

    // The same files copied again (new modification times, same contents): no second run.
    copy_batch(&b1.dir, &f.batch_dir("b1"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.log().matches("batch b1 is complete").count(), 1, "{}", w.log());

    // A broken batch fails its run; the watch goes on.
    let b3 = datasets::generated(&src.path().join("b3"), 100, 43);
    let titles = std::fs::read_to_string(b3.titles_csv())
        .unwrap()
        .replacen("id,title,", "id,titel,", 1);
    std::fs::create_dir_all(f.batch_dir("b3")).unwrap();
    std::fs::write(f.batch_dir("b3").join("titles.csv"), titles).unwrap();
    std::fs::copy(b3.credits_csv(), f.batch_dir("b3").join("credits.csv")).unwrap();
    w.wait_for("batch b3: failed", 1);

    // A file written slowly, in chunks: read only once it stopped changing, and whole.
    // The same size as b1: the drift checks compare it with the published batch.
    let b2 = datasets::generated(&src.path().join("b2"), 200, 42);
    std::fs::create_dir_all(f.batch_dir("b2")).unwrap();
    std::fs::copy(b2.titles_csv(), f.batch_dir("b2").join("titles.csv")).unwrap();
    let credits = std::fs::read(b2.credits_csv()).unwrap();
    {
        use std::io::Write;
        let mut out = std::fs::File::create(f.batch_dir("b2").join("credits.csv")).unwrap();
        for chunk in credits.chunks(credits.len() / 6 + 1) {
            out.write_all(chunk).unwrap();
            out.flush().unwrap();
            // Well under --settle (1 s) between chunks, even on a busy machine.
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    w.wait_for("batch b2: published", 1);
    assert_eq!(
        f.query("select count(*) from raw.credits where _batch = 'b2'")
            .scalar_i64() as u64,
        b2.credits,
        "the whole file was loaded"
    );
    assert_eq!(w.log().matches("batch b2 is complete").count(), 1, "{}", w.log());

    // A re-upload with changed contents (5 % fewer credits): a new version, a second run. b1
    // is older than the published b2, so that run is superseded: b2's marts stay live.
    let credits = std::fs::read_to_string(b1.credits_csv()).unwrap();
    let lines: Vec<&str> = credits.lines().collect();
    let keep = lines.len() - lines.len() / 20;
    std::fs::write(f.batch_dir("b1").join("credits.csv"), lines[..keep].join("\n") + "\n").unwrap();
    w.wait_for("batch b1: superseded", 1);
    assert_eq!(w.log().matches("batch b1 is complete").count(), 2, "{}", w.log());
    assert_eq!(
        f.query("select count(*) from audit.publishes where active and batch = 'b2'")
            .scalar_i64(),
        1
    );

    // Only the titles of a batch: alerted once as half-landed, after its second.
    std::fs::create_dir_all(f.batch_dir("b4")).unwrap();
    std::fs::copy(b2.titles_csv(), f.batch_dir("b4").join("titles.csv")).unwrap();
    w.wait_for("batch b4 is half-landed", 1);
    std::thread::sleep(Duration::from_millis(1000));
    let half: Vec<_> = f
        .alerts_sent()
        .into_iter()
        .filter(|a| a["error"] == "Landfall.HalfLanded")
        .collect();
    assert_eq!(half.len(), 1, "{half:?}");
    assert_eq!(half[0]["batch"], "b4");
    assert!(
        half[0]["cause"].as_str().unwrap().contains("not credits.csv"),
        "{}",
        half[0]
    );

    // SIGINT: the watch stops by itself, cleanly, and the warehouse opens.
    let pid = w.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let mut w = w;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = w.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the watch did not stop:\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", w.log());
    w.wait_for("landfall watch: stopped", 1);
    assert_eq!(
        f.query("select count(*) from audit.runs").scalar_i64(),
        4,
        "four runs (b1, b3, b2, b1 again), nothing half-written"
    );
    assert_eq!(
        f.query("select count(*) from audit.runs where status = 'superseded'")
            .scalar_i64(),
        1
    );
}
