//! Market data for users: quotes through the provider fallback chain (persisted with their
//! source), daily bars, FX rates, search, asset lookup, provider status, holding valuation
//! and the portfolio summary. Provider calls happen before any write transaction; the read
//! paths of holdings use stored quotes and rates only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::join_all;
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::TransactionTrait;
use tributary_connectors::market::{
    AttemptOutcome, Bar, FxRate, Instrument, Outcome, ProviderStatus, Quote, QuoteRequest,
    SearchResult,
};
use tributary_connectors::{AssetClass, AssetRef, ConnectorError};
use tributary_entity::asset;

use super::AppContext;
use crate::domain::{AccountId, Currency, Holding, HoldingValuation, UserId};
use crate::error::{ServiceError, ServiceResult};
use crate::repo::{self, market::StoredFx};

pub struct MarketService<'a> {
    pub(crate) ctx: &'a AppContext,
}

/// One priced symbol.
#[derive(Debug, Clone)]
pub struct QuoteItem {
    /// The symbol as asked.
    pub symbol: String,
    pub asset_id: String,
    pub price: Decimal,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    pub source: String,
}

/// A symbol that could not be priced, and why (every provider's answer).
#[derive(Debug, Clone)]
pub struct SymbolFailure {
    pub symbol: String,
    pub reason: String,
}

/// Quotes for a list of symbols.
#[derive(Debug, Clone, Default)]
pub struct Quotes {
    pub items: Vec<QuoteItem>,
    pub errors: Vec<SymbolFailure>,
}

/// Daily bars of one instrument.
#[derive(Debug, Clone)]
pub struct History {
    pub symbol: String,
    pub asset_id: String,
    pub currency: String,
    pub source: String,
    pub bars: Vec<Bar>,
}

/// An instrument with its latest stored price and pricing bookkeeping.
#[derive(Debug, Clone)]
pub struct AssetDetails {
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub asset_class: String,
    pub currency: String,
    pub exchange: Option<String>,
    pub quote: Option<QuoteItem>,
    pub last_price_update: Option<DateTime<Utc>>,
    pub price_source: Option<String>,
    /// 0–100: drops with consecutive pricing failures, recovers on success.
    pub quality_score: Option<i32>,
    pub last_error: Option<String>,
}

/// One account's share of the portfolio, in the base currency.
#[derive(Debug, Clone)]
pub struct AccountValue {
    pub account_id: AccountId,
    pub name: String,
    pub currency: String,
    pub market_value: Decimal,
    pub cost_basis: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    pub holdings_count: usize,
}

/// A bucket of the portfolio (an asset class), in the base currency.
#[derive(Debug, Clone)]
pub struct ClassValue {
    pub asset_class: String,
    pub market_value: Decimal,
    /// Share of the total, 0–1.
    pub weight: Decimal,
}

/// Exposure to one currency: native amount and its base-currency value.
#[derive(Debug, Clone)]
pub struct CurrencyValue {
    pub currency: String,
    pub market_value: Decimal,
    pub market_value_base: Decimal,
    pub weight: Decimal,
}

/// A holding left out of the totals, and why.
#[derive(Debug, Clone)]
pub struct UnvaluedHolding {
    pub account_id: AccountId,
    pub asset_id: String,
    pub symbol: String,
    pub reason: String,
}

/// The caller's portfolio valued in their base currency.
#[derive(Debug, Clone)]
pub struct PortfolioSummary {
    pub base_currency: String,
    pub total_market_value: Decimal,
    /// Cost of the holdings whose cost is known, in the base currency.
    pub total_cost_basis: Decimal,
    /// Market value minus cost, over the holdings whose cost is known.
    pub unrealized_pnl: Decimal,
    pub holdings_count: usize,
    pub by_account: Vec<AccountValue>,
    pub by_asset_class: Vec<ClassValue>,
    pub by_currency: Vec<CurrencyValue>,
    pub unvalued: Vec<UnvaluedHolding>,
    /// The oldest price used (how stale the total can be).
    pub prices_as_of: Option<DateTime<Utc>>,
}

/// What one scheduler pass refreshed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshCount {
    pub priced: usize,
    pub failed: usize,
}

/// Values are shown to 8 decimal places, trailing zeros dropped.
fn money(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(8, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// Portfolio weights to 6 decimal places.
fn weight(part: Decimal, total: Decimal) -> Decimal {
    if total.is_zero() {
        return Decimal::ZERO;
    }
    part.checked_div(total)
        .unwrap_or_default()
        .round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

fn class_from_str(s: &str) -> AssetClass {
    [
        AssetClass::Equity,
        AssetClass::Etf,
        AssetClass::Crypto,
        AssetClass::Cash,
        AssetClass::Bond,
        AssetClass::Option,
        AssetClass::Future,
        AssetClass::Fund,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
    .unwrap_or(AssetClass::Other)
}

/// The instrument a stored asset is priced as.
#[must_use]
pub fn instrument_of(a: &asset::Model) -> Instrument {
    Instrument::from_asset_ref(&AssetRef {
        asset_id: a.asset_key.clone(),
        symbol: a.symbol.clone(),
        name: a.name.clone(),
        class: class_from_str(&a.class),
        currency: a.currency.clone(),
        exchange: a.exchange.clone(),
    })
}

/// Parses `YYYY-MM-DD`, naming the field on failure.
///
/// # Errors
/// `Validation` on `field`.
pub fn parse_date(field: &str, s: &str) -> ServiceResult<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| ServiceError::validation(field, "must be a date as YYYY-MM-DD"))
}

/// Converts `amount` from one currency to another with stored rates: direct, inverse, or
/// through USD.
fn convert(
    amount: Decimal,
    from: &str,
    to: &str,
    rates: &HashMap<(String, String), StoredFx>,
) -> Option<Decimal> {
    let rate = |a: &str, b: &str| -> Option<Decimal> {
        if a == b {
            return Some(Decimal::ONE);
        }
        if let Some(r) = rates.get(&(a.to_string(), b.to_string())) {
            return Some(r.rate.rate);
        }
        rates
            .get(&(b.to_string(), a.to_string()))
            .filter(|r| !r.rate.rate.is_zero())
            .and_then(|r| Decimal::ONE.checked_div(r.rate.rate))
    };
    if let Some(r) = rate(from, to) {
        return amount.checked_mul(r);
    }
    let via = rate(from, "USD")?.checked_mul(rate("USD", to)?)?;
    amount.checked_mul(via)
}

/// Why a chain gave nothing, as a service error: unknown everywhere is 404, a rate limit
/// keeps its retry hint, anything else is a provider failure.
fn no_value<T>(outcome: &Outcome<T>) -> ServiceError {
    let mut rate_limited = None;
    let mut failed = false;
    for a in &outcome.attempts {
        match &a.outcome {
            AttemptOutcome::RateLimited { retry_after_secs } => {
                rate_limited = Some(retry_after_secs.map(std::time::Duration::from_secs));
            }
            AttemptOutcome::Failed { .. }
            | AttemptOutcome::CircuitOpen { .. }
            | AttemptOutcome::Implausible { .. } => failed = true,
            _ => {}
        }
    }
    if failed {
        ServiceError::Upstream(ConnectorError::Upstream {
            status: 502,
            message: outcome.reason(),
        })
    } else if let Some(retry_after) = rate_limited {
        ServiceError::Upstream(ConnectorError::RateLimited { retry_after })
    } else {
        ServiceError::NotFound
    }
}

impl MarketService<'_> {
    /// Splits and checks a comma-separated symbol list: at least one, at most the configured
    /// maximum, duplicates (case-insensitive) dropped.
    ///
    /// # Errors
    /// `Validation` on `symbols`.
    pub fn parse_symbols(&self, raw: &str) -> ServiceResult<Vec<String>> {
        let mut seen = HashSet::new();
        let symbols: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter(|s| seen.insert(s.to_ascii_uppercase()))
            .map(str::to_string)
            .collect();
        let max = self.ctx.settings.market_data.max_quote_symbols;
        if symbols.is_empty() {
            return Err(ServiceError::validation(
                "symbols",
                "is required: a comma-separated list such as AAPL,BTC,EURUSD",
            ));
        }
        if symbols.len() > max {
            return Err(ServiceError::validation(
                "symbols",
                format!("at most {max} symbols per request"),
            ));
        }
        Ok(symbols)
    }

    /// Latest prices of `symbols` through the fallback chain; each price is stored with its
    /// source. Symbols that cannot be resolved or priced are listed in `errors` with the
    /// reason, never failing the whole request.
    ///
    /// # Errors
    /// `Validation` on `symbols` (none, too many); database errors.
    #[tracing::instrument(skip_all, fields(count = symbols.len()))]
    pub async fn quotes(&self, _user: UserId, symbols: &[String]) -> ServiceResult<Quotes> {
        let market = &self.ctx.market;
        let mut out = Quotes::default();
        let mut asked: Vec<(String, Instrument)> = Vec::new();
        for s in symbols {
            match market.resolve(s, None) {
                Ok(i) => asked.push((s.clone(), i)),
                Err(e) => out.errors.push(SymbolFailure {
                    symbol: s.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        let instruments: Vec<Instrument> = asked.iter().map(|(_, i)| i.clone()).collect();
        let outcomes = self.fetch_quotes(&instruments, Utc::now(), false).await?;
        for ((symbol, _), outcome) in asked.into_iter().zip(outcomes) {
            match outcome {
                Ok(q) => out.items.push(QuoteItem {
                    symbol,
                    asset_id: q.asset_id,
                    price: q.price,
                    currency: q.currency,
                    as_of: q.as_of,
                    source: q.source,
                }),
                Err(reason) => out.errors.push(SymbolFailure { symbol, reason }),
            }
        }
        Ok(out)
    }

    /// Prices instruments through the chain with the last stored close as the jump guard's
    /// reference, then stores the quotes, their assets and bookkeeping in one transaction.
    async fn fetch_quotes(
        &self,
        instruments: &[Instrument],
        at: DateTime<Utc>,
        record_unchanged: bool,
    ) -> ServiceResult<Vec<Result<Quote, String>>> {
        if instruments.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = instruments.iter().map(|i| i.asset_id.clone()).collect();
        let mut reference = repo::market::last_closes(&self.ctx.db, &keys).await?;
        let stored = repo::market::quotes_by_keys(&self.ctx.db, &keys).await?;
        for (key, q) in &stored {
            reference.entry(key.clone()).or_insert(q.price);
        }
        let requests: Vec<QuoteRequest> = instruments
            .iter()
            .map(|i| QuoteRequest {
                instrument: i.clone(),
                last_close: reference.get(&i.asset_id).copied(),
            })
            .collect();
        let outcomes = self.ctx.market.quotes(&requests).await;
        let mut priced: Vec<Quote> = Vec::new();
        let mut refs: Vec<AssetRef> = Vec::new();
        let mut out = Vec::with_capacity(outcomes.len());
        for (instrument, outcome) in instruments.iter().zip(outcomes) {
            match outcome.value.clone() {
                Some(q) => {
                    // A quote identical to the stored one (a cache hit, or an unchanged
                    // price) is not written again, so warm reads take no write lock; the
                    // scheduler still records that it checked.
                    let unchanged = stored.get(&q.asset_id).is_some_and(|s| {
                        s.price == q.price
                            && s.as_of == q.as_of
                            && s.source == q.source
                            && s.currency == q.currency
                    });
                    if unchanged && !record_unchanged {
                        out.push(Ok(q));
                        continue;
                    }
                    refs.push(AssetRef {
                        asset_id: q.asset_id.clone(),
                        symbol: instrument.symbol.clone(),
                        name: instrument
                            .name
                            .clone()
                            .unwrap_or_else(|| instrument.symbol.clone()),
                        class: instrument.class,
                        currency: q.currency.clone(),
                        exchange: instrument.mic.clone(),
                    });
                    priced.push(q.clone());
                    out.push(Ok(q));
                }
                None => out.push(Err(outcome.reason())),
            }
        }
        if !priced.is_empty() {
            let txn = self.ctx.db.begin().await?;
            let ref_list: Vec<&AssetRef> = refs.iter().collect();
            repo::assets::ensure(&txn, &ref_list).await?;
            repo::market::upsert_quotes(&txn, &priced).await?;
            let meta: Vec<(String, String, DateTime<Utc>)> = priced
                .iter()
                .map(|q| (q.asset_id.clone(), q.source.clone(), at))
                .collect();
            repo::market::record_priced(&txn, &meta).await?;
            txn.commit().await?;
            self.ctx.read_cache.market_changed();
        }
        Ok(out)
    }

    /// Daily bars of `symbol` from `from` to `to` (defaults: the last year up to today),
    /// stored as they arrive. When every provider fails, stored bars are served.
    ///
    /// # Errors
    /// `Validation` on `symbol`, `from` or `to`; `NotFound` when no provider knows the
    /// symbol; `Upstream` when providers failed and nothing is stored.
    #[tracing::instrument(skip_all, fields(symbol))]
    pub async fn history(
        &self,
        _user: UserId,
        symbol: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> ServiceResult<History> {
        let today = Utc::now().date_naive();
        let to = to
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_date("to", s))
            .transpose()?
            .unwrap_or(today);
        let from = from
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_date("from", s))
            .transpose()?
            .unwrap_or_else(|| to - chrono::Days::new(365));
        if from > to {
            return Err(ServiceError::validation("from", "must not be after `to`"));
        }
        let max = self.ctx.settings.market_data.max_history_days;
        if (to - from).num_days() > max {
            return Err(ServiceError::validation(
                "from",
                format!("the range may span at most {max} days"),
            ));
        }
        let instrument = self
            .ctx
            .market
            .resolve(symbol, None)
            .map_err(|e| ServiceError::validation("symbol", e.to_string()))?;
        let outcome = self.ctx.market.history(&instrument, from, to).await;
        if let Some(h) = outcome.value.clone() {
            if !h.bars.is_empty() {
                repo::market::upsert_bars(
                    &self.ctx.db,
                    &h.asset_id,
                    &h.currency,
                    &h.source,
                    &h.bars,
                )
                .await?;
            }
            return Ok(History {
                symbol: symbol.trim().to_string(),
                asset_id: h.asset_id,
                currency: h.currency,
                source: h.source,
                bars: h.bars,
            });
        }
        let stored = repo::market::bars(&self.ctx.db, &instrument.asset_id, from, to).await?;
        if let Some((_, currency, source)) = stored.last().cloned() {
            return Ok(History {
                symbol: symbol.trim().to_string(),
                asset_id: instrument.asset_id,
                currency,
                source,
                bars: stored.into_iter().map(|(b, _, _)| b).collect(),
            });
        }
        Err(no_value(&outcome))
    }

    /// The `base`/`quote` rate: the latest, or `date`'s (the last before it on days without
    /// one). Stored rates for past dates are served without asking a provider; fetched rates
    /// are stored. When every provider fails, the last stored rate is served.
    ///
    /// # Errors
    /// `Validation` on `base`, `quote` or `date`; `NotFound`/`Upstream` when no rate exists.
    #[tracing::instrument(skip_all, fields(base, quote))]
    pub async fn fx(
        &self,
        _user: UserId,
        base: &str,
        quote: &str,
        date: Option<&str>,
    ) -> ServiceResult<FxRate> {
        let base = Currency::parse("base", base)?;
        let quote = Currency::parse("quote", quote)?;
        let date = date
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_date("date", s))
            .transpose()?;
        let today = Utc::now().date_naive();
        if date.is_some_and(|d| d > today) {
            return Err(ServiceError::validation(
                "date",
                "must not be in the future",
            ));
        }
        if let Some(d) = date.filter(|d| *d < today)
            && let Some(stored) =
                repo::market::fx_on_or_before(&self.ctx.db, base.as_str(), quote.as_str(), Some(d))
                    .await?
                    .filter(|s| s.rate.date == d)
        {
            return Ok(stored.rate);
        }
        let outcome = self
            .ctx
            .market
            .fx(base.as_str(), quote.as_str(), date)
            .await;
        if let Some(rate) = outcome.value.clone() {
            if rate.source != "identity" {
                repo::market::upsert_fx(&self.ctx.db, &rate).await?;
                self.ctx.read_cache.market_changed();
            }
            return Ok(rate);
        }
        if let Some(stored) =
            repo::market::fx_on_or_before(&self.ctx.db, base.as_str(), quote.as_str(), date).await?
        {
            return Ok(stored.rate);
        }
        Err(no_value(&outcome))
    }

    /// Instruments matching `q`.
    ///
    /// # Errors
    /// `Validation` on `q`; `Upstream` when every provider failed.
    pub async fn search(&self, _user: UserId, q: &str) -> ServiceResult<Vec<SearchResult>> {
        let q = q.trim();
        if q.is_empty() {
            return Err(ServiceError::validation("q", "is required"));
        }
        if q.chars().count() > 100 || q.chars().any(char::is_control) {
            return Err(ServiceError::validation(
                "q",
                "must be at most 100 printable characters",
            ));
        }
        let outcome = self.ctx.market.search(q).await;
        match outcome.value {
            Some(v) => Ok(v),
            None => match no_value(&outcome) {
                ServiceError::NotFound => Ok(Vec::new()),
                e => Err(e),
            },
        }
    }

    /// An instrument by its stable id, with the latest stored price and its bookkeeping.
    ///
    /// # Errors
    /// `NotFound` when the instrument was never held nor quoted; `Validation` on `asset_id`.
    pub async fn asset(&self, _user: UserId, asset_id: &str) -> ServiceResult<AssetDetails> {
        let key = asset_id.trim();
        if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
            return Err(ServiceError::validation(
                "asset_id",
                "must be an asset id such as EQUITY:XNAS:AAPL",
            ));
        }
        let row = repo::market::asset_by_key(&self.ctx.db, key).await?;
        let keys = [key.to_string()];
        let quote = repo::market::quotes_by_keys(&self.ctx.db, &keys)
            .await?
            .remove(key);
        let meta = repo::market::metadata_by_keys(&self.ctx.db, &keys)
            .await?
            .remove(key);
        let (symbol, name, asset_class, currency, exchange) = match (&row, &quote) {
            (Some(a), _) => (
                a.symbol.clone(),
                a.name.clone(),
                a.class.clone(),
                a.currency.clone(),
                a.exchange.clone(),
            ),
            (None, Some(q)) => {
                let i = self.ctx.market.resolve(&q.symbol, None).ok();
                (
                    q.symbol.clone(),
                    i.as_ref()
                        .and_then(|i| i.name.clone())
                        .unwrap_or_else(|| q.symbol.clone()),
                    i.map_or("other", |i| i.class.as_str()).to_string(),
                    q.currency.clone(),
                    None,
                )
            }
            (None, None) => return Err(ServiceError::NotFound),
        };
        Ok(AssetDetails {
            asset_id: key.to_string(),
            quote: quote.map(|q| QuoteItem {
                symbol: symbol.clone(),
                asset_id: q.asset_key,
                price: q.price,
                currency: q.currency,
                as_of: q.as_of,
                source: q.source,
            }),
            symbol,
            name,
            asset_class,
            currency,
            exchange,
            last_price_update: meta.as_ref().and_then(|m| m.last_price_update),
            price_source: meta.as_ref().and_then(|m| m.source.clone()),
            quality_score: meta.as_ref().map(|m| m.quality_score),
            last_error: meta.and_then(|m| m.last_error),
        })
    }

    /// Every provider's health and budget.
    #[must_use]
    pub fn providers(&self) -> Vec<ProviderStatus> {
        self.ctx.market.statuses()
    }

    /// Values holdings at their latest stored quotes and converts them into the user's base
    /// currency with stored FX rates (no provider call).
    ///
    /// # Errors
    /// Database errors.
    pub async fn value_holdings(
        &self,
        user: UserId,
        holdings: &mut HashMap<AccountId, Vec<Holding>>,
    ) -> ServiceResult<()> {
        if holdings.values().all(Vec::is_empty) {
            return Ok(());
        }
        let base = self.ctx.users().get(user).await?.base_currency;
        self.value_in(base.as_str(), holdings.values_mut().flatten())
            .await
    }

    async fn value_in<'h>(
        &self,
        base: &str,
        holdings: impl Iterator<Item = &'h mut Holding>,
    ) -> ServiceResult<()> {
        let holdings: Vec<&mut Holding> = holdings.collect();
        let mut keys: Vec<String> = holdings.iter().map(|h| h.asset.asset_id.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let quotes = repo::market::quotes_by_keys(&self.ctx.db, &keys).await?;
        let mut currencies: HashSet<String> = holdings
            .iter()
            .flat_map(|h| [h.currency.clone(), h.asset.currency.clone()])
            .chain(quotes.values().map(|q| q.currency.clone()))
            .collect();
        currencies.insert(base.to_string());
        currencies.insert("USD".to_string());
        let currencies: Vec<String> = currencies.into_iter().collect();
        let rates = repo::market::latest_fx_touching(&self.ctx.db, &currencies).await?;
        for h in holdings {
            h.valuation = Some(valuation_of(h, quotes.get(&h.asset.asset_id), base, &rates));
        }
        Ok(())
    }

    /// The caller's portfolio in their base currency: total, by account, by asset class and
    /// by currency, with unrealized P&L over the holdings whose cost is known. Prices are the
    /// stored quotes; FX rates missing from storage are fetched (and stored) once.
    ///
    /// # Errors
    /// Database errors.
    #[tracing::instrument(skip_all)]
    pub async fn portfolio_summary(&self, user: UserId) -> ServiceResult<Arc<PortfolioSummary>> {
        let stamp = match self.ctx.read_cache.get_summary(user) {
            Ok(cached) => return Ok(cached),
            Err(stamp) => stamp,
        };
        let summary = Arc::new(self.compute_summary(user).await?);
        self.ctx
            .read_cache
            .put_summary(user, stamp, summary.clone());
        Ok(summary)
    }

    async fn compute_summary(&self, user: UserId) -> ServiceResult<PortfolioSummary> {
        let base = self.ctx.users().get(user).await?.base_currency;
        let base = base.as_str().to_string();
        let accounts = repo::accounts::list_owned(&self.ctx.db, user.0, None, 100_000).await?;
        let ids: Vec<AccountId> = accounts.iter().map(|a| AccountId(a.id)).collect();
        let mut holdings = self.ctx.accounts().holdings_for(user, &ids).await?;
        // `holdings_for` valued them already (stored quotes and rates).
        let missing: HashSet<String> = holdings
            .values()
            .flatten()
            .filter_map(|h| h.valuation.as_ref())
            .filter(|v| v.market_value.is_some() && v.value_in_base_currency.is_none())
            .map(|v| v.currency.clone())
            .collect();
        if !missing.is_empty() {
            let fetched =
                join_all(missing.iter().map(|c| self.ctx.market.fx(c, &base, None))).await;
            let mut any = false;
            for rate in fetched.into_iter().filter_map(|o| o.value) {
                repo::market::upsert_fx(&self.ctx.db, &rate).await?;
                self.ctx.read_cache.market_changed();
                any = true;
            }
            if any {
                self.value_in(&base, holdings.values_mut().flatten())
                    .await?;
            }
        }
        Ok(summarize(&base, &accounts, &holdings))
    }

    /// Refreshes the stored quotes of the given assets (the price scheduler's work), recording
    /// failures in the assets' bookkeeping.
    ///
    /// # Errors
    /// Database errors.
    pub async fn refresh_quotes(
        &self,
        assets: &[asset::Model],
        now: DateTime<Utc>,
    ) -> ServiceResult<RefreshCount> {
        let instruments: Vec<Instrument> = assets.iter().map(instrument_of).collect();
        let outcomes = self.fetch_quotes(&instruments, now, true).await?;
        let mut count = RefreshCount::default();
        for (instrument, outcome) in instruments.iter().zip(outcomes) {
            match outcome {
                Ok(_) => count.priced += 1,
                Err(reason) => {
                    count.failed += 1;
                    repo::market::record_failed(&self.ctx.db, &instrument.asset_id, &reason)
                        .await?;
                }
            }
        }
        Ok(count)
    }

    /// Refreshes the latest rates of currency pairs.
    ///
    /// # Errors
    /// Database errors.
    pub async fn refresh_fx(&self, pairs: &[(String, String)]) -> ServiceResult<RefreshCount> {
        let outcomes = join_all(pairs.iter().map(|(b, q)| self.ctx.market.fx(b, q, None))).await;
        let mut count = RefreshCount::default();
        for outcome in outcomes {
            match outcome.value {
                Some(rate) => {
                    repo::market::upsert_fx(&self.ctx.db, &rate).await?;
                    self.ctx.read_cache.market_changed();
                    count.priced += 1;
                }
                None => count.failed += 1,
            }
        }
        Ok(count)
    }
}

fn valuation_of(
    h: &Holding,
    quote: Option<&repo::market::StoredQuote>,
    base: &str,
    rates: &HashMap<(String, String), StoredFx>,
) -> HoldingValuation {
    let (price, value, currency, source, as_of) = if h.asset.class == "cash" {
        let ccy = if h.asset.currency.is_empty() {
            h.currency.clone()
        } else {
            h.asset.currency.clone()
        };
        (
            Some(Decimal::ONE),
            Some(h.quantity),
            ccy,
            None,
            Some(h.as_of),
        )
    } else if let Some(q) = quote {
        (
            Some(q.price),
            h.quantity.checked_mul(q.price),
            q.currency.clone(),
            Some(q.source.clone()),
            Some(q.as_of),
        )
    } else if let Some(v) = h.market_value {
        (
            h.price,
            Some(v),
            h.currency.clone(),
            Some(h.source.clone()),
            Some(h.as_of),
        )
    } else if let Some(p) = h.price {
        (
            Some(p),
            h.quantity.checked_mul(p),
            h.currency.clone(),
            Some(h.source.clone()),
            Some(h.as_of),
        )
    } else {
        (None, None, h.currency.clone(), None, None)
    };
    let value = value.map(money);
    HoldingValuation {
        market_price: price,
        value_in_base_currency: value
            .and_then(|v| convert(v, &currency, base, rates))
            .map(money),
        market_value: value,
        currency,
        price_source: source,
        price_as_of: as_of,
        base_currency: base.to_string(),
    }
}

fn summarize(
    base: &str,
    accounts: &[tributary_entity::account::Model],
    holdings: &HashMap<AccountId, Vec<Holding>>,
) -> PortfolioSummary {
    let mut total = Decimal::ZERO;
    let mut total_cost = Decimal::ZERO;
    let mut total_pnl = Decimal::ZERO;
    let mut count = 0;
    let mut classes: HashMap<String, Decimal> = HashMap::new();
    let mut currencies: HashMap<String, (Decimal, Decimal)> = HashMap::new();
    let mut unvalued = Vec::new();
    let mut by_account = Vec::new();
    let mut oldest: Option<DateTime<Utc>> = None;
    for a in accounts {
        let id = AccountId(a.id);
        let list = holdings.get(&id).map(Vec::as_slice).unwrap_or_default();
        let mut value = Decimal::ZERO;
        let mut cost: Option<Decimal> = None;
        let mut pnl: Option<Decimal> = None;
        for h in list {
            count += 1;
            let Some(v) = h.valuation.as_ref() else {
                continue;
            };
            let Some(in_base) = v.value_in_base_currency else {
                unvalued.push(UnvaluedHolding {
                    account_id: id,
                    asset_id: h.asset.asset_id.clone(),
                    symbol: h.asset.symbol.clone(),
                    reason: if v.market_value.is_none() {
                        "no price stored".to_string()
                    } else {
                        format!("no {}/{base} rate stored", v.currency)
                    },
                });
                continue;
            };
            value += in_base;
            *classes.entry(h.asset.class.clone()).or_default() += in_base;
            let entry = currencies.entry(v.currency.clone()).or_default();
            entry.0 += v.market_value.unwrap_or_default();
            entry.1 += in_base;
            if v.price_source.is_some() {
                oldest = match (oldest, v.price_as_of) {
                    (Some(o), Some(p)) => Some(o.min(p)),
                    (o, p) => o.or(p),
                };
            }
            // Cost basis is in the holding's currency; convert it at the rate implied by the
            // market value, so both sides use the same FX rate.
            let cost_base = h.cost_basis.and_then(|c| {
                if h.currency == v.currency {
                    v.market_value
                        .filter(|mv| !mv.is_zero())
                        .and_then(|mv| in_base.checked_div(mv))
                        .and_then(|r| c.checked_mul(r))
                        .or(if base == h.currency { Some(c) } else { None })
                } else {
                    None
                }
            });
            if let Some(c) = cost_base {
                let c = money(c);
                *cost.get_or_insert(Decimal::ZERO) += c;
                *pnl.get_or_insert(Decimal::ZERO) += in_base - c;
                total_cost += c;
                total_pnl += in_base - c;
            }
        }
        total += value;
        by_account.push(AccountValue {
            account_id: id,
            name: a.name.clone(),
            currency: a.currency.clone(),
            market_value: money(value),
            cost_basis: cost.map(money),
            unrealized_pnl: pnl.map(money),
            holdings_count: list.len(),
        });
    }
    let mut by_asset_class: Vec<ClassValue> = classes
        .into_iter()
        .map(|(asset_class, v)| ClassValue {
            asset_class,
            market_value: money(v),
            weight: weight(v, total),
        })
        .collect();
    by_asset_class.sort_by(|a, b| {
        b.market_value
            .cmp(&a.market_value)
            .then_with(|| a.asset_class.cmp(&b.asset_class))
    });
    let mut by_currency: Vec<CurrencyValue> = currencies
        .into_iter()
        .map(|(currency, (native, in_base))| CurrencyValue {
            currency,
            market_value: money(native),
            market_value_base: money(in_base),
            weight: weight(in_base, total),
        })
        .collect();
    by_currency.sort_by(|a, b| {
        b.market_value_base
            .cmp(&a.market_value_base)
            .then_with(|| a.currency.cmp(&b.currency))
    });
    PortfolioSummary {
        base_currency: base.to_string(),
        total_market_value: money(total),
        total_cost_basis: money(total_cost),
        unrealized_pnl: money(total_pnl),
        holdings_count: count,
        by_account,
        by_asset_class,
        by_currency,
        unvalued,
        prices_as_of: oldest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn rates(list: &[(&str, &str, Decimal)]) -> HashMap<(String, String), StoredFx> {
        list.iter()
            .map(|(b, q, r)| {
                (
                    ((*b).to_string(), (*q).to_string()),
                    StoredFx {
                        rate: FxRate {
                            base: (*b).to_string(),
                            quote: (*q).to_string(),
                            rate: *r,
                            date: NaiveDate::default(),
                            source: "test".into(),
                        },
                        updated_at: Utc::now(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn conversion_uses_direct_inverse_or_usd_cross_rates() {
        let r = rates(&[("EUR", "USD", dec("1.25")), ("USD", "JPY", dec("150"))]);
        assert_eq!(convert(dec("100"), "EUR", "USD", &r), Some(dec("125.00")));
        assert_eq!(
            convert(dec("125"), "USD", "EUR", &r).map(money),
            Some(dec("100"))
        );
        assert_eq!(convert(dec("1"), "EUR", "JPY", &r), Some(dec("187.500")));
        assert_eq!(convert(dec("1"), "GBP", "USD", &r), None);
        assert_eq!(convert(dec("7"), "CHF", "CHF", &r), Some(dec("7")));
    }

    #[test]
    fn weights_and_money_round_in_one_place() {
        assert_eq!(weight(dec("1"), dec("3")), dec("0.333333"));
        assert_eq!(weight(dec("1"), Decimal::ZERO), Decimal::ZERO);
        assert_eq!(money(dec("1.123456789")), dec("1.12345679"));
        assert_eq!(money(dec("5776.00")).to_string(), "5776");
    }
}
