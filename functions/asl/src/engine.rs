//! Executing a [`Machine`]: state transitions, path processing, retries with backoff and
//! jitter, catchers, Parallel and Map, and the execution history.

use crate::choice;
use crate::definition::{Jitter, Kind, Machine, Retrier, State};
use crate::paths::{apply_path, apply_result_path, payload, select};
use crate::{AslError, errors};
use async_trait::async_trait;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One invocation of a Task's resource.
pub struct TaskCall<'a> {
    pub state: &'a str,
    pub resource: &'a str,
    pub input: Value,
    /// 1 for the first try, 2 for the first retry, …
    pub attempt: u32,
    pub context: &'a Value,
}

/// What Task states call.
#[async_trait]
pub trait Tasks: Send + Sync {
    async fn invoke(&self, call: TaskCall<'_>) -> Result<Value, AslError>;
}

/// Time as the engine sees it: waits and retry delays go through here.
#[async_trait]
pub trait Clock: Send + Sync {
    async fn sleep(&self, d: Duration);
    /// Milliseconds since the execution started, on this clock.
    fn elapsed_ms(&self) -> u64;
    /// Milliseconds since the execution started as the execution sees it: waits and retry
    /// delays included even where they were skipped. `$$.State.EnteredTime` and the
    /// execution's `TimeoutSeconds` run on it.
    fn execution_ms(&self) -> u64 {
        self.elapsed_ms()
    }
}

/// Real time: waits really wait.
pub struct RealClock(Instant);

impl Default for RealClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

#[async_trait]
impl Clock for RealClock {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
    fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// A clock on which waits return at once: the delays are recorded in the history (and summed
/// in [`VirtualClock::skipped`]), not waited. Timestamps stay real, so durations are true.
pub struct VirtualClock {
    start: Instant,
    skipped: Mutex<Duration>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            skipped: Mutex::new(Duration::ZERO),
        }
    }
}

impl VirtualClock {
    pub fn skipped(&self) -> Duration {
        *self.skipped.lock().unwrap()
    }
}

#[async_trait]
impl Clock for VirtualClock {
    async fn sleep(&self, d: Duration) {
        *self.skipped.lock().unwrap() += d;
    }
    fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    fn execution_ms(&self) -> u64 {
        (self.start.elapsed() + self.skipped()).as_millis() as u64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    StateEntered,
    StateSucceeded,
    StateFailed { error: String, cause: String },
    AttemptFailed { attempt: u32, error: String, cause: String },
    RetryScheduled { attempt: u32, delay_ms: u64 },
    Caught { error: String, next: String },
    Waited { delay_ms: u64 },
}

/// One entry of the execution history.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The state's path: `Branches/Load` for a state inside a Parallel branch, `LoadRaw/1/LoadFile`
    /// for one in a Map's second iteration.
    pub state: String,
    pub at_ms: u64,
    pub kind: EventKind,
}

/// A state's run, derived from the history.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRun {
    pub name: String,
    pub path: String,
    pub status: String,
    pub duration_ms: u64,
    pub attempts: u32,
    pub retry_delays_ms: Vec<u64>,
    pub error: Option<AslError>,
}

#[derive(Debug, Clone)]
pub struct Execution {
    pub name: String,
    pub output: Result<Value, AslError>,
    pub history: Vec<Event>,
}

impl Execution {
    pub fn succeeded(&self) -> bool {
        self.output.is_ok()
    }

    /// Every state entered, in order of entry, with attempts and retry delays.
    pub fn states(&self) -> Vec<StateRun> {
        let mut out: Vec<StateRun> = Vec::new();
        let mut open: Vec<(String, usize, u64)> = Vec::new();
        for e in &self.history {
            match &e.kind {
                EventKind::StateEntered => {
                    let name = e.state.rsplit('/').next().unwrap_or(&e.state).to_string();
                    out.push(StateRun {
                        name,
                        path: e.state.clone(),
                        status: "running".into(),
                        duration_ms: 0,
                        attempts: 0,
                        retry_delays_ms: vec![],
                        error: None,
                    });
                    open.push((e.state.clone(), out.len() - 1, e.at_ms));
                }
                kind => {
                    let Some(pos) = open.iter().rposition(|(s, _, _)| s == &e.state) else {
                        continue;
                    };
                    let (_, idx, start) = open[pos].clone();
                    let r = &mut out[idx];
                    match kind {
                        EventKind::AttemptFailed { .. } => r.attempts += 1,
                        EventKind::RetryScheduled { delay_ms, .. } => r.retry_delays_ms.push(*delay_ms),
                        EventKind::StateSucceeded => {
                            r.status = "succeeded".into();
                            r.duration_ms = e.at_ms.saturating_sub(start);
                            open.remove(pos);
                        }
                        EventKind::StateFailed { error, cause } => {
                            r.status = "failed".into();
                            r.duration_ms = e.at_ms.saturating_sub(start);
                            r.error = Some(AslError::new(error.clone(), cause.clone()));
                            open.remove(pos);
                        }
                        _ => {}
                    }
                }
            }
        }
        for r in &mut out {
            // attempts counted failures; a success adds its own attempt
            if r.status == "succeeded" || r.attempts == 0 {
                r.attempts += 1;
            }
        }
        out
    }
}

/// Runs executions of one machine.
pub struct Engine<'t> {
    machine: Machine,
    name: String,
    tasks: Arc<dyn Tasks + 't>,
    clock: Arc<dyn Clock>,
    seed: Option<u64>,
    /// (region, account) in the context object's ARNs.
    account: (String, String),
    /// Stop a runaway definition (AWS caps histories at 25,000 events).
    pub max_events: usize,
}

struct Run<'a, 't> {
    engine: &'a Engine<'t>,
    history: Mutex<Vec<Event>>,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
    exec_ctx: Value,
    started: time::OffsetDateTime,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Does an `ErrorEquals` list match this error?
pub fn error_matches(list: &[String], error: &str) -> bool {
    list.iter().any(|e| {
        e == error
            || (e == errors::ALL && error != errors::RUNTIME)
            || (e == errors::TASK_FAILED
                && error != errors::TIMEOUT
                && error != errors::RUNTIME
                && !error.starts_with("States.Branch"))
    })
}

/// The delay before retry number `n` (1-based) of a retrier, before jitter.
pub fn backoff_delay(r: &Retrier, n: u32) -> Duration {
    let secs = r.interval_seconds as f64 * r.backoff_rate.powi(n.saturating_sub(1) as i32);
    let secs = match r.max_delay_seconds {
        Some(m) => secs.min(m as f64),
        None => secs,
    };
    Duration::from_secs_f64(secs.min(1.0e9))
}

impl<'t> Engine<'t> {
    /// `tasks` may borrow (e.g. the pipeline's adapters) for as long as the engine lives.
    pub fn new(machine: Machine, name: impl Into<String>, tasks: Arc<dyn Tasks + 't>, clock: Arc<dyn Clock>) -> Self {
        Self {
            machine,
            name: name.into(),
            tasks,
            clock,
            seed: None,
            account: ("local".into(), "000000000000".into()),
            max_events: 25_000,
        }
    }

    /// Fix the jitter's random seed (for reproducible tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The region and account the context object's ARNs name (default `local`,
    /// `000000000000`): an emulated deployment gives its own.
    pub fn with_account(mut self, region: &str, account: &str) -> Self {
        self.account = (region.to_string(), account.to_string());
        self
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Run one execution to its end.
    pub async fn execute(&self, execution_name: &str, input: Value) -> Execution {
        let seed = self
            .seed
            .unwrap_or_else(|| u64::from_le_bytes(crate::random_bytes()[..8].try_into().unwrap()));
        let started = time::OffsetDateTime::now_utc();
        let start = started
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let run = Run {
            started,
            engine: self,
            history: Mutex::new(Vec::new()),
            rng: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
            exec_ctx: json!({
                "Execution": {
                    "Id": format!("arn:aws:states:{}:{}:execution:{}:{execution_name}", self.account.0, self.account.1, self.name),
                    "Name": execution_name,
                    "Input": input.clone(),
                    "StartTime": start,
                    "RoleArn": "arn:aws:iam::000000000000:role/local",
                },
                "StateMachine": {"Id": format!("arn:aws:states:{}:{}:stateMachine:{}", self.account.0, self.account.1, self.name), "Name": self.name},
            }),
        };
        let output = run.machine(&self.machine, input, "", None).await;
        Execution {
            name: execution_name.to_string(),
            output,
            history: run.history.into_inner().unwrap(),
        }
    }
}

impl Run<'_, '_> {
    fn event(&self, state: &str, kind: EventKind) -> Result<(), AslError> {
        let mut h = self.history.lock().unwrap();
        if h.len() >= self.engine.max_events {
            return Err(AslError::runtime(format!(
                "the execution exceeded {} history events",
                self.engine.max_events
            )));
        }
        h.push(Event {
            state: state.to_string(),
            at_ms: self.engine.clock.elapsed_ms(),
            kind,
        });
        Ok(())
    }

    /// The execution's time: its start plus [`Clock::execution_ms`].
    fn now(&self) -> time::OffsetDateTime {
        self.started + Duration::from_millis(self.engine.clock.execution_ms())
    }

    /// The execution's own `TimeoutSeconds`, checked as each state is entered (Step Functions
    /// also stops a state mid-flight; here the running Task finishes first).
    fn check_timeout(&self) -> Result<(), AslError> {
        match self.engine.machine.timeout_seconds {
            Some(t) if self.engine.clock.execution_ms() > t * 1000 => Err(AslError {
                error: errors::TIMEOUT.into(),
                cause: format!("the execution ran past its TimeoutSeconds ({t} s)"),
            }),
            _ => Ok(()),
        }
    }

    fn context(&self, state: &str, retry_count: u32, map_item: Option<&Value>) -> Value {
        let mut c = self.exec_ctx.clone();
        c["State"] = json!({
            "Name": state,
            "EnteredTime": self.now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "RetryCount": retry_count,
        });
        if let Some(item) = map_item {
            c["Map"] = json!({"Item": item});
        }
        c
    }

    fn machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        prefix: &'a str,
        map_item: Option<&'a Value>,
    ) -> BoxFut<'a, Result<Value, AslError>> {
        Box::pin(async move {
            let mut current = m.start_at.clone();
            let mut data = input;
            loop {
                let state = &m.states[&current];
                let path = format!("{prefix}{}", state.name);
                self.check_timeout()?;
                self.event(&path, EventKind::StateEntered)?;
                match self.state(state, data.clone(), &path, map_item).await {
                    Ok((out, next)) => {
                        self.event(&path, EventKind::StateSucceeded)?;
                        match next {
                            Some(n) => {
                                current = n;
                                data = out;
                            }
                            None => return Ok(out),
                        }
                    }
                    Err(Flow::Caught { output, next, error }) => {
                        self.event(
                            &path,
                            EventKind::StateFailed {
                                error: error.error.clone(),
                                cause: error.cause.clone(),
                            },
                        )?;
                        current = next;
                        data = output;
                    }
                    Err(Flow::Failed(e)) => {
                        self.event(
                            &path,
                            EventKind::StateFailed {
                                error: e.error.clone(),
                                cause: e.cause.clone(),
                            },
                        )?;
                        return Err(e);
                    }
                }
            }
        })
    }

    /// Run one state: its output and next state, or a caught / uncaught error.
    async fn state(
        &self,
        s: &State,
        raw: Value,
        path: &str,
        map_item: Option<&Value>,
    ) -> Result<(Value, Option<String>), Flow> {
        let ctx = self.context(&s.name, 0, map_item);
        let next = if s.end { None } else { s.next.clone() };
        let effective = apply_path(s.input_path.as_ref(), &raw, &ctx).map_err(Flow::Failed)?;
        match &s.kind {
            Kind::Succeed => Ok((
                apply_path(s.output_path.as_ref(), &effective, &ctx).map_err(Flow::Failed)?,
                None,
            )),
            Kind::Fail { error, cause } => Err(Flow::Failed(AslError::new(
                error.clone().unwrap_or_else(|| "States.Fail".into()),
                cause.clone().unwrap_or_default(),
            ))),
            Kind::Choice { choices, default } => {
                for c in choices {
                    if choice::eval(c, &effective, &ctx).map_err(Flow::Failed)? {
                        let n = c.get("Next").and_then(Value::as_str).unwrap_or_default().to_string();
                        return Ok((
                            apply_path(s.output_path.as_ref(), &effective, &ctx).map_err(Flow::Failed)?,
                            Some(n),
                        ));
                    }
                }
                match default {
                    Some(d) => Ok((
                        apply_path(s.output_path.as_ref(), &effective, &ctx).map_err(Flow::Failed)?,
                        Some(d.clone()),
                    )),
                    None => Err(Flow::Failed(AslError::new(
                        errors::NO_CHOICE_MATCHED,
                        format!("no choice rule of state '{}' matched and it has no Default", s.name),
                    ))),
                }
            }
            Kind::Wait {
                seconds,
                seconds_path,
                timestamp,
                timestamp_path,
            } => {
                let secs = if let Some(n) = seconds {
                    *n as f64
                } else if let Some(p) = seconds_path {
                    select(p, &effective, &ctx)
                        .map_err(Flow::Failed)?
                        .as_f64()
                        .filter(|x| *x >= 0.0)
                        .ok_or_else(|| {
                            Flow::Failed(AslError::runtime(format!(
                                "SecondsPath '{p}' is not a non-negative number"
                            )))
                        })?
                } else {
                    let ts = match (timestamp, timestamp_path) {
                        (Some(t), _) => t.clone(),
                        (_, Some(p)) => select(p, &effective, &ctx)
                            .map_err(Flow::Failed)?
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        _ => String::new(),
                    };
                    let t = time::OffsetDateTime::parse(&ts, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| Flow::Failed(AslError::runtime(format!("'{ts}' is not an RFC 3339 timestamp"))))?;
                    (t - self.now()).as_seconds_f64().max(0.0)
                };
                let d = Duration::from_secs_f64(secs);
                self.event(
                    path,
                    EventKind::Waited {
                        delay_ms: d.as_millis() as u64,
                    },
                )
                .map_err(Flow::Failed)?;
                self.engine.clock.sleep(d).await;
                Ok((
                    apply_path(s.output_path.as_ref(), &effective, &ctx).map_err(Flow::Failed)?,
                    next,
                ))
            }
            Kind::Pass { result } => {
                let eff = match &s.parameters {
                    Some(p) => payload(p, &effective, &ctx).map_err(Flow::Failed)?,
                    None => effective,
                };
                let r = result.clone().unwrap_or(eff);
                let out = apply_result_path(s.result_path.as_ref(), &raw, r).map_err(Flow::Failed)?;
                Ok((
                    apply_path(s.output_path.as_ref(), &out, &ctx).map_err(Flow::Failed)?,
                    next,
                ))
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map { .. } => {
                let attempt_result = self.with_retries(s, &effective, path, map_item).await;
                match attempt_result {
                    Ok(result) => {
                        let result = match &s.result_selector {
                            Some(sel) => payload(sel, &result, &ctx).map_err(Flow::Failed)?,
                            None => result,
                        };
                        let out = apply_result_path(s.result_path.as_ref(), &raw, result).map_err(Flow::Failed)?;
                        Ok((
                            apply_path(s.output_path.as_ref(), &out, &ctx).map_err(Flow::Failed)?,
                            next,
                        ))
                    }
                    Err(e) => {
                        if e.error != errors::RUNTIME {
                            for c in &s.catch {
                                if error_matches(&c.error_equals, &e.error) {
                                    self.event(
                                        path,
                                        EventKind::Caught {
                                            error: e.error.clone(),
                                            next: c.next.clone(),
                                        },
                                    )
                                    .map_err(Flow::Failed)?;
                                    let output = apply_result_path(c.result_path.as_ref(), &raw, e.to_value())
                                        .map_err(Flow::Failed)?;
                                    return Err(Flow::Caught {
                                        output,
                                        next: c.next.clone(),
                                        error: e,
                                    });
                                }
                            }
                        }
                        Err(Flow::Failed(e))
                    }
                }
            }
        }
    }

    /// Run the work of a Task, Parallel or Map state, retrying as its `Retry` says.
    async fn with_retries(
        &self,
        s: &State,
        effective: &Value,
        path: &str,
        map_item: Option<&Value>,
    ) -> Result<Value, AslError> {
        let mut counts = vec![0u32; s.retry.len()];
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ctx = self.context(&s.name, attempt - 1, map_item);
            let res = self.once(s, effective, path, attempt, &ctx, map_item).await;
            let e = match res {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.event(
                path,
                EventKind::AttemptFailed {
                    attempt,
                    error: e.error.clone(),
                    cause: e.cause.clone(),
                },
            )?;
            if e.error == errors::RUNTIME {
                return Err(e);
            }
            let Some(i) = s.retry.iter().position(|r| error_matches(&r.error_equals, &e.error)) else {
                return Err(e);
            };
            let r = &s.retry[i];
            if counts[i] >= r.max_attempts {
                return Err(e);
            }
            counts[i] += 1;
            let base = backoff_delay(r, counts[i]);
            let delay = match r.jitter {
                Jitter::None => base,
                Jitter::Full => {
                    let f: f64 = self.rng.lock().unwrap().random();
                    Duration::from_secs_f64(base.as_secs_f64() * f)
                }
            };
            self.event(
                path,
                EventKind::RetryScheduled {
                    attempt: attempt + 1,
                    delay_ms: delay.as_millis() as u64,
                },
            )?;
            self.engine.clock.sleep(delay).await;
        }
    }

    async fn once(
        &self,
        s: &State,
        effective: &Value,
        path: &str,
        attempt: u32,
        ctx: &Value,
        map_item: Option<&Value>,
    ) -> Result<Value, AslError> {
        let input = match (&s.parameters, &s.kind) {
            (Some(p), Kind::Task { .. } | Kind::Parallel { .. }) => payload(p, effective, ctx)?,
            _ => effective.clone(),
        };
        match &s.kind {
            Kind::Task {
                resource,
                timeout_seconds,
            } => {
                let call = TaskCall {
                    state: &s.name,
                    resource,
                    input,
                    attempt,
                    context: ctx,
                };
                let fut = self.engine.tasks.invoke(call);
                match timeout_seconds {
                    Some(t) => match tokio::time::timeout(Duration::from_secs(*t), fut).await {
                        Ok(r) => r,
                        Err(_) => Err(AslError::new(
                            errors::TIMEOUT,
                            format!("state '{}' did not finish within {t} s", s.name),
                        )),
                    },
                    None => fut.await,
                }
            }
            Kind::Parallel { branches } => {
                let prefix = format!("{path}/");
                let futs = branches
                    .iter()
                    .map(|b| self.machine(b, input.clone(), &prefix, map_item));
                let results = futures_util::future::join_all(futs).await;
                let mut out = Vec::with_capacity(results.len());
                for r in results {
                    out.push(r?);
                }
                Ok(Value::Array(out))
            }
            Kind::Map {
                iterator,
                items_path,
                item_selector,
                max_concurrency,
            } => {
                let items = match items_path {
                    Some(p) => select(p, &input, ctx)?,
                    None => input.clone(),
                };
                let items = items
                    .as_array()
                    .cloned()
                    .ok_or_else(|| AslError::runtime(format!("state '{}': ItemsPath must select an array", s.name)))?;
                // At most MaxConcurrency iterations at once (0: all), a new one starting as one
                // ends; each iteration's states have their own path, `Map/<index>/State`.
                let limit = if *max_concurrency == 0 {
                    items.len().max(1)
                } else {
                    *max_concurrency as usize
                };
                let mut prepared = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let item_ctx_v = json!({"Index": i, "Value": item});
                    let mut c = ctx.clone();
                    c["Map"] = json!({"Item": item_ctx_v.clone()});
                    let item_input = match item_selector {
                        Some(sel) => payload(sel, &input, &c)?,
                        None => item.clone(),
                    };
                    prepared.push((format!("{path}/{i}/"), item_ctx_v, item_input));
                }
                let mut futs = Vec::with_capacity(prepared.len());
                for (i, (prefix, mi, inp)) in prepared.iter().enumerate() {
                    let run = self.machine(iterator, inp.clone(), prefix, Some(mi));
                    futs.push(async move { (i, run.await) });
                }
                // Unordered, so a finished iteration frees its place at once; the output keeps
                // the items' order.
                let mut results: Vec<(usize, Result<Value, AslError>)> =
                    futures_util::stream::iter(futs).buffer_unordered(limit).collect().await;
                results.sort_by_key(|(i, _)| *i);
                let mut out = Vec::with_capacity(results.len());
                for (_, r) in results {
                    out.push(r?);
                }
                Ok(Value::Array(out))
            }
            _ => unreachable!("only Task, Parallel and Map retry"),
        }
    }
}

enum Flow {
    Caught {
        output: Value,
        next: String,
        error: AslError,
    },
    Failed(AslError),
}
