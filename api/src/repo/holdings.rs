//! Current positions, reached through the owning account.
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use tributary_entity::holding;
use uuid::Uuid;

/// Holdings of an account the caller has already resolved through its owner.
pub async fn list_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
) -> Result<Vec<holding::Model>, DbErr> {
    holding::Entity::find()
        .filter(holding::Column::AccountId.eq(account_id))
        .order_by_asc(holding::Column::Id)
        .all(db)
        .await
}

/// Replaces an account's positions with what the source reports now.
pub async fn replace_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    rows: Vec<holding::ActiveModel>,
) -> Result<(), DbErr> {
    holding::Entity::delete_many()
        .filter(holding::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    for chunk in rows.chunks(200) {
        holding::Entity::insert_many(chunk.to_vec())
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
