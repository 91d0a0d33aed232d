//! The deployed `statemachine.asl.json` in moto's Step Functions engine (a real ASL
//! implementation behind the real Step Functions API, on 127.0.0.1) and in our engine, with the
//! same task replies: both must take the same path and produce the same output, for a
//! successful execution and for a failing one.
//!
//! moto runs Lambda tasks without running code: with `use_docker: false` they return replies
//! queued through `/moto-api/static/lambda-simple/response`; with `use_docker: true` and no such
//! function they fail (error `Exception`, which nothing retries), which gives the failure path.

use async_trait::async_trait;
use landfall_asl::{AslError, Engine, Machine, TaskCall, Tasks, VirtualClock};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

struct Moto {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> String {
    let p = std::env::var("LANDFALL_MOTO_SERVER").unwrap_or_else(|_| {
        format!(
            "{}/.cache/landfall/venv-tools/bin/moto_server",
            std::env::var("HOME").unwrap()
        )
    });
    assert!(
        std::path::Path::new(&p).is_file(),
        "moto_server not found at {p}: run `make test` (it installs the test tools) or set LANDFALL_MOTO_SERVER"
    );
    p
}

impl Moto {
    async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        // Owned by `Moto` from here, so the server is killed and reaped whatever happens.
        let moto = Moto {
            child,
            url,
            http: reqwest::Client::new(),
        };
        for _ in 0..150 {
            if moto.http.get(format!("{}/moto-api/", moto.url)).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer on {} within 15 s", moto.url);
    }

    async fn moto_api(&self, path: &str, body: Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// One Step Functions API call (AWS JSON 1.0).
    async fn sfn(&self, action: &str, body: Value) -> Value {
        let r = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", format!("AWSStepFunctions.{action}"))
            .header("Authorization", format!("AWS4-HMAC-SHA256 Credential=test/20261127/{REGION}/states/aws4_request, SignedHeaders=host, Signature=0"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{action}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Run the definition to its end; the entered state names, the status and the output.
    async fn execute(&self, name: &str, definition: &str, input: Value) -> (Vec<String>, String, Value, Vec<Value>) {
        let sm = self
            .sfn("CreateStateMachine", json!({"name": name, "definition": definition, "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/landfall")}))
            .await["stateMachineArn"]
            .as_str()
            .unwrap()
            .to_string();
        let ex = self
            .sfn(
                "StartExecution",
                json!({"stateMachineArn": sm, "name": "b1-run", "input": input.to_string()}),
            )
            .await["executionArn"]
            .as_str()
            .unwrap()
            .to_string();
        let mut d = Value::Null;
        for _ in 0..300 {
            d = self.sfn("DescribeExecution", json!({"executionArn": ex})).await;
            if d["status"] != "RUNNING" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let h = self
            .sfn("GetExecutionHistory", json!({"executionArn": ex, "maxResults": 1000}))
            .await;
        let events = h["events"].as_array().unwrap().clone();
        if d["status"] == "FAILED" {
            // What moto's engine failed with, for whoever reads a failing comparison.
            eprintln!("moto: {name} failed: {} {}", d["error"], d["cause"]);
            for e in events
                .iter()
                .filter(|e| e["id"].as_u64().unwrap_or(0) >= 25 && e["id"].as_u64().unwrap_or(0) <= 40)
            {
                eprintln!("moto: {e}");
            }
        }
        let entered: Vec<String> = events
            .iter()
            .filter(|e| e["type"].as_str().unwrap().ends_with("StateEntered"))
            .map(|e| e["stateEnteredEventDetails"]["name"].as_str().unwrap().to_string())
            .collect();
        let output = d["output"]
            .as_str()
            .map(|o| serde_json::from_str(o).unwrap())
            .unwrap_or(Value::Null);
        let scheduled: Vec<Value> = events
            .iter()
            .filter(|e| e["type"] == "LambdaFunctionScheduled")
            .map(|e| serde_json::from_str(e["lambdaFunctionScheduledEventDetails"]["input"].as_str().unwrap()).unwrap())
            .collect();
        (entered, d["status"].as_str().unwrap().to_string(), output, scheduled)
    }
}

fn definition() -> String {
    let values: BTreeMap<String, String> = landfall_core::functions::FUNCTIONS
        .iter()
        .map(|f| {
            (
                landfall_core::functions::substitution_key(f),
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:landfall-{f}"),
            )
        })
        .collect();
    landfall_asl::substitute(landfall_core::pipeline::STATE_MACHINE, &values).unwrap()
}

/// Replays replies per function, or fails every call with `error` when it has none.
struct Replay {
    replies: Mutex<HashMap<String, VecDeque<Value>>>,
    error: Option<String>,
    inputs: Mutex<Vec<(String, Value)>>,
}

#[async_trait]
impl Tasks for Replay {
    async fn invoke(&self, call: TaskCall<'_>) -> Result<Value, AslError> {
        self.inputs
            .lock()
            .unwrap()
            .push((call.state.to_string(), call.input.clone()));
        if let Some(e) = &self.error {
            return Err(AslError::new(
                e.clone(),
                format!("Function not found: {}", call.resource),
            ));
        }
        let f = call.resource.rsplit(':').next().unwrap().to_string();
        Ok(self
            .replies
            .lock()
            .unwrap()
            .get_mut(&f)
            .and_then(|q| q.pop_front())
            .unwrap_or_else(|| call.input.clone()))
    }
}

async fn ours(
    replies: HashMap<String, VecDeque<Value>>,
    error: Option<&str>,
    input: Value,
) -> (Vec<String>, bool, Value, Vec<(String, Value)>) {
    let m = Machine::parse(&serde_json::from_str(&definition()).unwrap()).unwrap();
    let tasks = Arc::new(Replay {
        replies: Mutex::new(replies),
        error: error.map(str::to_string),
        inputs: Mutex::new(vec![]),
    });
    let engine = Engine::new(m, "landfall", tasks.clone(), Arc::new(VirtualClock::default()));
    let ex = engine.execute("b1-run", input).await;
    let names = ex.states().into_iter().map(|s| s.name).collect();
    let ok = ex.succeeded();
    let out = ex.output.clone().unwrap_or(Value::Null);
    drop(engine);
    let inputs = tasks.inputs.lock().unwrap().clone();
    (names, ok, out, inputs)
}

/// One execution on moto and one on our engine, every Task answered by `answers` in invocation
/// order (moto pops one global queue; ours one queue per function): each engine's state names,
/// outcome and output.
async fn on_both(
    moto: &Moto,
    name: &str,
    answers: &[(&str, &Value)],
    input: &Value,
) -> ((Vec<String>, String, Value), (Vec<String>, bool, Value)) {
    moto.moto_api(
        "/moto-api/static/lambda-simple/response",
        json!({"results": answers.iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>(), "region": REGION}),
    )
    .await;
    let (m_names, m_status, m_out, _) = moto.execute(name, &definition(), input.clone()).await;
    let mut per_fn: HashMap<String, VecDeque<Value>> = HashMap::new();
    for (f, v) in answers {
        per_fn
            .entry(format!("landfall-{f}"))
            .or_default()
            .push_back((*v).clone());
    }
    let (o_names, o_ok, o_out, _) = ours(per_fn, None, input.clone()).await;
    ((m_names, m_status, m_out), (o_names, o_ok, o_out))
}

/// Map iterations run in either order and interleave: a run of their states, sorted.
fn normalized(names: Vec<String>) -> Vec<String> {
    let in_branch = |n: &String| n.ends_with("LoadFile") || n.ends_with("File");
    let mut out = Vec::new();
    let mut i = 0;
    while i < names.len() {
        if !in_branch(&names[i]) {
            out.push(names[i].clone());
            i += 1;
            continue;
        }
        let run: Vec<String> = names[i..].iter().take_while(|n| in_branch(n)).cloned().collect();
        i += run.len();
        let mut run = run;
        run.sort();
        out.extend(run);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_and_our_engine_take_the_same_paths() {
    let moto = Moto::start().await;
    let input = json!({"bucket": "landing", "batch": "b1", "full_refresh": false});

    // ---- success: every function answers as the pipeline's would ----
    let run = json!({"run_id": "b1-run", "batch": "b1", "bucket": "landing", "full_refresh": false});
    let obj = |f: &str| json!({"key": format!("b1/{f}.csv"), "url": format!("s3://landing/landing/b1/{f}.csv"), "etag": "e", "size": 10});
    let files = json!({"files": [{"file": "titles", "object": obj("titles")}, {"file": "credits", "object": obj("credits")}], "warnings": []});
    let loaded = json!({"file": "any", "rows": 10, "extra_columns": []});
    let built = json!([{"name": "m", "relation": "build_x.m", "materialized": "table", "duration_ms": 1}]);
    let quality = json!({"tests": {"passed": 3, "failed": 0, "warned": 0}, "results": [], "rejected": {"titles": 0, "credits": 2}, "loaded": {"titles": 10, "credits": 10}, "column_test_coverage": 0.5});
    let published = json!({"publish_seq": 1, "batch": "b1", "run_id": "b1-run", "relations": ["marts.x"]});
    let notified = json!({"sent": false});
    moto.moto_api(
        "/moto-api/config",
        json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}),
    )
    .await;
    // BuildIntermediate's statements are still running at first: it answers a handle, and
    // both engines wait, poll and go on with the poll's answer.
    let pending = json!({"pending": {"journal": {"started": "2026-12-02T00:00:00Z", "polls": 1, "entries": {}}, "wait_seconds": 1, "running": 1}});
    let answers = [
        ("load", &run),
        ("load", &files),
        ("load", &loaded),
        ("load", &loaded),
        ("transform", &built),
        ("transform", &pending),
        ("transform", &built),
        ("transform", &built),
        ("quality", &quality),
        ("publish", &published),
        ("notify", &notified),
    ];
    let ((m_names, m_status, m_out), (o_names, o_ok, o_out)) = on_both(&moto, "landfall-ok", &answers, &input).await;
    assert_eq!(m_status, "SUCCEEDED", "{m_out}");
    assert!(o_ok);
    assert_eq!(normalized(o_names.clone()), normalized(m_names.clone()));
    assert_eq!(
        normalized(m_names),
        [
            "ValidateInput",
            "CheckFiles",
            "LoadRaw",
            "AwaitLoadFile",
            "AwaitLoadFile",
            "LoadFile",
            "LoadFile",
            "LoadedFile",
            "LoadedFile",
            "CheckSupersededLoad",
            "BuildStaging",
            "CheckSupersededStaging",
            "BuildIntermediate",
            "AwaitBuildIntermediate",
            "WaitBuildIntermediate",
            "PollBuildIntermediate",
            "AwaitBuildIntermediate",
            "BuildMarts",
            "AwaitBuildMarts",
            "RunQualityChecks",
            "CheckSupersededQuality",
            "Publish",
            "CheckSupersededPublish",
            "NotifySuccess",
            "Succeeded"
        ]
    );
    assert_eq!(o_out, m_out, "the execution outputs differ");
    assert_eq!(o_out["loaded"], json!({"files": [loaded, loaded], "superseded": false}));
    assert_eq!(o_out["run"], run);

    // ---- superseded at Publish: an answer, not an error; both route it the same way ----
    let superseded = json!({"superseded": "batch 'a' was not published: batch 'b' is newer"});
    let mut answers = answers;
    answers[9] = ("publish", &superseded);
    let ((m_names, m_status, m_out), (s_names, s_ok, s_out)) =
        on_both(&moto, "landfall-superseded", &answers, &input).await;
    assert_eq!(m_status, "SUCCEEDED", "superseded ends in a Succeed state");
    assert!(s_ok);
    assert_eq!(normalized(s_names.clone()), normalized(m_names));
    let s_names = normalized(s_names);
    assert_eq!(
        s_names[s_names.len() - 4..],
        ["Publish", "CheckSupersededPublish", "NotifySuperseded", "Superseded"]
    );
    assert_eq!(s_out, m_out, "the execution outputs differ");
    assert_eq!(s_out["published"], superseded);

    // ---- superseded at a file's load: one iteration says so, the Map's answer routes it ----
    let answers = [
        ("load", &run),
        ("load", &files),
        ("load", &loaded),
        ("load", &superseded),
        ("notify", &notified),
    ];
    let ((m_names, m_status, m_out), (l_names, l_ok, l_out)) =
        on_both(&moto, "landfall-superseded-load", &answers, &input).await;
    assert_eq!(m_status, "SUCCEEDED", "{m_out}");
    assert!(l_ok);
    assert_eq!(normalized(l_names.clone()), normalized(m_names));
    let l_names = normalized(l_names);
    assert_eq!(
        l_names[l_names.len() - 3..],
        ["CheckSupersededLoad", "NotifySuperseded", "Superseded"]
    );
    assert!(l_names.contains(&"SupersededFile".to_string()), "{l_names:?}");
    // Which file's load gets which answer depends on which iteration asks first: the files'
    // answers compare as sets.
    let set = |v: &Value| {
        let mut a: Vec<String> = v["loaded"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        a.sort();
        a
    };
    assert_eq!(set(&l_out), set(&m_out));
    assert_eq!(l_out["loaded"]["superseded"], true);
    assert_eq!(m_out["loaded"]["superseded"], true);

    // ---- failure: no function exists, so the first task fails and the failure path runs ----
    moto.moto_api(
        "/moto-api/config",
        json!({"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": true}}),
    )
    .await;
    let (m_names, m_status, _, m_scheduled) = moto.execute("landfall-fail", &definition(), input.clone()).await;
    let (o_names, o_ok, _, o_inputs) = ours(HashMap::new(), Some("Exception"), input.clone()).await;
    assert_eq!(m_status, "FAILED");
    assert!(!o_ok);
    assert_eq!(o_names, m_names);
    // NotifyFailure has no function either: its own failure ends the machine in AlertFailed,
    // which the status-change rule alerts on.
    assert_eq!(m_names, ["ValidateInput", "NotifyFailure", "AlertFailed"]);
    // NotifyFailure received the same state in both: the input plus $.failure.ValidateInput
    let m_notify = m_scheduled.iter().find(|i| i["status"] == "failed").unwrap();
    let o_notify = &o_inputs.iter().find(|(s, _)| s == "NotifyFailure").unwrap().1;
    assert_eq!(o_notify["state"], m_notify["state"]);
    assert_eq!(o_notify["state"]["failure"]["ValidateInput"]["Error"], "Exception");
    assert_eq!(
        o_notify["execution"],
        m_notify["execution"]
            .as_str()
            .unwrap()
            .replace(REGION, "local")
            .replace(ACCOUNT, "000000000000")
            .replace("landfall-fail", "landfall")
    );
}
