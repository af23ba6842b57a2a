//! Alpha Vantage JSON shapes. Every value is a string; keys carry numbered prefixes
//! (`"05. price"`). Errors arrive with HTTP 200 as `Note`, `Information` or `Error Message`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::dec;

/// The error fields a body may carry instead of data.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Notice {
    #[serde(rename = "Note")]
    pub note: Option<String>,
    #[serde(rename = "Information")]
    pub information: Option<String>,
    #[serde(rename = "Error Message")]
    pub error_message: Option<String>,
}

/// `function=GLOBAL_QUOTE`: `{"Global Quote": {...}}`, an empty object for unknown symbols.
#[derive(Debug, Deserialize)]
pub(super) struct GlobalQuoteEnvelope {
    #[serde(rename = "Global Quote", default)]
    pub quote: Option<GlobalQuote>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GlobalQuote {
    #[serde(rename = "01. symbol", default)]
    pub symbol: Option<String>,
    #[serde(rename = "05. price", default, deserialize_with = "dec::optional")]
    pub price: Option<Decimal>,
    #[serde(rename = "07. latest trading day", default)]
    pub latest_trading_day: Option<String>,
}

/// `function=TIME_SERIES_DAILY`.
#[derive(Debug, Deserialize)]
pub(super) struct DailySeriesEnvelope {
    #[serde(rename = "Time Series (Daily)", default)]
    pub series: Option<BTreeMap<String, DailyBar>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DailyBar {
    #[serde(rename = "1. open", deserialize_with = "dec::required")]
    pub open: Decimal,
    #[serde(rename = "2. high", deserialize_with = "dec::required")]
    pub high: Decimal,
    #[serde(rename = "3. low", deserialize_with = "dec::required")]
    pub low: Decimal,
    #[serde(rename = "4. close", deserialize_with = "dec::required")]
    pub close: Decimal,
    #[serde(rename = "5. volume", default, deserialize_with = "dec::optional")]
    pub volume: Option<Decimal>,
}

/// `function=SYMBOL_SEARCH`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchEnvelope {
    #[serde(rename = "bestMatches", default)]
    pub best_matches: Vec<SearchMatch>,
}

#[derive(Debug, Deserialize)]
pub(super) struct SearchMatch {
    #[serde(rename = "1. symbol")]
    pub symbol: String,
    #[serde(rename = "2. name", default)]
    pub name: Option<String>,
    #[serde(rename = "3. type", default)]
    pub kind: Option<String>,
    #[serde(rename = "8. currency", default)]
    pub currency: Option<String>,
}

/// `function=CURRENCY_EXCHANGE_RATE`.
#[derive(Debug, Deserialize)]
pub(super) struct ExchangeRateEnvelope {
    #[serde(rename = "Realtime Currency Exchange Rate", default)]
    pub rate: Option<ExchangeRate>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ExchangeRate {
    #[serde(rename = "5. Exchange Rate", deserialize_with = "dec::required")]
    pub rate: Decimal,
    /// `2024-04-19 12:34:56`, in `7. Time Zone` (UTC).
    #[serde(rename = "6. Last Refreshed", default)]
    pub last_refreshed: Option<String>,
}
