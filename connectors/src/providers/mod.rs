//! The market-data providers. Each has private vendor DTOs (`models.rs`), conversion to the
//! normalized types (`convert.rs`) and the provider itself (`mod.rs`) over the shared
//! [`crate::http::ProviderHttp`].

pub mod alpha_vantage;
pub mod coingecko;
pub mod tiingo;
pub mod yahoo;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::ExposeSecret;

use crate::ConnectorError;
use crate::http::{Auth, Availability, Clock, ProviderHttp};
use crate::market::config::{CacheTtls, ProviderConfig};
use crate::market::{ProviderAvailability, ProviderStatus};
use crate::normalize::Taxonomy;

pub use alpha_vantage::AlphaVantageProvider;
pub use coingecko::CoinGeckoProvider;
pub use tiingo::TiingoProvider;
pub use yahoo::YahooProvider;

/// What every built-in provider shares: its HTTP plumbing, whether it is enabled, the
/// taxonomy and cache lifetimes.
pub(crate) struct Core {
    pub(crate) http: ProviderHttp,
    pub(crate) disabled: Option<String>,
    pub(crate) taxonomy: Arc<Taxonomy>,
    pub(crate) ttl: CacheTtls,
    pub(crate) max_concurrency: usize,
    pub(crate) batch_size: usize,
}

/// How a provider takes its key.
pub(crate) enum KeyUse {
    /// Required; without it the provider is disabled.
    RequiredHeader {
        name: &'static str,
        prefix: &'static str,
    },
    RequiredQuery {
        name: &'static str,
    },
    OptionalHeader {
        name: &'static str,
    },
    None,
}

impl Core {
    pub(crate) fn new(
        name: &'static str,
        config: &ProviderConfig,
        key_use: &KeyUse,
        taxonomy: Arc<Taxonomy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let key = config
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().trim().to_owned())
            .filter(|k| !k.is_empty());
        let required = matches!(
            key_use,
            KeyUse::RequiredHeader { .. } | KeyUse::RequiredQuery { .. }
        );
        let disabled = if !config.enabled {
            Some("disabled by configuration".to_owned())
        } else if required && key.is_none() {
            Some("no API key configured".to_owned())
        } else {
            None
        };
        let auth = match (key_use, key) {
            (KeyUse::RequiredHeader { name, prefix }, Some(key)) => Auth::Header {
                name,
                value: format!("{prefix}{key}").into(),
            },
            (KeyUse::OptionalHeader { name }, Some(key)) => Auth::Header {
                name,
                value: key.into(),
            },
            (KeyUse::RequiredQuery { name }, Some(key)) => Auth::Query {
                name,
                value: key.into(),
            },
            _ => Auth::None,
        };
        let http = ProviderHttp::new(name, &config.http_settings(), auth, clock)?;
        Ok(Self {
            http,
            disabled,
            taxonomy,
            ttl: config.cache.clone(),
            max_concurrency: config.max_concurrency.max(1),
            batch_size: config.batch_size.max(1),
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.http.name()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.http.clock().now()
    }

    pub(crate) fn ensure_enabled(&self) -> Result<(), ConnectorError> {
        match &self.disabled {
            None => Ok(()),
            Some(reason) => Err(ConnectorError::NotSupported(format!(
                "{} is disabled: {reason}",
                self.name()
            ))),
        }
    }

    pub(crate) fn availability(&self) -> ProviderAvailability {
        if let Some(reason) = &self.disabled {
            return ProviderAvailability::Disabled {
                reason: reason.clone(),
            };
        }
        match self.http.availability() {
            Availability::Ready => ProviderAvailability::Ready,
            Availability::CircuitOpen { retry_in } => {
                ProviderAvailability::CircuitOpen { retry_in }
            }
            Availability::BudgetExhausted { retry_after } => {
                ProviderAvailability::RateLimited { retry_after }
            }
        }
    }

    pub(crate) fn status(&self) -> ProviderStatus {
        let windows = self.http.limiter().usage();
        let longest = windows.last().cloned();
        let last_error = self.http.last_error();
        ProviderStatus {
            name: self.name().to_owned(),
            enabled: self.disabled.is_none(),
            disabled_reason: self.disabled.clone(),
            healthy: self.disabled.is_none() && self.http.healthy(),
            circuit: self.http.breaker().state(),
            used: longest.as_ref().map_or(0, |w| w.used),
            limit: longest.as_ref().map(|w| w.limit),
            window: longest.map(|w| w.window.to_owned()),
            windows,
            last_error_at: last_error.as_ref().map(|(at, _)| *at),
            last_error: last_error.map(|(_, message)| message),
        }
    }
}

/// A 404 means "this provider does not know the instrument": `Ok(None)`.
pub(crate) fn none_if_not_found<T>(
    result: Result<T, ConnectorError>,
) -> Result<Option<T>, ConnectorError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ConnectorError::Upstream { status: 404, .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Midnight UTC of a date.
pub(crate) fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Sorts bars ascending and keeps the last one of each date.
pub(crate) fn tidy_bars(mut bars: Vec<crate::market::Bar>) -> Vec<crate::market::Bar> {
    bars.sort_by_key(|b| b.date);
    let mut out: Vec<crate::market::Bar> = Vec::with_capacity(bars.len());
    for bar in bars {
        match out.last_mut() {
            Some(last) if last.date == bar.date => *last = bar,
            _ => out.push(bar),
        }
    }
    out
}
