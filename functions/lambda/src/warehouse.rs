//! What the four warehouse Lambdas (`load`, `transform`, `quality`, `publish`) share: the SQL
//! project (embedded at build time, or a layer's: crate::project), the landing bucket on S3, and one Snowflake session per
//! container, opened on the first invocation (so a missing credential is that invocation's
//! `Landfall.Config` error, not a crashed init) and opened again once after Snowflake refuses
//! the credentials, with the SSM parameters read afresh (a rotated key).
//!
//! Environment (set by `template.yaml`): `LANDING_BUCKET`, `SNOWFLAKE_ACCOUNT`,
//! `SNOWFLAKE_USER`, `SNOWFLAKE_ROLE`, `SNOWFLAKE_WAREHOUSE`, `SNOWFLAKE_DATABASE`, optional
//! `SNOWFLAKE_URL` (private link), `LANDFALL_STAGE` (default `raw.landing`),
//! `LANDFALL_STATEMENT_TIMEOUT_SECONDS` (default 840), plus `LANDFALL_ENV` / `LANDFALL_SSM_PREFIX`. SSM SecureStrings under the
//! prefix: `snowflake/private_key` (PEM, preferred) or `snowflake/password`.

use crate::{LambdaError, env, environment, init_tracing, ssm_prefix};
use landfall_aws::{s3::S3Landing, sdk_config, ssm::Secrets};
use landfall_core::handlers::Deps;
use landfall_core::trigger::LANDING_PREFIX;
use landfall_core::{PipelineError, Result};
use landfall_dbt::Project;
use landfall_snowflake::{Config, Credentials, SnowflakeWarehouse, is_auth_failure};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::Instrument;

/// A pipeline function as the state machine calls it.
pub type Function = for<'a> fn(Deps<'a>, Value) -> Pin<Box<dyn Future<Output = Result<Value>> + Send + 'a>>;

/// Time kept back from the invocation's deadline to cancel a statement and answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

use crate::project::deployed_project;

/// Settings that are not secrets, from the environment.
struct Settings {
    account: String,
    user: String,
    role: Option<String>,
    warehouse: Option<String>,
    database: String,
    base_url: Option<String>,
    stage: String,
    statement_timeout: Duration,
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Settings {
    fn from_env() -> Result<Self> {
        Ok(Self {
            account: env("SNOWFLAKE_ACCOUNT")?,
            user: env("SNOWFLAKE_USER")?,
            role: optional("SNOWFLAKE_ROLE"),
            warehouse: optional("SNOWFLAKE_WAREHOUSE"),
            database: env("SNOWFLAKE_DATABASE")?,
            base_url: optional("SNOWFLAKE_URL"),
            stage: optional("LANDFALL_STAGE").unwrap_or_else(|| "raw.landing".into()),
            statement_timeout: Duration::from_secs(
                optional("LANDFALL_STATEMENT_TIMEOUT_SECONDS")
                    .map(|v| {
                        v.parse().map_err(|_| {
                            PipelineError::config(format!(
                                "LANDFALL_STATEMENT_TIMEOUT_SECONDS must be a number of seconds, found '{v}'"
                            ))
                        })
                    })
                    .transpose()?
                    .unwrap_or(840),
            ),
        })
    }
}

/// One Snowflake session per container, opened on first use with credentials from SSM, and
/// opened again (credentials read afresh) after Snowflake refuses them.
pub struct Session {
    settings: Result<Settings>,
    secrets: Secrets,
    slot: Mutex<Option<Arc<SnowflakeWarehouse>>>,
    /// Values that must never reach an error message or a log line.
    known_secrets: Mutex<Vec<String>>,
}

impl Session {
    /// From the environment (`SNOWFLAKE_*`, `LANDFALL_*`) and the SSM prefix; nothing is read
    /// from SSM or Snowflake until [`Session::get`].
    pub fn from_env(secrets: Secrets) -> Self {
        Self {
            settings: Settings::from_env(),
            secrets,
            slot: Mutex::new(None),
            known_secrets: Mutex::new(Vec::new()),
        }
    }

    /// The open session, or a new one.
    pub async fn get(&self) -> Result<Arc<SnowflakeWarehouse>> {
        let mut slot = self.slot.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let credentials = match self.secrets.get_optional("snowflake/private_key").await? {
            Some(pem) => Credentials::KeyPair { private_key_pem: pem },
            None => match self.secrets.get_optional("snowflake/password").await? {
                Some(password) => Credentials::Password { password },
                None => {
                    return Err(PipelineError::config(format!(
                        "SSM parameter {} does not exist (nor the fallback {}): create it (see the README's deploy section)",
                        self.secrets.parameter_name("snowflake/private_key"),
                        self.secrets.parameter_name("snowflake/password"),
                    )));
                }
            },
        };
        let secret = match &credentials {
            Credentials::KeyPair { private_key_pem } => private_key_pem.clone(),
            Credentials::Password { password } => password.clone(),
        };
        let mut known = self.known_secrets.lock().await;
        if !known.contains(&secret) {
            known.push(secret);
        }
        drop(known);
        let wh = SnowflakeWarehouse::connect(Config {
            account: settings.account.clone(),
            user: settings.user.clone(),
            credentials,
            role: settings.role.clone(),
            warehouse: settings.warehouse.clone(),
            database: settings.database.clone(),
            base_url: settings.base_url.clone(),
            stage: settings.stage.clone(),
            statement_timeout: settings.statement_timeout,
        })
        .await?;
        let wh = Arc::new(wh);
        *slot = Some(wh.clone());
        Ok(wh)
    }

    /// The open session, if any (never connects).
    pub async fn current(&self) -> Option<Arc<SnowflakeWarehouse>> {
        self.slot.lock().await.clone()
    }

    /// Drop the session and the cached credentials: the next [`Session::get`] reads SSM again.
    pub async fn forget(&self) {
        *self.slot.lock().await = None;
        self.secrets.invalidate().await;
    }

    /// The secrets read so far, for redaction.
    pub async fn known_secrets(&self) -> Vec<String> {
        self.known_secrets.lock().await.clone()
    }
}

pub struct WarehouseLambda {
    function: &'static str,
    session: Session,
    storage: S3Landing,
    bucket: String,
    /// Loaded on the first invocation, not at init (writing and parsing it costs a few ms of
    /// cold start).
    project: std::sync::LazyLock<Result<Project>>,
}

impl WarehouseLambda {
    /// The execution's bucket must be the one this deployment's stage reads.
    fn check_bucket(&self, event: &Value) -> Result<()> {
        for b in [event.pointer("/run/bucket"), event.pointer("/input/bucket")]
            .into_iter()
            .flatten()
        {
            if let Some(b) = b.as_str()
                && b != self.bucket
            {
                return Err(PipelineError::bad_input(format!(
                    "execution input names bucket '{b}', but this deployment loads from '{}' (its Snowflake stage reads only that bucket)",
                    self.bucket
                )));
            }
        }
        Ok(())
    }

    async fn invoke(
        &self,
        f: Function,
        event: Value,
        deadline: Option<tokio::time::Instant>,
        tag: &str,
    ) -> Result<Value> {
        self.check_bucket(&event)?;
        let project = (*self.project).as_ref().map_err(Clone::clone)?;
        for attempt in 0..2 {
            let wh = match self.session.get().await {
                Ok(wh) => wh,
                Err(e) if attempt == 0 && is_auth_failure(&e) => {
                    tracing::warn!("Snowflake refused the credentials; reading them from SSM again");
                    self.session.forget().await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            wh.set_query_tag(tag);
            wh.set_deadline(deadline);
            let deps = Deps {
                warehouse: wh.as_ref(),
                storage: &self.storage,
                project,
            };
            match f(deps, event.clone()).await {
                Err(e) if attempt == 0 && is_auth_failure(&e) => {
                    tracing::warn!("Snowflake refused the credentials; reading them from SSM again");
                    self.session.forget().await;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// The whole `main` of a warehouse Lambda: set up once, then serve invocations.
pub async fn serve(function: &'static str, f: Function) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let sdk = sdk_config().await;
    let bucket = env("LANDING_BUCKET").map_err(|e| e.message)?;
    let lambda = WarehouseLambda {
        function,
        session: Session::from_env(Secrets::new(&sdk, ssm_prefix())),
        storage: S3Landing::new(&sdk, &bucket, LANDING_PREFIX),
        bucket,
        project: std::sync::LazyLock::new(deployed_project),
    };
    let environment = environment();
    let lambda = &lambda;
    let environment = environment.as_str();
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| async move {
        let payload = event.payload;
        let run = payload.get("run").or_else(|| payload.get("input"));
        let execution = payload
            .pointer("/run/run_id")
            .or_else(|| payload.get("execution"))
            .and_then(Value::as_str)
            .unwrap_or(&event.context.request_id)
            .to_string();
        let batch = run.and_then(|r| r.get("batch")).and_then(Value::as_str).unwrap_or("-").to_string();
        let span = tracing::info_span!("invocation", function = lambda.function, execution = %execution, batch = %batch);
        let remaining = Duration::from_millis(
            event.context.deadline.saturating_sub(landfall_core::pipeline::unix_millis()),
        );
        let deadline = tokio::time::Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
        let tag = format!("landfall:{environment}:{execution}");
        async move {
            let started = std::time::Instant::now();
            // Boxed: the handler futures are deep, and the layout of the whole chain would
            // otherwise exceed the compiler's query depth.
            let state = landfall_core::metrics::state_of(lambda.function, &payload);
            let retries = payload.get("retry").and_then(Value::as_u64).unwrap_or(0) as u32;
            let result = Box::pin(lambda.invoke(f, payload, Some(deadline), &tag)).await;
            let secrets = lambda.session.known_secrets().await;
            let duration_ms = started.elapsed().as_millis() as u64;
            crate::print_emf(&state, result.as_ref(), duration_ms, retries, &execution, &batch);
            // The report's timeline: this state's latest attempt, best effort. A poll that
            // answers a handle has not finished the state: the answer that does writes it.
            let pending = matches!(&result, Ok(v) if v.get(landfall_core::inflight::PENDING).is_some());
            if let Some(wh) = lambda.session.current().await.filter(|_| !pending) {
                let row = landfall_core::audit::StepRow {
                    state: state.clone(),
                    status: if result.is_ok() { "succeeded" } else { "failed" }.into(),
                    attempts: retries + 1,
                    duration_ms,
                    error_name: result.as_ref().err().map(|e| e.name.as_str().to_string()),
                };
                if let Err(e) = landfall_core::audit::record_steps(wh.as_ref(), &execution, &[row]).await {
                    tracing::warn!(error = %e.name, "the step was not recorded for the run report: {}", e.message);
                }
            }
            match &result {
                Ok(_) => tracing::info!(duration_ms, "done"),
                Err(e) => tracing::error!(error = %e.name, duration_ms, "{}", landfall_core::alerts::redact(&e.message, &secrets)),
            }
            result.map_err(|error| LambdaError { error, secrets })
        }
        .instrument(span)
        .await
    }))
    .await
}
