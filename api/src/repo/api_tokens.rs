//! Personal API tokens (hashed).
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use tributary_entity::api_token;
use uuid::Uuid;

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: &impl ConnectionTrait,
    owner: Uuid,
    name: &str,
    scope: &str,
    token_hash: &str,
    prefix: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner),
        name: Set(name.to_string()),
        scope: Set(scope.to_string()),
        token_hash: Set(token_hash.to_string()),
        prefix: Set(prefix.to_string()),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
}

/// The owner's tokens that are not revoked, newest first.
pub async fn list_owned(
    db: &impl ConnectionTrait,
    owner: Uuid,
) -> Result<Vec<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(owner))
        .filter(api_token::Column::RevokedAt.is_null())
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await
}

/// Revokes one of the owner's tokens; false when there is no such (active) token.
pub async fn revoke_owned(db: &impl ConnectionTrait, owner: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::UserId.eq(owner))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Looks a presented token up by hash (authentication; the owner is what we learn).
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Records use, at most once a minute per token to keep reads cheap.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    let now = Utc::now();
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_token::Column::LastUsedAt.is_null())
                .add(api_token::Column::LastUsedAt.lt(now - chrono::Duration::seconds(60))),
        )
        .exec(db)
        .await?;
    Ok(())
}
