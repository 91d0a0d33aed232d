//! Progress on stderr: a spinner per step on a terminal, plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use landfall_core::pipeline::{Observer, RunSummary, StepRecord};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

pub struct Progress {
    tty: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }
    pub fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn step_started(&self, name: &str, attempt: u32) {
        if self.tty {
            let mut bar = self.bar.lock().unwrap();
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new_spinner();
                b.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap());
                b.enable_steady_tick(Duration::from_millis(80));
                b
            });
            b.set_message(if attempt > 1 {
                format!("{name} (attempt {attempt})")
            } else {
                name.to_string()
            });
        }
    }
    fn step_finished(&self, s: &StepRecord) {
        let mark = if s.status == "succeeded" { "ok" } else { "FAILED" };
        let attempt = if s.attempts > 1 {
            format!(" (attempt {})", s.attempts)
        } else {
            String::new()
        };
        let line = format!("[landfall] {:<18} {:>6} ms  {mark}{attempt}", s.name, s.duration_ms);
        match &*self.bar.lock().unwrap() {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }
}

pub fn print_summary(s: &RunSummary) {
    println!(
        "batch {} — {} (run {}, {} ms)",
        s.batch, s.status, s.run_id, s.duration_ms
    );
    if let Some(why) = &s.superseded {
        println!("  not published: {why}");
    }
    if let Some(e) = &s.error {
        println!(
            "  error: {} in {}: {}",
            e.name,
            s.failed_state.as_deref().unwrap_or("?"),
            e.cause
        );
    }
    let loaded: Vec<String> = s.loaded.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let rejected: Vec<String> = s.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "  loaded: {}",
        if loaded.is_empty() {
            "-".into()
        } else {
            loaded.join(", ")
        }
    );
    println!(
        "  rejected: {}",
        if rejected.is_empty() {
            "-".into()
        } else {
            rejected.join(", ")
        }
    );
    println!(
        "  tests: {} passed, {} failed, {} warned",
        s.tests.passed, s.tests.failed, s.tests.warned
    );
    for t in &s.failing_tests {
        println!("    failing: {} ({} rows)", t.name, t.failures);
    }
    println!(
        "  published: {}",
        if s.published {
            "yes"
        } else {
            "no (the previously published marts are unchanged)"
        }
    );
    for st in s.steps.iter().filter(|st| st.attempts > 1) {
        let waits: Vec<String> = st
            .retry_delays_ms
            .iter()
            .map(|d| format!("{:.1} s", *d as f64 / 1000.0))
            .collect();
        println!(
            "  retried: {} took {} attempts (backoff {})",
            st.name,
            st.attempts,
            waits.join(", ")
        );
    }
    for w in &s.warnings {
        println!("  warning: {w}");
    }
    if let Some(r) = &s.report {
        println!("  report: {r}");
    }
}
