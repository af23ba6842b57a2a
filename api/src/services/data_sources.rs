//! The data-source dashboard: every integration of the user with its health and schedule.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::AppContext;
use crate::domain::{AccountId, UserId};
use crate::error::ServiceResult;
use crate::repo;

/// One integrated account as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub account_id: AccountId,
    pub account_name: String,
    pub integration_type: String,
    /// connected, error, needs_reauth or configured (never synced or tested).
    pub status: String,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sync_frequency: String,
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The last job's data quality score, 0 to 100.
    pub quality_score: Option<Decimal>,
    /// The queued or running job, if any.
    pub active_job_id: Option<uuid::Uuid>,
    /// Things the user should act on before syncs fail (a credential about to expire).
    pub warnings: Vec<String>,
}

pub struct DataSourceService<'a> {
    pub(crate) ctx: &'a AppContext,
}

impl DataSourceService<'_> {
    /// The caller's integrations.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list(&self, user: UserId) -> ServiceResult<Vec<DataSource>> {
        let accounts = repo::accounts::list_owned(&self.ctx.db, user.0, None, 10_000).await?;
        let mut out = Vec::new();
        for a in accounts {
            let Some(kind) = a.integration_type.clone() else {
                continue;
            };
            let status = match a.integration_status.as_deref() {
                Some("ok") => "connected",
                Some("error") => "error",
                Some("needs_reauth") => "needs_reauth",
                _ => "configured",
            };
            let active = repo::import_jobs::find_active(&self.ctx.db, a.id).await?;
            let warnings = match self.ctx.integrations().decrypted_config(&a) {
                Ok(Some(config)) => tributary_connectors::registry::config_warnings(
                    &self.ctx.connectors,
                    &kind,
                    &config,
                    Utc::now().date_naive(),
                ),
                _ => Vec::new(),
            };
            out.push(DataSource {
                account_id: AccountId(a.id),
                account_name: a.name,
                integration_type: kind,
                status: status.to_string(),
                last_synced_at: a.last_synced_at,
                last_error: a.last_error,
                sync_frequency: a.sync_frequency,
                next_sync_at: a.next_sync_at,
                quality_score: a.quality_score.as_deref().and_then(|q| q.parse().ok()),
                active_job_id: active.map(|j| j.id),
                warnings,
            });
        }
        Ok(out)
    }
}
