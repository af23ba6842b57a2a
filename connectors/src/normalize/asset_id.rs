//! Stable asset ids: `EQUITY:<MIC>:<TICKER>` (or `EQUITY:<TICKER>` when the exchange of a plain
//! US ticker is not known), `CRYPTO:<BASE>`, `FX:<CURRENCY>`. Upper case, built only here.

/// The id of an exchange-listed instrument (stocks, ETFs, funds).
#[must_use]
pub fn equity(mic: Option<&str>, ticker: &str) -> String {
    match mic {
        Some(mic) => format!(
            "EQUITY:{}:{}",
            mic.to_ascii_uppercase(),
            ticker.to_ascii_uppercase()
        ),
        None => format!("EQUITY:{}", ticker.to_ascii_uppercase()),
    }
}

/// The id of a crypto asset (its canonical base symbol).
#[must_use]
pub fn crypto(symbol: &str) -> String {
    format!("CRYPTO:{}", symbol.to_ascii_uppercase())
}

/// The id of a currency.
#[must_use]
pub fn fx(currency: &str) -> String {
    format!("FX:{}", currency.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_upper_case_and_prefixed() {
        assert_eq!(equity(Some("xnas"), "aapl"), "EQUITY:XNAS:AAPL");
        assert_eq!(equity(None, "brk.b"), "EQUITY:BRK.B");
        assert_eq!(crypto("btc"), "CRYPTO:BTC");
        assert_eq!(fx("eur"), "FX:EUR");
    }
}
