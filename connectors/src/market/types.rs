//! Normalized market-data values every provider maps into. Prices are `Decimal` in the
//! instrument's quote currency (major units: pence become pounds), times are UTC.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::http::{CircuitState, WindowUsage};
use crate::types::{AssetClass, AssetRef};

/// Which fallback chain prices an instrument: equities, ETFs, funds and bonds share one;
/// crypto and FX have their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceClass {
    Equity,
    Crypto,
    Fx,
}

impl PriceClass {
    /// Every class.
    pub const ALL: [Self; 3] = [Self::Equity, Self::Crypto, Self::Fx];

    /// The chain for an asset class (`Cash` means a currency, priced as FX).
    #[must_use]
    pub fn of(class: AssetClass) -> Self {
        match class {
            AssetClass::Crypto => Self::Crypto,
            AssetClass::Cash => Self::Fx,
            AssetClass::Equity
            | AssetClass::Etf
            | AssetClass::Bond
            | AssetClass::Option
            | AssetClass::Future
            | AssetClass::Fund
            | AssetClass::Other => Self::Equity,
        }
    }

    /// `equity`, `crypto` or `fx`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equity => "equity",
            Self::Crypto => "crypto",
            Self::Fx => "fx",
        }
    }
}

/// An instrument as the normalization layer resolved it; what providers are asked about.
/// Providers translate it into their own symbols (`VOD.L`, `VOD.LON`, `btcusd`, `EURUSD=X`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Instrument {
    /// Stable id: `EQUITY:XNAS:AAPL`, `EQUITY:XLON:VOD`, `CRYPTO:BTC`, `FX:EUR`.
    pub asset_id: String,
    /// Canonical symbol: the ticker without exchange suffix (`VOD`, `BRK.B`), the crypto base
    /// asset (`BTC`), or the FX pair (`EURUSD`).
    pub symbol: String,
    /// `Cash` for currencies (FX pairs).
    pub class: AssetClass,
    /// ISO 10383 MIC of the listing, when known.
    pub mic: Option<String>,
    /// Currency the price is wanted or known in: the listing currency for equities, the
    /// quote currency for crypto (USD unless a fiat quote was named) and FX pairs.
    pub currency: Option<String>,
    /// Display name, when the taxonomy knows it.
    pub name: Option<String>,
}

impl Instrument {
    /// The chain that prices it.
    #[must_use]
    pub fn price_class(&self) -> PriceClass {
        PriceClass::of(self.class)
    }

    /// Base and quote currency of an FX pair.
    #[must_use]
    pub fn fx_pair(&self) -> Option<(&str, &str)> {
        if self.price_class() != PriceClass::Fx || self.symbol.len() != 6 {
            return None;
        }
        Some((self.symbol.get(..3)?, self.symbol.get(3..)?))
    }

    /// The crypto quote currency (USD by default).
    #[must_use]
    pub fn quote_currency(&self) -> &str {
        self.currency.as_deref().unwrap_or("USD")
    }

    /// An instrument from a stored asset (a holding's), keeping its asset id as it is.
    #[must_use]
    pub fn from_asset_ref(asset: &AssetRef) -> Self {
        Self {
            asset_id: asset.asset_id.clone(),
            symbol: asset.symbol.to_ascii_uppercase(),
            class: asset.class,
            mic: asset.exchange.clone(),
            currency: Some(asset.currency.clone()).filter(|c| !c.is_empty()),
            name: Some(asset.name.clone()).filter(|n| !n.is_empty()),
        }
    }

    /// Whether it is listed in the US (or the exchange is unknown, which for a plain ticker
    /// means a primary US listing).
    #[must_use]
    pub fn is_us_listing(&self) -> bool {
        match &self.mic {
            None => true,
            Some(mic) => matches!(
                mic.as_str(),
                "XNAS" | "XNYS" | "ARCX" | "XASE" | "BATS" | "OTCM" | "IEXG"
            ),
        }
    }
}

/// A latest price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub asset_id: String,
    pub symbol: String,
    pub price: Decimal,
    /// ISO 4217 (major unit).
    pub currency: String,
    /// When the price was made (trade, quote or close time).
    pub as_of: DateTime<Utc>,
    /// Provider name (`tiingo`, `yahoo`, `alpha_vantage`, `coingecko`).
    pub source: String,
}

/// One daily bar. Providers that know only a closing price (CoinGecko) leave the rest empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub close: Decimal,
    /// Close adjusted for splits and dividends, when the provider computes it.
    pub adj_close: Option<Decimal>,
    pub volume: Option<Decimal>,
}

/// Daily bars of one instrument, ascending by date, one per date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceHistory {
    pub asset_id: String,
    pub symbol: String,
    pub currency: String,
    pub source: String,
    pub bars: Vec<Bar>,
}

/// A currency exchange rate: 1 `base` = `rate` `quote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FxRate {
    pub base: String,
    pub quote: String,
    pub rate: Decimal,
    /// The (UTC) date the rate is for.
    pub date: NaiveDate,
    pub source: String,
}

/// One instrument found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    /// The canonical symbol (as in [`Instrument::symbol`]).
    pub symbol: String,
    pub name: String,
    pub asset_class: AssetClass,
    /// MIC, when known.
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub asset_id: String,
    pub source: String,
}

/// Daily valuation ratios (Tiingo fundamentals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyFundamentals {
    pub date: NaiveDate,
    pub market_cap: Option<Decimal>,
    pub enterprise_value: Option<Decimal>,
    pub pe_ratio: Option<Decimal>,
    pub pb_ratio: Option<Decimal>,
    pub trailing_peg_1y: Option<Decimal>,
}

/// Whether a provider can take a call, as the chain checks before asking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAvailability {
    Ready,
    /// Turned off, or a required key is missing ("disabled, not an error").
    Disabled {
        reason: String,
    },
    CircuitOpen {
        retry_in: Duration,
    },
    RateLimited {
        retry_after: Duration,
    },
}

/// A provider's health and budget, for `GET /api/market-data/providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderStatus {
    pub name: String,
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Enabled, circuit closed, and the last call did not fail on the provider's side.
    pub healthy: bool,
    pub circuit: CircuitState,
    /// Requests used in the longest configured window (the daily budget, usually).
    pub used: u32,
    /// That window's limit; `None` when the provider has no configured limit.
    pub limit: Option<u32>,
    /// That window's name (`second`, `minute`, `hour`, `day`).
    pub window: Option<String>,
    /// Every configured window.
    pub windows: Vec<WindowUsage>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}
