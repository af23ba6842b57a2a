//! Accounts, their holdings and their transactions.

use rust_decimal::Decimal;
use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use sea_orm::{Set, TransactionTrait};
use tributary_entity::account;
use uuid::Uuid;

use super::{Actor, AppContext, audit, page_limit};
use crate::domain::{
    Account, AccountId, AccountKind, Asset, Currency, Holding, Page, Transaction, UserId,
    clean_text,
};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, dec_from_db, opt_dec_from_db};

pub struct AccountService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// Input for a new account.
#[derive(Debug)]
pub struct NewAccount {
    pub name: String,
    pub kind: AccountKind,
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
}

/// Changes to an account; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct AccountUpdate {
    pub name: Option<String>,
    pub kind: Option<AccountKind>,
    pub currency: Option<String>,
    pub institution: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// Set (`Some(Some)`) or remove (`Some(None)`) the integration.
    pub integration: Option<Option<(String, serde_json::Value)>>,
}

/// Transaction list filters as given by the caller.
#[derive(Debug, Default)]
pub struct TransactionQuery {
    pub kinds: Vec<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

fn optional_text(field: &str, v: Option<String>, max: usize) -> ServiceResult<Option<String>> {
    match v {
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => clean_text(field, &s, max).map(Some),
        None => Ok(None),
    }
}

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor", "is not a valid cursor")
}

impl AccountService<'_> {
    pub(crate) fn to_domain(&self, m: account::Model) -> ServiceResult<Account> {
        let integration = self.ctx.integrations().summary(&m)?;
        Ok(Account {
            id: AccountId(m.id),
            name: m.name,
            kind: AccountKind::from_stored(&m.kind),
            currency: Currency::from_stored(m.currency),
            institution: m.institution,
            notes: m.notes,
            integration,
            balance: opt_dec_from_db(m.balance.as_deref())?,
            balance_currency: m.balance_currency,
            balance_updated_at: m.balance_updated_at,
            last_synced_at: m.last_synced_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    /// The caller's account row, or `NotFound` (also for other users' accounts).
    pub(crate) async fn owned(&self, user: UserId, id: AccountId) -> ServiceResult<account::Model> {
        repo::accounts::find_owned(&self.ctx.db, user.0, id.0)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// # Errors
    /// `Validation` naming the bad field.
    pub async fn create(&self, actor: &Actor, input: NewAccount) -> ServiceResult<Account> {
        let name = clean_text("name", &input.name, 200)?;
        let currency = Currency::parse("currency", &input.currency)?;
        let institution = optional_text("institution", input.institution, 200)?;
        let notes = optional_text("notes", input.notes, 10_000)?;
        let id = Uuid::now_v7();
        let row = repo::accounts::insert(
            &self.ctx.db,
            actor.user_id.0,
            id,
            repo::accounts::NewAccount {
                name: &name,
                kind: input.kind.as_str(),
                currency: currency.as_str(),
                institution: institution.as_deref(),
                notes: notes.as_deref(),
            },
        )
        .await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        self.to_domain(row)
    }

    /// # Errors
    /// `NotFound` unless the caller owns the account.
    pub async fn get(&self, user: UserId, id: AccountId) -> ServiceResult<Account> {
        let row = self.owned(user, id).await?;
        self.to_domain(row)
    }

    /// The caller's accounts in creation order.
    ///
    /// # Errors
    /// `Validation` for a malformed cursor.
    pub async fn list(
        &self,
        user: UserId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> ServiceResult<Page<Account>> {
        Ok(self.list_shared(user, cursor, limit).await?.page.clone())
    }

    /// As [`AccountService::list`], sharing the cached page (and its rendering) instead of
    /// copying it.
    ///
    /// # Errors
    /// `Validation` for a malformed cursor.
    pub async fn list_shared(
        &self,
        user: UserId,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> ServiceResult<std::sync::Arc<super::cache::CachedPage>> {
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| Uuid::parse_str(c).map_err(|_| bad_cursor()))
            .transpose()?;
        let limit = page_limit(limit);
        let generation = match self.ctx.read_cache.get(user, after, limit) {
            Ok(page) => return Ok(page),
            Err(generation) => generation,
        };
        let rows = repo::accounts::list_owned(&self.ctx.db, user.0, after, limit + 1).await?;
        let has_more = rows.len() as u64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(|m| self.to_domain(m))
            .collect::<ServiceResult<Vec<_>>>()?;
        let next_cursor = if has_more {
            items.last().map(|a| a.id.to_string())
        } else {
            None
        };
        let cached = std::sync::Arc::new(super::cache::CachedPage {
            page: Page { items, next_cursor },
            rendered: std::sync::OnceLock::new(),
        });
        self.ctx
            .read_cache
            .put(user, generation, after, limit, cached.clone());
        Ok(cached)
    }

    /// Updates the given fields (and the integration, when given).
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` naming the bad field.
    pub async fn update(
        &self,
        actor: &Actor,
        id: AccountId,
        update: AccountUpdate,
    ) -> ServiceResult<Account> {
        let name = update
            .name
            .map(|n| clean_text("name", &n, 200))
            .transpose()?;
        let currency = update
            .currency
            .map(|c| Currency::parse("currency", &c))
            .transpose()?;
        let institution = update
            .institution
            .map(|v| optional_text("institution", v, 200))
            .transpose()?;
        let notes = update
            .notes
            .map(|v| optional_text("notes", v, 10_000))
            .transpose()?;
        let row = self.owned(actor.user_id, id).await?;
        // The integration part validates (and writes) first: a refused integration leaves the
        // account untouched. The other fields were validated above and cannot fail now.
        match update.integration {
            Some(Some((kind, config))) => {
                self.ctx
                    .integrations()
                    .set(actor, id, &kind, config)
                    .await?;
            }
            Some(None) if row.integration_type.is_some() => {
                self.ctx.integrations().remove(actor, id).await?;
            }
            _ => {}
        }
        let row = self.owned(actor.user_id, id).await?;
        let mut m: account::ActiveModel = row.into();
        if let Some(name) = name {
            m.name = Set(name);
        }
        if let Some(kind) = update.kind {
            m.kind = Set(kind.as_str().to_string());
        }
        if let Some(c) = currency {
            m.currency = Set(c.as_str().to_string());
        }
        if let Some(v) = institution {
            m.institution = Set(v);
        }
        if let Some(v) = notes {
            m.notes = Set(v);
        }
        let row = repo::accounts::update(&self.ctx.db, m).await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        self.to_domain(row)
    }

    /// Deletes the account with its holdings, transactions and jobs.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account.
    pub async fn delete(&self, actor: &Actor, id: AccountId) -> ServiceResult<()> {
        let txn = self.ctx.db.begin().await?;
        if !repo::accounts::delete_owned(&txn, actor.user_id.0, id.0).await? {
            return Err(ServiceError::NotFound);
        }
        audit::record(
            &txn,
            Some(actor.user_id.0),
            "account.deleted",
            Some(("account", id.to_string())),
            None,
            actor.ip.as_deref(),
        )
        .await?;
        txn.commit().await?;
        self.ctx.read_cache.invalidate(actor.user_id);
        Ok(())
    }

    /// Current positions of the caller's account.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account.
    pub async fn holdings(&self, user: UserId, id: AccountId) -> ServiceResult<Vec<Holding>> {
        let account = self.owned(user, id).await?;
        let rows = repo::holdings::list_for_account(&self.ctx.db, account.id).await?;
        let mut by_account = self.holdings_to_domain(rows).await?;
        self.ctx
            .market()
            .value_holdings(user, &mut by_account)
            .await?;
        Ok(by_account.remove(&id).unwrap_or_default())
    }

    /// Current positions of several of the caller's accounts, in two queries (other users'
    /// accounts yield nothing).
    ///
    /// # Errors
    /// Database errors.
    pub async fn holdings_for(
        &self,
        user: UserId,
        ids: &[AccountId],
    ) -> ServiceResult<HashMap<AccountId, Vec<Holding>>> {
        let rows = repo::holdings::list_for_owned_accounts(
            &self.ctx.db,
            user.0,
            ids.iter().map(|a| a.0).collect(),
        )
        .await?;
        let mut by_account = self.holdings_to_domain(rows).await?;
        self.ctx
            .market()
            .value_holdings(user, &mut by_account)
            .await?;
        Ok(by_account)
    }

    async fn holdings_to_domain(
        &self,
        rows: Vec<tributary_entity::holding::Model>,
    ) -> ServiceResult<HashMap<AccountId, Vec<Holding>>> {
        let mut asset_ids: Vec<Uuid> = rows.iter().map(|h| h.asset_id).collect();
        asset_ids.sort_unstable();
        asset_ids.dedup();
        let assets = repo::assets::by_ids(&self.ctx.db, asset_ids).await?;
        let mut out: HashMap<AccountId, Vec<Holding>> = HashMap::new();
        for h in rows {
            let asset = assets
                .get(&h.asset_id)
                .map(asset_to_domain)
                .ok_or_else(|| {
                    ServiceError::Unexpected(anyhow::anyhow!("holding {} has no asset", h.id))
                })?;
            out.entry(AccountId(h.account_id))
                .or_default()
                .push(Holding {
                    id: h.id,
                    asset,
                    quantity: dec_from_db(&h.quantity)?,
                    cost_basis: opt_dec_from_db(h.cost_basis.as_deref())?,
                    price: opt_dec_from_db(h.price.as_deref())?,
                    market_value: opt_dec_from_db(h.market_value.as_deref())?,
                    currency: h.currency,
                    as_of: h.as_of,
                    source: h.source,
                    valuation: None,
                });
        }
        Ok(out)
    }

    /// A page of the caller's account's transactions, newest first.
    ///
    /// # Errors
    /// `NotFound` unless the caller owns the account; `Validation` for bad filters or cursor.
    pub async fn transactions(
        &self,
        user: UserId,
        id: AccountId,
        query: TransactionQuery,
    ) -> ServiceResult<Page<Transaction>> {
        for kind in &query.kinds {
            if tributary_connectors::TransactionType::parse(kind).is_none() {
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
        let after = query
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(decode_tx_cursor)
            .transpose()?;
        let limit = page_limit(query.limit);
        let account = self.owned(user, id).await?;
        let filter = repo::transactions::TxFilter {
            kinds: query.kinds,
            from: query.from,
            to: query.to,
        };
        let rows = repo::transactions::list_for_account(
            &self.ctx.db,
            account.id,
            &filter,
            after,
            limit + 1,
        )
        .await?;
        let has_more = rows.len() as u64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let assets: HashMap<Uuid, tributary_entity::asset::Model> = repo::assets::by_ids(
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
            .map(|t| super::transactions::to_domain(t, &assets))
            .collect::<ServiceResult<Vec<_>>>()?;
        Ok(Page { items, next_cursor })
    }
}

pub(crate) fn asset_to_domain(a: &tributary_entity::asset::Model) -> Asset {
    Asset {
        asset_id: a.asset_key.clone(),
        symbol: a.symbol.clone(),
        name: a.name.clone(),
        class: a.class.clone(),
        currency: a.currency.clone(),
        exchange: a.exchange.clone(),
    }
}

pub(crate) fn encode_tx_cursor(date: NaiveDate, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{date}|{id}"))
}

pub(crate) fn decode_tx_cursor(c: &str) -> ServiceResult<(NaiveDate, Uuid)> {
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad_cursor())?;
    let text = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    let (d, id) = text.split_once('|').ok_or_else(bad_cursor)?;
    let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad_cursor())?;
    let id = Uuid::parse_str(id).map_err(|_| bad_cursor())?;
    Ok((date, id))
}

/// How holdings across accounts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldingGroupBy {
    Account,
    Asset,
    AssetClass,
    Currency,
}

impl HoldingGroupBy {
    /// Parses `account`, `asset`, `asset_class` or `currency`.
    ///
    /// # Errors
    /// `Validation` on `group_by` for anything else.
    pub fn parse(s: &str) -> ServiceResult<Self> {
        match s {
            "account" => Ok(Self::Account),
            "asset" => Ok(Self::Asset),
            "asset_class" => Ok(Self::AssetClass),
            "currency" => Ok(Self::Currency),
            _ => Err(ServiceError::validation(
                "group_by",
                "must be account, asset, asset_class or currency",
            )),
        }
    }
}

/// Holdings sharing an account, asset, asset class or currency.
#[derive(Debug, Clone)]
pub struct HoldingGroup {
    pub key: String,
    pub label: String,
    /// Sum of the members' values in the user's base currency.
    pub value_in_base_currency: Decimal,
    /// False when some member has no base-currency value (no stored quote or FX rate).
    pub complete: bool,
    pub holdings: Vec<(AccountId, Holding)>,
}

impl AccountService<'_> {
    /// Every holding of the caller across accounts, grouped, largest group first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn holdings_grouped(
        &self,
        user: UserId,
        group_by: HoldingGroupBy,
    ) -> ServiceResult<Vec<HoldingGroup>> {
        let accounts = repo::accounts::list_owned(&self.ctx.db, user.0, None, 10_000).await?;
        let names: HashMap<AccountId, String> = accounts
            .iter()
            .map(|a| (AccountId(a.id), a.name.clone()))
            .collect();
        let ids: Vec<AccountId> = accounts.iter().map(|a| AccountId(a.id)).collect();
        let by_account = self.holdings_for(user, &ids).await?;
        let mut groups: HashMap<String, HoldingGroup> = HashMap::new();
        for account in &ids {
            for h in by_account.get(account).cloned().unwrap_or_default() {
                let (key, label) = match group_by {
                    HoldingGroupBy::Account => (
                        account.to_string(),
                        names.get(account).cloned().unwrap_or_default(),
                    ),
                    HoldingGroupBy::Asset => (h.asset.asset_id.clone(), h.asset.symbol.clone()),
                    HoldingGroupBy::AssetClass => (h.asset.class.clone(), h.asset.class.clone()),
                    HoldingGroupBy::Currency => (h.currency.clone(), h.currency.clone()),
                };
                let group = groups.entry(key.clone()).or_insert_with(|| HoldingGroup {
                    key,
                    label,
                    value_in_base_currency: Decimal::ZERO,
                    complete: true,
                    holdings: Vec::new(),
                });
                match h.valuation.as_ref().and_then(|v| v.value_in_base_currency) {
                    Some(v) => group.value_in_base_currency += v,
                    None => group.complete = false,
                }
                group.holdings.push((*account, h));
            }
        }
        let mut out: Vec<HoldingGroup> = groups.into_values().collect();
        out.sort_by(|a, b| {
            b.value_in_base_currency
                .cmp(&a.value_in_base_currency)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }
}
