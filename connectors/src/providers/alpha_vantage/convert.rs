//! Alpha Vantage DTOs to normalized values; HTTP-200 notices to errors; instruments to
//! Alpha Vantage symbols.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::models::{DailyBar, GlobalQuote, Notice, SearchMatch};
use crate::ConnectorError;
use crate::market::{Bar, Instrument, PriceClass, Quote, SearchResult};
use crate::normalize::Taxonomy;
use crate::providers::start_of;
use crate::types::AssetClass;

pub(super) const SOURCE: &str = "alpha_vantage";

/// Turns a notice body into an error; `None` when the body carries data.
///
/// `Note` is the per-minute throttle (retry in a minute); `Information` is the daily cap
/// (until UTC midnight) or a premium-only function (`NotSupported`); `Error Message` is a
/// bad key (`Authentication`) or an invalid call, which for a well-formed request means an
/// unknown symbol (404-like `Upstream`).
pub(super) fn notice_error(notice: &Notice, now: DateTime<Utc>) -> Option<ConnectorError> {
    if let Some(message) = &notice.error_message {
        let lower = message.to_ascii_lowercase();
        return Some(if lower.contains("apikey") || lower.contains("api key") {
            ConnectorError::Authentication("alpha_vantage rejected the API key".to_owned())
        } else {
            ConnectorError::Upstream {
                status: 404,
                message: "alpha_vantage: invalid call or unknown symbol".to_owned(),
            }
        });
    }
    if notice.note.is_some() {
        return Some(ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        });
    }
    let information = notice.information.as_deref()?;
    let lower = information.to_ascii_lowercase();
    if lower.contains("premium") && !lower.contains("rate limit") {
        return Some(ConnectorError::NotSupported(
            "alpha_vantage: premium endpoint".to_owned(),
        ));
    }
    let retry_after = if lower.contains("per day") || lower.contains("daily") {
        let midnight = now.date_naive().succ_opt().map_or(now, start_of);
        (midnight - now)
            .to_std()
            .unwrap_or(Duration::from_secs(3600))
    } else {
        Duration::from_secs(60)
    };
    Some(ConnectorError::RateLimited {
        retry_after: Some(retry_after),
    })
}

/// `IBM`, `TSCO.LON`, `SAP.DEX`, `SHOP.TRT`; `None` for exchanges it has no suffix for.
pub(super) fn symbol(tax: &Taxonomy, instrument: &Instrument) -> Option<String> {
    if instrument.price_class() != PriceClass::Equity {
        return None;
    }
    if instrument.is_us_listing() {
        return Some(instrument.symbol.clone());
    }
    let suffix = tax
        .exchange(instrument.mic.as_deref()?)?
        .alpha_vantage_suffix
        .clone()?;
    Some(format!("{}.{suffix}", instrument.symbol))
}

/// The unit Alpha Vantage prices a listing in: London in pence.
fn price_unit(tax: &Taxonomy, instrument: &Instrument) -> String {
    if instrument.mic.as_deref() == Some("XLON") {
        return "GBX".to_owned();
    }
    instrument
        .currency
        .clone()
        .or_else(|| {
            instrument
                .mic
                .as_deref()
                .and_then(|m| tax.exchange(m))
                .and_then(|e| e.currency.clone())
        })
        .unwrap_or_else(|| "USD".to_owned())
}

pub(super) fn quote(tax: &Taxonomy, instrument: &Instrument, q: &GlobalQuote) -> Option<Quote> {
    q.symbol.as_ref()?;
    let price = q.price?;
    let day = NaiveDate::parse_from_str(q.latest_trading_day.as_deref()?, "%Y-%m-%d").ok()?;
    let (price, currency) = tax.to_major_unit(price, &price_unit(tax, instrument));
    Some(Quote {
        asset_id: instrument.asset_id.clone(),
        symbol: instrument.symbol.clone(),
        price,
        currency,
        as_of: start_of(day),
        source: SOURCE.to_owned(),
    })
}

pub(super) fn bars(
    tax: &Taxonomy,
    instrument: &Instrument,
    series: impl IntoIterator<Item = (String, DailyBar)>,
    from: NaiveDate,
    to: NaiveDate,
) -> (Vec<Bar>, String) {
    let unit = price_unit(tax, instrument);
    let currency = tax.to_major_unit(rust_decimal::Decimal::ONE, &unit).1;
    let major = |d| tax.to_major_unit(d, &unit).0;
    let bars = series
        .into_iter()
        .filter_map(|(date, bar)| {
            let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok()?;
            (date >= from && date <= to).then(|| Bar {
                date,
                open: Some(major(bar.open)),
                high: Some(major(bar.high)),
                low: Some(major(bar.low)),
                close: major(bar.close),
                adj_close: None,
                volume: bar.volume,
            })
        })
        .collect();
    (crate::providers::tidy_bars(bars), currency)
}

pub(super) fn search_results(tax: &Taxonomy, matches: Vec<SearchMatch>) -> Vec<SearchResult> {
    matches
        .into_iter()
        .filter_map(|m| {
            let class = match m.kind.as_deref() {
                Some("ETF") => AssetClass::Etf,
                Some("Mutual Fund") => AssetClass::Fund,
                _ => AssetClass::Equity,
            };
            let instrument = tax.resolve(&m.symbol, Some(class)).ok()?;
            let currency = m
                .currency
                .map(|c| tax.to_major_unit(rust_decimal::Decimal::ONE, &c).1)
                .or(instrument.currency);
            Some(SearchResult {
                symbol: instrument.symbol,
                name: m.name.unwrap_or_else(|| m.symbol.clone()),
                asset_class: class,
                exchange: instrument.mic,
                currency,
                asset_id: instrument.asset_id,
                source: SOURCE.to_owned(),
            })
        })
        .collect()
}

/// `2024-04-19 12:34:56` (UTC) to a date.
pub(super) fn refreshed_date(text: Option<&str>, now: DateTime<Utc>) -> NaiveDate {
    text.and_then(|t| {
        NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
            .map(|dt| dt.date())
            .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d"))
            .ok()
    })
    .unwrap_or_else(|| now.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn notice(note: Option<&str>, information: Option<&str>, error: Option<&str>) -> Notice {
        Notice {
            note: note.map(str::to_owned),
            information: information.map(str::to_owned),
            error_message: error.map(str::to_owned),
        }
    }

    #[test]
    fn notices_are_errors_never_data() {
        assert!(matches!(
            notice_error(&notice(Some("Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute"), None, None), now()),
            Some(ConnectorError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(60)
        ));
        assert!(matches!(
            notice_error(&notice(None, Some("We have detected your API key as X and our standard API rate limit is 25 requests per day."), None), now()),
            Some(ConnectorError::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(4 * 3600)
        ));
        assert!(matches!(
            notice_error(
                &notice(
                    None,
                    Some("Thank you for using Alpha Vantage! This is a premium endpoint."),
                    None
                ),
                now()
            ),
            Some(ConnectorError::NotSupported(_))
        ));
        assert!(matches!(
            notice_error(
                &notice(
                    None,
                    None,
                    Some("the parameter apikey is invalid or missing.")
                ),
                now()
            ),
            Some(ConnectorError::Authentication(_))
        ));
        assert!(matches!(
            notice_error(
                &notice(
                    None,
                    None,
                    Some("Invalid API call. Please retry or visit the documentation")
                ),
                now()
            ),
            Some(ConnectorError::Upstream { status: 404, .. })
        ));
        assert!(notice_error(&Notice::default(), now()).is_none());
    }

    #[test]
    fn symbols_use_alpha_vantage_suffixes() {
        let tax = Taxonomy::builtin().unwrap_or_else(|e| panic!("{e}"));
        let sym = |input: &str| {
            let instrument = tax.resolve(input, None).unwrap_or_else(|e| panic!("{e}"));
            symbol(&tax, &instrument)
        };
        assert_eq!(sym("IBM").as_deref(), Some("IBM"));
        assert_eq!(sym("VOD.L").as_deref(), Some("VOD.LON"));
        assert_eq!(sym("SAP.DE").as_deref(), Some("SAP.DEX"));
        assert_eq!(sym("BTC"), None);
    }
}
