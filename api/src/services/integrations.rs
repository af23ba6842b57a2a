//! Per-account integrations: set (validated, secrets encrypted), read (redacted), test,
//! refresh (an import job that writes holdings, transactions and balance), remove.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{Set, TransactionTrait};
use serde_json::{Map, Value};
use tributary_connectors::{ConnectorError, IntegrationDescriptor, SyncBatch, registry};
use tributary_entity::{account, holding, transaction};
use uuid::Uuid;

use super::{Actor, AppContext, audit};
use crate::domain::{AccountId, IntegrationStatus, IntegrationSummary, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_to_db};

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
            registry::validate_config(&kind, &Value::Object(incoming)).map_err(config_error)?;
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
        repo::accounts::update(&txn, m).await?;
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
        let connector = registry::connect(&kind, &config, Utc::now()).map_err(config_error)?;
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

    /// Fetches holdings, new transactions and the balance from the provider and stores them in
    /// one database transaction, as an import job. Transactions already stored (same source
    /// id) are skipped.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration; `Conflict`
    /// when a refresh of this account is already running; `Upstream` when the provider fails
    /// (the account's status and last error record why).
    pub async fn refresh(
        &self,
        actor: &Actor,
        id: AccountId,
        trigger: &str,
    ) -> ServiceResult<RefreshOutcome> {
        let (row, kind, connector) = self.connector(actor.user_id, id).await?;
        if repo::import_jobs::has_running(&self.ctx.db, row.id, chrono::Duration::minutes(15))
            .await?
        {
            return Err(ServiceError::Conflict(
                "a refresh of this account is already running".into(),
            ));
        }
        let source = kind.to_ascii_lowercase();
        let job = repo::import_jobs::start(&self.ctx.db, actor.user_id.0, row.id, &source, trigger)
            .await?;
        self.ctx.metrics.job_finished("running");

        // Network first, with no database transaction open.
        let fetched = fetch_all(connector.as_ref(), row.sync_cursor.as_deref()).await;
        let batch = match fetched {
            Ok(batch) => batch,
            Err(e) => {
                let message = failure_message(&e);
                self.set_status(&row, status_for(&e), Some(message.clone()))
                    .await?;
                repo::import_jobs::finish(
                    &self.ctx.db,
                    job,
                    "failed",
                    Default::default(),
                    Some(message),
                )
                .await?;
                self.ctx.metrics.job_finished("failed");
                return Err(ServiceError::Upstream(e));
            }
        };

        let job_id = job.id;
        let now = Utc::now();
        let account_id = row.id;
        let fetched_count = i32::try_from(batch.transactions.len()).unwrap_or(i32::MAX);
        let holdings_count = i32::try_from(batch.holdings.len()).unwrap_or(i32::MAX);
        let txn = self.ctx.db.begin().await?;
        let asset_refs: Vec<_> = batch
            .holdings
            .iter()
            .map(|h| &h.asset)
            .chain(batch.transactions.iter().filter_map(|t| t.asset.as_ref()))
            .collect();
        let asset_ids = repo::assets::ensure(&txn, &asset_refs).await?;
        let asset_id = |key: &str| -> ServiceResult<Uuid> {
            asset_ids.get(key).copied().ok_or_else(|| {
                ServiceError::Unexpected(anyhow::anyhow!("asset {key} was not stored"))
            })
        };
        let holding_rows = batch
            .holdings
            .iter()
            .map(|h| {
                Ok(holding::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    account_id: Set(account_id),
                    asset_id: Set(asset_id(&h.asset.asset_id)?),
                    quantity: Set(dec_to_db(h.quantity)),
                    cost_basis: Set(h.cost_basis.map(dec_to_db)),
                    price: Set(h.price.map(dec_to_db)),
                    market_value: Set(h.market_value.map(dec_to_db)),
                    currency: Set(h.asset.currency.clone()),
                    as_of: Set(h.as_of),
                    source: Set(source.clone()),
                    updated_at: Set(now),
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        repo::holdings::replace_for_account(&txn, account_id, holding_rows).await?;
        let tx_rows = batch
            .transactions
            .iter()
            .map(|t| {
                Ok(transaction::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    account_id: Set(account_id),
                    asset_id: Set(t
                        .asset
                        .as_ref()
                        .map(|a| asset_id(&a.asset_id))
                        .transpose()?),
                    kind: Set(t.kind.as_str().to_string()),
                    trade_date: Set(t.trade_date),
                    settle_date: Set(t.settle_date),
                    quantity: Set(t.quantity.map(dec_to_db)),
                    price: Set(t.price.map(dec_to_db)),
                    amount: Set(dec_to_db(t.amount)),
                    fee: Set(t.fee.map(dec_to_db)),
                    currency: Set(t.currency.clone()),
                    description: Set(t.description.clone()),
                    source: Set(source.clone()),
                    source_id: Set(t.source_id.clone()),
                    fingerprint: Set(fingerprint(account_id, t)),
                    import_job_id: Set(Some(job_id)),
                    created_at: Set(now),
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        let inserted =
            i32::try_from(repo::transactions::insert_new(&txn, tx_rows).await?).unwrap_or(i32::MAX);
        let mut m: account::ActiveModel = row.into();
        if let Some(balance) = &batch.balance {
            m.balance = Set(Some(dec_to_db(balance.amount)));
            m.balance_currency = Set(Some(balance.currency.clone()));
            m.balance_updated_at = Set(Some(balance.as_of));
        }
        if batch.cursor.is_some() {
            m.sync_cursor = Set(batch.cursor.clone());
        }
        m.integration_status = Set(Some(IntegrationStatus::Ok.as_str().to_string()));
        m.last_error = Set(None);
        m.last_synced_at = Set(Some(now));
        repo::accounts::update(&txn, m).await?;
        let counts = repo::import_jobs::JobCounts {
            fetched: fetched_count,
            inserted,
            updated: holdings_count,
            duplicates: fetched_count - inserted,
            failed: 0,
        };
        repo::import_jobs::finish(&txn, job, "succeeded", counts, None).await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        self.ctx.metrics.job_finished("succeeded");
        tracing::info!(account_id = %account_id, import_job_id = %job_id, inserted, fetched = fetched_count, "refresh succeeded");
        Ok(RefreshOutcome {
            balance: batch.balance.as_ref().map(|b| b.amount),
            currency: batch.balance.as_ref().map(|b| b.currency.clone()),
            updated_at: now,
            import_job_id: job_id,
            fetched: fetched_count,
            inserted,
            duplicates: fetched_count - inserted,
            holdings: holdings_count,
        })
    }
}

async fn fetch_all(
    connector: &dyn tributary_connectors::AccountConnector,
    cursor: Option<&str>,
) -> Result<SyncBatch, ConnectorError> {
    let holdings = connector.holdings().await?;
    let (transactions, cursor) = connector.transactions(cursor).await?;
    let balance = connector.balance().await?;
    Ok(SyncBatch {
        holdings,
        transactions,
        balance: Some(balance),
        cursor,
    })
}

/// The content fingerprint of a transaction (used by the cross-source dedup layers).
fn fingerprint(account_id: Uuid, t: &tributary_connectors::Transaction) -> String {
    use sha2::{Digest, Sha256};
    let parts = [
        account_id.to_string(),
        t.kind.as_str().to_string(),
        t.trade_date.to_string(),
        t.asset
            .as_ref()
            .map(|a| a.asset_id.clone())
            .unwrap_or_default(),
        t.quantity
            .map(|q| q.normalize().to_string())
            .unwrap_or_default(),
        t.price
            .map(|p| p.normalize().to_string())
            .unwrap_or_default(),
        t.amount.normalize().to_string(),
        t.currency.clone(),
    ];
    hex::encode(Sha256::digest(parts.join("|").as_bytes()))
}

fn status_for(e: &ConnectorError) -> IntegrationStatus {
    if e.needs_reauth() {
        IntegrationStatus::NeedsReauth
    } else {
        IntegrationStatus::Error
    }
}

/// A message safe to show the user and store as `last_error` (no provider bodies, no secrets).
fn failure_message(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Authentication(_) => {
            "The provider rejected the credentials; update the integration and try again.".into()
        }
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
        ConnectorError::Transport(_) => "The provider could not be reached.".into(),
        ConnectorError::NotSupported(what) => format!("Not supported: {what}"),
        ConnectorError::InvalidConfig { field, message } => {
            format!("Invalid configuration `{field}`: {message}")
        }
    }
}
