//! # landfall-core
//!
//! The pipeline itself, with no I/O choices: the landing contract, the event contracts and
//! error names, the `Warehouse`, `Storage` and `Alerts` traits, model builds and the quality
//! gate (running what the dbt-compatible engine, `landfall-dbt`, compiles), write-audit-publish,
//! alert content, and the step handlers that a state machine (local or AWS) calls.
//!
//! It depends on no engine or cloud adapter: `landfall-duckdb` and the AWS and Snowflake crates
//! implement its traits, and the Lambda binaries and the `landfall` CLI wire them in.

pub mod alerts;
pub mod csvcheck;
pub mod error;
pub mod metrics;
pub mod storage;
pub mod warehouse;

pub use error::{ErrorName, PipelineError, Result};
pub mod asking;
pub mod audit;
pub mod build;
pub mod clock;
pub mod contract;
pub mod definition;
pub mod functions;
pub mod handlers;
pub mod inflight;
pub mod lateness;
pub mod pipeline;
pub mod publish;
pub mod quality;
pub mod reporting;
pub mod retention;
pub mod succession;
pub mod trigger;
