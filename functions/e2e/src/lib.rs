//! # landfall-e2e
//!
//! The deployment as `sam deploy` creates it, stood up on this machine so a batch can run
//! through the whole cloud path before anything is deployed: the six release Lambda binaries,
//! each behind a Runtime API emulator with the environment `template.yaml` gives it
//! ([`template`], [`lambda`]); Step Functions as a local endpoint that runs
//! `statemachine.asl.json` with the template's substitutions and invokes those functions as
//! Step Functions invokes a Lambda ARN ([`sfn`]); S3, SSM and SNS on moto; Snowflake on the
//! fakesnow wrapper; EventBridge as the template's rule patterns, matched on the events S3 and
//! Step Functions send ([`pattern`]); Slack as a local HTTP server. [`Stack`] puts it together.
//! Test support only: nothing here is deployed, and no Lambda depends on it.

pub mod lambda;
pub mod pattern;
pub mod sfn;
pub mod stack;
pub mod template;

#[path = "../../aws/tests/support/mod.rs"]
pub mod moto;
#[path = "../../snowflake/tests/support/mod.rs"]
pub mod snow;

pub use stack::Stack;
