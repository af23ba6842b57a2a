//! Transactions across accounts, and manual entries: created, corrected and deleted by the
//! user through the same ledger writer as imports (validation, dedup, aliases). A deleted
//! transaction leaves a tombstone so the next sync does not bring it back.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sea_orm::TransactionTrait;
use tributary_connectors::normalize::Taxonomy;
use tributary_connectors::{AssetClass, AssetRef, Transaction as Record, TransactionType};
use uuid::Uuid;

use super::accounts::{asset_to_domain, encode_tx_cursor};
use super::ledger::{self, Incoming, LedgerImport};
use super::{Actor, AppContext, audit, page_limit};
use crate::domain::{AccountId, Page, Transaction, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_from_db, opt_dec_from_db};

/// The shipped asset taxonomy, for resolving symbols of manual entries.
static TAXONOMY: std::sync::LazyLock<Result<Taxonomy, String>> =
    std::sync::LazyLock::new(|| Taxonomy::builtin().map_err(|e| e.to_string()));

pub struct TransactionService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// A manual entry as the user gives it.
#[derive(Debug, Clone)]
pub struct ManualTransaction {
    pub kind: String,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    /// A ticker (`AAPL`, `VOD.L`), crypto (`BTC`) or stable asset id (`EQUITY:XNAS:AAPL`).
    pub symbol: Option<String>,
    /// equity, etf, crypto, bond, fund, option, future, other.
    pub asset_class: Option<String>,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    pub currency: String,
    pub description: Option<String>,
}

/// Cross-account list filters as given by the caller.
#[derive(Debug, Default)]
pub struct AllTransactionsQuery {
    pub account: Option<AccountId>,
    pub kinds: Vec<String>,
    /// A stable asset id.
    pub asset: Option<String>,
    pub source: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub include_aliases: bool,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

pub(crate) fn to_domain(
    t: tributary_entity::transaction::Model,
    assets: &HashMap<Uuid, tributary_entity::asset::Model>,
) -> ServiceResult<Transaction> {
    Ok(Transaction {
        id: t.id,
        kind: t.kind,
        trade_date: t.trade_date,
        settle_date: t.settle_date,
        asset: t.asset_id.and_then(|a| assets.get(&a)).map(asset_to_domain),
        quantity: opt_dec_from_db(t.quantity.as_deref())?,
        price: opt_dec_from_db(t.price.as_deref())?,
        amount: dec_from_db(&t.amount)?,
        fee: opt_dec_from_db(t.fee.as_deref())?,
        currency: t.currency,
        description: t.description,
        source: t.source,
        source_id: t.source_id,
        import_job_id: t.import_job_id,
        account_id: AccountId(t.account_id),
        alias_of: t.alias_of,
        match_reason: t.match_reason,
    })
}

/// The request field a ledger validation error is about (`asset` is given as `symbol`).
fn request_field(ledger_field: &str) -> String {
    match ledger_field {
        "asset" => "symbol".to_string(),
        other => other.to_string(),
    }
}

fn parse_class(field: &str, class: Option<&str>) -> ServiceResult<Option<AssetClass>> {
    let Some(c) = class else { return Ok(None) };
    let parsed = match c.to_ascii_lowercase().as_str() {
        "equity" | "stock" => AssetClass::Equity,
        "etf" => AssetClass::Etf,
        "crypto" => AssetClass::Crypto,
        "bond" => AssetClass::Bond,
        "fund" => AssetClass::Fund,
        "option" => AssetClass::Option,
        "future" => AssetClass::Future,
        "other" => AssetClass::Other,
        _ => {
            return Err(ServiceError::validation(
                field,
                "must be one of equity, etf, crypto, bond, fund, option, future, other",
            ));
        }
    };
    Ok(Some(parsed))
}

impl TransactionService<'_> {
    fn record(&self, input: &ManualTransaction, source_id: String) -> ServiceResult<Record> {
        let kind = TransactionType::parse(&input.kind.to_ascii_lowercase())
            .ok_or_else(|| ServiceError::validation("type", "is not a transaction type"))?;
        let currency = crate::domain::Currency::parse("currency", &input.currency)?;
        let hint = parse_class("asset_class", input.asset_class.as_deref())?;
        let asset = match input
            .symbol
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(symbol) => {
                let taxonomy = TAXONOMY.as_ref().map_err(|e| {
                    ServiceError::Unexpected(anyhow::anyhow!("asset taxonomy: {e}"))
                })?;
                let instrument = taxonomy
                    .resolve(symbol, hint)
                    .map_err(|e| ServiceError::validation("symbol", e.to_string()))?;
                Some(AssetRef {
                    asset_id: instrument.asset_id.clone(),
                    symbol: instrument.symbol.clone(),
                    name: instrument
                        .name
                        .clone()
                        .unwrap_or_else(|| instrument.symbol.clone()),
                    class: if instrument.class == AssetClass::Cash {
                        AssetClass::Other
                    } else {
                        hint.unwrap_or(instrument.class)
                    },
                    currency: instrument
                        .currency
                        .clone()
                        .unwrap_or_else(|| currency.as_str().to_string()),
                    exchange: instrument.mic.clone(),
                })
            }
        };
        let description = input
            .description
            .as_deref()
            .map(|d| crate::domain::clean_text("description", d, 1000))
            .transpose()?;
        Ok(Record {
            source_id,
            kind,
            trade_date: input.trade_date,
            settle_date: input.settle_date,
            asset,
            quantity: input.quantity,
            price: input.price,
            amount: input.amount,
            fee: input.fee,
            currency: currency.as_str().to_string(),
            description,
        })
    }

    /// Adds a manual transaction to the caller's account.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` naming the field.
    pub async fn create(
        &self,
        actor: &Actor,
        account: AccountId,
        input: ManualTransaction,
    ) -> ServiceResult<Transaction> {
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let id = Uuid::now_v7();
        let record = self.record(&input, format!("manual:{id}"))?;
        if let Err((field, message)) = ledger::validate(&record, chrono::Utc::now().date_naive()) {
            return Err(ServiceError::validation(request_field(&field), message));
        }
        let txn = self.ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, row.id).await?;
        let mut ledger = LedgerImport::new(
            &txn,
            row.id,
            "manual",
            None,
            self.ctx.settings.jobs.match_window_days,
        )
        .await?;
        let counts = ledger
            .write(&txn, vec![Incoming { line: None, record }], false)
            .await?;
        if let Some(e) = counts.errors.first() {
            return Err(ServiceError::validation(
                e.field.clone().unwrap_or_else(|| "body".into()),
                e.message.clone(),
            ));
        }
        if counts.deleted_before > 0 {
            return Err(ServiceError::Conflict(
                "this transaction was deleted before; it is not added again".into(),
            ));
        }
        self.after_change(&txn, &row).await?;
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "transaction.created",
            Some(("account", account.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        let stored = repo::transactions::existing_source_ids(
            &txn,
            row.id,
            "manual",
            vec![format!("manual:{id}")],
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        if stored.is_empty() {
            return Err(ServiceError::Conflict(
                "an identical transaction already exists".into(),
            ));
        }
        self.find_by_source_id(actor.user_id, account, &format!("manual:{id}"))
            .await
    }

    async fn find_by_source_id(
        &self,
        user: UserId,
        account: AccountId,
        source_id: &str,
    ) -> ServiceResult<Transaction> {
        let page = self
            .list(
                user,
                AllTransactionsQuery {
                    account: Some(account),
                    source: Some("manual".into()),
                    include_aliases: true,
                    limit: Some(200),
                    ..Default::default()
                },
            )
            .await?;
        page.items
            .into_iter()
            .find(|t| t.source_id == source_id)
            .ok_or(ServiceError::NotFound)
    }

    /// Replaces a transaction's fields (its source and id stay).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it holds the transaction.
    pub async fn update(
        &self,
        actor: &Actor,
        account: AccountId,
        id: Uuid,
        input: ManualTransaction,
    ) -> ServiceResult<Transaction> {
        use sea_orm::{ActiveModelTrait, Set};
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let existing = repo::transactions::find_in_account(&self.ctx.db, row.id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let record = self.record(&input, existing.source_id.clone())?;
        if let Err((field, message)) = ledger::validate(&record, chrono::Utc::now().date_naive()) {
            return Err(ServiceError::validation(request_field(&field), message));
        }
        let txn = self.ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, row.id).await?;
        let refs: Vec<&AssetRef> = record.asset.iter().collect();
        let ids = repo::assets::ensure(&txn, &refs).await?;
        let mut m: tributary_entity::transaction::ActiveModel = existing.into();
        m.kind = Set(record.kind.as_str().to_string());
        m.trade_date = Set(record.trade_date);
        m.settle_date = Set(record.settle_date);
        m.asset_id = Set(record
            .asset
            .as_ref()
            .and_then(|a| ids.get(&a.asset_id).copied()));
        m.quantity = Set(record.quantity.map(repo::dec_to_db));
        m.price = Set(record.price.map(repo::dec_to_db));
        m.amount = Set(repo::dec_to_db(record.amount));
        m.fee = Set(record.fee.map(repo::dec_to_db));
        m.currency = Set(record.currency.clone());
        m.description = Set(record.description.clone());
        m.fingerprint = Set(ledger::fingerprint(row.id, &record));
        m.update(&txn).await?;
        self.after_change(&txn, &row).await?;
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "transaction.updated",
            Some(("transaction", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        self.get(actor.user_id, account, id).await
    }

    /// One transaction of the caller's account.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it holds the transaction.
    pub async fn get(
        &self,
        user: UserId,
        account: AccountId,
        id: Uuid,
    ) -> ServiceResult<Transaction> {
        let row = self.ctx.accounts().owned(user, account).await?;
        let t = repo::transactions::find_in_account(&self.ctx.db, row.id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let assets = repo::assets::by_ids(&self.ctx.db, t.asset_id.into_iter().collect()).await?;
        to_domain(t, &assets)
    }

    /// Deletes a transaction; a tombstone keeps syncs and re-imports from bringing it back.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account and it holds the transaction.
    pub async fn delete(&self, actor: &Actor, account: AccountId, id: Uuid) -> ServiceResult<()> {
        let row = self.ctx.accounts().owned(actor.user_id, account).await?;
        let txn = self.ctx.db.begin().await?;
        repo::accounts::lock_for_write(&txn, row.id).await?;
        let existing = repo::transactions::find_in_account(&txn, row.id, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        repo::transactions::delete_with_tombstone(&txn, &existing).await?;
        self.after_change(&txn, &row).await?;
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "transaction.deleted",
            Some(("transaction", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        Ok(())
    }

    /// Accounts without an integration hold what their transactions add up to: keep the
    /// derived holdings current inside the same database transaction.
    async fn after_change(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        account: &tributary_entity::account::Model,
    ) -> ServiceResult<()> {
        if account.integration_type.is_none() {
            let derived = ledger::derive_holdings(txn, account.id).await?;
            ledger::store_derived_holdings(txn, account.id, "manual", &derived).await?;
        }
        Ok(())
    }

    /// The caller's transactions across accounts, newest first.
    ///
    /// # Errors
    /// `NotFound` for another user's account; `Validation` for bad filters or cursor.
    pub async fn list(
        &self,
        user: UserId,
        query: AllTransactionsQuery,
    ) -> ServiceResult<Page<Transaction>> {
        for kind in &query.kinds {
            if TransactionType::parse(kind).is_none() {
                return Err(ServiceError::validation(
                    "type",
                    format!("unknown transaction type `{kind}`"),
                ));
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from > to
        {
            return Err(ServiceError::validation("from", "must not be after `to`"));
        }
        if let Some(account) = query.account {
            self.ctx.accounts().owned(user, account).await?;
        }
        let after = query
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(super::accounts::decode_tx_cursor)
            .transpose()?;
        let asset_id = match &query.asset {
            None => None,
            Some(key) => match repo::assets::by_key(&self.ctx.db, key).await? {
                Some(a) => Some(a.id),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let limit = page_limit(query.limit);
        let filter = repo::transactions::OwnedTxFilter {
            account_id: query.account.map(|a| a.0),
            kinds: query.kinds,
            asset_id,
            source: query.source.map(|s| s.to_ascii_lowercase()),
            from: query.from,
            to: query.to,
            include_aliases: query.include_aliases,
        };
        let rows =
            repo::transactions::list_owned(&self.ctx.db, user.0, &filter, after, limit + 1).await?;
        let has_more = rows.len() as u64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let assets = repo::assets::by_ids(
            &self.ctx.db,
            rows.iter().filter_map(|t| t.asset_id).collect(),
        )
        .await?;
        let next_cursor = if has_more {
            rows.last().map(|t| encode_tx_cursor(t.trade_date, t.id))
        } else {
            None
        };
        let items = rows
            .into_iter()
            .map(|t| to_domain(t, &assets))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }
}
