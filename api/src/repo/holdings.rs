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

/// Holdings of several of the owner's accounts in one query (accounts of other users are
/// filtered out by the subquery on `accounts.user_id`).
pub async fn list_for_owned_accounts(
    db: &impl ConnectionTrait,
    owner: Uuid,
    account_ids: Vec<Uuid>,
) -> Result<Vec<holding::Model>, DbErr> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::Query;
    use tributary_entity::account;
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    holding::Entity::find()
        .filter(
            holding::Column::AccountId.in_subquery(
                Query::select()
                    .column(account::Column::Id)
                    .from(account::Entity)
                    .and_where(account::Column::UserId.eq(owner))
                    .and_where(account::Column::Id.is_in(account_ids))
                    .to_owned(),
            ),
        )
        .order_by_asc(holding::Column::Id)
        .limit(100_000)
        .all(db)
        .await
}
