//! Market data: `/api/quotes`, `/api/prices/{symbol}`, `/api/fx`, `/api/assets/...`,
//! `/api/market-data/providers`, and `/api/portfolio/summary`.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::AppQuery;
use crate::auth::CurrentUser;
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::market::{
    AssetDetails, History, PortfolioSummary, QuoteItem, Quotes, SymbolFailure,
};

/// `?symbols=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuotesParams {
    /// Comma-separated symbols (tickers such as `AAPL` or `VOD.L`, crypto such as `BTC` or
    /// `BTC/USDT`, FX pairs such as `EURUSD`, or asset ids); at most
    /// `market_data.max_quote_symbols` (default 50).
    pub symbols: Option<String>,
}

/// A latest price.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"symbol": "AAPL", "asset_id": "EQUITY:XNAS:AAPL", "price": "231.04", "currency": "USD", "as_of": "2026-11-20T21:00:00Z", "source": "tiingo"}))]
pub struct QuoteDto {
    /// The symbol as asked.
    pub symbol: String,
    pub asset_id: String,
    #[schema(value_type = String)]
    pub price: Decimal,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    /// The provider that supplied the price.
    pub source: String,
}

impl From<QuoteItem> for QuoteDto {
    fn from(q: QuoteItem) -> Self {
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

/// A symbol that could not be priced.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"symbol": "NOPE", "reason": "tiingo: not found; yahoo: not found; alpha_vantage: disabled (no API key configured)"}))]
pub struct QuoteErrorDto {
    pub symbol: String,
    /// Every provider's answer, in the order they were asked.
    pub reason: String,
}

impl From<SymbolFailure> for QuoteErrorDto {
    fn from(f: SymbolFailure) -> Self {
        Self {
            symbol: f.symbol,
            reason: f.reason,
        }
    }
}

/// Prices of the requested symbols, and the symbols that could not be priced.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotesResponse {
    pub items: Vec<QuoteDto>,
    pub errors: Vec<QuoteErrorDto>,
}

impl From<Quotes> for QuotesResponse {
    fn from(q: Quotes) -> Self {
        Self {
            items: q.items.into_iter().map(Into::into).collect(),
            errors: q.errors.into_iter().map(Into::into).collect(),
        }
    }
}

/// `?from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// First date (inclusive), YYYY-MM-DD; default one year before `to`.
    pub from: Option<String>,
    /// Last date (inclusive), YYYY-MM-DD; default today.
    pub to: Option<String>,
}

/// One daily bar; decimals as strings. Providers that only know closes leave the rest null.
#[derive(Debug, Serialize, ToSchema)]
pub struct BarDto {
    pub date: NaiveDate,
    #[schema(value_type = Option<String>)]
    pub open: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub high: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub low: Option<Decimal>,
    #[schema(value_type = String)]
    pub close: Decimal,
    #[schema(value_type = Option<String>)]
    pub adj_close: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub volume: Option<Decimal>,
}

/// Daily bars of one instrument.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceHistoryDto {
    pub symbol: String,
    pub asset_id: String,
    pub currency: String,
    pub source: String,
    pub bars: Vec<BarDto>,
}

impl From<History> for PriceHistoryDto {
    fn from(h: History) -> Self {
        Self {
            symbol: h.symbol,
            asset_id: h.asset_id,
            currency: h.currency,
            source: h.source,
            bars: h
                .bars
                .into_iter()
                .map(|b| BarDto {
                    date: b.date,
                    open: b.open,
                    high: b.high,
                    low: b.low,
                    close: b.close,
                    adj_close: b.adj_close,
                    volume: b.volume,
                })
                .collect(),
        }
    }
}

/// `?base=&quote=&date=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FxParams {
    /// ISO 4217 code.
    pub base: Option<String>,
    /// ISO 4217 code.
    pub quote: Option<String>,
    /// YYYY-MM-DD (the last rate on or before it); default the latest.
    pub date: Option<String>,
}

/// 1 `base` = `rate` `quote`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"base": "EUR", "quote": "USD", "rate": "1.0842", "date": "2026-11-20", "source": "yahoo"}))]
pub struct FxRateDto {
    pub base: String,
    pub quote: String,
    #[schema(value_type = String)]
    pub rate: Decimal,
    pub date: NaiveDate,
    pub source: String,
}

/// `?q=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Name or symbol fragment, 1–100 characters.
    pub q: Option<String>,
}

/// An instrument found by a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResultDto {
    pub symbol: String,
    pub name: String,
    /// equity, etf, crypto, cash, bond, option, future, fund, other.
    pub asset_class: String,
    /// MIC of the listing, when known.
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub asset_id: String,
    pub source: String,
}

/// Search results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub items: Vec<SearchResultDto>,
}

/// An instrument with its latest stored price and pricing bookkeeping.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetDetailsDto {
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub asset_class: String,
    pub currency: String,
    pub exchange: Option<String>,
    /// The latest stored quote (refreshed by the price scheduler and by `/api/quotes`).
    pub quote: Option<QuoteDto>,
    pub last_price_update: Option<DateTime<Utc>>,
    pub price_source: Option<String>,
    /// 0–100; drops with consecutive pricing failures.
    pub quality_score: Option<i32>,
    pub last_error: Option<String>,
}

impl From<AssetDetails> for AssetDetailsDto {
    fn from(a: AssetDetails) -> Self {
        Self {
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
        }
    }
}

/// Requests used in one rate-limit window.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowUsageDto {
    /// second, minute, hour or day.
    pub window: String,
    pub used: u32,
    pub limit: u32,
    pub resets_at: DateTime<Utc>,
}

/// A provider's health and budget.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "tiingo", "enabled": false, "disabled_reason": "no API key configured", "healthy": false, "circuit": "closed", "used": 0, "limit": 1000, "window": "day", "windows": [], "last_error": null, "last_error_at": null}))]
pub struct ProviderStatusDto {
    pub name: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub healthy: bool,
    /// closed, open or half_open.
    pub circuit: String,
    /// Requests used in the longest configured window.
    pub used: u32,
    pub limit: Option<u32>,
    pub window: Option<String>,
    pub windows: Vec<WindowUsageDto>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

impl From<tributary_connectors::market::ProviderStatus> for ProviderStatusDto {
    fn from(s: tributary_connectors::market::ProviderStatus) -> Self {
        Self {
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
                .map(|w| WindowUsageDto {
                    window: w.window.to_string(),
                    used: w.used,
                    limit: w.limit,
                    resets_at: w.resets_at,
                })
                .collect(),
            last_error: s.last_error,
            last_error_at: s.last_error_at,
        }
    }
}

/// Every market-data provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    pub items: Vec<ProviderStatusDto>,
}

/// One account's value in the base currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountValueDto {
    pub account_id: Uuid,
    pub name: String,
    pub currency: String,
    #[schema(value_type = String)]
    pub market_value: Decimal,
    #[schema(value_type = Option<String>)]
    pub cost_basis: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub unrealized_pnl: Option<Decimal>,
    pub holdings_count: usize,
}

/// The value of one asset class in the base currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetClassValueDto {
    pub asset_class: String,
    #[schema(value_type = String)]
    pub market_value: Decimal,
    /// Share of the total, 0–1.
    #[schema(value_type = String)]
    pub weight: Decimal,
}

/// Exposure to one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyValueDto {
    pub currency: String,
    /// In `currency`.
    #[schema(value_type = String)]
    pub market_value: Decimal,
    /// In the base currency.
    #[schema(value_type = String)]
    pub market_value_base: Decimal,
    #[schema(value_type = String)]
    pub weight: Decimal,
}

/// A holding left out of the totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnvaluedHoldingDto {
    pub account_id: Uuid,
    pub asset_id: String,
    pub symbol: String,
    pub reason: String,
}

/// The caller's portfolio in their base currency.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"base_currency": "USD", "total_market_value": "12543.20", "total_cost_basis": "10000", "unrealized_pnl": "2543.20", "holdings_count": 3,
    "by_account": [{"account_id": "01930b7e-8f7a-7c4e-9a57-3f2e4b1c0d9e", "name": "IBKR", "currency": "USD", "market_value": "12543.20", "cost_basis": "10000", "unrealized_pnl": "2543.20", "holdings_count": 3}],
    "by_asset_class": [{"asset_class": "equity", "market_value": "12543.20", "weight": "1"}],
    "by_currency": [{"currency": "EUR", "market_value": "11568.00", "market_value_base": "12543.20", "weight": "1"}],
    "unvalued": [], "prices_as_of": "2026-11-20T21:00:00Z"}))]
pub struct PortfolioSummaryDto {
    pub base_currency: String,
    #[schema(value_type = String)]
    pub total_market_value: Decimal,
    /// Cost of the holdings whose cost is known.
    #[schema(value_type = String)]
    pub total_cost_basis: Decimal,
    /// Market value minus cost over the holdings whose cost is known.
    #[schema(value_type = String)]
    pub unrealized_pnl: Decimal,
    pub holdings_count: usize,
    pub by_account: Vec<AccountValueDto>,
    pub by_asset_class: Vec<AssetClassValueDto>,
    pub by_currency: Vec<CurrencyValueDto>,
    /// Holdings without a stored price or FX rate (left out of the totals).
    pub unvalued: Vec<UnvaluedHoldingDto>,
    /// The oldest price used.
    pub prices_as_of: Option<DateTime<Utc>>,
}

impl From<PortfolioSummary> for PortfolioSummaryDto {
    fn from(s: PortfolioSummary) -> Self {
        Self {
            base_currency: s.base_currency,
            total_market_value: s.total_market_value,
            total_cost_basis: s.total_cost_basis,
            unrealized_pnl: s.unrealized_pnl,
            holdings_count: s.holdings_count,
            by_account: s
                .by_account
                .into_iter()
                .map(|a| AccountValueDto {
                    account_id: a.account_id.0,
                    name: a.name,
                    currency: a.currency,
                    market_value: a.market_value,
                    cost_basis: a.cost_basis,
                    unrealized_pnl: a.unrealized_pnl,
                    holdings_count: a.holdings_count,
                })
                .collect(),
            by_asset_class: s
                .by_asset_class
                .into_iter()
                .map(|c| AssetClassValueDto {
                    asset_class: c.asset_class,
                    market_value: c.market_value,
                    weight: c.weight,
                })
                .collect(),
            by_currency: s
                .by_currency
                .into_iter()
                .map(|c| CurrencyValueDto {
                    currency: c.currency,
                    market_value: c.market_value,
                    market_value_base: c.market_value_base,
                    weight: c.weight,
                })
                .collect(),
            unvalued: s
                .unvalued
                .into_iter()
                .map(|u| UnvaluedHoldingDto {
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

/// Latest prices through the provider fallback chain (each stored with its source).
/// Symbols that cannot be priced are listed in `errors` with every provider's answer.
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    params(QuotesParams),
    responses(
        (status = 200, description = "Prices and per-symbol errors", body = QuotesResponse),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No symbols, or too many (field `symbols`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/quotes")]
pub async fn get_quotes(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<QuotesParams>,
) -> Result<web::Json<QuotesResponse>, ServiceError> {
    let market = ctx.market();
    let symbols = market.parse_symbols(q.0.symbols.as_deref().unwrap_or_default())?;
    Ok(web::Json(market.quotes(user.id, &symbols).await?.into()))
}

/// Daily bars of an instrument (stored as they are fetched; served from storage when every
/// provider fails).
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    params(("symbol" = String, Path, description = "Symbol, e.g. AAPL, VOD.L, BTC, EURUSD"), HistoryParams),
    responses(
        (status = 200, description = "Daily bars, ascending", body = PriceHistoryDto),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No provider knows the symbol", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad symbol or date, or `from` after `to`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed and nothing is stored", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prices/{symbol}")]
pub async fn get_prices(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    symbol: web::Path<String>,
    q: AppQuery<HistoryParams>,
) -> Result<web::Json<PriceHistoryDto>, ServiceError> {
    let q = q.0;
    let history = ctx
        .market()
        .history(user.id, &symbol, q.from.as_deref(), q.to.as_deref())
        .await?;
    Ok(web::Json(history.into()))
}

/// A currency exchange rate (stored as fetched).
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    params(FxParams),
    responses(
        (status = 200, description = "The rate", body = FxRateDto),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No provider has the pair", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad currency or date", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed and nothing is stored", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/fx")]
pub async fn get_fx(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<FxParams>,
) -> Result<web::Json<FxRateDto>, ServiceError> {
    let q = q.0;
    let base = q
        .base
        .ok_or_else(|| ServiceError::validation("base", "is required"))?;
    let quote = q
        .quote
        .ok_or_else(|| ServiceError::validation("quote", "is required"))?;
    let rate = ctx
        .market()
        .fx(user.id, &base, &quote, q.date.as_deref())
        .await?;
    Ok(web::Json(FxRateDto {
        base: rate.base,
        quote: rate.quote,
        rate: rate.rate,
        date: rate.date,
        source: rate.source,
    }))
}

/// Search instruments by name or symbol.
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "Matches (empty when nothing matches)", body = SearchResponse),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or over-long `q`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Every provider failed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/assets/search")]
pub async fn search_assets(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<SearchParams>,
) -> Result<web::Json<SearchResponse>, ServiceError> {
    let results = ctx
        .market()
        .search(user.id, q.0.q.as_deref().unwrap_or_default())
        .await?;
    Ok(web::Json(SearchResponse {
        items: results
            .into_iter()
            .map(|r| SearchResultDto {
                symbol: r.symbol,
                name: r.name,
                asset_class: r.asset_class.as_str().to_string(),
                exchange: r.exchange,
                currency: r.currency,
                asset_id: r.asset_id,
                source: r.source,
            })
            .collect(),
    }))
}

/// An instrument by its stable id (held or quoted before), with its latest stored price.
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    params(("asset_id" = String, Path, description = "Stable asset id, e.g. EQUITY:XNAS:AAPL")),
    responses(
        (status = 200, description = "The instrument", body = AssetDetailsDto),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Never held nor quoted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed asset id", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/assets/{asset_id}")]
pub async fn get_asset(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    asset_id: web::Path<String>,
) -> Result<web::Json<AssetDetailsDto>, ServiceError> {
    Ok(web::Json(
        ctx.market().asset(user.id, &asset_id).await?.into(),
    ))
}

/// Every market-data provider: enabled (or why not), healthy, circuit state, requests used
/// and the limit in the current window, last error.
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Providers in registration order", body = ProvidersResponse),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/market-data/providers")]
pub async fn list_market_data_providers(
    ctx: web::Data<AppContext>,
    _user: CurrentUser,
) -> Result<web::Json<ProvidersResponse>, ServiceError> {
    Ok(web::Json(ProvidersResponse {
        items: ctx
            .market()
            .providers()
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// The caller's portfolio valued in their base currency: total, by account, by asset class,
/// by currency, and unrealized P&L where cost is known.
#[utoipa::path(
    tag = "market-data",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The summary", body = PortfolioSummaryDto),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/portfolio/summary")]
pub async fn get_portfolio_summary(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
) -> Result<web::Json<PortfolioSummaryDto>, ServiceError> {
    Ok(web::Json(
        PortfolioSummary::clone(&*ctx.market().portfolio_summary(user.id).await?).into(),
    ))
}
