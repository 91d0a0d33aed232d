//! A minimal Lambda Runtime API on 127.0.0.1, for tests: it hands queued events to a real
//! Lambda binary (`AWS_LAMBDA_RUNTIME_API`) and records what the binary answers —
//! `invocation/{id}/response`, `invocation/{id}/error` and `init/error`. The error type recorded
//! is the body's `errorType` (what Step Functions matches in `ErrorEquals`), falling back to the
//! `Lambda-Runtime-Function-Error-Type` header. When the queue is empty, `invocation/next` waits, as the real one does.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What the function answered to one event (or at init).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response {
        request_id: String,
        body: String,
    },
    Error {
        request_id: String,
        error_type: String,
        body: String,
    },
    InitError {
        error_type: String,
        body: String,
    },
}

struct State {
    /// Queued invocations: request id and event.
    events: VecDeque<(String, String)>,
    answers: Vec<Answer>,
    next_id: u64,
    /// How long an invocation may run (the function's `Timeout`): its deadline header.
    timeout: Duration,
}

impl Default for State {
    fn default() -> Self {
        Self {
            events: VecDeque::new(),
            answers: Vec::new(),
            next_id: 0,
            timeout: Duration::from_secs(60),
        }
    }
}

impl State {
    fn queue(&mut self, event: String) -> String {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        self.events.push_back((id.clone(), event));
        id
    }
}

pub struct RuntimeApi {
    pub addr: String,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    pub fn start(events: Vec<String>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut st = State::default();
        for e in events {
            st.queue(e);
        }
        let state = Arc::new((Mutex::new(st), Condvar::new()));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(conn, s));
            }
        });
        RuntimeApi { addr, state }
    }

    /// Queue one more event (a later invocation of the same running function); its request id.
    pub fn push(&self, event: String) -> String {
        let (m, cv) = &*self.state;
        let id = m.lock().unwrap().queue(event);
        cv.notify_all();
        id
    }

    /// The deadline every later invocation gets: now + `timeout` (the function's `Timeout`).
    pub fn set_timeout(&self, timeout: Duration) {
        self.state.0.lock().unwrap().timeout = timeout;
    }

    /// The answer to request `id`, or `None` when none came within `timeout` (the function
    /// is still at work, or it died).
    pub fn wait_answer(&self, id: &str, timeout: Duration) -> Option<Answer> {
        let (m, cv) = &*self.state;
        let find = |st: &State| {
            st.answers
                .iter()
                .find(|a| match a {
                    Answer::Response { request_id, .. } | Answer::Error { request_id, .. } => request_id == id,
                    Answer::InitError { .. } => true,
                })
                .cloned()
        };
        let guard = m.lock().unwrap();
        let (guard, _) = cv.wait_timeout_while(guard, timeout, |st| find(st).is_none()).unwrap();
        find(&guard)
    }

    /// Wait until `n` answers arrived (or panic after `timeout`).
    pub fn wait_answers(&self, n: usize, timeout: Duration) -> Vec<Answer> {
        let (m, cv) = &*self.state;
        let guard = m.lock().unwrap();
        let (guard, res) = cv
            .wait_timeout_while(guard, timeout, |st| st.answers.len() < n)
            .unwrap();
        assert!(
            !res.timed_out(),
            "only {} of {n} answers within {timeout:?}: {:?}",
            guard.answers.len(),
            guard.answers
        );
        guard.answers.clone()
    }
}

/// One HTTP/1.1 request, as the test servers here read it (keep-alive: read again for the next).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read the next request off a connection; `None` at its end.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn serve(conn: TcpStream, state: Arc<(Mutex<State>, Condvar)>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    while let Some(req) = read_request(&mut reader) {
        let (method, path) = (req.method.as_str(), req.path.as_str());
        let mut error_type = req
            .header("lambda-runtime-function-error-type")
            .unwrap_or_default()
            .to_string();
        let body = String::from_utf8_lossy(&req.body).into_owned();
        if let Some(t) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("errorType").and_then(|t| t.as_str()).map(str::to_string))
        {
            error_type = t;
        }
        let (m, cv) = &*state;
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let mut st = m.lock().unwrap();
            while st.events.is_empty() {
                st = cv.wait(st).unwrap();
            }
            let (id, ev) = st.events.pop_front().unwrap();
            let timeout = st.timeout;
            drop(st);
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + timeout.as_millis();
            let _ = write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\nContent-Length: {}\r\n\r\n{ev}",
                ev.len()
            );
            continue;
        }
        let answer = if path.ends_with("/runtime/init/error") {
            Some(Answer::InitError { error_type, body })
        } else if let Some(rest) = path.strip_suffix("/response") {
            Some(Answer::Response {
                request_id: rest.rsplit('/').next().unwrap_or("").to_string(),
                body,
            })
        } else {
            path.strip_suffix("/error").map(|rest| Answer::Error {
                request_id: rest.rsplit('/').next().unwrap_or("").to_string(),
                error_type,
                body,
            })
        };
        if let Some(a) = answer {
            m.lock().unwrap().answers.push(a);
            cv.notify_all();
        }
        let _ = write!(writer, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{{}}");
    }
}

impl RuntimeApi {
    /// Start a Lambda binary against this Runtime API, with the variables `lambda_runtime`
    /// requires plus `env` (AWS endpoint, credentials, the function's own settings).
    pub fn spawn(&self, binary: &str, env: &[(&str, &str)]) -> std::process::Child {
        let mut c = std::process::Command::new(binary);
        c.env("AWS_LAMBDA_RUNTIME_API", &self.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "landfall-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn().expect("the Lambda binary starts")
    }
}
