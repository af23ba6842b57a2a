//! Tiingo's JSON shapes (REST API documentation: end-of-day, IEX, crypto, forex, search,
//! fundamentals). Numbers are read as decimals through their text.

use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::dec;

/// `GET /tiingo/daily/{ticker}/prices`: one element per trading day.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EodPrice {
    pub date: DateTime<FixedOffset>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub open: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub high: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub low: Option<Decimal>,
    #[serde(deserialize_with = "dec::required")]
    pub close: Decimal,
    #[serde(default, deserialize_with = "dec::optional")]
    pub volume: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub adj_close: Option<Decimal>,
}

/// `GET /iex/?tickers=a,b`: top-of-book and last sale per ticker. Outside market hours
/// `last` and the book fields are null; `tngoLast` is Tiingo's reference price.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IexQuote {
    pub ticker: String,
    pub timestamp: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub last_sale_timestamp: Option<DateTime<FixedOffset>>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub tngo_last: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub last: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub prev_close: Option<Decimal>,
}

/// `GET /tiingo/crypto/prices?tickers=btcusd`: one element per ticker.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CryptoPrices {
    pub ticker: String,
    #[serde(default)]
    pub quote_currency: Option<String>,
    #[serde(default)]
    pub price_data: Vec<CryptoBar>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CryptoBar {
    pub date: DateTime<FixedOffset>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub open: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub high: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub low: Option<Decimal>,
    #[serde(deserialize_with = "dec::required")]
    pub close: Decimal,
    #[serde(default, deserialize_with = "dec::optional")]
    pub volume: Option<Decimal>,
}

/// `GET /tiingo/fx/top?tickers=eurusd`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FxTop {
    pub ticker: String,
    pub quote_timestamp: DateTime<FixedOffset>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub mid_price: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub bid_price: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub ask_price: Option<Decimal>,
}

/// `GET /tiingo/fx/{ticker}/prices?resampleFreq=1day`.
#[derive(Debug, Deserialize)]
pub(super) struct FxBar {
    pub date: DateTime<FixedOffset>,
    #[serde(deserialize_with = "dec::required")]
    pub close: Decimal,
}

/// `GET /tiingo/utilities/search?query=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchHit {
    pub ticker: String,
    pub name: Option<String>,
    #[serde(default)]
    pub asset_type: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub country_code: Option<String>,
}

/// `GET /tiingo/fundamentals/{ticker}/daily`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DailyMetrics {
    pub date: DateTime<FixedOffset>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub market_cap: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub enterprise_val: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub pe_ratio: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub pb_ratio: Option<Decimal>,
    #[serde(default, rename = "trailingPEG1Y", deserialize_with = "dec::optional")]
    pub trailing_peg_1y: Option<Decimal>,
}
