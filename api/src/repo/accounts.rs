//! Accounts, always reached through their owner.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tributary_entity::account;
use uuid::Uuid;

/// Fields of a new account.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub currency: &'a str,
    pub institution: Option<&'a str>,
    pub notes: Option<&'a str>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
    a: NewAccount<'_>,
) -> Result<account::Model, DbErr> {
    let now = Utc::now();
    account::ActiveModel {
        id: Set(id),
        user_id: Set(owner),
        name: Set(a.name.to_string()),
        kind: Set(a.kind.to_string()),
        currency: Set(a.currency.to_string()),
        institution: Set(a.institution.map(str::to_string)),
        notes: Set(a.notes.map(str::to_string)),
        integration_type: Set(None),
        integration_config: Set(None),
        integration_status: Set(None),
        last_synced_at: Set(None),
        last_error: Set(None),
        sync_cursor: Set(None),
        balance: Set(None),
        balance_currency: Set(None),
        balance_updated_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        sync_frequency: Set("daily".to_string()),
        next_sync_at: Set(None),
        quality_score: Set(None),
        import_profile: Set(None),
    }
    .insert(db)
    .await
}

/// The owner's account, or `None` (also when it belongs to someone else).
pub async fn find_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::UserId.eq(owner))
        .one(db)
        .await
}

/// A page of the owner's accounts in creation order, after the cursor id.
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<account::Model>, DbErr> {
    let mut q = account::Entity::find().filter(account::Column::UserId.eq(owner));
    if let Some(after) = after {
        q = q.filter(account::Column::Id.gt(after));
    }
    q.order_by_asc(account::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Saves changes to an account the caller already fetched through its owner.
pub async fn update(
    db: &impl ConnectionTrait,
    mut model: account::ActiveModel,
) -> Result<account::Model, DbErr> {
    model.updated_at = Set(Utc::now());
    model.update(db).await
}

/// Deletes the owner's account (holdings, transactions and jobs cascade); false when absent.
pub async fn delete_owned(db: &impl ConnectionTrait, owner: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = account::Entity::delete_many()
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::UserId.eq(owner))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Every account with an integration (key rotation, admin code only).
pub async fn all_with_integration(db: &impl ConnectionTrait) -> Result<Vec<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::IntegrationConfig.is_not_null())
        .all(db)
        .await
}

/// Takes the write lock for a transaction that reads before it writes. On SQLite a deferred
/// transaction that reads first fails at once ("database is locked") when it later tries to
/// write while another connection writes; writing first makes it wait (busy timeout) instead.
/// On PostgreSQL it locks the account row, serializing writers of one account.
pub async fn lock_for_write(db: &impl ConnectionTrait, account_id: Uuid) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    account::Entity::update_many()
        .col_expr(
            account::Column::UpdatedAt,
            Expr::col(account::Column::UpdatedAt),
        )
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}
