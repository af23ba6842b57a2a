//! Configuration of the market-data providers and the fallback chain. Built by the server
//! from its settings (`[providers.<name>]`, `TRIBUTARY__PROVIDERS__<NAME>__*`); this crate
//! reads no environment itself. Defaults are the real endpoints and free-tier limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;

use super::types::PriceClass;
use crate::http::{CircuitConfig, HttpSettings, RateLimits, RetryPolicy};

/// Tiingo's name in priorities and `source` fields.
pub const TIINGO: &str = "tiingo";
/// Yahoo Finance's name.
pub const YAHOO: &str = "yahoo";
/// Alpha Vantage's name.
pub const ALPHA_VANTAGE: &str = "alpha_vantage";
/// CoinGecko's name.
pub const COINGECKO: &str = "coingecko";

/// How long responses are cached, per kind of request (zero: not cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTtls {
    /// Latest prices and FX rates (default 60 s).
    pub quote: Duration,
    /// Daily bars and historical FX (default 6 h).
    pub history: Duration,
    /// Searches (default 1 h).
    pub search: Duration,
    /// Reference lists (CoinGecko's coins list and market caps; default 24 h).
    pub reference: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        Self {
            quote: Duration::from_secs(60),
            history: Duration::from_secs(6 * 3600),
            search: Duration::from_secs(3600),
            reference: Duration::from_secs(24 * 3600),
        }
    }
}

impl CacheTtls {
    /// Nothing cached.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            quote: Duration::ZERO,
            history: Duration::ZERO,
            search: Duration::ZERO,
            reference: Duration::ZERO,
        }
    }
}

/// One provider's settings. `Debug` shows the key as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Operator switch (default true). Tiingo and Alpha Vantage are also disabled while
    /// `api_key` is `None`.
    pub enabled: bool,
    /// Scheme, host and optional path prefix; point it at a proxy or a mock server.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// Connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (default 15 s).
    pub timeout: Duration,
    pub rate_limits: RateLimits,
    pub retry: RetryPolicy,
    pub circuit: CircuitConfig,
    pub cache: CacheTtls,
    /// Concurrent single-instrument calls in a batch (default 4; Alpha Vantage 1).
    pub max_concurrency: usize,
    /// Symbols per request on batch endpoints (default 100).
    pub batch_size: usize,
}

impl ProviderConfig {
    fn base(base_url: &str, rate_limits: RateLimits) -> Self {
        Self {
            enabled: true,
            base_url: base_url.to_owned(),
            api_key: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            rate_limits,
            retry: RetryPolicy::default(),
            circuit: CircuitConfig::default(),
            cache: CacheTtls::default(),
            max_concurrency: 4,
            batch_size: 100,
        }
    }

    /// Tiingo: `https://api.tiingo.com`, free tier 50 requests/hour and 1 000/day.
    #[must_use]
    pub fn tiingo() -> Self {
        Self::base(
            "https://api.tiingo.com",
            RateLimits {
                per_hour: Some(50),
                per_day: Some(1000),
                ..RateLimits::default()
            },
        )
    }

    /// Yahoo Finance: `https://query1.finance.yahoo.com`, no key and no published limit;
    /// kept polite at 5 requests/second and 2 000/hour.
    #[must_use]
    pub fn yahoo() -> Self {
        Self::base(
            "https://query1.finance.yahoo.com",
            RateLimits {
                per_second: Some(5),
                per_hour: Some(2000),
                ..RateLimits::default()
            },
        )
    }

    /// Alpha Vantage: `https://www.alphavantage.co`, free tier 5 requests/minute and 25/day.
    #[must_use]
    pub fn alpha_vantage() -> Self {
        Self {
            max_concurrency: 1,
            ..Self::base(
                "https://www.alphavantage.co",
                RateLimits {
                    per_minute: Some(5),
                    per_day: Some(25),
                    ..RateLimits::default()
                },
            )
        }
    }

    /// CoinGecko: `https://api.coingecko.com`, demo plan 30 calls/minute (the key is
    /// optional; keyless public access is slower still).
    #[must_use]
    pub fn coingecko() -> Self {
        Self::base(
            "https://api.coingecko.com",
            RateLimits {
                per_minute: Some(30),
                ..RateLimits::default()
            },
        )
    }

    /// Replaces the base URL.
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets the key.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    pub(crate) fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            base_url: self.base_url.clone(),
            connect_timeout: self.connect_timeout,
            request_timeout: self.timeout,
            retry: self.retry.clone(),
            rate_limits: self.rate_limits.clone(),
            circuit: self.circuit.clone(),
            cache_capacity: 10_000,
        }
    }
}

/// Provider names to try, in order, per price class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// Equities, ETFs, funds (default tiingo → yahoo → alpha_vantage).
    pub equity: Vec<String>,
    /// Default coingecko → tiingo → yahoo.
    pub crypto: Vec<String>,
    /// Default yahoo → tiingo → alpha_vantage.
    pub fx: Vec<String>,
}

impl Default for Priority {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            equity: names(&[TIINGO, YAHOO, ALPHA_VANTAGE]),
            crypto: names(&[COINGECKO, TIINGO, YAHOO]),
            fx: names(&[YAHOO, TIINGO, ALPHA_VANTAGE]),
        }
    }
}

impl Priority {
    /// The order for a class.
    #[must_use]
    pub fn for_class(&self, class: PriceClass) -> &[String] {
        match class {
            PriceClass::Equity => &self.equity,
            PriceClass::Crypto => &self.crypto,
            PriceClass::Fx => &self.fx,
        }
    }
}

/// Everything [`super::MarketData::new`] needs.
#[derive(Debug, Clone)]
pub struct MarketDataConfig {
    pub tiingo: ProviderConfig,
    pub yahoo: ProviderConfig,
    pub alpha_vantage: ProviderConfig,
    pub coingecko: ProviderConfig,
    pub priority: Priority,
    /// Implausible-quote guard: a quote more than this factor above or below the caller's
    /// last close is rejected and the next provider asked (default 5).
    pub max_jump_factor: Decimal,
    /// Crypto symbol → CoinGecko id, over the taxonomy's `coingecko_id`s.
    pub coingecko_ids: BTreeMap<String, String>,
    /// Operator override of the shipped asset taxonomy.
    pub taxonomy_path: Option<PathBuf>,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        Self {
            tiingo: ProviderConfig::tiingo(),
            yahoo: ProviderConfig::yahoo(),
            alpha_vantage: ProviderConfig::alpha_vantage(),
            coingecko: ProviderConfig::coingecko(),
            priority: Priority::default(),
            max_jump_factor: Decimal::from(5),
            coingecko_ids: BTreeMap::new(),
            taxonomy_path: None,
        }
    }
}
