//! Market data over GraphQL: the counterparts of `/api/quotes`, `/api/prices/{symbol}`,
//! `/api/fx`, `/api/assets/search`, `/api/assets/{asset_id}`, `/api/market-data/providers`
//! and `/api/portfolio/summary`, calling the same service.

use async_graphql::{Context, MergedObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::query::QueryRoot;
use super::scalars::Date;
use super::{app, current_user, to_gql};
use crate::services::market as svc;

/// Every query: the core ones and market data.
#[derive(MergedObject)]
#[graphql(name = "QueryRoot")]
pub struct Query(pub QueryRoot, pub MarketQuery);

/// Market-data queries.
pub struct MarketQuery;

/// A latest price.
#[derive(SimpleObject)]
pub struct Quote {
    /// The symbol as asked.
    pub symbol: String,
    pub asset_id: String,
    pub price: Decimal,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    /// The provider that supplied the price.
    pub source: String,
}

impl From<svc::QuoteItem> for Quote {
    fn from(q: svc::QuoteItem) -> Self {
        Self {
            symbol: q.symbol,
            asset_id: q.asset_id,
            price: q.price,
            currency: q.currency,
            as_of: q.as_of,
            source: q.source,
        }
    }
}

/// A symbol that could not be priced, with every provider's answer.
#[derive(SimpleObject)]
pub struct QuoteError {
    pub symbol: String,
    pub reason: String,
}

/// Prices of the requested symbols, and the symbols that could not be priced.
#[derive(SimpleObject)]
pub struct QuotesResult {
    pub items: Vec<Quote>,
    pub errors: Vec<QuoteError>,
}

/// One daily bar.
#[derive(SimpleObject)]
pub struct Bar {
    pub date: Date,
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub close: Decimal,
    pub adj_close: Option<Decimal>,
    pub volume: Option<Decimal>,
}

/// Daily bars of one instrument.
#[derive(SimpleObject)]
pub struct PriceHistory {
    pub symbol: String,
    pub asset_id: String,
    pub currency: String,
    pub source: String,
    pub bars: Vec<Bar>,
}

/// 1 `base` = `rate` `quote`.
#[derive(SimpleObject)]
pub struct FxRate {
    pub base: String,
    pub quote: String,
    pub rate: Decimal,
    pub date: Date,
    pub source: String,
}

/// An instrument found by a search.
#[derive(SimpleObject)]
pub struct AssetSearchResult {
    pub symbol: String,
    pub name: String,
    pub asset_class: String,
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub asset_id: String,
    pub source: String,
}

/// An instrument with its latest stored price and pricing bookkeeping.
#[derive(SimpleObject)]
pub struct AssetDetails {
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub asset_class: String,
    pub currency: String,
    pub exchange: Option<String>,
    pub quote: Option<Quote>,
    pub last_price_update: Option<DateTime<Utc>>,
    pub price_source: Option<String>,
    /// 0–100; drops with consecutive pricing failures.
    pub quality_score: Option<i32>,
    pub last_error: Option<String>,
}

/// Requests used in one rate-limit window.
#[derive(SimpleObject)]
pub struct RateWindow {
    pub window: String,
    pub used: u32,
    pub limit: u32,
    pub resets_at: DateTime<Utc>,
}

/// A market-data provider's health and budget.
#[derive(SimpleObject)]
pub struct MarketDataProvider {
    pub name: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub healthy: bool,
    /// closed, open or half_open.
    pub circuit: String,
    pub used: u32,
    pub limit: Option<u32>,
    pub window: Option<String>,
    pub windows: Vec<RateWindow>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// One account's value in the base currency.
#[derive(SimpleObject)]
pub struct AccountValue {
    pub account_id: Uuid,
    pub name: String,
    pub currency: String,
    pub market_value: Decimal,
    pub cost_basis: Option<Decimal>,
    pub unrealized_pnl: Option<Decimal>,
    pub holdings_count: u64,
}

/// The value of one asset class in the base currency.
#[derive(SimpleObject)]
pub struct AssetClassValue {
    pub asset_class: String,
    pub market_value: Decimal,
    pub weight: Decimal,
}

/// Exposure to one currency.
#[derive(SimpleObject)]
pub struct CurrencyValue {
    pub currency: String,
    pub market_value: Decimal,
    pub market_value_base: Decimal,
    pub weight: Decimal,
}

/// A holding left out of the totals.
#[derive(SimpleObject)]
pub struct UnvaluedHolding {
    pub account_id: Uuid,
    pub asset_id: String,
    pub symbol: String,
    pub reason: String,
}

/// The caller's portfolio in their base currency.
#[derive(SimpleObject)]
pub struct PortfolioSummary {
    pub base_currency: String,
    pub total_market_value: Decimal,
    pub total_cost_basis: Decimal,
    pub unrealized_pnl: Decimal,
    pub holdings_count: u64,
    pub by_account: Vec<AccountValue>,
    pub by_asset_class: Vec<AssetClassValue>,
    pub by_currency: Vec<CurrencyValue>,
    pub unvalued: Vec<UnvaluedHolding>,
    pub prices_as_of: Option<DateTime<Utc>>,
}

impl From<svc::PortfolioSummary> for PortfolioSummary {
    fn from(s: svc::PortfolioSummary) -> Self {
        Self {
            base_currency: s.base_currency,
            total_market_value: s.total_market_value,
            total_cost_basis: s.total_cost_basis,
            unrealized_pnl: s.unrealized_pnl,
            holdings_count: s.holdings_count as u64,
            by_account: s
                .by_account
                .into_iter()
                .map(|a| AccountValue {
                    account_id: a.account_id.0,
                    name: a.name,
                    currency: a.currency,
                    market_value: a.market_value,
                    cost_basis: a.cost_basis,
                    unrealized_pnl: a.unrealized_pnl,
                    holdings_count: a.holdings_count as u64,
                })
                .collect(),
            by_asset_class: s
                .by_asset_class
                .into_iter()
                .map(|c| AssetClassValue {
                    asset_class: c.asset_class,
                    market_value: c.market_value,
                    weight: c.weight,
                })
                .collect(),
            by_currency: s
                .by_currency
                .into_iter()
                .map(|c| CurrencyValue {
                    currency: c.currency,
                    market_value: c.market_value,
                    market_value_base: c.market_value_base,
                    weight: c.weight,
                })
                .collect(),
            unvalued: s
                .unvalued
                .into_iter()
                .map(|u| UnvaluedHolding {
                    account_id: u.account_id.0,
                    asset_id: u.asset_id,
                    symbol: u.symbol,
                    reason: u.reason,
                })
                .collect(),
            prices_as_of: s.prices_as_of,
        }
    }
}

fn date_text(d: Option<Date>) -> Option<String> {
    d.map(|d| d.0.format("%Y-%m-%d").to_string())
}

#[Object]
impl MarketQuery {
    /// Latest prices through the provider fallback chain (as `GET /api/quotes`).
    async fn quotes(
        &self,
        ctx: &Context<'_>,
        symbols: Vec<String>,
    ) -> async_graphql::Result<QuotesResult> {
        let user = current_user(ctx)?;
        let market = app(ctx)?.market();
        let symbols = market.parse_symbols(&symbols.join(",")).map_err(to_gql)?;
        let quotes = market.quotes(user.id, &symbols).await.map_err(to_gql)?;
        Ok(QuotesResult {
            items: quotes.items.into_iter().map(Into::into).collect(),
            errors: quotes
                .errors
                .into_iter()
                .map(|e| QuoteError {
                    symbol: e.symbol,
                    reason: e.reason,
                })
                .collect(),
        })
    }

    /// Daily bars of an instrument (as `GET /api/prices/{symbol}`).
    async fn prices(
        &self,
        ctx: &Context<'_>,
        symbol: String,
        from: Option<Date>,
        to: Option<Date>,
    ) -> async_graphql::Result<PriceHistory> {
        let user = current_user(ctx)?;
        let h = app(ctx)?
            .market()
            .history(
                user.id,
                &symbol,
                date_text(from).as_deref(),
                date_text(to).as_deref(),
            )
            .await
            .map_err(to_gql)?;
        Ok(PriceHistory {
            symbol: h.symbol,
            asset_id: h.asset_id,
            currency: h.currency,
            source: h.source,
            bars: h
                .bars
                .into_iter()
                .map(|b| Bar {
                    date: Date(b.date),
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    adj_close: b.adj_close,
                    volume: b.volume,
                })
                .collect(),
        })
    }

    /// A currency exchange rate (as `GET /api/fx`).
    async fn fx(
        &self,
        ctx: &Context<'_>,
        base: String,
        quote: String,
        date: Option<Date>,
    ) -> async_graphql::Result<FxRate> {
        let user = current_user(ctx)?;
        let r = app(ctx)?
            .market()
            .fx(user.id, &base, &quote, date_text(date).as_deref())
            .await
            .map_err(to_gql)?;
        Ok(FxRate {
            base: r.base,
            quote: r.quote,
            rate: r.rate,
            date: Date(r.date),
            source: r.source,
        })
    }

    /// Instruments matching `q` (as `GET /api/assets/search`).
    async fn search_assets(
        &self,
        ctx: &Context<'_>,
        q: String,
    ) -> async_graphql::Result<Vec<AssetSearchResult>> {
        let user = current_user(ctx)?;
        let results = app(ctx)?
            .market()
            .search(user.id, &q)
            .await
            .map_err(to_gql)?;
        Ok(results
            .into_iter()
            .map(|r| AssetSearchResult {
                symbol: r.symbol,
                name: r.name,
                asset_class: r.asset_class.as_str().to_string(),
                exchange: r.exchange,
                currency: r.currency,
                asset_id: r.asset_id,
                source: r.source,
            })
            .collect())
    }

    /// An instrument by its stable id (as `GET /api/assets/{asset_id}`).
    async fn asset(
        &self,
        ctx: &Context<'_>,
        asset_id: String,
    ) -> async_graphql::Result<AssetDetails> {
        let user = current_user(ctx)?;
        let a = app(ctx)?
            .market()
            .asset(user.id, &asset_id)
            .await
            .map_err(to_gql)?;
        Ok(AssetDetails {
            asset_id: a.asset_id,
            symbol: a.symbol,
            name: a.name,
            asset_class: a.asset_class,
            currency: a.currency,
            exchange: a.exchange,
            quote: a.quote.map(Into::into),
            last_price_update: a.last_price_update,
            price_source: a.price_source,
            quality_score: a.quality_score,
            last_error: a.last_error,
        })
    }

    /// Every market-data provider's health and budget (as `GET /api/market-data/providers`).
    async fn market_data_providers(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<MarketDataProvider>> {
        current_user(ctx)?;
        Ok(app(ctx)?
            .market()
            .providers()
            .into_iter()
            .map(|s| MarketDataProvider {
                name: s.name,
                enabled: s.enabled,
                disabled_reason: s.disabled_reason,
                healthy: s.healthy,
                circuit: s.circuit.as_str().to_string(),
                used: s.used,
                limit: s.limit,
                window: s.window,
                windows: s
                    .windows
                    .into_iter()
                    .map(|w| RateWindow {
                        window: w.window.to_string(),
                        used: w.used,
                        limit: w.limit,
                        resets_at: w.resets_at,
                    })
                    .collect(),
                last_error: s.last_error,
                last_error_at: s.last_error_at,
            })
            .collect())
    }

    /// The caller's portfolio in their base currency (as `GET /api/portfolio/summary`).
    async fn portfolio_summary(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PortfolioSummary> {
        let user = current_user(ctx)?;
        Ok(app(ctx)?
            .market()
            .portfolio_summary(user.id)
            .await
            .map_err(to_gql)?
            .as_ref()
            .clone()
            .into())
    }
}
