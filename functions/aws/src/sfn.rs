//! Executions on Step Functions: start (idempotent by name) and describe.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use landfall_core::Result;
use landfall_core::trigger::{Executions, Started};
use serde_json::Value;

/// An execution as `DescribeExecution` reports it (the fields a re-run needs).
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub status: String,
    pub name: String,
    pub state_machine_arn: String,
    /// The execution input, as JSON text.
    pub input: String,
    /// The execution's output once it succeeded, as JSON text.
    pub output: Option<String>,
}

pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctions {
    pub fn new(sdk: &aws_config::SdkConfig, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// Status (`RUNNING`, `SUCCEEDED`, …) of an execution.
    pub async fn status(&self, execution_arn: &str) -> Result<String> {
        Ok(self.describe(execution_arn).await?.status)
    }

    /// What `DescribeExecution` says of an execution (any machine's: the ARN names it).
    pub async fn describe(&self, execution_arn: &str) -> Result<Described> {
        let d = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("DescribeExecution {execution_arn}"), e))?;
        Ok(Described {
            status: d.status().as_str().to_string(),
            name: d.name().unwrap_or_default().to_string(),
            state_machine_arn: d.state_machine_arn().to_string(),
            input: d.input().unwrap_or("{}").to_string(),
            output: d.output().map(str::to_string),
        })
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn start(&self, name: &str, input: &Value) -> Result<Started> {
        let asked = std::time::SystemTime::now();
        let r = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        match r {
            // A running twin with the same name and input answers 200 with its own ARN and
            // start date: an execution that started before we asked is that twin. (A duplicate
            // within a second of the start is counted as a start; it is still one execution.)
            Ok(o) => {
                let started = std::time::SystemTime::try_from(*o.start_date()).ok();
                let twin = started.is_some_and(|t| t + std::time::Duration::from_secs(1) < asked);
                Ok(Started {
                    execution_arn: Some(o.execution_arn().to_string()),
                    already_existed: twin,
                })
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_execution_already_exists()) => Ok(Started {
                execution_arn: None,
                already_existed: true,
            }),
            Err(e) => Err(sdk_error(
                &format!("StartExecution {name} on {}", self.state_machine_arn),
                e,
            )),
        }
    }
}
