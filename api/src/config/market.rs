//! Market-data settings: the providers (`[providers.<name>]`), the fallback chain
//! (`[market_data]`) and the price-update scheduler (`[prices]`), and their mapping onto the
//! connectors crate's [`MarketDataConfig`].

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use tributary_connectors::market::{MarketDataConfig, Priority, ProviderConfig};

use super::{ConfigError, Settings};

/// One provider's operator settings. Every field is optional: unset fields keep the
/// connector's defaults (the real endpoint and its documented free-tier limits).
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct ProviderSettings {
    /// Operator switch (default true). Tiingo and Alpha Vantage are also disabled without a key.
    pub enabled: bool,
    /// Scheme, host and optional path prefix (a proxy, or a mock server in tests).
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    /// Whole-request timeout.
    pub timeout_secs: Option<u64>,
    /// Attempts per request, the first included (1 disables retries).
    pub max_attempts: Option<u32>,
    /// Rate limits, for paid plans with larger budgets.
    pub per_second: Option<u32>,
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    /// Concurrent single-instrument calls in a batch.
    pub max_concurrency: Option<usize>,
    /// How long latest prices stay cached (0 disables the cache).
    pub quote_cache_secs: Option<u64>,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            base_url: None,
            api_key: None,
            timeout_secs: None,
            max_attempts: None,
            per_second: None,
            per_minute: None,
            per_hour: None,
            per_day: None,
            max_concurrency: None,
            quote_cache_secs: None,
        }
    }
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "********"))
            .field("timeout_secs", &self.timeout_secs)
            .field("max_attempts", &self.max_attempts)
            .field("per_second", &self.per_second)
            .field("per_minute", &self.per_minute)
            .field("per_hour", &self.per_hour)
            .field("per_day", &self.per_day)
            .field("max_concurrency", &self.max_concurrency)
            .field("quote_cache_secs", &self.quote_cache_secs)
            .finish()
    }
}

impl ProviderSettings {
    /// Applies these settings over a connector default.
    fn apply(&self, mut config: ProviderConfig) -> ProviderConfig {
        config.enabled = self.enabled;
        if let Some(url) = self.base_url.as_ref().filter(|u| !u.trim().is_empty()) {
            config.base_url = url.trim().to_string();
        }
        config.api_key = self.api_key.clone();
        if let Some(secs) = self.timeout_secs {
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(n) = self.max_attempts {
            config.retry.max_attempts = n.max(1);
        }
        let limits = &mut config.rate_limits;
        if self.per_second.is_some() {
            limits.per_second = self.per_second;
        }
        if self.per_minute.is_some() {
            limits.per_minute = self.per_minute;
        }
        if self.per_hour.is_some() {
            limits.per_hour = self.per_hour;
        }
        if self.per_day.is_some() {
            limits.per_day = self.per_day;
        }
        if let Some(n) = self.max_concurrency {
            config.max_concurrency = n.max(1);
        }
        if let Some(secs) = self.quote_cache_secs {
            config.cache.quote = Duration::from_secs(secs);
        }
        config
    }
}

/// The four built-in market-data providers, and the account providers' operator settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProvidersSettings {
    pub tiingo: ProviderSettings,
    pub yahoo: ProviderSettings,
    pub alpha_vantage: ProviderSettings,
    pub coingecko: ProviderSettings,
    /// Interactive Brokers (Client Portal gateway and TWS connections).
    pub ibkr: IbkrSettings,
    /// The IBKR Flex Web Service.
    pub ibkr_flex: IbkrFlexSettings,
}

/// `[providers.ibkr]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct IbkrSettings {
    /// Hosts users may point a Client Portal gateway or TWS connection at (names or IP
    /// literals; a TOML array or a comma-separated string). Loopback only by default: any
    /// other host lets users make this server connect inside your network.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_hosts: Vec<String>,
    /// Per-request timeout, in seconds.
    pub timeout_secs: u64,
    /// Spacing of the gateway endpoints IB limits to one call every few seconds, in ms.
    pub gateway_slow_spacing_ms: u64,
}

impl Default for IbkrSettings {
    fn default() -> Self {
        Self {
            allowed_hosts: tributary_connectors::ibkr::config::DEFAULT_ALLOWED_HOSTS
                .map(str::to_owned)
                .to_vec(),
            timeout_secs: 30,
            gateway_slow_spacing_ms: 5_000,
        }
    }
}

/// `[providers.ibkr_flex]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct IbkrFlexSettings {
    /// The Flex Web Service base URL (`/SendRequest` is appended).
    pub base_url: String,
    /// Statement polling while IB generates it: first wait, longest wait (ms), give up after
    /// (s).
    pub poll_initial_ms: u64,
    pub poll_max_ms: u64,
    pub max_wait_secs: u64,
}

impl Default for IbkrFlexSettings {
    fn default() -> Self {
        Self {
            base_url: tributary_connectors::ibkr::flex::client::DEFAULT_BASE_URL.to_owned(),
            poll_initial_ms: 2_000,
            poll_max_ms: 30_000,
            max_wait_secs: 600,
        }
    }
}

impl ProvidersSettings {
    /// The operator settings account connectors are bound by.
    #[must_use]
    pub fn connector_env(&self) -> tributary_connectors::registry::ConnectorEnv {
        use std::time::Duration;
        tributary_connectors::registry::ConnectorEnv {
            ibkr: tributary_connectors::ibkr::IbkrEnv {
                flex_base_url: self.ibkr_flex.base_url.trim_end_matches('/').to_owned(),
                allowed_hosts: self.ibkr.allowed_hosts.clone(),
                timeout: Duration::from_secs(self.ibkr.timeout_secs.max(1)),
                flex_poll_initial: Duration::from_millis(self.ibkr_flex.poll_initial_ms),
                flex_poll_max: Duration::from_millis(self.ibkr_flex.poll_max_ms),
                flex_max_wait: Duration::from_secs(self.ibkr_flex.max_wait_secs),
                gateway_slow_spacing: Duration::from_millis(self.ibkr.gateway_slow_spacing_ms),
            },
        }
    }
}

impl ProvidersSettings {
    /// The product plan's key variables (`TIINGO_API_KEY`, `ALPHA_VANTAGE_KEY`,
    /// `COINGECKO_API_KEY`) apply where `[providers.<name>] api_key` is not set.
    pub(super) fn apply_plan_env_keys(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        for (name, provider) in [
            ("TIINGO_API_KEY", &mut self.tiingo),
            ("ALPHA_VANTAGE_KEY", &mut self.alpha_vantage),
            ("COINGECKO_API_KEY", &mut self.coingecko),
        ] {
            if provider.api_key.is_none()
                && let Some(key) = lookup(name).filter(|k| !k.trim().is_empty())
            {
                provider.api_key = Some(SecretString::from(key.trim().to_string()));
            }
        }
        // An empty key (e.g. `TRIBUTARY__PROVIDERS__TIINGO__API_KEY=`) means "no key".
        for provider in [
            &mut self.tiingo,
            &mut self.yahoo,
            &mut self.alpha_vantage,
            &mut self.coingecko,
        ] {
            if provider
                .api_key
                .as_ref()
                .is_some_and(|k| secrecy::ExposeSecret::expose_secret(k).trim().is_empty())
            {
                provider.api_key = None;
            }
        }
    }
}

/// Provider names per price class, in the order they are asked. Each accepts a TOML array
/// or a comma-separated string (`TRIBUTARY__MARKET_DATA__PRIORITY__EQUITY=yahoo,tiingo`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PrioritySettings {
    #[serde(deserialize_with = "string_or_list")]
    pub equity: Vec<String>,
    #[serde(deserialize_with = "string_or_list")]
    pub crypto: Vec<String>,
    #[serde(deserialize_with = "string_or_list")]
    pub fx: Vec<String>,
}

impl Default for PrioritySettings {
    fn default() -> Self {
        let p = Priority::default();
        Self {
            equity: p.equity,
            crypto: p.crypto,
            fx: p.fx,
        }
    }
}

/// The fallback chain and the market-data endpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MarketDataSettings {
    pub priority: PrioritySettings,
    /// A quote more than this factor above or below the last stored close is rejected and the
    /// next provider asked (default 5; must be above 1).
    pub max_jump_factor: Decimal,
    /// Operator override of the shipped asset taxonomy (TOML).
    pub taxonomy_path: Option<PathBuf>,
    /// Most symbols one `GET /api/quotes` accepts (default 50).
    pub max_quote_symbols: usize,
    /// Longest range one `GET /api/prices/{symbol}` accepts, in days (default 3660).
    pub max_history_days: i64,
}

impl Default for MarketDataSettings {
    fn default() -> Self {
        Self {
            priority: PrioritySettings::default(),
            max_jump_factor: Decimal::from(5),
            taxonomy_path: None,
            max_quote_symbols: 50,
            max_history_days: 3660,
        }
    }
}

impl MarketDataSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_jump_factor <= Decimal::ONE {
            return Err(ConfigError(
                "market_data.max_jump_factor must be greater than 1".into(),
            ));
        }
        if self.max_quote_symbols == 0 || self.max_history_days < 1 {
            return Err(ConfigError(
                "market_data.max_quote_symbols and market_data.max_history_days must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The price-update scheduler: refreshes the quotes of every held asset.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PriceSettings {
    pub scheduler_enabled: bool,
    /// How often the scheduler wakes up to look for due refreshes.
    pub tick_secs: u64,
    /// Refresh interval of equities, ETFs, funds and bonds (default 15 min); not run on
    /// weekends and `holidays`.
    pub equity_interval_secs: u64,
    /// Refresh interval of crypto (default 5 min), around the clock.
    pub crypto_interval_secs: u64,
    /// Refresh interval of the FX rates into the holders' base currencies (default 1 h).
    pub fx_interval_secs: u64,
    /// Exchange holidays (UTC dates, `YYYY-MM-DD`) on which equities are not refreshed. A TOML
    /// array or a comma-separated string.
    #[serde(deserialize_with = "string_or_list")]
    pub holidays: Vec<String>,
}

impl Default for PriceSettings {
    fn default() -> Self {
        Self {
            scheduler_enabled: true,
            tick_secs: 60,
            equity_interval_secs: 900,
            crypto_interval_secs: 300,
            fx_interval_secs: 3600,
            holidays: Vec::new(),
        }
    }
}

impl PriceSettings {
    /// The configured holidays (validated at load).
    #[must_use]
    pub fn holiday_dates(&self) -> Vec<NaiveDate> {
        self.holidays
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
            .collect()
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.tick_secs == 0
            || self.equity_interval_secs == 0
            || self.crypto_interval_secs == 0
            || self.fx_interval_secs == 0
        {
            return Err(ConfigError(
                "prices.tick_secs and prices.*_interval_secs must be at least 1".into(),
            ));
        }
        if let Some(bad) = self
            .holidays
            .iter()
            .find(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").is_err())
        {
            return Err(ConfigError(format!(
                "prices.holidays: {bad:?} is not a YYYY-MM-DD date"
            )));
        }
        Ok(())
    }
}

impl Settings {
    /// The connectors crate's configuration from these settings.
    #[must_use]
    pub fn market_data_config(&self) -> MarketDataConfig {
        let p = &self.providers;
        let m = &self.market_data;
        MarketDataConfig {
            tiingo: p.tiingo.apply(ProviderConfig::tiingo()),
            yahoo: p.yahoo.apply(ProviderConfig::yahoo()),
            alpha_vantage: p.alpha_vantage.apply(ProviderConfig::alpha_vantage()),
            coingecko: p.coingecko.apply(ProviderConfig::coingecko()),
            priority: Priority {
                equity: m.priority.equity.clone(),
                crypto: m.priority.crypto.clone(),
                fx: m.priority.fx.clone(),
            },
            max_jump_factor: m.max_jump_factor,
            coingecko_ids: std::collections::BTreeMap::new(),
            taxonomy_path: m.taxonomy_path.clone(),
        }
    }
}

/// A list given as a TOML array or as one comma-separated string (environment variables).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn providers_take_base_urls_keys_and_priorities_from_the_environment() {
        let s = Settings::load_from(
            None,
            &env(&[
                (
                    "TRIBUTARY__PROVIDERS__TIINGO__BASE_URL",
                    "http://127.0.0.1:9",
                ),
                ("TRIBUTARY__PROVIDERS__TIINGO__API_KEY", "tk"),
                ("TRIBUTARY__PROVIDERS__YAHOO__ENABLED", "false"),
                ("ALPHA_VANTAGE_KEY", "av"),
                ("COINGECKO_API_KEY", ""),
                ("TRIBUTARY__MARKET_DATA__PRIORITY__EQUITY", "yahoo, tiingo"),
                ("TRIBUTARY__MARKET_DATA__MAX_JUMP_FACTOR", "3.5"),
                ("TRIBUTARY__PRICES__HOLIDAYS", "2026-12-25,2027-01-01"),
            ]),
        )
        .expect("loads");
        let c = s.market_data_config();
        assert_eq!(c.tiingo.base_url, "http://127.0.0.1:9");
        assert!(c.tiingo.api_key.is_some());
        assert!(!c.yahoo.enabled);
        assert!(c.alpha_vantage.api_key.is_some());
        assert!(c.coingecko.api_key.is_none());
        assert_eq!(c.priority.equity, vec!["yahoo", "tiingo"]);
        assert_eq!(c.max_jump_factor, Decimal::new(35, 1));
        assert_eq!(s.prices.holiday_dates().len(), 2);
        let debug = format!("{s:?}");
        assert!(!debug.contains("tk\""), "{debug}");
    }

    #[test]
    fn the_plan_key_does_not_override_the_tributary_key() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("TRIBUTARY__PROVIDERS__TIINGO__API_KEY", "primary"),
                ("TIINGO_API_KEY", "secondary"),
            ]),
        )
        .expect("loads");
        let key = s.providers.tiingo.api_key.expect("key");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&key), "primary");
    }

    #[test]
    fn the_example_config_file_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tributary.example.toml");
        let s = Settings::load_from(Some(&path), &[]).expect("example loads");
        assert_eq!(s.market_data.max_quote_symbols, 50);
        assert!(s.prices.scheduler_enabled);
    }

    #[test]
    fn bad_market_settings_fail_naming_them() {
        for (k, v, needle) in [
            (
                "TRIBUTARY__MARKET_DATA__MAX_JUMP_FACTOR",
                "1",
                "max_jump_factor",
            ),
            (
                "TRIBUTARY__MARKET_DATA__PRIORITY__FX",
                "yahoo,bloomberg",
                "priority",
            ),
            (
                "TRIBUTARY__PRICES__HOLIDAYS",
                "25/12/2026",
                "prices.holidays",
            ),
            (
                "TRIBUTARY__PROVIDERS__YAHOO__BASE_URL",
                "not a url",
                "base_url",
            ),
        ] {
            let err = Settings::load_from(None, &env(&[(k, v)])).expect_err(k);
            assert!(err.to_string().contains(needle), "{k}: {err}");
        }
    }
}
