//! # landfall-aws
//!
//! The cloud edge of the pipeline: `Storage` on S3, secrets from SSM Parameter Store, alerts to
//! SNS, executions on Step Functions. Endpoints follow the SDK's standard `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_<SERVICE>` variables, so an emulator (moto in the tests) needs no code path
//! of its own. It knows nothing of warehouses and never links DuckDB.

pub mod s3;
pub mod sfn;
pub mod sns;
pub mod ssm;

use aws_config::SdkConfig;
use landfall_core::PipelineError;
use std::fmt::Debug;

/// The SDK configuration from the environment (region, credentials, endpoints).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// Is an endpoint override in force for this service (an emulator)?
pub fn endpoint_overridden(service_env: &str) -> bool {
    std::env::var_os(format!("AWS_ENDPOINT_URL_{service_env}")).is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
}

/// Map an SDK error to the pipeline's vocabulary: throttling, 5xx, timeouts and network
/// trouble are `Transient`; refused credentials and permissions are `Config`; other
/// service errors are `Config` too (a wrong name or ARN), with the service's own message.
pub fn sdk_error<E, R>(what: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> PipelineError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + Debug,
    R: Debug,
{
    use aws_sdk_s3::error::SdkError;
    match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PipelineError::transient(format!("{what}: the service could not be reached ({})", short(&e)))
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            let msg = se.err().message().unwrap_or("");
            let transient = matches!(
                code,
                "Throttling"
                    | "ThrottlingException"
                    | "TooManyRequestsException"
                    | "SlowDown"
                    | "RequestLimitExceeded"
                    | "ServiceUnavailable"
                    | "InternalError"
                    | "InternalFailure"
                    | "InternalServerError"
            );
            let text = format!("{what}: {code}{}{msg}", if msg.is_empty() { "" } else { ": " });
            if transient {
                PipelineError::transient(text)
            } else {
                PipelineError::config(text)
            }
        }
        _ => PipelineError::config(format!("{what}: {}", short(&e))),
    }
}

fn short(e: &dyn Debug) -> String {
    landfall_core::alerts::truncate(&format!("{e:?}"), 300)
}
