//! The Lambda service, emulated for one function: its release binary running behind a Runtime
//! API emulator with exactly the environment the template gives it (plus the endpoints of the
//! emulators), invoked synchronously as Step Functions invokes a Lambda Task, or
//! asynchronously as EventBridge does. Logs are collected (the tests read them for secrets).

use landfall_lambda::emulator::{Answer, RuntimeApi};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an invocation came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's answer.
    Ok(Value),
    /// A function error: the runtime's `errorType` and the error document Lambda returns
    /// (`{"errorMessage", "errorType"}`).
    Error { error_type: String, document: Value },
    /// No answer within the function's timeout.
    TimedOut,
}

impl Outcome {
    /// The `Error`/`Cause` Step Functions reports for a Lambda Task: the function's
    /// `errorType`, and the error document as a JSON string (AWS's format for Lambda failures).
    pub fn as_task_error(&self) -> Option<(String, String)> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Error { error_type, document } => Some((error_type.clone(), document.to_string())),
            Outcome::TimedOut => Some((
                "States.Timeout".into(),
                "the Lambda function did not answer within its timeout".into(),
            )),
        }
    }
}

/// One deployed function: process, Runtime API, logs.
pub struct Function {
    pub logical_id: String,
    api: RuntimeApi,
    child: Mutex<Child>,
    timeout: Duration,
    logs: Arc<Mutex<String>>,
    /// Faults to inject before the function sees an event: (error type, count left).
    fault: Mutex<Option<(String, u32)>>,
}

impl Drop for Function {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Function {
    /// Start `binary` (a path) with `env`; `timeout` is the template's `Timeout`.
    pub fn start(logical_id: &str, binary: &Path, env: &BTreeMap<String, String>, timeout: Duration) -> Function {
        assert!(
            binary.is_file(),
            "the release binary {} is missing: `make e2e` builds it (cargo build --release)",
            binary.display()
        );
        let api = RuntimeApi::start(vec![]);
        api.set_timeout(timeout);
        let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut child = api.spawn(&binary.to_string_lossy(), &vars);
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(mut out) = child.stdout.take() {
            let logs = logs.clone();
            // Drain stdout as it comes: a full pipe would stop the function.
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    logs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Function {
            logical_id: logical_id.to_string(),
            api,
            child: Mutex::new(child),
            timeout,
            logs,
            fault: Mutex::new(None),
        }
    }

    /// Make the next `n` invocations fail with `error_type` before the function runs (as a
    /// throttled or crashing service would answer).
    pub fn inject_fault(&self, error_type: &str, n: u32) {
        *self.fault.lock().unwrap() = Some((error_type.to_string(), n));
    }

    /// Invoke and wait for the answer (at most the function's timeout).
    pub async fn invoke(&self, event: Value) -> Outcome {
        {
            let mut f = self.fault.lock().unwrap();
            if let Some((t, n)) = f.as_mut()
                && *n > 0
            {
                *n -= 1;
                let t = t.clone();
                return Outcome::Error {
                    document: json!({"errorType": t, "errorMessage": format!("injected fault: {t}")}),
                    error_type: t,
                };
            }
        }
        let id = self.api.push(event.to_string());
        let api = &self.api;
        let timeout = self.timeout;
        let answer = tokio::task::block_in_place(|| api.wait_answer(&id, timeout));
        match answer {
            Some(Answer::Response { body, .. }) => {
                Outcome::Ok(serde_json::from_str(&body).unwrap_or(Value::String(body)))
            }
            Some(Answer::Error { error_type, body, .. } | Answer::InitError { error_type, body }) => Outcome::Error {
                document: serde_json::from_str(&body)
                    .unwrap_or_else(|_| json!({"errorType": error_type, "errorMessage": body})),
                error_type,
            },
            None => Outcome::TimedOut,
        }
    }

    /// Everything the function printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }
}
