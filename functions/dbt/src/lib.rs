//! # landfall-dbt
//!
//! The dbt-compatible project engine: a folder like `transform/`, loaded, rendered, ordered and
//! compiled. It knows nothing of landing files, warehouses' I/O or Lambdas; the pipeline
//! (`landfall-core`) runs what it compiles.
//!
//! - [`load`] reads `dbt_project.yml`, models, schema files, macros and singular tests;
//! - [`render`] renders Jinja with minijinja, with dbt's `ref`, `source`, `config`, `var`,
//!   `env_var`, `target`, `this` and `is_incremental()`;
//! - [`Project::parse`] renders every model once to learn its config and dependencies (as dbt
//!   does), then orders the models into a DAG;
//! - [`compile`] turns data tests into the SQL whose rows are their failures;
//! - [`contract`] checks and builds models under an enforced contract;
//! - [`unit`] compiles unit tests: a model on fixture rows against the expected ones;
//! - [`introspect`] is what rendering asks the warehouse (`run_query`, `statement`,
//!   `adapter.get_columns_in_relation`): asked and answered by the caller, render stays pure.
//!
//! - [`seed`] reads and types seeds as dbt's agate does, and writes their tables;
//! - [`package`] reads installed and local packages for their macros and generic tests;
//! - [`modules`] is dbt's `modules.re`: Python's `re` over the regex crate;
//! - [`snapshot`] reads `{% snapshot %}` blocks and writes the statements that keep them.
//!
//! What it deliberately does not do (README, "The SQL project", lists it): Python models,
//! custom materializations, a package's models. The same
//! folder also builds with real dbt-core, which a test checks.

pub mod compile;
pub mod contract;
pub mod datetime;
pub mod error;
pub mod introspect;
pub mod keys;
pub mod load;
pub mod modules;
pub mod mutable;
pub mod package;
pub mod render;
pub mod seed;
pub mod snapshot;
pub mod unit;

pub use error::{ProjectError, Result};
pub use load::{ColumnSpec, Model, ModelConfig, Project, SourceTable, TestSpec, TestTarget};
pub use render::{Relation, RenderScope, Target};
