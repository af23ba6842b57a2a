//! The audit log: integration changes, token creation and revocation, logins.

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::{AppContext, page_limit};
use crate::domain::{AuditEntry, Page, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo;

pub struct AuditService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// Records an event. `detail` must never contain secret values.
///
/// # Errors
/// Database errors.
pub async fn record(
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    action: &str,
    target: Option<(&str, String)>,
    detail: Option<serde_json::Value>,
    ip: Option<&str>,
) -> ServiceResult<()> {
    let (target_type, target_id) = match target {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    repo::audit::insert(
        db,
        repo::audit::NewAuditEntry {
            user_id,
            action,
            target_type,
            target_id,
            detail,
            ip,
        },
    )
    .await?;
    Ok(())
}

impl AuditService<'_> {
    /// The caller's own entries, newest first.
    ///
    /// # Errors
    /// `Validation` for a malformed cursor.
    pub async fn list(
        &self,
        user: UserId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> ServiceResult<Page<AuditEntry>> {
        let before = cursor
            .filter(|c| !c.is_empty())
            .map(|c| {
                Uuid::parse_str(c)
                    .map_err(|_| ServiceError::validation("cursor", "is not a valid cursor"))
            })
            .transpose()?;
        let limit = page_limit(limit);
        let rows = repo::audit::list_owned(&self.ctx.db, user.0, before, limit + 1).await?;
        let has_more = rows.len() as u64 > limit;
        let items: Vec<AuditEntry> = rows
            .into_iter()
            .take(limit as usize)
            .map(|m| AuditEntry {
                id: m.id,
                action: m.action,
                target_type: m.target_type,
                target_id: m.target_id,
                detail: m.detail.and_then(|d| serde_json::from_str(&d).ok()),
                ip: m.ip,
                created_at: m.created_at,
            })
            .collect();
        let next_cursor = if has_more {
            items.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
