//! Import jobs as their owner sees them.

use uuid::Uuid;

use super::{AppContext, page_limit};
use crate::domain::{AccountId, ImportJob, Page, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct ImportJobService<'a> {
    pub(crate) ctx: &'a AppContext,
}

pub(crate) fn to_domain(m: tributary_entity::import_job::Model) -> ImportJob {
    ImportJob {
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
            .map(to_domain)
            .ok_or(ServiceError::NotFound)
    }

    /// The caller's jobs, newest first; for one account when given (which must be theirs).
    ///
    /// # Errors
    /// `NotFound` for another user's account, `Validation` for a malformed cursor.
    pub async fn list(
        &self,
        user: UserId,
        account: Option<AccountId>,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> ServiceResult<Page<ImportJob>> {
        if let Some(account) = account {
            self.ctx.accounts().owned(user, account).await?;
        }
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                Uuid::parse_str(c)
                    .map_err(|_| ServiceError::validation("cursor", "is not a valid cursor"))
            })
            .transpose()?;
        let limit = page_limit(limit);
        let rows = repo::import_jobs::list_owned(
            &self.ctx.db,
            user.0,
            account.map(|a| a.0),
            before,
            limit + 1,
        )
        .await?;
        let has_more = rows.len() as u64 > limit;
        let items: Vec<ImportJob> = rows
            .into_iter()
            .take(limit as usize)
            .map(to_domain)
            .collect();
        let next_cursor = if has_more {
            items.last().map(|j| j.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
