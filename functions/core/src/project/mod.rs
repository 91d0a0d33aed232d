//! The SQL project in `transform/`: a dbt-compatible subset, loaded, rendered and ordered.
//!
//! - [`load`] reads `dbt_project.yml`, models, schema files, macros and singular tests;
//! - [`render`] renders Jinja with minijinja, with dbt's `ref`, `source`, `config`, `var`,
//!   `env_var`, `target`, `this` and `is_incremental()`;
//! - [`Project::parse`] renders every model once to learn its config and dependencies (as dbt
//!   does), then orders the models into a DAG.
//!
//! What it deliberately does not do: dbt packages, seeds, snapshots, Python models, custom
//! materializations, `adapter.*` calls. The same folder also builds with real dbt-core, which
//! a test checks.

pub mod load;
pub mod render;

pub use load::{ColumnSpec, Model, ModelConfig, Project, SourceTable, TestSpec, TestTarget};
pub use render::{Relation, RenderScope, Target};
