//! Yahoo DTOs to normalized values, and instruments to Yahoo symbols.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::models::{ChartResult, SearchQuote};
use crate::market::{Bar, Instrument, PriceClass, Quote, SearchResult};
use crate::normalize::Taxonomy;
use crate::providers::tidy_bars;
use crate::types::AssetClass;

pub(super) const SOURCE: &str = "yahoo";

/// Yahoo's symbol: `AAPL`, `BRK-B`, `VOD.L`, `BTC-USD`, `EURUSD=X`.
pub(super) fn symbol(tax: &Taxonomy, instrument: &Instrument) -> Option<String> {
    match instrument.price_class() {
        PriceClass::Equity => {
            let ticker = instrument.symbol.replace('.', "-");
            let suffix = instrument
                .mic
                .as_deref()
                .and_then(|mic| tax.exchange(mic))
                .and_then(|e| e.yahoo_suffix.clone());
            match (suffix, instrument.is_us_listing()) {
                (Some(suffix), _) => Some(format!("{ticker}.{suffix}")),
                (None, true) => Some(ticker),
                // A listing Yahoo has no suffix for.
                (None, false) => None,
            }
        }
        PriceClass::Crypto => Some(format!(
            "{}-{}",
            instrument.symbol,
            instrument.quote_currency()
        )),
        PriceClass::Fx => Some(format!("{}=X", instrument.symbol)),
    }
}

fn currency_and_scale(tax: &Taxonomy, result: &ChartResult, fallback: &str) -> (String, Decimal) {
    let raw = result.meta.currency.as_deref().unwrap_or(fallback);
    let (one, currency) = tax.to_major_unit(Decimal::ONE, raw);
    (currency, one)
}

pub(super) fn quote(
    tax: &Taxonomy,
    instrument: &Instrument,
    result: &ChartResult,
) -> Option<Quote> {
    let fallback = instrument.currency.as_deref().unwrap_or("USD");
    let (currency, scale) = currency_and_scale(tax, result, fallback);
    let (price, as_of) = match (
        result.meta.regular_market_price,
        result.meta.regular_market_time,
    ) {
        (Some(price), Some(time)) => (
            (price * scale).normalize(),
            DateTime::<Utc>::from_timestamp(time, 0)?,
        ),
        // No live price: the last bar's close (already in major units).
        _ => {
            let bar = bars(tax, result).pop()?;
            (
                bar.close,
                bar.date.and_time(chrono::NaiveTime::MIN).and_utc(),
            )
        }
    };
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price,
        currency,
        as_of,
        source: SOURCE.to_owned(),
    })
}

/// The chart's daily bars, in the major currency unit, dated in the exchange's time zone.
pub(super) fn bars(tax: &Taxonomy, result: &ChartResult) -> Vec<Bar> {
    let (_, scale) = currency_and_scale(tax, result, "USD");
    let offset = result.meta.gmtoffset.unwrap_or(0);
    let Some(series) = result.indicators.as_ref().and_then(|i| i.quote.first()) else {
        return Vec::new();
    };
    let adj = result
        .indicators
        .as_ref()
        .and_then(|i| i.adjclose.first())
        .map(|a| a.adjclose.as_slice())
        .unwrap_or_default();
    let at = |v: &[Option<Decimal>], i: usize| {
        v.get(i).copied().flatten().map(|d| (d * scale).normalize())
    };
    let bars = result
        .timestamp
        .iter()
        .enumerate()
        .filter_map(|(i, ts)| {
            let date = DateTime::<Utc>::from_timestamp(ts.saturating_add(offset), 0)?.date_naive();
            Some(Bar {
                date,
                open: at(&series.open, i),
                high: at(&series.high, i),
                low: at(&series.low, i),
                close: at(&series.close, i)?,
                adj_close: at(adj, i),
                volume: series.volume.get(i).copied().flatten(),
            })
        })
        .collect();
    tidy_bars(bars)
}

/// The currency of a chart, in major units.
pub(super) fn currency(tax: &Taxonomy, result: &ChartResult, fallback: &str) -> String {
    currency_and_scale(tax, result, fallback).0
}

/// The close on `date` or the last one before it.
pub(super) fn close_on(bars: &[Bar], date: NaiveDate) -> Option<&Bar> {
    bars.iter().rev().find(|b| b.date <= date)
}

pub(super) fn search_results(tax: &Taxonomy, quotes: Vec<SearchQuote>) -> Vec<SearchResult> {
    quotes
        .into_iter()
        .filter_map(|q| {
            let raw = q.symbol?;
            let class = match q.quote_type.as_deref() {
                Some("EQUITY") => AssetClass::Equity,
                Some("ETF") => AssetClass::Etf,
                Some("MUTUALFUND") => AssetClass::Fund,
                Some("CRYPTOCURRENCY") => AssetClass::Crypto,
                Some("CURRENCY") => AssetClass::Cash,
                // Indices, futures and options are not priced here.
                _ => return None,
            };
            let mut instrument = tax.resolve(&raw, Some(class)).ok()?;
            if instrument.mic.is_none() && class != AssetClass::Crypto && class != AssetClass::Cash
            {
                // Yahoo's exchange code names the listing of a plain ticker.
                if let Some(exchange) = q.exchange.as_deref().and_then(|code| tax.exchange(code)) {
                    let ticker = instrument.symbol.clone();
                    instrument = tax
                        .resolve(&format!("EQUITY:{}:{ticker}", exchange.mic), Some(class))
                        .ok()?;
                }
            }
            Some(SearchResult {
                symbol: instrument.symbol,
                name: q.longname.or(q.shortname).unwrap_or(raw),
                asset_class: class,
                exchange: instrument.mic,
                currency: instrument.currency,
                asset_id: instrument.asset_id,
                source: SOURCE.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_follow_yahoo_conventions() {
        let tax = Taxonomy::builtin().unwrap_or_else(|e| panic!("{e}"));
        let sym = |input: &str| {
            let instrument = tax.resolve(input, None).unwrap_or_else(|e| panic!("{e}"));
            symbol(&tax, &instrument)
        };
        assert_eq!(sym("AAPL").as_deref(), Some("AAPL"));
        assert_eq!(sym("BRK.B").as_deref(), Some("BRK-B"));
        assert_eq!(sym("VOD.LON").as_deref(), Some("VOD.L"));
        assert_eq!(sym("SAP.DE").as_deref(), Some("SAP.DE"));
        assert_eq!(sym("XXBTZUSD").as_deref(), Some("BTC-USD"));
        assert_eq!(sym("ETH/EUR").as_deref(), Some("ETH-EUR"));
        assert_eq!(sym("EUR/USD").as_deref(), Some("EURUSD=X"));
        assert_eq!(sym("EQUITY:XXXX:ABC"), None);
    }
}
