//! Ledger entries, reached through the owning account.
use chrono::NaiveDate;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tributary_entity::transaction;
use uuid::Uuid;

/// Inserts entries, skipping those whose `(account_id, source, source_id)` already exists.
/// Returns how many were inserted.
pub async fn insert_new(
    db: &impl ConnectionTrait,
    rows: Vec<transaction::ActiveModel>,
) -> Result<u64, DbErr> {
    let mut inserted = 0;
    for chunk in rows.chunks(100) {
        let res = transaction::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    transaction::Column::AccountId,
                    transaction::Column::Source,
                    transaction::Column::SourceId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
        if let sea_orm::TryInsertResult::Inserted(n) = res {
            inserted += n;
        }
    }
    Ok(inserted)
}

/// Filters for listing.
#[derive(Debug, Default, Clone)]
pub struct TxFilter {
    pub kinds: Vec<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A page of an account's entries, newest trade date first, after the `(date, id)` cursor.
pub async fn list_for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    filter: &TxFilter,
    after: Option<(NaiveDate, Uuid)>,
    limit: u64,
) -> Result<Vec<transaction::Model>, DbErr> {
    let mut q = transaction::Entity::find().filter(transaction::Column::AccountId.eq(account_id));
    if !filter.kinds.is_empty() {
        q = q.filter(transaction::Column::Kind.is_in(filter.kinds.clone()));
    }
    if let Some(from) = filter.from {
        q = q.filter(transaction::Column::TradeDate.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(transaction::Column::TradeDate.lte(to));
    }
    if let Some((date, id)) = after {
        q = q.filter(
            Condition::any()
                .add(transaction::Column::TradeDate.lt(date))
                .add(
                    Condition::all()
                        .add(transaction::Column::TradeDate.eq(date))
                        .add(transaction::Column::Id.lt(id)),
                ),
        );
    }
    q.order_by_desc(transaction::Column::TradeDate)
        .order_by_desc(transaction::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
