//! Instruments, shared by all users and keyed by their stable asset id.
use std::collections::HashMap;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use tributary_connectors::AssetRef;
use tributary_entity::asset;
use uuid::Uuid;

/// Makes sure every asset exists and returns their row ids by asset key. Inserts first (a
/// write, so a SQLite transaction takes its write lock at once), then reads.
pub async fn ensure(
    db: &impl ConnectionTrait,
    refs: &[&AssetRef],
) -> Result<HashMap<String, Uuid>, DbErr> {
    if refs.is_empty() {
        return Ok(HashMap::new());
    }
    let mut seen = std::collections::HashSet::new();
    let models: Vec<asset::ActiveModel> = refs
        .iter()
        .filter(|r| seen.insert(r.asset_id.clone()))
        .map(|r| asset::ActiveModel {
            id: Set(Uuid::now_v7()),
            asset_key: Set(r.asset_id.clone()),
            symbol: Set(r.symbol.clone()),
            name: Set(r.name.clone()),
            class: Set(r.class.as_str().to_string()),
            currency: Set(r.currency.clone()),
            exchange: Set(r.exchange.clone()),
            created_at: Set(Utc::now()),
        })
        .collect();
    let keys: Vec<String> = seen.into_iter().collect();
    for chunk in models.chunks(200) {
        asset::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(asset::Column::AssetKey)
                    .do_nothing()
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    let mut out = HashMap::new();
    for chunk in keys.chunks(500) {
        let rows = asset::Entity::find()
            .filter(asset::Column::AssetKey.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|m| (m.asset_key, m.id)));
    }
    Ok(out)
}

/// Assets by row id.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, asset::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows = asset::Entity::find()
            .filter(asset::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|m| (m.id, m)));
    }
    Ok(out)
}

/// An asset by its stable key.
pub async fn by_key(db: &impl ConnectionTrait, key: &str) -> Result<Option<asset::Model>, DbErr> {
    asset::Entity::find()
        .filter(asset::Column::AssetKey.eq(key))
        .one(db)
        .await
}
