//! Alerts to an SNS topic: subject (≤ 100 characters, SNS's limit) and a plain-text body, with
//! the alert as JSON in a message attribute for machines.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use landfall_core::Result;
use landfall_core::alerts::{Alert, Alerts};

pub struct SnsAlerts {
    client: Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self {
            client: Client::new(sdk),
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Alerts for SnsAlerts {
    fn name(&self) -> &str {
        "sns"
    }

    async fn send(&self, alert: &Alert) -> Result<()> {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(alert.error.clone().unwrap_or_else(|| alert.status.clone()))
            .build()
            .expect("data_type is set");
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert.subject())
            .message(alert.text())
            .message_attributes("landfall_error", attr)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("SNS Publish to {}", self.topic_arn), e))?;
        Ok(())
    }
}
