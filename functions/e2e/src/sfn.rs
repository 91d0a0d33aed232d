//! Step Functions, emulated for one state machine: an HTTP endpoint speaking the service's
//! JSON protocol (`StartExecution`, `DescribeExecution`, `ListExecutions`), so the trigger
//! binary and `landfall backfill` start executions through the real SDK, with Step Functions'
//! name rules (a running twin with the same name and input answers with itself; a finished one
//! is `ExecutionAlreadyExists`). Each execution runs `statemachine.asl.json`, substituted as
//! the template says, in the local ASL engine, whose Task states invoke the emulated Lambdas
//! as Step Functions invokes a Lambda function ARN. Retry delays pass on a virtual clock. When
//! an execution ends, its "Step Functions Execution Status Change" event goes to whoever
//! listens (the EventBridge rules of the stack).

use crate::lambda::{Function, Outcome};
use async_trait::async_trait;
use landfall_asl::{AslError, Engine, Machine, TaskCall, Tasks, VirtualClock};
use landfall_lambda::emulator::read_request;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One execution as `DescribeExecution` reports it.
#[derive(Debug, Clone)]
pub struct ExecutionRecord {
    pub arn: String,
    pub name: String,
    pub input: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    pub status: String,
    pub start: f64,
    pub stop: Option<f64>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The states entered, in order, with their outcome (from the engine's history).
    pub states: Vec<landfall_asl::StateRun>,
}

/// Called with every status-change event (EventBridge's shape).
pub type Listener = Arc<dyn Fn(Value) + Send + Sync>;

struct Inner {
    machine: Machine,
    machine_name: String,
    machine_arn: String,
    functions: Mutex<BTreeMap<String, Arc<Function>>>,
    executions: Mutex<Vec<ExecutionRecord>>,
    listeners: Mutex<Vec<Listener>>,
    runtime: tokio::runtime::Handle,
    done: tokio::sync::Notify,
}

/// The emulated service.
#[derive(Clone)]
pub struct StepFunctions {
    inner: Arc<Inner>,
    pub url: String,
}

struct LambdaTasks {
    functions: BTreeMap<String, Arc<Function>>,
}

#[async_trait]
impl Tasks for LambdaTasks {
    async fn invoke(&self, call: TaskCall<'_>) -> Result<Value, AslError> {
        let f = self.functions.get(call.resource).ok_or_else(|| {
            AslError::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {}", call.resource),
            )
        })?;
        match f.invoke(call.input).await {
            Outcome::Ok(v) => Ok(v),
            other => {
                let (e, c) = other.as_task_error().unwrap();
                Err(AslError::new(e, c))
            }
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl StepFunctions {
    /// Serve `machine` (already substituted) as `arn:aws:states:…:stateMachine:<name>`; Task
    /// resources are looked up by ARN among the functions [`StepFunctions::set_functions`] gives.
    pub fn start_deferred(machine: Machine, machine_arn: &str) -> StepFunctions {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            machine,
            machine_name: machine_arn.rsplit(':').next().unwrap().to_string(),
            machine_arn: machine_arn.to_string(),
            functions: Mutex::new(BTreeMap::new()),
            executions: Mutex::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
            runtime: tokio::runtime::Handle::current(),
            done: tokio::sync::Notify::new(),
        });
        let sfn = StepFunctions { inner, url };
        let s = sfn.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(conn));
            }
        });
        sfn
    }

    /// The functions Task states invoke, by ARN.
    pub fn set_functions(&self, functions: BTreeMap<String, Arc<Function>>) {
        *self.inner.functions.lock().unwrap() = functions;
    }

    pub fn arn(&self) -> &str {
        &self.inner.machine_arn
    }

    /// Hear every status change (the stack routes them through EventBridge rules).
    pub fn on_status_change(&self, l: Listener) {
        self.inner.listeners.lock().unwrap().push(l);
    }

    pub fn executions(&self) -> Vec<ExecutionRecord> {
        self.inner.executions.lock().unwrap().clone()
    }

    /// Wait until no execution is RUNNING (or panic after `timeout`).
    pub async fn settle(&self, timeout: std::time::Duration) -> Vec<ExecutionRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.done.notified();
            let running: Vec<String> = self
                .executions()
                .into_iter()
                .filter(|e| e.status == "RUNNING")
                .map(|e| e.name)
                .collect();
            if running.is_empty() {
                return self.executions();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("executions still running after {timeout:?}: {running:?}");
            }
        }
    }

    /// `StartExecution`: the JSON answer, or the error's `__type` and message.
    pub fn start_execution(&self, name: &str, input: &str) -> Result<Value, (&'static str, String)> {
        let mut execs = self.inner.executions.lock().unwrap();
        if let Some(e) = execs.iter().find(|e| e.name == name) {
            if e.status == "RUNNING" && e.input == input {
                return Ok(json!({"executionArn": e.arn, "startDate": e.start}));
            }
            return Err((
                "ExecutionAlreadyExists",
                format!("Execution Already Exists: '{}'", e.arn),
            ));
        }
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            crate::template::REGION,
            crate::template::ACCOUNT,
            self.inner.machine_name
        );
        let parsed: Value = serde_json::from_str(input).map_err(|e| ("InvalidExecutionInput", e.to_string()))?;
        let rec = ExecutionRecord {
            arn: arn.clone(),
            name: name.to_string(),
            input: input.to_string(),
            status: "RUNNING".into(),
            start: now(),
            stop: None,
            output: None,
            error: None,
            cause: None,
            states: vec![],
        };
        let start = rec.start;
        execs.push(rec);
        drop(execs);
        let inner = self.inner.clone();
        let name = name.to_string();
        self.inner.runtime.spawn(async move {
            let tasks = Arc::new(LambdaTasks {
                functions: inner.functions.lock().unwrap().clone(),
            });
            let engine = Engine::new(
                inner.machine.clone(),
                inner.machine_name.clone(),
                tasks,
                Arc::new(VirtualClock::default()),
            )
            .with_account(crate::template::REGION, crate::template::ACCOUNT);
            let exec = engine.execute(&name, parsed).await;
            let event = {
                let mut execs = inner.executions.lock().unwrap();
                let rec = execs.iter_mut().find(|e| e.name == name).unwrap();
                rec.stop = Some(now());
                rec.states = exec.states();
                match &exec.output {
                    Ok(v) => {
                        rec.status = "SUCCEEDED".into();
                        rec.output = Some(v.to_string());
                    }
                    Err(e) => {
                        rec.status = if e.error == landfall_asl::errors::TIMEOUT {
                            "TIMED_OUT"
                        } else {
                            "FAILED"
                        }
                        .into();
                        rec.error = Some(e.error.clone());
                        rec.cause = Some(e.cause.clone());
                    }
                }
                status_change_event(rec, &inner.machine_arn)
            };
            let listeners = inner.listeners.lock().unwrap().clone();
            for l in listeners {
                l(event.clone());
            }
            inner.done.notify_waiters();
        });
        Ok(json!({"executionArn": arn, "startDate": start}))
    }

    fn handle(&self, target: &str, body: &Value) -> Result<Value, (&'static str, String)> {
        let machine_ok = |v: &Value| {
            let arn = v["stateMachineArn"].as_str().unwrap_or_default();
            if arn == self.inner.machine_arn {
                Ok(())
            } else {
                Err((
                    "StateMachineDoesNotExist",
                    format!("State Machine Does Not Exist: '{arn}'"),
                ))
            }
        };
        match target {
            "StartExecution" => {
                machine_ok(body)?;
                let name = body["name"].as_str().map(str::to_string).unwrap_or_else(uuid_like);
                let input = body["input"].as_str().unwrap_or("{}");
                self.start_execution(&name, input)
            }
            "DescribeExecution" => {
                let arn = body["executionArn"].as_str().unwrap_or_default();
                let e = self
                    .executions()
                    .into_iter()
                    .find(|e| e.arn == arn)
                    .ok_or(("ExecutionDoesNotExist", format!("Execution Does Not Exist: '{arn}'")))?;
                let mut v = json!({"executionArn": e.arn, "stateMachineArn": self.inner.machine_arn, "name": e.name,
                    "status": e.status, "startDate": e.start, "input": e.input});
                if let Some(s) = e.stop {
                    v["stopDate"] = json!(s);
                }
                for (k, x) in [("output", &e.output), ("error", &e.error), ("cause", &e.cause)] {
                    if let Some(x) = x {
                        v[k] = json!(x);
                    }
                }
                Ok(v)
            }
            "ListExecutions" => {
                machine_ok(body)?;
                let list: Vec<Value> = self
                    .executions()
                    .iter()
                    .rev()
                    .map(|e| json!({"executionArn": e.arn, "stateMachineArn": self.inner.machine_arn, "name": e.name, "status": e.status, "startDate": e.start}))
                    .collect();
                Ok(json!({"executions": list}))
            }
            other => Err(("UnknownOperationException", format!("{other} is not emulated"))),
        }
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut writer = conn;
        while let Some(req) = read_request(&mut reader) {
            // `X-Amz-Target: AWSStepFunctions.StartExecution`
            let target = req
                .header("x-amz-target")
                .and_then(|t| t.rsplit('.').next())
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let (status, answer) = match self.handle(target, &body) {
                Ok(v) => ("200 OK", v),
                Err((kind, message)) => ("400 Bad Request", json!({"__type": kind, "message": message})),
            };
            let text = answer.to_string();
            let _ = write!(
                writer,
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: e2e\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
        }
    }
}

fn uuid_like() -> String {
    format!("{:x}", (now() * 1e6) as u64)
}

/// EventBridge's "Step Functions Execution Status Change" event for an execution.
pub fn status_change_event(e: &ExecutionRecord, machine_arn: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("status-{}", e.name),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": crate::template::ACCOUNT,
        "time": "2026-11-26T06:00:00Z",
        "region": crate::template::REGION,
        "resources": [e.arn],
        "detail": {
            "executionArn": e.arn,
            "stateMachineArn": machine_arn,
            "name": e.name,
            "status": e.status,
            "startDate": (e.start * 1000.0) as i64,
            "stopDate": e.stop.map(|s| (s * 1000.0) as i64),
            "input": e.input,
            "inputDetails": {"included": true},
            "output": e.output,
            "outputDetails": e.output.as_ref().map(|_| json!({"included": true})),
            "error": e.error,
            "cause": e.cause,
        }
    })
}
