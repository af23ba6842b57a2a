//! Per-account integrations: set (validated, secrets encrypted), read (redacted), test,
//! refresh (an import job that writes holdings, transactions and balance), remove.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{Set, TransactionTrait};
use serde_json::{Map, Value};
use tributary_connectors::{ConnectorError, IntegrationDescriptor, registry};
use tributary_entity::account;
use uuid::Uuid;

use super::{Actor, AppContext, audit};
use crate::domain::{AccountId, IntegrationStatus, IntegrationSummary, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

/// The value shown in place of a secret.
pub const REDACTED: &str = "********";

pub struct IntegrationService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// The outcome of a connection test.
#[derive(Debug)]
pub struct TestOutcome {
    pub success: bool,
    pub message: String,
    pub status: IntegrationStatus,
}

/// The outcome of a refresh.
#[derive(Debug)]
pub struct RefreshOutcome {
    pub balance: Option<rust_decimal::Decimal>,
    pub currency: Option<String>,
    pub updated_at: chrono::DateTime<Utc>,
    pub import_job_id: Uuid,
    pub fetched: i32,
    pub inserted: i32,
    pub duplicates: i32,
    pub holdings: i32,
}

fn config_error(e: ConnectorError) -> ServiceError {
    match e {
        ConnectorError::InvalidConfig { field, message } if field == "type" => {
            ServiceError::validation("type", message)
        }
        ConnectorError::InvalidConfig { field, message } => {
            ServiceError::validation(format!("config.{field}"), message)
        }
        other => ServiceError::Upstream(other),
    }
}

/// Replaces secret values with the redaction marker and adds `has_<field>` hints.
fn redact(descriptor: Option<&IntegrationDescriptor>, config: Value) -> Value {
    let Value::Object(mut map) = config else {
        return Value::Object(Map::new());
    };
    if let Some(d) = descriptor {
        for field in d.secret_fields() {
            let present = map.get(field).is_some_and(|v| !v.is_null());
            if present {
                map.insert(field.to_string(), Value::String(REDACTED.to_string()));
            }
            map.insert(format!("has_{field}"), Value::Bool(present));
        }
    }
    Value::Object(map)
}

impl IntegrationService<'_> {
    /// The types a user can attach, with their config fields.
    #[must_use]
    pub fn catalogue(&self) -> Vec<IntegrationDescriptor> {
        registry::available()
    }

    /// The decrypted integration config of an account the caller already holds.
    ///
    /// # Errors
    /// `Unexpected` when it cannot be decrypted.
    pub(crate) fn decrypted_config(&self, m: &account::Model) -> ServiceResult<Option<Value>> {
        self.decrypt(m)
    }

    fn decrypt(&self, m: &account::Model) -> ServiceResult<Option<Value>> {
        let Some(sealed) = &m.integration_config else {
            return Ok(None);
        };
        let plain = self
            .ctx
            .master_key
            .open(sealed, m.id.as_bytes())
            .map_err(|e| {
                ServiceError::Unexpected(anyhow::anyhow!(
                    "integration config of account {}: {e}",
                    m.id
                ))
            })?;
        let value = serde_json::from_slice(&plain).map_err(|e| {
            ServiceError::Unexpected(anyhow::anyhow!(
                "integration config of account {}: {e}",
                m.id
            ))
        })?;
        Ok(Some(value))
    }

    /// The redacted summary of an account's integration.
    ///
    /// # Errors
    /// `Unexpected` when the stored config cannot be decrypted.
    pub fn summary(&self, m: &account::Model) -> ServiceResult<Option<IntegrationSummary>> {
        let Some(kind) = &m.integration_type else {
            return Ok(None);
        };
        let config = self.decrypt(m)?.unwrap_or(Value::Object(Map::new()));
        Ok(Some(IntegrationSummary {
            integration_type: kind.clone(),
            config: redact(registry::descriptor(kind).as_ref(), config),
            status: IntegrationStatus::from_stored(
                m.integration_status.as_deref().unwrap_or("configured"),
            ),
            last_synced_at: m.last_synced_at,
            last_error: m.last_error.clone(),
        }))
    }

    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration.
    pub async fn get(&self, user: UserId, id: AccountId) -> ServiceResult<IntegrationSummary> {
        let row = self.ctx.accounts().owned(user, id).await?;
        self.summary(&row)?.ok_or(ServiceError::NotFound)
    }

    /// Attaches or replaces the integration. Secret fields sent as the redaction marker keep
    /// their stored value; `has_<secret>` hints echoed back by clients are ignored.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` naming `type` or
    /// `config.<field>`.
    pub async fn set(
        &self,
        actor: &Actor,
        id: AccountId,
        kind: &str,
        config: Value,
    ) -> ServiceResult<IntegrationSummary> {
        let kind = kind.trim().to_ascii_uppercase();
        let Some(descriptor) = registry::descriptor(&kind) else {
            let known = registry::KNOWN_TYPES.contains(&kind.as_str());
            let available: Vec<String> = registry::available()
                .iter()
                .map(|d| d.integration_type.to_string())
                .collect();
            return Err(ServiceError::validation(
                "type",
                if known {
                    format!(
                        "integration type {kind} is not available on this server yet (available: {})",
                        available.join(", ")
                    )
                } else {
                    format!(
                        "unknown integration type (available: {})",
                        available.join(", ")
                    )
                },
            ));
        };
        let Value::Object(mut incoming) = config else {
            return Err(ServiceError::validation("config", "must be a JSON object"));
        };
        let row = self.ctx.accounts().owned(actor.user_id, id).await?;
        let secret_fields: HashSet<&str> = descriptor.secret_fields().collect();
        let same_type = row.integration_type.as_deref() == Some(kind.as_str());
        let stored = if same_type { self.decrypt(&row)? } else { None };
        let mut kept_secrets = Vec::new();
        for field in &secret_fields {
            incoming.remove(&format!("has_{field}"));
            if incoming.get(*field).and_then(Value::as_str) == Some(REDACTED) {
                match stored
                    .as_ref()
                    .and_then(|s| s.get(*field))
                    .filter(|v| !v.is_null())
                {
                    Some(v) => {
                        incoming.insert((*field).to_string(), v.clone());
                        kept_secrets.push(*field);
                    }
                    None => {
                        return Err(ServiceError::validation(
                            format!("config.{field}"),
                            "is the redaction marker but no value is stored; send the secret",
                        ));
                    }
                }
            }
        }
        let normalized =
            registry::validate_config(&self.ctx.connectors, &kind, &Value::Object(incoming))
                .map_err(config_error)?;
        let changed_fields: Vec<String> = normalized
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let plaintext = serde_json::to_vec(&normalized).map_err(anyhow::Error::from)?;
        let sealed = self.ctx.master_key.seal(&plaintext, row.id.as_bytes());

        let txn = self.ctx.db.begin().await?;
        let mut m: account::ActiveModel = row.into();
        m.integration_type = Set(Some(kind.clone()));
        m.integration_config = Set(Some(sealed));
        m.integration_status = Set(Some(IntegrationStatus::Configured.as_str().to_string()));
        m.last_error = Set(None);
        m.sync_cursor = Set(None);
        let updated = repo::accounts::update(&txn, m).await?;
        repo::import_jobs::cancel_queued_for_account(&txn, updated.id).await?;
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "integration.set",
            Some(("account", id.to_string())),
            Some(serde_json::json!({
                "type": kind,
                "fields": changed_fields,
                "kept_secrets": kept_secrets,
            })),
            actor.ip.as_deref(),
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        self.summary(&updated)?.ok_or(ServiceError::NotFound)
    }

    /// Detaches the integration (holdings and transactions stay).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration.
    pub async fn remove(&self, actor: &Actor, id: AccountId) -> ServiceResult<()> {
        let row = self.ctx.accounts().owned(actor.user_id, id).await?;
        let Some(kind) = row.integration_type.clone() else {
            return Err(ServiceError::NotFound);
        };
        let txn = self.ctx.db.begin().await?;
        let mut m: account::ActiveModel = row.into();
        m.integration_type = Set(None);
        m.integration_config = Set(None);
        m.integration_status = Set(None);
        m.last_error = Set(None);
        m.sync_cursor = Set(None);
        let updated = repo::accounts::update(&txn, m).await?;
        repo::import_jobs::cancel_queued_for_account(&txn, updated.id).await?;
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "integration.removed",
            Some(("account", id.to_string())),
            Some(serde_json::json!({ "type": kind })),
            actor.ip.as_deref(),
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        Ok(())
    }

    async fn connector(
        &self,
        user: UserId,
        id: AccountId,
    ) -> ServiceResult<(
        account::Model,
        String,
        std::sync::Arc<dyn tributary_connectors::AccountConnector>,
    )> {
        let row = self.ctx.accounts().owned(user, id).await?;
        let (Some(kind), Some(config)) = (row.integration_type.clone(), self.decrypt(&row)?) else {
            return Err(ServiceError::NotFound);
        };
        let connector = registry::connect(&self.ctx.connectors, &kind, &config, Utc::now())
            .map_err(config_error)?;
        Ok((row, kind, connector))
    }

    async fn set_status(
        &self,
        row: &account::Model,
        status: IntegrationStatus,
        error: Option<String>,
    ) -> ServiceResult<()> {
        let mut m: account::ActiveModel = row.clone().into();
        m.integration_status = Set(Some(status.as_str().to_string()));
        m.last_error = Set(error);
        repo::accounts::update(&self.ctx.db, m).await?;
        self.ctx.read_cache.invalidate(UserId(row.user_id));
        Ok(())
    }

    /// The accounts the integration's credentials can see at the provider (id, type, base
    /// currency), so the user can choose which one this account mirrors (`account_id`).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration; `Upstream`
    /// when the provider fails; `Validation` when the stored config no longer validates.
    pub async fn remote_accounts(
        &self,
        user: UserId,
        id: AccountId,
    ) -> ServiceResult<Vec<tributary_connectors::RemoteAccount>> {
        let (_, _, connector) = self.connector(user, id).await?;
        connector.accounts().await.map_err(config_error)
    }

    /// Checks the credentials against the provider and records the resulting status.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration.
    pub async fn test(&self, actor: &Actor, id: AccountId) -> ServiceResult<TestOutcome> {
        let (row, kind, connector) = self.connector(actor.user_id, id).await?;
        let result = connector.health_check().await;
        let outcome = match result {
            Ok(check) => TestOutcome {
                success: true,
                message: check.message,
                status: IntegrationStatus::Ok,
            },
            Err(e) => TestOutcome {
                success: false,
                message: failure_message(&e),
                status: status_for(&e),
            },
        };
        let error = (!outcome.success).then(|| outcome.message.clone());
        self.set_status(&row, outcome.status, error).await?;
        audit::record(
            &self.ctx.db,
            Some(actor.user_id.0),
            "integration.tested",
            Some(("account", id.to_string())),
            Some(serde_json::json!({ "type": kind, "success": outcome.success })),
            actor.ip.as_deref(),
        )
        .await?;
        Ok(outcome)
    }

    /// Syncs the account now through the import pipeline: queues a job, runs it on this node
    /// (or waits for the worker that picked it up), and reports what it did.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration; `Conflict`
    /// when a sync of this account is already queued or running; `Upstream` when the provider
    /// fails (the account's status and last error record why; transient failures are retried
    /// by the workers with backoff).
    pub async fn refresh(
        &self,
        actor: &Actor,
        id: AccountId,
        trigger: &str,
    ) -> ServiceResult<RefreshOutcome> {
        let row = self.ctx.accounts().owned(actor.user_id, id).await?;
        let Some(kind) = row.integration_type.clone() else {
            return Err(ServiceError::NotFound);
        };
        // Queued as due a minute from now, so no worker takes it before this node claims it
        // to run inline (and the answer is the same whoever runs it); if this node dies first,
        // the workers run it after that minute.
        let job = self
            .enqueue_at(
                &row,
                &kind,
                trigger,
                None,
                Some(Utc::now() + chrono::Duration::seconds(60)),
            )
            .await?;
        let lease = chrono::Duration::seconds(self.ctx.settings.jobs.lease_secs);
        let outcome =
            match repo::import_jobs::claim_reserved(&self.ctx.db, &self.ctx.node_id, lease, job.id)
                .await?
            {
                Some(claimed) => crate::jobs::runner::run(self.ctx, claimed).await?,
                None => crate::jobs::runner::RunOutcome {
                    job: self.wait_for(actor.user_id, job.id).await?,
                    error: None,
                },
            };
        if let Some(error) = outcome.error {
            return Err(ServiceError::Upstream(error));
        }
        let job = outcome.job;
        if !matches!(job.status.as_str(), "succeeded" | "partial") {
            return Err(ServiceError::Upstream(ConnectorError::Upstream {
                status: 503,
                message: job
                    .error
                    .unwrap_or_else(|| format!("the sync ended as {}", job.status)),
            }));
        }
        let account = self.ctx.accounts().owned(actor.user_id, id).await?;
        Ok(RefreshOutcome {
            balance: crate::repo::opt_dec_from_db(account.balance.as_deref())?,
            currency: account.balance_currency,
            updated_at: job.finished_at.unwrap_or_else(Utc::now),
            import_job_id: job.id,
            fetched: job.fetched,
            inserted: job.inserted,
            duplicates: job.duplicates,
            holdings: job.updated,
        })
    }

    /// Queues a sync job for the account (at most one active per account).
    ///
    /// # Errors
    /// `Conflict` when one is already queued or running.
    pub(crate) async fn enqueue(
        &self,
        row: &account::Model,
        kind: &str,
        trigger: &str,
        idempotency_key: Option<String>,
    ) -> ServiceResult<tributary_entity::import_job::Model> {
        self.enqueue_at(row, kind, trigger, idempotency_key, None)
            .await
    }

    /// [`Self::enqueue`], due at `next_run_at` (now when `None`).
    async fn enqueue_at(
        &self,
        row: &account::Model,
        kind: &str,
        trigger: &str,
        idempotency_key: Option<String>,
        next_run_at: Option<chrono::DateTime<Utc>>,
    ) -> ServiceResult<tributary_entity::import_job::Model> {
        repo::import_jobs::enqueue(
            &self.ctx.db,
            repo::import_jobs::NewJob {
                owner: row.user_id,
                account_id: row.id,
                source: &kind.to_ascii_lowercase(),
                trigger,
                cursor_in: row.sync_cursor.clone(),
                next_run_at,
                max_attempts: self.ctx.settings.jobs.max_attempts,
                idempotency_key,
                format: None,
                dry_run: false,
            },
        )
        .await
        .map_err(|e| {
            if repo::is_unique_violation(&e) {
                ServiceError::Conflict("a sync of this account is already queued or running".into())
            } else {
                e.into()
            }
        })
    }

    async fn wait_for(
        &self,
        user: UserId,
        job_id: Uuid,
    ) -> ServiceResult<tributary_entity::import_job::Model> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let job = repo::import_jobs::find_owned(&self.ctx.db, user.0, job_id)
                .await?
                .ok_or(ServiceError::NotFound)?;
            if matches!(
                job.status.as_str(),
                "succeeded" | "partial" | "failed" | "cancelled"
            ) || (job.status == "queued" && job.attempt > 0)
                || std::time::Instant::now() > deadline
            {
                return Ok(job);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

fn status_for(e: &ConnectorError) -> IntegrationStatus {
    if e.needs_reauth() {
        IntegrationStatus::NeedsReauth
    } else {
        IntegrationStatus::Error
    }
}

/// A message safe to show the user and store as `last_error` (no provider bodies, no secrets).
pub(crate) fn failure_message(e: &ConnectorError) -> String {
    match e {
        // Account connectors write these messages for users (what to renew, where); they
        // carry no provider bodies or secrets (the Flex client redacts its token).
        ConnectorError::Authentication(message) => format!(
            "The provider rejected the credentials: {message}. Update the integration and try again."
        ),
        ConnectorError::RateLimited { retry_after } => match retry_after {
            Some(d) => format!(
                "The provider is rate limiting requests; retry in {} s.",
                d.as_secs()
            ),
            None => "The provider is rate limiting requests; retry later.".into(),
        },
        ConnectorError::Upstream { status, .. } => {
            format!("The provider answered with an error (status {status}); retry later.")
        }
        ConnectorError::Decode(_) => {
            "The provider sent a response Tributary could not read.".into()
        }
        ConnectorError::Transport(message) => {
            format!("The provider could not be reached: {message}")
        }
        ConnectorError::NotSupported(what) => format!("Not supported: {what}"),
        ConnectorError::InvalidConfig { field, message } => {
            format!("Invalid configuration `{field}`: {message}")
        }
    }
}
