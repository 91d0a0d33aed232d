//! The run report's two ports: what writes a run's report (landfall-report implements it) and
//! where a report's page goes (the landing bucket, in landfall-aws). The notify function links
//! the report from its alert without knowing how either is done.

use crate::Result;
use crate::warehouse::Warehouse;
use landfall_dbt::Project;

/// Write a run's report from the warehouse and return the link people open.
#[async_trait::async_trait]
pub trait RunReport: Send + Sync {
    async fn publish(&self, wh: &dyn Warehouse, project: &Project, run_id: &str) -> Result<String>;
}

/// Where a Lambda puts a run's report (the landing bucket's `reports/<batch>/`); returns the
/// link people open.
#[async_trait::async_trait]
pub trait ReportSink: Send + Sync {
    async fn put(&self, batch: &str, run_id: &str, html: String) -> Result<String>;
}
