//! CoinGecko DTOs to normalized values.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Number, Value};

use super::models::{CoinListEntry, MarketChart, MarketEntry};
use crate::dec;
use crate::market::{Bar, Instrument, Quote, SearchResult};
use crate::normalize::{Taxonomy, asset_id};
use crate::providers::tidy_bars;
use crate::types::AssetClass;

pub(super) const SOURCE: &str = "coingecko";

/// The price of one coin in `vs` from a simple/price entry.
pub(super) fn quote(
    instrument: &Instrument,
    entry: &BTreeMap<String, Value>,
    vs: &str,
    now: DateTime<Utc>,
) -> Result<Option<Quote>, String> {
    let Some(Value::Number(price)) = entry.get(vs) else {
        return Ok(None);
    };
    let price = dec::from_number(price)?;
    let as_of = entry
        .get("last_updated_at")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
        .unwrap_or(now);
    Ok(Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price,
        currency: vs.to_ascii_uppercase(),
        as_of,
        source: SOURCE.to_owned(),
    }))
}

/// The candidate with the largest market cap (unknown caps rank last).
pub(super) fn largest_by_market_cap<'a>(
    candidates: &[&'a str],
    markets: &[MarketEntry],
) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .filter_map(|id| {
            let cap = markets.iter().find(|m| m.id == id)?.market_cap;
            Some((id, cap.unwrap_or(Decimal::ZERO)))
        })
        .max_by(|a, b| a.1.cmp(&b.1))
        .map(|(id, _)| id)
}

fn point(pair: &[Number; 2]) -> Result<(NaiveDate, Decimal), String> {
    let [at, value] = pair;
    let ms = at
        .as_i64()
        .or_else(|| at.as_f64().map(|f| f as i64))
        .ok_or_else(|| format!("bad timestamp {at}"))?;
    let date = DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| format!("bad timestamp {ms}"))?
        .date_naive();
    Ok((date, dec::from_number(value)?))
}

/// Daily closes (the last point of each UTC date) with volumes, within `from..=to`.
pub(super) fn bars(
    chart: &MarketChart,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Bar>, String> {
    let volumes: BTreeMap<NaiveDate, Decimal> = chart
        .total_volumes
        .iter()
        .map(point)
        .collect::<Result<_, _>>()?;
    let mut bars = Vec::with_capacity(chart.prices.len());
    for pair in &chart.prices {
        let (date, close) = point(pair)?;
        if date < from || date > to {
            continue;
        }
        bars.push(Bar {
            date,
            open: None,
            high: None,
            low: None,
            close,
            adj_close: None,
            volume: volumes.get(&date).copied(),
        });
    }
    Ok(tidy_bars(bars))
}

/// Coins whose symbol is the query, then coins whose name contains it; one per asset id.
pub(super) fn search(tax: &Taxonomy, list: &[CoinListEntry], query: &str) -> Vec<SearchResult> {
    let q = query.trim().to_ascii_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    let exact = list.iter().filter(|c| c.symbol.eq_ignore_ascii_case(&q));
    let named = list
        .iter()
        .filter(|c| c.name.to_ascii_lowercase().contains(&q));
    let mut seen = std::collections::HashSet::new();
    let mut results: Vec<SearchResult> = exact
        .chain(named)
        .filter_map(|coin| {
            let symbol = tax
                .crypto(&coin.symbol)
                .map_or_else(|| coin.symbol.to_ascii_uppercase(), |a| a.symbol.clone());
            let id = asset_id::crypto(&symbol);
            seen.insert(id.clone()).then(|| SearchResult {
                symbol,
                name: coin.name.clone(),
                asset_class: AssetClass::Crypto,
                exchange: None,
                currency: None,
                asset_id: id,
                source: SOURCE.to_owned(),
            })
        })
        .collect();
    // Assets the taxonomy knows (the real Bitcoin) before look-alikes sharing the text.
    results.sort_by_key(|r| tax.crypto(&r.symbol).is_none());
    results.truncate(10);
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_largest_market_cap_wins() {
        let markets = vec![
            MarketEntry {
                id: "uni-fake".into(),
                market_cap: Some(dec!(1000)),
            },
            MarketEntry {
                id: "uniswap".into(),
                market_cap: Some(dec!(4500000000)),
            },
            MarketEntry {
                id: "unknown-cap".into(),
                market_cap: None,
            },
        ];
        assert_eq!(
            largest_by_market_cap(&["uni-fake", "uniswap", "unknown-cap", "absent"], &markets),
            Some("uniswap")
        );
        assert_eq!(largest_by_market_cap(&["absent"], &markets), None);
    }
}
