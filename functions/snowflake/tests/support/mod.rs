//! fakesnow (a real Snowflake wire-protocol server over DuckDB) for tests: started from the
//! pinned virtualenv through `infra/local/fakesnow_server.py` on a free port of 127.0.0.1,
//! killed and reaped on drop. A missing virtualenv fails the test loudly.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct FakeSnow {
    child: Child,
    pub url: String,
}

impl Drop for FakeSnow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl FakeSnow {
    pub fn start() -> FakeSnow {
        let python = std::env::var("LANDFALL_FAKESNOW_PYTHON").unwrap_or_else(|_| {
            format!(
                "{}/.cache/landfall/venv-snow/bin/python",
                std::env::var("HOME").unwrap()
            )
        });
        assert!(
            std::path::Path::new(&python).is_file(),
            "fakesnow's python not found at {python}: run `make tools` or set LANDFALL_FAKESNOW_PYTHON"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("landfall-fakesnow-{port}.log"));
        let child = Command::new(python)
            .arg(repo_root().join("infra/local/fakesnow_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let fs = FakeSnow {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return fs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "fakesnow did not start on {}: {}",
            fs.url,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}
