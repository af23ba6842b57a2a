//! Market data: latest quotes, daily bars, FX rates and per-asset price bookkeeping. These
//! rows are shared reference data (not user-owned), keyed by the stable asset key. Writes are
//! upserts on the natural unique keys, so concurrent refreshes never conflict.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use tributary_connectors::market::{Bar, FxRate, Quote};
use tributary_entity::{asset, data_source_metadata, fx_rate, holding, price, quote};
use uuid::Uuid;

use super::{dec_from_db, dec_to_db, opt_dec_from_db};

/// A stored latest price.
#[derive(Debug, Clone)]
pub struct StoredQuote {
    pub asset_key: String,
    pub symbol: String,
    pub price: rust_decimal::Decimal,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    pub source: String,
}

fn stored_quote(m: quote::Model) -> Result<StoredQuote, DbErr> {
    Ok(StoredQuote {
        price: dec_from_db(&m.price)?,
        asset_key: m.asset_key,
        symbol: m.symbol,
        currency: m.currency,
        as_of: m.as_of,
        source: m.source,
    })
}

/// Inserts or replaces the latest quote of each asset.
pub async fn upsert_quotes(db: &impl ConnectionTrait, quotes: &[Quote]) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<quote::ActiveModel> = quotes
        .iter()
        .filter(|q| seen.insert(q.asset_id.clone()))
        .map(|q| quote::ActiveModel {
            id: Set(Uuid::now_v7()),
            asset_key: Set(q.asset_id.clone()),
            symbol: Set(q.symbol.clone()),
            price: Set(dec_to_db(q.price)),
            currency: Set(q.currency.clone()),
            as_of: Set(q.as_of),
            source: Set(q.source.clone()),
            fetched_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(200) {
        quote::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(quote::Column::AssetKey)
                    .update_columns([
                        quote::Column::Symbol,
                        quote::Column::Price,
                        quote::Column::Currency,
                        quote::Column::AsOf,
                        quote::Column::Source,
                        quote::Column::FetchedAt,
                    ])
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Stored quotes by asset key.
pub async fn quotes_by_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<HashMap<String, StoredQuote>, DbErr> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(500) {
        let rows = quote::Entity::find()
            .filter(quote::Column::AssetKey.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        for m in rows {
            let q = stored_quote(m)?;
            out.insert(q.asset_key.clone(), q);
        }
    }
    Ok(out)
}

/// The latest stored close of each asset (for the implausible-quote guard).
pub async fn last_closes(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<HashMap<String, rust_decimal::Decimal>, DbErr> {
    let mut out = HashMap::new();
    // Only recent bars matter for the guard; bounding the range keeps this one cheap query.
    let since = Utc::now().date_naive() - chrono::Days::new(31);
    for chunk in keys.chunks(200) {
        let rows = price::Entity::find()
            .filter(price::Column::AssetKey.is_in(chunk.to_vec()))
            .filter(price::Column::Date.gte(since))
            .order_by_asc(price::Column::AssetKey)
            .order_by_desc(price::Column::Date)
            .all(db)
            .await?;
        for m in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(m.asset_key.clone())
            {
                slot.insert(dec_from_db(&m.close)?);
            }
        }
    }
    Ok(out)
}

/// Inserts or replaces daily bars of one asset.
pub async fn upsert_bars(
    db: &impl ConnectionTrait,
    asset_key: &str,
    currency: &str,
    source: &str,
    bars: &[Bar],
) -> Result<(), DbErr> {
    let now = Utc::now();
    let rows: Vec<price::ActiveModel> = bars
        .iter()
        .map(|b| price::ActiveModel {
            id: Set(Uuid::now_v7()),
            asset_key: Set(asset_key.to_string()),
            date: Set(b.date),
            open: Set(b.open.map(dec_to_db)),
            high: Set(b.high.map(dec_to_db)),
            low: Set(b.low.map(dec_to_db)),
            close: Set(dec_to_db(b.close)),
            adj_close: Set(b.adj_close.map(dec_to_db)),
            volume: Set(b.volume.map(dec_to_db)),
            currency: Set(currency.to_string()),
            source: Set(source.to_string()),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(100) {
        price::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([price::Column::AssetKey, price::Column::Date])
                    .update_columns([
                        price::Column::Open,
                        price::Column::High,
                        price::Column::Low,
                        price::Column::Close,
                        price::Column::AdjClose,
                        price::Column::Volume,
                        price::Column::Currency,
                        price::Column::Source,
                        price::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Stored bars of an asset in a date range, ascending, with their currency and source.
pub async fn bars(
    db: &impl ConnectionTrait,
    asset_key: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(Bar, String, String)>, DbErr> {
    let rows = price::Entity::find()
        .filter(price::Column::AssetKey.eq(asset_key))
        .filter(price::Column::Date.gte(from))
        .filter(price::Column::Date.lte(to))
        .order_by_asc(price::Column::Date)
        .limit(20_000)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|m| {
            Ok((
                Bar {
                    date: m.date,
                    open: opt_dec_from_db(m.open.as_deref())?,
                    high: opt_dec_from_db(m.high.as_deref())?,
                    low: opt_dec_from_db(m.low.as_deref())?,
                    close: dec_from_db(&m.close)?,
                    adj_close: opt_dec_from_db(m.adj_close.as_deref())?,
                    volume: opt_dec_from_db(m.volume.as_deref())?,
                },
                m.currency,
                m.source,
            ))
        })
        .collect()
}

/// Inserts or replaces an FX rate for its date.
pub async fn upsert_fx(db: &impl ConnectionTrait, rate: &FxRate) -> Result<(), DbErr> {
    fx_rate::Entity::insert(fx_rate::ActiveModel {
        id: Set(Uuid::now_v7()),
        base: Set(rate.base.clone()),
        quote: Set(rate.quote.clone()),
        date: Set(rate.date),
        rate: Set(dec_to_db(rate.rate)),
        source: Set(rate.source.clone()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            fx_rate::Column::Base,
            fx_rate::Column::Quote,
            fx_rate::Column::Date,
        ])
        .update_columns([
            fx_rate::Column::Rate,
            fx_rate::Column::Source,
            fx_rate::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .try_insert()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A stored FX rate with when it was written.
#[derive(Debug, Clone)]
pub struct StoredFx {
    pub rate: FxRate,
    pub updated_at: DateTime<Utc>,
}

fn stored_fx(m: fx_rate::Model) -> Result<StoredFx, DbErr> {
    Ok(StoredFx {
        rate: FxRate {
            rate: dec_from_db(&m.rate)?,
            base: m.base,
            quote: m.quote,
            date: m.date,
            source: m.source,
        },
        updated_at: m.updated_at,
    })
}

/// The stored `base`/`quote` rate on `date` or the last before it (the latest without a date).
pub async fn fx_on_or_before(
    db: &impl ConnectionTrait,
    base: &str,
    quote: &str,
    date: Option<NaiveDate>,
) -> Result<Option<StoredFx>, DbErr> {
    let mut q = fx_rate::Entity::find()
        .filter(fx_rate::Column::Base.eq(base))
        .filter(fx_rate::Column::Quote.eq(quote));
    if let Some(d) = date {
        q = q.filter(fx_rate::Column::Date.lte(d));
    }
    q.order_by_desc(fx_rate::Column::Date)
        .one(db)
        .await?
        .map(stored_fx)
        .transpose()
}

/// The latest stored rate of every pair whose base or quote is one of `currencies`, keyed by
/// `(base, quote)`; one query for a whole valuation.
pub async fn latest_fx_touching(
    db: &impl ConnectionTrait,
    currencies: &[String],
) -> Result<HashMap<(String, String), StoredFx>, DbErr> {
    let mut out: HashMap<(String, String), StoredFx> = HashMap::new();
    if currencies.is_empty() {
        return Ok(out);
    }
    let rows = fx_rate::Entity::find()
        .filter(fx_rate::Column::Base.is_in(currencies.to_vec()))
        .filter(fx_rate::Column::Quote.is_in(currencies.to_vec()))
        .order_by_desc(fx_rate::Column::Date)
        .limit(10_000)
        .all(db)
        .await?;
    for m in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            out.entry((m.base.clone(), m.quote.clone()))
        {
            slot.insert(stored_fx(m)?);
        }
    }
    Ok(out)
}

/// Records a successful pricing of each asset: when, from where; the quality score recovers.
pub async fn record_priced(
    db: &impl ConnectionTrait,
    priced: &[(String, String, DateTime<Utc>)],
) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<data_source_metadata::ActiveModel> = priced
        .iter()
        .filter(|(key, _, _)| seen.insert(key.clone()))
        .map(|(key, source, at)| data_source_metadata::ActiveModel {
            id: Set(Uuid::now_v7()),
            asset_key: Set(key.clone()),
            last_price_update: Set(Some(*at)),
            source: Set(Some(source.clone())),
            quality_score: Set(100),
            last_error: Set(None),
            consecutive_failures: Set(0),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(200) {
        data_source_metadata::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(data_source_metadata::Column::AssetKey)
                    .update_columns([
                        data_source_metadata::Column::LastPriceUpdate,
                        data_source_metadata::Column::Source,
                        data_source_metadata::Column::QualityScore,
                        data_source_metadata::Column::LastError,
                        data_source_metadata::Column::ConsecutiveFailures,
                        data_source_metadata::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Records a failed pricing of a held asset: the quality score drops by 20 per consecutive
/// failure (to 0); the last successful update and source are kept.
pub async fn record_failed(
    db: &impl ConnectionTrait,
    asset_key: &str,
    reason: &str,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let existing = data_source_metadata::Entity::find()
        .filter(data_source_metadata::Column::AssetKey.eq(asset_key))
        .one(db)
        .await?;
    let failures = existing.as_ref().map_or(0, |m| m.consecutive_failures) + 1;
    let score = (100 - 20 * failures).max(0);
    let reason: String = reason.chars().take(1000).collect();
    match existing {
        Some(m) => {
            let mut am: data_source_metadata::ActiveModel = m.into();
            am.consecutive_failures = Set(failures);
            am.quality_score = Set(score);
            am.last_error = Set(Some(reason));
            am.updated_at = Set(now);
            sea_orm::ActiveModelTrait::update(am, db).await?;
        }
        None => {
            data_source_metadata::Entity::insert(data_source_metadata::ActiveModel {
                id: Set(Uuid::now_v7()),
                asset_key: Set(asset_key.to_string()),
                last_price_update: Set(None),
                source: Set(None),
                quality_score: Set(score),
                last_error: Set(Some(reason)),
                consecutive_failures: Set(failures),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(data_source_metadata::Column::AssetKey)
                    .do_nothing()
                    .to_owned(),
            )
            .try_insert()
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}

/// Price bookkeeping of assets by key.
pub async fn metadata_by_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<HashMap<String, data_source_metadata::Model>, DbErr> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(500) {
        let rows = data_source_metadata::Entity::find()
            .filter(data_source_metadata::Column::AssetKey.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        out.extend(rows.into_iter().map(|m| (m.asset_key.clone(), m)));
    }
    Ok(out)
}

/// An asset by its stable key.
pub async fn asset_by_key(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<asset::Model>, DbErr> {
    asset::Entity::find()
        .filter(asset::Column::AssetKey.eq(key))
        .one(db)
        .await
}

/// Every asset somebody holds (the price scheduler's work list; system-wide by design, it
/// reveals nothing about who holds what).
pub async fn held_assets(db: &impl ConnectionTrait) -> Result<Vec<asset::Model>, DbErr> {
    asset::Entity::find()
        .filter(
            asset::Column::Id.in_subquery(
                Query::select()
                    .distinct()
                    .column(holding::Column::AssetId)
                    .from(holding::Entity)
                    .to_owned(),
            ),
        )
        .order_by_asc(asset::Column::AssetKey)
        .all(db)
        .await
}

/// Currency pairs valuations need: (holding currency or asset currency, the holder's base
/// currency); the scheduler keeps their rates fresh.
pub async fn held_currency_pairs(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, String)>, DbErr> {
    use tributary_entity::{account, user};
    let rows: Vec<(String, String, String)> = holding::Entity::find()
        .select_only()
        .column(holding::Column::Currency)
        .column_as(
            Expr::col((asset::Entity, asset::Column::Currency)),
            "asset_currency",
        )
        .column_as(
            Expr::col((user::Entity, user::Column::BaseCurrency)),
            "base",
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            holding::Entity::belongs_to(asset::Entity)
                .from(holding::Column::AssetId)
                .to(asset::Column::Id)
                .into(),
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            holding::Entity::belongs_to(account::Entity)
                .from(holding::Column::AccountId)
                .to(account::Column::Id)
                .into(),
        )
        .join(
            sea_orm::JoinType::InnerJoin,
            account::Entity::belongs_to(user::Entity)
                .from(account::Column::UserId)
                .to(user::Column::Id)
                .into(),
        )
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut pairs: Vec<(String, String)> = rows
        .into_iter()
        .flat_map(|(h, a, base)| [(h, base.clone()), (a, base)])
        .filter(|(a, b)| a != b && !a.is_empty())
        .collect();
    pairs.sort();
    pairs.dedup();
    Ok(pairs)
}
