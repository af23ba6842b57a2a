//! Symbol normalization: user and vendor spellings to one [`Instrument`] with a stable id.
//!
//! - asset ids and exchange prefixes: `EQUITY:XNAS:AAPL`, `CRYPTO:BTC`, `FX:EUR`, `LSE:VOD`;
//! - exchange suffixes, Yahoo's and Alpha Vantage's: `VOD.L`, `VOD.LON` → `XLON`, `SAP.DE` →
//!   `XETR`, `MC.PA` → `XPAR`; a one-letter suffix is a share class (`BRK.B`, Yahoo `BRK-B`);
//! - crypto pairs to their base asset: `BTC/USDT`, `BTC-USD`, `BTCUSDT`, Kraken `XXBTZUSD`,
//!   `XETHZEUR`, `XBT/EUR`; a fiat quote is kept as the price currency;
//! - FX pairs: `EURUSD`, `EURUSD=X`, `EUR/USD`, Yahoo's `JPY=X` (USDJPY).

use super::asset_id;
use super::taxonomy::{ExchangeDef, Taxonomy};
use crate::market::{Instrument, PriceClass};
use crate::types::AssetClass;

const MAX_LEN: usize = 40;

/// Why input could not be read as a symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("the symbol is empty")]
    Empty,
    #[error("the symbol is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the symbol may only contain letters, digits and . - / = : _ ^")]
    InvalidCharacters,
    #[error("unknown exchange {0:?}")]
    UnknownExchange(String),
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("not a valid symbol or asset id: {0:?}")]
    Malformed(String),
}

pub(crate) fn resolve(
    tax: &Taxonomy,
    input: &str,
    hint: Option<AssetClass>,
) -> Result<Instrument, SymbolError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(SymbolError::Empty);
    }
    if trimmed.chars().count() > MAX_LEN {
        return Err(SymbolError::TooLong { max: MAX_LEN });
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-/=:_^".contains(c))
    {
        return Err(SymbolError::InvalidCharacters);
    }
    let s = trimmed.to_ascii_uppercase();
    let class = hint.map(PriceClass::of);
    let allow = |c: PriceClass| class.is_none_or(|h| h == c);

    if s.contains(':') {
        return prefixed(tax, &s, hint);
    }
    if let Some(pair) = s.strip_suffix("=X")
        && allow(PriceClass::Fx)
    {
        return match pair.len() {
            6 => fx(tax, &pair[..3], &pair[3..]),
            3 => fx(tax, "USD", pair),
            _ => Err(SymbolError::Malformed(s.clone())),
        };
    }
    for sep in ['/', '-', '_'] {
        let Some((a, b)) = s.split_once(sep) else {
            continue;
        };
        if allow(PriceClass::Fx) && tax.is_fiat(a) && tax.is_fiat(b) {
            return fx(tax, a, b);
        }
        if allow(PriceClass::Crypto) {
            let forced = class == Some(PriceClass::Crypto);
            if let Some(instrument) = crypto_pair(tax, a, b, forced) {
                return Ok(instrument);
            }
        }
        if sep == '-' && allow(PriceClass::Equity) && is_share_class(b) && is_ticker(a) {
            return Ok(equity(tax, None, &format!("{a}.{b}"), hint));
        }
        return Err(SymbolError::Malformed(s.clone()));
    }
    if let Some((ticker, suffix)) = s.rsplit_once('.')
        && allow(PriceClass::Equity)
    {
        if let Some(exchange) = tax.exchange_by_suffix(suffix) {
            return Ok(equity(tax, Some(exchange), ticker, hint));
        }
        if is_share_class(suffix) && is_ticker(ticker) {
            return Ok(equity(tax, None, &s, hint));
        }
        return Err(SymbolError::UnknownExchange(suffix.to_owned()));
    }
    if allow(PriceClass::Crypto) {
        let forced = class == Some(PriceClass::Crypto);
        if let Some(asset) = tax.crypto(&s)
            && (forced || tax.listing(&s, None).is_none())
        {
            return Ok(crypto(tax, &asset.symbol, None));
        }
        if let Some(instrument) = concatenated_crypto_pair(tax, &s) {
            return Ok(instrument);
        }
        if forced {
            return Ok(crypto(tax, &s, None));
        }
    }
    if allow(PriceClass::Fx) {
        if s.len() == 6 && tax.is_fiat(&s[..3]) && tax.is_fiat(&s[3..]) {
            return fx(tax, &s[..3], &s[3..]);
        }
        if class == Some(PriceClass::Fx) {
            return if s.len() == 3 {
                fx(tax, &s, "USD")
            } else {
                Err(SymbolError::UnknownCurrency(s.clone()))
            };
        }
    }
    if is_ticker(&s) {
        Ok(equity(tax, None, &s, hint))
    } else {
        Err(SymbolError::Malformed(s))
    }
}

fn is_ticker(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '^')
}

fn is_share_class(s: &str) -> bool {
    s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic())
}

fn prefixed(tax: &Taxonomy, s: &str, hint: Option<AssetClass>) -> Result<Instrument, SymbolError> {
    let parts: Vec<&str> = s.split(':').collect();
    let malformed = || SymbolError::Malformed(s.to_owned());
    match parts.as_slice() {
        ["EQUITY", mic, ticker] if is_ticker(ticker) && !mic.is_empty() => {
            let exchange = tax.exchange(mic);
            let mut instrument = equity(tax, exchange, ticker, hint);
            // An explicit id is kept as written, known exchange or not.
            if exchange.is_none() {
                instrument.mic = Some((*mic).to_owned());
                instrument.asset_id = asset_id::equity(Some(mic), ticker);
            }
            Ok(instrument)
        }
        ["EQUITY", ticker] if is_ticker(ticker) => {
            let mut instrument = equity(tax, None, ticker, hint);
            instrument.asset_id = asset_id::equity(None, ticker);
            instrument.mic = None;
            Ok(instrument)
        }
        ["CRYPTO", symbol] if is_ticker(symbol) => {
            let canonical = tax.crypto(symbol).map_or(*symbol, |a| a.symbol.as_str());
            Ok(crypto(tax, canonical, None))
        }
        ["FX" | "CASH", code] if code.len() == 3 => fx(tax, code, "USD"),
        ["FX" | "CASH", pair] if pair.len() == 6 => fx(tax, &pair[..3], &pair[3..]),
        [exchange, ticker] if is_ticker(ticker) => match tax.exchange(exchange) {
            Some(exchange) => Ok(equity(tax, Some(exchange), ticker, hint)),
            None => Err(SymbolError::UnknownExchange((*exchange).to_owned())),
        },
        _ => Err(malformed()),
    }
}

fn equity(
    tax: &Taxonomy,
    exchange: Option<&ExchangeDef>,
    ticker: &str,
    hint: Option<AssetClass>,
) -> Instrument {
    let listing = tax.listing(ticker, exchange.map(|e| e.mic.as_str()));
    let mic = exchange
        .map(|e| e.mic.clone())
        .or_else(|| listing.map(|l| l.mic.clone()));
    let class = listing.map(|l| l.class).unwrap_or(match hint {
        Some(h) if PriceClass::of(h) == PriceClass::Equity => h,
        _ => AssetClass::Equity,
    });
    let currency = listing.and_then(|l| l.currency.clone()).or_else(|| {
        mic.as_deref()
            .and_then(|m| tax.exchange(m))
            .and_then(|e| e.currency.clone())
    });
    Instrument {
        asset_id: asset_id::equity(mic.as_deref(), ticker),
        symbol: ticker.to_owned(),
        class,
        mic,
        currency,
        name: listing.and_then(|l| l.name.clone()),
    }
}

fn crypto(tax: &Taxonomy, symbol: &str, fiat_quote: Option<&str>) -> Instrument {
    let asset = tax.crypto(symbol);
    let symbol = asset.map_or(symbol, |a| a.symbol.as_str());
    Instrument {
        asset_id: asset_id::crypto(symbol),
        symbol: symbol.to_owned(),
        class: AssetClass::Crypto,
        mic: None,
        currency: fiat_quote.map(str::to_owned),
        name: asset.map(|a| a.name.clone()),
    }
}

fn fx(tax: &Taxonomy, base: &str, quote: &str) -> Result<Instrument, SymbolError> {
    for code in [base, quote] {
        if !tax.is_fiat(code) {
            return Err(SymbolError::UnknownCurrency(code.to_owned()));
        }
    }
    Ok(Instrument {
        asset_id: asset_id::fx(base),
        symbol: format!("{base}{quote}"),
        class: AssetClass::Cash,
        mic: None,
        currency: Some(quote.to_owned()),
        name: None,
    })
}

/// The quote side of a pair: a fiat code (Kraken spells it `ZUSD`) or a quote crypto asset.
/// `Some(Some(fiat))` for fiat, `Some(None)` for crypto quotes (priced in USD).
fn quote_side(tax: &Taxonomy, quote: &str) -> Option<Option<String>> {
    if tax.is_fiat(quote) {
        return Some(Some(quote.to_owned()));
    }
    if let Some(fiat) = quote.strip_prefix('Z')
        && tax.is_fiat(fiat)
    {
        return Some(Some(fiat.to_owned()));
    }
    tax.crypto(quote).filter(|a| a.quote_asset).map(|_| None)
}

fn crypto_pair(tax: &Taxonomy, base: &str, quote: &str, forced: bool) -> Option<Instrument> {
    let quote = quote_side(tax, quote)?;
    if tax.crypto(base).is_none() && !(forced && is_ticker(base)) {
        return None;
    }
    Some(crypto(tax, base, quote.as_deref()))
}

fn concatenated_crypto_pair(tax: &Taxonomy, s: &str) -> Option<Instrument> {
    (2..s.len().saturating_sub(2)).find_map(|i| {
        let (base, quote) = (s.get(..i)?, s.get(i..)?);
        tax.crypto(base)?;
        let quote = quote_side(tax, quote)?;
        Some(crypto(tax, base, quote.as_deref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tax() -> Taxonomy {
        Taxonomy::builtin().unwrap_or_else(|e| panic!("{e}"))
    }

    fn id(input: &str) -> String {
        id_with(input, None)
    }

    fn id_with(input: &str, hint: Option<AssetClass>) -> String {
        match tax().resolve(input, hint) {
            Ok(i) => i.asset_id,
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn equities_get_their_exchange_from_suffixes_prefixes_and_listings() {
        assert_eq!(id("AAPL"), "EQUITY:XNAS:AAPL");
        assert_eq!(id("aapl"), "EQUITY:XNAS:AAPL");
        assert_eq!(id("VOD.L"), "EQUITY:XLON:VOD");
        assert_eq!(id("VOD.LON"), "EQUITY:XLON:VOD");
        assert_eq!(id("SAP.DE"), "EQUITY:XETR:SAP");
        assert_eq!(id("MC.PA"), "EQUITY:XPAR:MC");
        assert_eq!(id("SHOP.TO"), "EQUITY:XTSE:SHOP");
        assert_eq!(id("7203.T"), "EQUITY:XTKS:7203");
        assert_eq!(id("LSE:VOD"), "EQUITY:XLON:VOD");
        assert_eq!(id("NASDAQ:AAPL"), "EQUITY:XNAS:AAPL");
        assert_eq!(id("EQUITY:XNAS:AAPL"), "EQUITY:XNAS:AAPL");
        assert_eq!(id("EQUITY:XXXX:ABC"), "EQUITY:XXXX:ABC");
        assert_eq!(id("ZZZZ"), "EQUITY:ZZZZ");
        assert_eq!(id("EQUITY:ZZZZ"), "EQUITY:ZZZZ");
    }

    #[test]
    fn share_classes_keep_a_dot() {
        assert_eq!(id("BRK.B"), "EQUITY:XNYS:BRK.B");
        assert_eq!(id("BRK-B"), "EQUITY:XNYS:BRK.B");
        assert_eq!(id("ABC.X1"), "error: unknown exchange \"X1\"");
    }

    #[test]
    fn listings_and_exchanges_give_class_and_currency() {
        let tax = tax();
        let vti = tax.resolve("VTI", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (vti.class, vti.mic.as_deref(), vti.currency.as_deref()),
            (AssetClass::Etf, Some("ARCX"), Some("USD"))
        );
        let vod = tax.resolve("VOD.L", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (vod.symbol.as_str(), vod.currency.as_deref()),
            ("VOD", Some("GBP"))
        );
        let etf = tax
            .resolve("XYZETF", Some(AssetClass::Etf))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(etf.class, AssetClass::Etf);
    }

    #[test]
    fn crypto_pairs_resolve_to_the_base_asset() {
        for input in [
            "BTC",
            "btc",
            "XBT",
            "BTC/USDT",
            "BTC-USD",
            "BTCUSDT",
            "XXBTZUSD",
            "XBT/EUR",
            "CRYPTO:BTC",
            "CRYPTO:XBT",
            "BTC_USD",
        ] {
            assert_eq!(id(input), "CRYPTO:BTC", "{input}");
        }
        assert_eq!(id("XETHZEUR"), "CRYPTO:ETH");
        assert_eq!(id("ETHBTC"), "CRYPTO:ETH");
        assert_eq!(id("SOLUSDC"), "CRYPTO:SOL");
        let tax = tax();
        let eur = tax
            .resolve("XETHZEUR", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eur.currency.as_deref(), Some("EUR"));
        let usdt = tax
            .resolve("BTC/USDT", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(usdt.quote_currency(), "USD");
        assert_eq!(usdt.name.as_deref(), Some("Bitcoin"));
    }

    #[test]
    fn the_hint_settles_ambiguous_symbols() {
        assert_eq!(id("SOL"), "CRYPTO:SOL");
        assert_eq!(id_with("SOL", Some(AssetClass::Equity)), "EQUITY:SOL");
        assert_eq!(
            id_with("NEWCOIN", Some(AssetClass::Crypto)),
            "CRYPTO:NEWCOIN"
        );
        assert_eq!(id_with("EUR", Some(AssetClass::Cash)), "FX:EUR");
    }

    #[test]
    fn fx_pairs_in_every_spelling() {
        for input in ["EURUSD", "EURUSD=X", "EUR/USD", "eur-usd", "FX:EURUSD"] {
            let i = tax().resolve(input, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (i.asset_id.as_str(), i.fx_pair()),
                ("FX:EUR", Some(("EUR", "USD"))),
                "{input}"
            );
        }
        let jpy = tax()
            .resolve("JPY=X", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(jpy.fx_pair(), Some(("USD", "JPY")));
        assert_eq!(id("FX:EUR"), "FX:EUR");
        assert_eq!(id("FX:ABC"), "error: unknown currency \"ABC\"");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(tax().resolve("  ", None), Err(SymbolError::Empty));
        assert_eq!(
            tax().resolve(&"A".repeat(41), None),
            Err(SymbolError::TooLong { max: 40 })
        );
        assert_eq!(
            tax().resolve("AAPL;DROP", None),
            Err(SymbolError::InvalidCharacters)
        );
        assert_eq!(
            tax().resolve("ÄPFEL", None),
            Err(SymbolError::InvalidCharacters)
        );
        assert!(tax().resolve("A:B:C:D", None).is_err());
        assert!(tax().resolve("FOO/BAR", None).is_err());
        assert!(tax().resolve("NOPE:AAPL", None).is_err());
        assert!(tax().resolve("EUR=X=X", None).is_err());
    }
}
