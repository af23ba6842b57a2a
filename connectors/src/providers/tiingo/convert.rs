//! Tiingo DTOs to normalized values, and instruments to Tiingo tickers.

use chrono::{NaiveDate, Utc};

use super::models::{CryptoPrices, DailyMetrics, EodPrice, FxBar, FxTop, IexQuote, SearchHit};
use crate::market::{Bar, DailyFundamentals, FxRate, Instrument, PriceClass, Quote, SearchResult};
use crate::normalize::Taxonomy;
use crate::providers::tidy_bars;
use crate::types::AssetClass;

pub(super) const SOURCE: &str = "tiingo";

/// Tiingo's ticker: lower case, share classes with a dash (`brk-b`), crypto as
/// `<base><quote>` (`btcusd`), FX as `<base><quote>` (`eurusd`). Only US listings for
/// equities.
pub(super) fn ticker(instrument: &Instrument) -> Option<String> {
    match instrument.price_class() {
        PriceClass::Equity => instrument
            .is_us_listing()
            .then(|| instrument.symbol.replace('.', "-").to_ascii_lowercase()),
        PriceClass::Crypto => Some(
            format!("{}{}", instrument.symbol, instrument.quote_currency()).to_ascii_lowercase(),
        ),
        PriceClass::Fx => Some(instrument.symbol.to_ascii_lowercase()),
    }
}

pub(super) fn iex_quote(instrument: &Instrument, q: &IexQuote) -> Option<Quote> {
    let price = q.tngo_last.or(q.last).or(q.prev_close)?;
    let as_of = q.timestamp.or(q.last_sale_timestamp)?.with_timezone(&Utc);
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price,
        currency: "USD".to_owned(),
        as_of,
        source: SOURCE.to_owned(),
    })
}

pub(super) fn eod_quote(instrument: &Instrument, rows: &[EodPrice]) -> Option<Quote> {
    let last = rows.iter().max_by_key(|r| r.date)?;
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price: last.close,
        currency: "USD".to_owned(),
        as_of: last.date.with_timezone(&Utc),
        source: SOURCE.to_owned(),
    })
}

pub(super) fn eod_bars(rows: Vec<EodPrice>) -> Vec<Bar> {
    tidy_bars(
        rows.into_iter()
            .map(|r| Bar {
                date: r.date.date_naive(),
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                adj_close: r.adj_close,
                volume: r.volume,
            })
            .collect(),
    )
}

pub(super) fn crypto_quote(instrument: &Instrument, prices: &CryptoPrices) -> Option<Quote> {
    let last = prices.price_data.iter().max_by_key(|b| b.date)?;
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price: last.close,
        currency: prices
            .quote_currency
            .as_deref()
            .unwrap_or(instrument.quote_currency())
            .to_ascii_uppercase(),
        as_of: last.date.with_timezone(&Utc),
        source: SOURCE.to_owned(),
    })
}

pub(super) fn crypto_bars(prices: CryptoPrices) -> Vec<Bar> {
    tidy_bars(
        prices
            .price_data
            .into_iter()
            .map(|b| Bar {
                date: b.date.with_timezone(&Utc).date_naive(),
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                adj_close: None,
                volume: b.volume,
            })
            .collect(),
    )
}

pub(super) fn fx_top_price(top: &FxTop) -> Option<rust_decimal::Decimal> {
    top.mid_price.or(match (top.bid_price, top.ask_price) {
        (Some(bid), Some(ask)) => Some((bid + ask) / rust_decimal::Decimal::TWO),
        _ => None,
    })
}

pub(super) fn fx_top_quote(instrument: &Instrument, top: &FxTop) -> Option<Quote> {
    let (_, quote) = instrument.fx_pair()?;
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price: fx_top_price(top)?,
        currency: quote.to_owned(),
        as_of: top.quote_timestamp.with_timezone(&Utc),
        source: SOURCE.to_owned(),
    })
}

pub(super) fn fx_top_rate(base: &str, quote: &str, top: &FxTop) -> Option<FxRate> {
    Some(FxRate {
        base: base.to_owned(),
        quote: quote.to_owned(),
        rate: fx_top_price(top)?,
        date: top.quote_timestamp.with_timezone(&Utc).date_naive(),
        source: SOURCE.to_owned(),
    })
}

/// The close of `date`, or of the last day before it.
pub(super) fn fx_rate_on(
    base: &str,
    quote: &str,
    date: NaiveDate,
    bars: &[FxBar],
) -> Option<FxRate> {
    let bar = bars
        .iter()
        .filter(|b| b.date.with_timezone(&Utc).date_naive() <= date)
        .max_by_key(|b| b.date)?;
    Some(FxRate {
        base: base.to_owned(),
        quote: quote.to_owned(),
        rate: bar.close,
        date: bar.date.with_timezone(&Utc).date_naive(),
        source: SOURCE.to_owned(),
    })
}

pub(super) fn search_results(tax: &Taxonomy, hits: Vec<SearchHit>) -> Vec<SearchResult> {
    hits.into_iter()
        .filter(|h| h.is_active != Some(false))
        .filter_map(|h| {
            let class = match h.asset_type.as_deref() {
                Some("ETF") => AssetClass::Etf,
                Some("Mutual Fund") => AssetClass::Fund,
                Some("Stock") | None => AssetClass::Equity,
                Some(_) => AssetClass::Other,
            };
            // Tiingo lists non-US tickers too, without an exchange we could map.
            if h.country_code.as_deref().is_some_and(|c| c != "US") {
                return None;
            }
            let instrument = tax.resolve(&h.ticker, Some(class)).ok()?;
            Some(SearchResult {
                symbol: instrument.symbol,
                name: h.name.unwrap_or_else(|| h.ticker.clone()),
                asset_class: class,
                exchange: instrument.mic,
                currency: Some("USD".to_owned()),
                asset_id: instrument.asset_id,
                source: SOURCE.to_owned(),
            })
        })
        .collect()
}

pub(super) fn fundamentals(rows: Vec<DailyMetrics>) -> Vec<DailyFundamentals> {
    let mut out: Vec<DailyFundamentals> = rows
        .into_iter()
        .map(|r| DailyFundamentals {
            date: r.date.date_naive(),
            market_cap: r.market_cap,
            enterprise_value: r.enterprise_val,
            pe_ratio: r.pe_ratio,
            pb_ratio: r.pb_ratio,
            trailing_peg_1y: r.trailing_peg_1y,
        })
        .collect();
    out.sort_by_key(|f| f.date);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instrument(input: &str) -> Instrument {
        Taxonomy::builtin()
            .and_then(|t| {
                t.resolve(input, None)
                    .map_err(|e| crate::ConnectorError::Decode(e.to_string()))
            })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tickers_follow_tiingo_conventions() {
        assert_eq!(ticker(&instrument("AAPL")).as_deref(), Some("aapl"));
        assert_eq!(ticker(&instrument("BRK.B")).as_deref(), Some("brk-b"));
        assert_eq!(ticker(&instrument("BTC")).as_deref(), Some("btcusd"));
        assert_eq!(ticker(&instrument("XETHZEUR")).as_deref(), Some("etheur"));
        assert_eq!(ticker(&instrument("EUR/USD")).as_deref(), Some("eurusd"));
        assert_eq!(ticker(&instrument("VOD.L")), None);
    }
}
