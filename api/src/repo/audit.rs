//! The audit log.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tributary_entity::audit_log;
use uuid::Uuid;

/// One event to record. `detail` must never contain secret values.
pub struct NewAuditEntry<'a> {
    pub user_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub ip: Option<&'a str>,
}

pub async fn insert(db: &impl ConnectionTrait, e: NewAuditEntry<'_>) -> Result<(), DbErr> {
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(e.user_id),
        action: Set(e.action.to_string()),
        target_type: Set(e.target_type.map(str::to_string)),
        target_id: Set(e.target_id),
        detail: Set(e.detail.map(|d| d.to_string())),
        ip: Set(e.ip.map(str::to_string)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The owner's entries, newest first, before the cursor id.
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_log::Model>, DbErr> {
    let mut q = audit_log::Entity::find().filter(audit_log::Column::UserId.eq(owner));
    if let Some(before) = before {
        q = q.filter(audit_log::Column::Id.lt(before));
    }
    q.order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
