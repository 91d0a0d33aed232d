//! Two (or more) executions of the real state machine on one warehouse, interleaved state by
//! state in an order the test writes down: each execution's [`TaskHook`] holds a scripted
//! state until it is the script's next step, and the step is done when its Task ended. States
//! the script does not name run freely (retries, notify). [`Player::stop_at`] holds one state
//! forever: the test then drops that execution, which is a kill between states.
//! Shared by the crates' tests through `#[path]`.
#![allow(dead_code)]

use landfall_core::pipeline::TaskHook;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The order steps must happen in: `(execution label, state)`.
#[derive(Default)]
pub struct Script {
    steps: Mutex<VecDeque<(String, String)>>,
    turn: Notify,
    /// States that started, in order, as `label:state` (attempts included).
    pub log: Mutex<Vec<String>>,
    /// Signalled when a player reaches its stop.
    pub stopped: Notify,
}

impl Script {
    pub fn new(steps: &[(&str, &str)]) -> Arc<Script> {
        Arc::new(Script {
            steps: Mutex::new(steps.iter().map(|(l, s)| (l.to_string(), s.to_string())).collect()),
            ..Script::default()
        })
    }
    /// The steps not yet done (empty when the script ran through).
    pub fn remaining(&self) -> Vec<(String, String)> {
        self.steps.lock().unwrap().iter().cloned().collect()
    }
    /// `label`'s execution ended: its steps still in the script will never happen.
    pub fn finish(&self, label: &str) {
        self.steps.lock().unwrap().retain(|(l, _)| l != label);
        self.turn.notify_waiters();
    }
    pub fn player(self: &Arc<Self>, label: &str) -> Arc<Player> {
        Arc::new(Player {
            script: self.clone(),
            label: label.to_string(),
            stop_at: None,
        })
    }
}

pub struct Player {
    script: Arc<Script>,
    label: String,
    stop_at: Option<String>,
}

impl Player {
    /// This execution never gets past `state` (it blocks there until dropped).
    pub fn stop_at(self: Arc<Self>, state: &str) -> Arc<Player> {
        Arc::new(Player {
            script: self.script.clone(),
            label: self.label.clone(),
            stop_at: Some(state.to_string()),
        })
    }
}

#[async_trait::async_trait]
impl TaskHook for Player {
    async fn before(&self, state: &str) {
        if self.stop_at.as_deref() == Some(state) {
            self.script.stopped.notify_one();
            std::future::pending::<()>().await;
        }
        let me = (self.label.clone(), state.to_string());
        loop {
            let turn = self.script.turn.notified();
            tokio::pin!(turn);
            turn.as_mut().enable();
            {
                let steps = self.script.steps.lock().unwrap();
                if steps.front() == Some(&me) || !steps.contains(&me) {
                    break;
                }
            }
            turn.await;
        }
        self.script.log.lock().unwrap().push(format!("{}:{state}", self.label));
    }

    async fn after(&self, state: &str) {
        let me = (self.label.clone(), state.to_string());
        {
            let mut steps = self.script.steps.lock().unwrap();
            if steps.front() == Some(&me) {
                steps.pop_front();
            }
        }
        self.script.turn.notify_waiters();
    }
}

/// The layer-by-layer interleaving of two executions up to their gates, `first`'s state then
/// `second`'s, then `tail`.
pub fn lockstep(first: &str, second: &str, tail: &[(&str, &str)]) -> Arc<Script> {
    let mut out = Vec::new();
    for s in [
        "ValidateInput",
        "CheckFiles",
        "LoadFile[titles]",
        "LoadFile[credits]",
        "BuildStaging",
        "BuildIntermediate",
        "BuildMarts",
        "RunQualityChecks",
    ] {
        out.push((first, s));
        out.push((second, s));
    }
    out.extend(tail.iter().copied());
    Script::new(&out)
}

/// The notify function's settings of these runs: alerts to a file, no success notice.
pub fn notify_settings(alerts: &landfall_local::AlertFile) -> landfall_core::functions::NotifySettings<'_> {
    landfall_core::functions::NotifySettings {
        pipeline: "landfall",
        environment: "test",
        alerts,
        secrets: vec![],
        notify_success: false,
        report_base: None,
        report_sink: None,
    }
}
