//! CoinGecko JSON shapes (API v3): simple/price, coins/list, coins/markets,
//! coins/{id}/market_chart.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Number, Value};

use crate::dec;

/// `GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true`:
/// `{"bitcoin": {"usd": 67187.33, "last_updated_at": 1711356300}}`. Ids CoinGecko does not
/// know are left out.
pub(super) type SimplePrice = BTreeMap<String, BTreeMap<String, Value>>;

/// `GET /api/v3/coins/list`: every coin; symbols repeat across coins.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct CoinListEntry {
    pub id: String,
    pub symbol: String,
    pub name: String,
}

/// `GET /api/v3/coins/markets?vs_currency=usd&ids=...`.
#[derive(Debug, Deserialize)]
pub(super) struct MarketEntry {
    pub id: String,
    #[serde(default, deserialize_with = "dec::optional")]
    pub market_cap: Option<Decimal>,
}

/// `GET /api/v3/coins/{id}/market_chart?vs_currency=usd&days=30&interval=daily`:
/// `[[unix_ms, value], ...]` series.
#[derive(Debug, Deserialize)]
pub(super) struct MarketChart {
    pub prices: Vec<[Number; 2]>,
    #[serde(default)]
    pub total_volumes: Vec<[Number; 2]>,
}
