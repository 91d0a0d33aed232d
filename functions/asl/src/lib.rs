//! # landfall-asl
//!
//! A local Amazon States Language engine: it executes the same `statemachine.asl.json` that is
//! deployed to Step Functions, with Task states calling in-process handlers through the
//! [`Tasks`] trait, and every wait and retry delay going through a [`Clock`] that tests (and
//! `landfall run`) replace, so a 5-minute backoff runs in microseconds and is still reported.
//!
//! Supported: Task, Pass, Choice (every operator, `And`/`Or`/`Not`), Wait, Parallel, Map
//! (inline), Succeed, Fail; `InputPath`, `Parameters` (`.$` keys, `$$` context, intrinsic
//! functions `States.Format`, `StringToJson`, `JsonToString`, `Array`, `JsonMerge`, `UUID`),
//! `ResultSelector`, `ResultPath`, `OutputPath`; `Retry` (`IntervalSeconds`, `MaxAttempts`,
//! `BackoffRate`, `MaxDelaySeconds`, `JitterStrategy`) and `Catch` in declaration order with
//! `States.ALL`, `States.TaskFailed`, `States.Timeout`. Refused at load: JSONata, `Arguments`,
//! `Assign`, distributed Map, `.sync`/`.waitForTaskToken` integrations, and any field the
//! engine does not know. It depends on nothing of Landfall's: the pipeline plugs in its tasks.

pub mod choice;
pub mod definition;
pub mod engine;
pub mod paths;

pub use definition::{DefinitionError, Machine, placeholders, substitute};
pub use engine::{Clock, Engine, Event, EventKind, Execution, RealClock, StateRun, TaskCall, Tasks, VirtualClock};

/// Error names the ASL defines.
pub mod errors {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const RUNTIME: &str = "States.Runtime";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
}

/// An error as the ASL sees it: a name (`Error`) and a message (`Cause`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct AslError {
    pub error: String,
    pub cause: String,
}

impl AslError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(errors::RUNTIME, cause)
    }
    /// The `{"Error": …, "Cause": …}` object a Catch hands on.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!({"Error": self.error, "Cause": self.cause})
    }
}

/// 16 random bytes without an OS RNG dependency (UUIDs, jitter seeds).
pub(crate) fn random_bytes() -> [u8; 16] {
    use rand::{RngCore, SeedableRng};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed) ^ (std::process::id() as u64) << 32;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b
}
