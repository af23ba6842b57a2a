//! Import jobs as their owner sees them.

use uuid::Uuid;

use sea_orm::{ActiveModelTrait, Set};

use super::{Actor, AppContext, audit, page_limit};
use crate::domain::{AccountId, ImportJob, Page, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct ImportJobService<'a> {
    pub(crate) ctx: &'a AppContext,
}

pub(crate) fn to_domain(m: tributary_entity::import_job::Model) -> ImportJob {
    let json = |s: &Option<String>| s.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let list = |s: &Option<String>| json(s).unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    let retryable = retry_refusal(&m, chrono::Utc::now()).is_none();
    ImportJob {
        processed: m.processed,
        options: m
            .options
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok()),
        retryable,
        attempt: m.attempt,
        max_attempts: m.max_attempts,
        next_run_at: m.next_run_at,
        progress: m.progress,
        cursor_in: m.cursor_in.clone(),
        cursor_out: m.cursor_out.clone(),
        warnings: list(&m.warnings),
        errors: list(&m.errors),
        reconciliation: json(&m.reconciliation),
        anomalies: list(&m.anomalies),
        quality_score: m.quality_score.as_deref().and_then(|q| q.parse().ok()),
        duration_ms: m.duration_ms,
        format: m.format.clone(),
        dry_run: m.dry_run,
        id: m.id,
        account_id: m.account_id.map(AccountId),
        source: m.source,
        trigger: m.trigger,
        status: m.status,
        fetched: m.fetched,
        inserted: m.inserted,
        updated: m.updated,
        duplicates: m.duplicates,
        failed: m.failed,
        error: m.error,
        created_at: m.created_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
    }
}

/// Why `retry` would refuse the job now, or `None` when it would take it back (another
/// active job of the account aside).
fn retry_refusal(
    job: &tributary_entity::import_job::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<&'static str> {
    match job.status.as_str() {
        "queued" | "running" => Some("the job is still queued or running"),
        "succeeded" if job.trigger == "upload" => {
            Some("the upload succeeded, so its file is not kept: there is nothing to retry")
        }
        _ if job.trigger == "upload" && job.file_expires_at.is_none_or(|t| t <= now) => Some(
            "the uploaded file is no longer kept (files of uploads that did not succeed are \
             kept for jobs.upload_retention_days days): upload it again",
        ),
        _ => None,
    }
}

impl ImportJob {
    /// Whether the job has reached a final status.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "succeeded" | "partial" | "failed" | "cancelled"
        )
    }
}

impl ImportJobService<'_> {
    /// # Errors
    /// `NotFound` unless the caller owns the job.
    pub async fn get(&self, user: UserId, id: Uuid) -> ServiceResult<ImportJob> {
        repo::import_jobs::find_owned(&self.ctx.db, user.0, id)
            .await?
            .map(|m| self.view(m))
            .ok_or(ServiceError::NotFound)
    }

    /// The job as its owner sees it: a file import running in this process shows its live
    /// progress (its row cannot be written until it ends, see `services::progress`).
    fn view(&self, m: tributary_entity::import_job::Model) -> ImportJob {
        let mut job = to_domain(m);
        self.ctx.live_jobs.overlay(&mut job);
        job
    }

    /// The caller's jobs, newest first, filtered; an account filter must name their account.
    ///
    /// # Errors
    /// `NotFound` for another user's account, `Validation` for a bad status or cursor.
    pub async fn list(
        &self,
        user: UserId,
        filter: JobQuery,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> ServiceResult<Page<ImportJob>> {
        if let Some(account) = filter.account {
            self.ctx.accounts().owned(user, account).await?;
        }
        if let Some(status) = &filter.status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(ServiceError::validation(
                "status",
                format!("must be one of {}", STATUSES.join(", ")),
            ));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(ServiceError::validation("from", "must not be after `to`"));
        }
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                Uuid::parse_str(c)
                    .map_err(|_| ServiceError::validation("cursor", "is not a valid cursor"))
            })
            .transpose()?;
        let limit = page_limit(limit);
        let repo_filter = repo::import_jobs::JobFilter {
            account_id: filter.account.map(|a| a.0),
            status: filter.status,
            source: filter.source.map(|s| s.to_ascii_lowercase()),
            from: filter.from,
            to: filter.to,
        };
        let rows =
            repo::import_jobs::list_owned(&self.ctx.db, user.0, &repo_filter, before, limit + 1)
                .await?;
        let has_more = rows.len() as u64 > limit;
        let items: Vec<ImportJob> = rows
            .into_iter()
            .take(limit as usize)
            .map(|m| self.view(m))
            .collect();
        let next_cursor = if has_more {
            items.last().map(|j| j.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// Puts a finished job back in the queue (a fresh set of attempts). A file import runs
    /// again from its kept file, with the options it stored and the account's current import
    /// profile (`ImportService::run_claimed`).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the job; `Conflict` for a job that is still active,
    /// an upload that succeeded or whose file is no longer kept, or an account with another
    /// active job.
    pub async fn retry(&self, actor: &Actor, id: Uuid) -> ServiceResult<ImportJob> {
        let job = repo::import_jobs::find_owned(&self.ctx.db, actor.user_id.0, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if let Some(why) = retry_refusal(&job, chrono::Utc::now()) {
            return Err(ServiceError::Conflict(why.into()));
        }
        let upload = job.trigger == "upload";
        let mut m: tributary_entity::import_job::ActiveModel = job.into();
        if upload {
            m.progress = Set(0);
            m.processed = Set(0);
        }
        m.status = Set("queued".into());
        m.attempt = Set(0);
        m.next_run_at = Set(None);
        m.finished_at = Set(None);
        m.lease_owner = Set(None);
        m.lease_expires_at = Set(None);
        m.cancel_requested = Set(false);
        let updated = m.update(&self.ctx.db).await.map_err(|e| {
            if repo::is_unique_violation(&e) {
                ServiceError::Conflict(
                    "another sync of this account is already queued or running".into(),
                )
            } else {
                e.into()
            }
        })?;
        audit::record(
            &self.ctx.db,
            Some(actor.user_id.0),
            "import_job.retried",
            Some(("import_job", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        Ok(to_domain(updated))
    }

    /// Cancels a queued job at once, or asks a running one to stop after its current page
    /// (what a sync committed stays; a file import rolls back everything and keeps its file for
    /// a retry).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the job; `Conflict` when it already ended.
    pub async fn cancel(&self, actor: &Actor, id: Uuid) -> ServiceResult<ImportJob> {
        let job = repo::import_jobs::find_owned(&self.ctx.db, actor.user_id.0, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let mut m: tributary_entity::import_job::ActiveModel = job.clone().into();
        match job.status.as_str() {
            "queued" => {
                m.status = Set("cancelled".into());
                m.finished_at = Set(Some(chrono::Utc::now()));
                m.error = Set(Some("cancelled by the user".into()));
            }
            "running" => {
                if self.ctx.live_jobs.request_cancel(id, actor) {
                    // A file import running in this process: it sees the request before its
                    // next batch and audits it when it ends. (On SQLite its transaction holds
                    // the write lock, so neither the row nor the audit log can be written now.)
                    return Ok(self.view(job));
                }
                m.cancel_requested = Set(true);
            }
            _ => {
                return Err(ServiceError::Conflict(format!(
                    "the job already ended ({})",
                    job.status
                )));
            }
        }
        let updated = m.update(&self.ctx.db).await?;
        audit::record(
            &self.ctx.db,
            Some(actor.user_id.0),
            "import_job.cancelled",
            Some(("import_job", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        Ok(to_domain(updated))
    }

    /// Queues a sync of one account, run by the workers.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it has an integration; `Conflict`
    /// when a sync is already queued or running.
    pub async fn sync_account(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> ServiceResult<ImportJob> {
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let kind = row.integration_type.clone().ok_or(ServiceError::NotFound)?;
        let job = self
            .ctx
            .integrations()
            .enqueue(&row, &kind, "api", None)
            .await?;
        Ok(to_domain(job))
    }

    /// Queues a sync of every integrated account of the caller. With an idempotency key, a
    /// repeated request returns the jobs of the first one instead of queuing more.
    ///
    /// # Errors
    /// Database errors.
    pub async fn sync_all(
        &self,
        actor: &Actor,
        idempotency_key: Option<&str>,
    ) -> ServiceResult<Vec<ImportJob>> {
        let accounts =
            repo::accounts::list_owned(&self.ctx.db, actor.user_id.0, None, 10_000).await?;
        let mut jobs = Vec::new();
        for row in accounts {
            let Some(kind) = row.integration_type.clone() else {
                continue;
            };
            let key = idempotency_key.map(|k| format!("{k}:{}", row.id));
            if let Some(k) = &key
                && let Some(existing) =
                    repo::import_jobs::find_by_idempotency_key(&self.ctx.db, actor.user_id.0, k)
                        .await?
            {
                jobs.push(to_domain(existing));
                continue;
            }
            match self
                .ctx
                .integrations()
                .enqueue(&row, &kind, "api", key)
                .await
            {
                Ok(job) => jobs.push(to_domain(job)),
                Err(ServiceError::Conflict(_)) => {
                    if let Some(active) =
                        repo::import_jobs::find_active(&self.ctx.db, row.id).await?
                    {
                        jobs.push(to_domain(active));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(jobs)
    }
}

/// Every job status.
pub const STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "partial",
    "failed",
    "cancelled",
];

/// Job list filters as given by the caller.
#[derive(Debug, Default)]
pub struct JobQuery {
    pub account: Option<AccountId>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}
