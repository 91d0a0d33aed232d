//! `landfall watch`: the landing folder as an event source, the way the trigger treats the
//! bucket. A batch runs when every declared file is there and has stopped changing (a file
//! still being written is never read); a batch version runs once — versions are the MD5s of
//! the files' contents, like S3's ETags, so a duplicate copy does not run again and a changed
//! file does; a half-landed batch past its age is alerted once. Each run is `landfall run` in a
//! child process (its own process group, so Ctrl-C stops the watch after the run in progress
//! finishes, never in the middle of one); a failed run is reported and the watch goes on.
//! Filesystem notifications wake the scan; a periodic scan is the fallback and the authority.

use landfall_core::alerts::Alerts;
use landfall_core::contract::Contract;
use landfall_core::lateness::{self, Finding, Landed, Thresholds};
use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

pub struct WatchOptions {
    /// The files a batch has (the project's landing contract).
    pub contract: Contract,
    pub landing: PathBuf,
    /// Arguments every `landfall run` gets besides `--landing` and `--batch`.
    pub run_args: Vec<String>,
    pub half_landed_after: Duration,
    /// A file must be unchanged this long before it is read.
    pub settle: Duration,
    pub poll: Duration,
}

/// A file's size and modification time: when it changes, the file is still being written.
type Signature = (u64, SystemTime);

fn signature(p: &Path) -> Option<Signature> {
    let m = std::fs::metadata(p).ok()?;
    m.is_file()
        .then(|| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
}

fn md5_of(p: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A batch folder's declared files that exist (by object name), with their signatures.
fn batch_files(contract: &Contract, dir: &Path) -> BTreeMap<String, Signature> {
    contract
        .files
        .iter()
        .filter_map(|f| signature(&dir.join(&f.file)).map(|s| (f.file.clone(), s)))
        .collect()
}

/// Every batch folder's declared files, with their signatures.
fn scan(contract: &Contract, landing: &Path) -> BTreeMap<String, BTreeMap<String, Signature>> {
    let mut out = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(landing) else {
        return out;
    };
    for d in dirs.flatten() {
        let batch = d.file_name().to_string_lossy().into_owned();
        if !d.path().is_dir() || landfall_core::handlers::validate_batch(&batch).is_err() {
            continue;
        }
        let files = batch_files(contract, &d.path());
        if !files.is_empty() {
            out.insert(batch, files);
        }
    }
    out
}

/// Watch until `stop` is set. Returns the number of runs that failed.
pub fn watch(opts: &WatchOptions, alerts: &dyn Alerts, environment: &str, stop: Arc<AtomicBool>) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Notifications only wake the loop early; without them (an unsupported filesystem) the
    // periodic scan does the same work.
    let (tx, rx) = std::sync::mpsc::channel();
    let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .and_then(|mut w| {
        use notify::Watcher;
        w.watch(&opts.landing, notify::RecursiveMode::Recursive).map(|_| w)
    });
    match &watcher {
        Ok(_) => eprintln!("landfall watch: watching {} (Ctrl-C stops)", opts.landing.display()),
        Err(e) => eprintln!(
            "landfall watch: watching {} by polling every {:?} (no filesystem notifications: {e})",
            opts.landing.display(),
            opts.poll
        ),
    }
    let thresholds = Thresholds {
        half_landed_after: opts.half_landed_after,
        // Lateness of a feed is the scheduled cloud check's job; locally only half-landed.
        no_batch_within: Duration::MAX,
    };
    let mut last: BTreeMap<String, BTreeMap<String, Signature>> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut alerted: BTreeSet<String> = BTreeSet::new();
    let mut failures = 0;
    while !stop.load(Ordering::SeqCst) {
        let _ = rx.recv_timeout(opts.poll);
        while rx.try_recv().is_ok() {}
        let now = SystemTime::now();
        let current = scan(&opts.contract, &opts.landing);
        for (batch, files) in &current {
            let complete = files.len() == opts.contract.files.len();
            let stable = last.get(batch) == Some(files)
                && files
                    .values()
                    .all(|(_, m)| now.duration_since(*m).unwrap_or_default() >= opts.settle);
            if !(complete && stable) {
                continue;
            }
            let dir = opts.landing.join(batch);
            let sums: std::io::Result<Vec<String>> =
                opts.contract.files.iter().map(|f| md5_of(&dir.join(&f.file))).collect();
            let Ok(sums) = sums else { continue };
            // A write that began while hashing: the sums are of a file in flux; next scan.
            if &batch_files(&opts.contract, &dir) != files {
                continue;
            }
            let version =
                landfall_core::trigger::execution_name(batch, &sums.iter().map(String::as_str).collect::<Vec<_>>());
            if !done.insert(version.clone()) {
                continue;
            }
            eprintln!("landfall watch: batch {batch} is complete ({version}): running");
            match run(opts, batch) {
                Ok(0) => eprintln!("landfall watch: batch {batch}: published"),
                Ok(crate::EXIT_SUPERSEDED) => {
                    eprintln!(
                        "landfall watch: batch {batch}: superseded (a newer batch is published; the notice says which)"
                    )
                }
                Ok(code) => {
                    failures += 1;
                    eprintln!("landfall watch: batch {batch}: failed (exit {code}; the alert names why); watching on");
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("landfall watch: batch {batch}: could not run: {e}");
                }
            }
        }
        // Half-landed batches past their age, alerted once each.
        let objects: Vec<Landed> = current
            .iter()
            .flat_map(|(batch, files)| {
                files.iter().map(move |(f, (_, m))| Landed {
                    key: format!("{}{batch}/{f}", landfall_core::trigger::LANDING_PREFIX),
                    modified_ms: millis(*m),
                })
            })
            .collect();
        for f in lateness::findings(&opts.contract, &objects, millis(now), &thresholds) {
            if let Finding::HalfLanded { batch, .. } = &f
                && alerted.insert(batch.clone())
            {
                let a = lateness::alert(&f, "landfall", environment, &thresholds, millis(now));
                eprintln!(
                    "landfall watch: batch {batch} is half-landed: {}",
                    a.cause.as_deref().unwrap_or("")
                );
                if let Err(e) = rt.block_on(alerts.send(&a)) {
                    eprintln!("landfall watch: the alert for {batch} was not delivered: {}", e.message);
                }
            }
        }
        last = current;
    }
    eprintln!("landfall watch: stopped");
    failures
}

/// `landfall run` for one batch, in its own process group (a Ctrl-C meant for the watch does
/// not cut the run short).
fn run(opts: &WatchOptions, batch: &str) -> std::io::Result<i32> {
    use std::os::unix::process::CommandExt;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("run")
        .arg("--landing")
        .arg(&opts.landing)
        .args(["--batch", batch])
        .args(&opts.run_args)
        .process_group(0)
        .status()?;
    Ok(status.code().unwrap_or(1))
}
