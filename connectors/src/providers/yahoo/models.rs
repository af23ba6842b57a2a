//! Yahoo Finance JSON shapes: the v8 chart endpoint and the v1 search endpoint.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::dec;

/// `GET /v8/finance/chart/{symbol}`: `{"chart": {"result": [...], "error": null}}`; an
/// unknown symbol gives HTTP 404 with `result: null` and an `error` object.
#[derive(Debug, Deserialize)]
pub(super) struct ChartEnvelope {
    pub chart: Chart,
}

#[derive(Debug, Deserialize)]
pub(super) struct Chart {
    #[serde(default)]
    pub result: Option<Vec<ChartResult>>,
    #[serde(default)]
    pub error: Option<ChartError>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChartError {
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChartResult {
    pub meta: ChartMeta,
    #[serde(default)]
    pub timestamp: Vec<i64>,
    #[serde(default)]
    pub indicators: Option<Indicators>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChartMeta {
    /// `USD`, `EUR`, `GBp` (pence), ...
    #[serde(default)]
    pub currency: Option<String>,
    /// Unix seconds of the last regular-session price.
    #[serde(default)]
    pub regular_market_time: Option<i64>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub regular_market_price: Option<Decimal>,
    /// Seconds east of UTC of the exchange, to turn bar timestamps into local dates.
    #[serde(default)]
    pub gmtoffset: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Indicators {
    #[serde(default)]
    pub quote: Vec<QuoteSeries>,
    #[serde(default)]
    pub adjclose: Vec<AdjCloseSeries>,
}

/// Parallel arrays aligned with `timestamp`; null on days without a value.
#[derive(Debug, Deserialize)]
pub(super) struct QuoteSeries {
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub open: Vec<Option<Decimal>>,
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub high: Vec<Option<Decimal>>,
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub low: Vec<Option<Decimal>>,
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub close: Vec<Option<Decimal>>,
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub volume: Vec<Option<Decimal>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AdjCloseSeries {
    #[serde(default, deserialize_with = "dec::optional_vec")]
    pub adjclose: Vec<Option<Decimal>>,
}

/// `GET /v1/finance/search?q=`.
#[derive(Debug, Deserialize)]
pub(super) struct SearchEnvelope {
    #[serde(default)]
    pub quotes: Vec<SearchQuote>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchQuote {
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub shortname: Option<String>,
    #[serde(default)]
    pub longname: Option<String>,
    #[serde(default)]
    pub exchange: Option<String>,
    /// `EQUITY`, `ETF`, `MUTUALFUND`, `CRYPTOCURRENCY`, `CURRENCY`, `INDEX`, `FUTURE`, ...
    #[serde(default)]
    pub quote_type: Option<String>,
}
