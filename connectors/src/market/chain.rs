//! The fallback chain: asks providers in the configured priority for the instrument's price
//! class, skipping (and recording why) those that are disabled, rate-limited, circuit-open,
//! do not support the class, have nothing for the symbol, fail, or return an implausible
//! price. Batches go to each provider as one call, so providers with batch endpoints price
//! many instruments per request and the rest run with bounded concurrency.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::NaiveDate;
use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde::Serialize;

use super::config::{MarketDataConfig, Priority};
use super::provider::MarketDataProvider;
use super::types::{
    DailyFundamentals, FxRate, Instrument, PriceClass, PriceHistory, ProviderAvailability,
    ProviderStatus, Quote, SearchResult,
};
use crate::ConnectorError;
use crate::http::{Clock, SystemClock};
use crate::normalize::{SymbolError, Taxonomy};
use crate::providers::{AlphaVantageProvider, CoinGeckoProvider, TiingoProvider, YahooProvider};
use crate::types::AssetClass;

/// Why a provider was skipped, or that it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// It answered with a usable value.
    Success,
    /// Turned off or missing its key; not asked.
    Disabled { reason: String },
    /// It does not price this class or offer this operation.
    Unsupported,
    /// Its circuit breaker is open; not asked.
    CircuitOpen { retry_in_secs: u64 },
    /// Its budget is spent (our limiter) or it said so (429, vendor notice).
    RateLimited { retry_after_secs: Option<u64> },
    /// It does not know the instrument or had no data.
    NotFound,
    /// It answered with a price the guard rejected.
    Implausible { price: Decimal, reason: String },
    /// It failed: `kind` is `authentication`, `upstream`, `decode`, `transport` or
    /// `invalid_config`.
    Failed { kind: String, message: String },
}

impl AttemptOutcome {
    fn from_error(err: &ConnectorError) -> Self {
        let failed = |kind: &str| Self::Failed {
            kind: kind.to_owned(),
            message: err.to_string(),
        };
        match err {
            ConnectorError::RateLimited { retry_after } => Self::RateLimited {
                retry_after_secs: retry_after.map(|d| d.as_secs()),
            },
            ConnectorError::NotSupported(_) => Self::Unsupported,
            ConnectorError::Upstream { status: 404, .. } => Self::NotFound,
            ConnectorError::Authentication(_) => failed("authentication"),
            ConnectorError::Upstream { .. } => failed("upstream"),
            ConnectorError::Decode(_) => failed("decode"),
            ConnectorError::Transport(_) => failed("transport"),
            ConnectorError::InvalidConfig { .. } => failed("invalid_config"),
        }
    }

    fn from_availability(availability: &ProviderAvailability) -> Option<Self> {
        match availability {
            ProviderAvailability::Ready => None,
            ProviderAvailability::Disabled { reason } => Some(Self::Disabled {
                reason: reason.clone(),
            }),
            ProviderAvailability::CircuitOpen { retry_in } => Some(Self::CircuitOpen {
                retry_in_secs: retry_in.as_secs(),
            }),
            ProviderAvailability::RateLimited { retry_after } => Some(Self::RateLimited {
                retry_after_secs: Some(retry_after.as_secs()),
            }),
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Success => f.write_str("ok"),
            Self::Disabled { reason } => write!(f, "disabled ({reason})"),
            Self::Unsupported => f.write_str("not supported"),
            Self::CircuitOpen { retry_in_secs } => {
                write!(f, "circuit open (retry in {retry_in_secs} s)")
            }
            Self::RateLimited {
                retry_after_secs: Some(s),
            } => write!(f, "rate limited (retry after {s} s)"),
            Self::RateLimited { .. } => f.write_str("rate limited"),
            Self::NotFound => f.write_str("not found"),
            Self::Implausible { reason, .. } => write!(f, "implausible price ({reason})"),
            Self::Failed { kind, .. } => write!(f, "failed ({kind})"),
        }
    }
}

/// One provider asked (or skipped) for one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub provider: String,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
}

/// A value from the first provider that had it, and every attempt made on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome<T> {
    pub value: Option<T>,
    pub attempts: Vec<Attempt>,
}

impl<T> Outcome<T> {
    fn empty() -> Self {
        Self {
            value: None,
            attempts: Vec::new(),
        }
    }

    fn record(&mut self, provider: &str, outcome: AttemptOutcome) {
        self.attempts.push(Attempt {
            provider: provider.to_owned(),
            outcome,
        });
    }

    /// The provider that supplied the value.
    #[must_use]
    pub fn source(&self) -> Option<&str> {
        self.value.as_ref()?;
        self.attempts
            .iter()
            .rev()
            .find(|a| a.outcome == AttemptOutcome::Success)
            .map(|a| a.provider.as_str())
    }

    /// A one-line reason for the API's `errors: [{symbol, reason}]`, e.g.
    /// `tiingo: rate limited; yahoo: not found; alpha_vantage: disabled (no API key configured)`.
    #[must_use]
    pub fn reason(&self) -> String {
        if self.attempts.is_empty() {
            return "no provider configured for this asset class".to_owned();
        }
        self.attempts
            .iter()
            .map(|a| format!("{}: {}", a.provider, a.outcome))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A latest price.
pub type QuoteOutcome = Outcome<Quote>;
/// Daily bars.
pub type HistoryOutcome = Outcome<PriceHistory>;
/// An FX rate.
pub type FxOutcome = Outcome<FxRate>;
/// Search results.
pub type SearchOutcome = Outcome<Vec<SearchResult>>;

/// One instrument to price, with the last close the caller knows (for the jump guard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    pub instrument: Instrument,
    pub last_close: Option<Decimal>,
}

impl From<Instrument> for QuoteRequest {
    fn from(instrument: Instrument) -> Self {
        Self {
            instrument,
            last_close: None,
        }
    }
}

/// The market-data service the server holds (cheap to share in an `Arc`).
pub struct MarketData {
    providers: Vec<Arc<dyn MarketDataProvider>>,
    priority: Priority,
    max_jump_factor: Decimal,
    taxonomy: Arc<Taxonomy>,
    tiingo: Option<Arc<TiingoProvider>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MarketData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarketData")
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field("priority", &self.priority)
            .field("max_jump_factor", &self.max_jump_factor)
            .finish_non_exhaustive()
    }
}

impl MarketData {
    /// The four built-in providers from `config`, on the system clock.
    ///
    /// # Errors
    /// `InvalidConfig` for a bad base URL or key, an unknown provider name in a priority
    /// list, a jump factor not above 1, or a broken taxonomy override.
    pub fn new(config: MarketDataConfig) -> Result<Self, ConnectorError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// As [`MarketData::new`], with an injected clock (tests: circuit cool-downs, rate
    /// windows, CoinGecko history ranges).
    ///
    /// # Errors
    /// As [`MarketData::new`].
    pub fn with_clock(
        config: MarketDataConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let taxonomy = Arc::new(Taxonomy::load(config.taxonomy_path.as_deref())?);
        let tiingo = Arc::new(TiingoProvider::new(
            &config.tiingo,
            taxonomy.clone(),
            clock.clone(),
        )?);
        let yahoo = YahooProvider::new(&config.yahoo, taxonomy.clone(), clock.clone())?;
        let alpha_vantage =
            AlphaVantageProvider::new(&config.alpha_vantage, taxonomy.clone(), clock.clone())?;
        let coingecko = CoinGeckoProvider::new(
            &config.coingecko,
            config.coingecko_ids.clone(),
            taxonomy.clone(),
            clock.clone(),
        )?;
        let providers: Vec<Arc<dyn MarketDataProvider>> = vec![
            tiingo.clone(),
            Arc::new(yahoo),
            Arc::new(alpha_vantage),
            Arc::new(coingecko),
        ];
        let mut market =
            Self::from_providers(providers, config.priority, config.max_jump_factor, taxonomy)?;
        market.tiingo = Some(tiingo);
        market.clock = clock;
        Ok(market)
    }

    /// A chain over any providers (custom ones, or fakes in the server's tests).
    ///
    /// # Errors
    /// `InvalidConfig` (`priority.<class>`) for a name no provider has, duplicate provider
    /// names, or (`max_jump_factor`) a factor not above 1.
    pub fn from_providers(
        providers: Vec<Arc<dyn MarketDataProvider>>,
        priority: Priority,
        max_jump_factor: Decimal,
        taxonomy: Arc<Taxonomy>,
    ) -> Result<Self, ConnectorError> {
        let mut names = HashSet::new();
        for provider in &providers {
            if !names.insert(provider.name()) {
                return Err(ConnectorError::invalid_config(
                    "providers",
                    format!("two providers are named {}", provider.name()),
                ));
            }
        }
        for class in PriceClass::ALL {
            if let Some(unknown) = priority
                .for_class(class)
                .iter()
                .find(|n| !names.contains(n.as_str()))
            {
                return Err(ConnectorError::invalid_config(
                    format!("priority.{}", class.as_str()),
                    format!("unknown provider {unknown:?}"),
                ));
            }
        }
        if max_jump_factor <= Decimal::ONE {
            return Err(ConnectorError::invalid_config(
                "max_jump_factor",
                "must be greater than 1",
            ));
        }
        Ok(Self {
            providers,
            priority,
            max_jump_factor,
            taxonomy,
            tiingo: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// The taxonomy in use.
    #[must_use]
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Resolves a symbol into an instrument (see [`Taxonomy::resolve`]).
    ///
    /// # Errors
    /// [`SymbolError`] for input that is not a symbol.
    pub fn resolve(
        &self,
        symbol: &str,
        hint: Option<AssetClass>,
    ) -> Result<Instrument, SymbolError> {
        self.taxonomy.resolve(symbol, hint)
    }

    /// A provider by name.
    #[must_use]
    pub fn provider(&self, name: &str) -> Option<Arc<dyn MarketDataProvider>> {
        self.providers.iter().find(|p| p.name() == name).cloned()
    }

    /// Every provider's status, in registration order.
    #[must_use]
    pub fn statuses(&self) -> Vec<ProviderStatus> {
        self.providers.iter().map(|p| p.status()).collect()
    }

    fn chain(&self, class: PriceClass) -> Vec<Arc<dyn MarketDataProvider>> {
        self.priority
            .for_class(class)
            .iter()
            .filter_map(|name| self.provider(name))
            .collect()
    }

    /// Checks a quote: positive, and within `max_jump_factor` of `last_close`.
    fn implausible(&self, price: Decimal, last_close: Option<Decimal>) -> Option<String> {
        if price <= Decimal::ZERO {
            return Some("not positive".to_owned());
        }
        let last = last_close.filter(|l| *l > Decimal::ZERO)?;
        let factor = self.max_jump_factor;
        let too_high = last.checked_mul(factor).is_some_and(|cap| price > cap);
        let too_low = price.checked_mul(factor).is_some_and(|p| p < last);
        (too_high || too_low)
            .then(|| format!("more than {factor}x away from the last close {last}"))
    }

    /// The latest price of one instrument.
    pub async fn quote(
        &self,
        instrument: &Instrument,
        last_close: Option<Decimal>,
    ) -> QuoteOutcome {
        let request = QuoteRequest {
            instrument: instrument.clone(),
            last_close,
        };
        self.quotes(std::slice::from_ref(&request))
            .await
            .pop()
            .unwrap_or_else(Outcome::empty)
    }

    /// Latest prices, one outcome per request in the same order. Each provider gets every
    /// still-unpriced instrument of a class in one call (batch endpoints where it has them,
    /// else bounded concurrency under its rate limiter); the price classes run concurrently.
    #[tracing::instrument(skip_all, fields(count = requests.len()))]
    pub async fn quotes(&self, requests: &[QuoteRequest]) -> Vec<QuoteOutcome> {
        let per_class = join_all(
            PriceClass::ALL
                .into_iter()
                .map(|class| self.quotes_of_class(class, requests)),
        )
        .await;
        let mut out: Vec<QuoteOutcome> = requests.iter().map(|_| Outcome::empty()).collect();
        for (index, outcome) in per_class.into_iter().flatten() {
            if let Some(slot) = out.get_mut(index) {
                *slot = outcome;
            }
        }
        out
    }

    async fn quotes_of_class(
        &self,
        class: PriceClass,
        requests: &[QuoteRequest],
    ) -> Vec<(usize, QuoteOutcome)> {
        let mut outcomes: Vec<(usize, QuoteOutcome)> = requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.instrument.price_class() == class)
            .map(|(i, _)| (i, Outcome::empty()))
            .collect();
        if outcomes.is_empty() {
            return outcomes;
        }
        // Positions (into `outcomes`) still without a price.
        let mut pending: Vec<usize> = (0..outcomes.len()).collect();
        for provider in self.chain(class) {
            if pending.is_empty() {
                break;
            }
            let name = provider.name();
            if let Some(skip) = self.skip(provider.as_ref(), class) {
                for &p in &pending {
                    outcomes[p].1.record(name, skip.clone());
                }
                continue;
            }
            let instruments: Vec<Instrument> = pending
                .iter()
                .map(|&p| requests[outcomes[p].0].instrument.clone())
                .collect();
            let mut results = provider.quotes(&instruments).await.into_iter();
            let mut still = Vec::new();
            for &p in &pending {
                let result = results.next().unwrap_or_else(|| {
                    Err(ConnectorError::Decode(format!("{name} returned no result")))
                });
                let last_close = requests[outcomes[p].0].last_close;
                let outcome = &mut outcomes[p].1;
                match result {
                    Ok(Some(quote)) => match self.implausible(quote.price, last_close) {
                        None => {
                            outcome.record(name, AttemptOutcome::Success);
                            outcome.value = Some(quote);
                        }
                        Some(reason) => {
                            tracing::warn!(provider = name, symbol = %quote.symbol, %reason, "implausible quote rejected");
                            outcome.record(
                                name,
                                AttemptOutcome::Implausible {
                                    price: quote.price,
                                    reason,
                                },
                            );
                            still.push(p);
                        }
                    },
                    Ok(None) => {
                        outcome.record(name, AttemptOutcome::NotFound);
                        still.push(p);
                    }
                    Err(err) => {
                        outcome.record(name, AttemptOutcome::from_error(&err));
                        still.push(p);
                    }
                }
            }
            pending = still;
        }
        outcomes
    }

    /// Daily bars from `from` to `to` (both included) from the first provider that has any;
    /// bars with a non-positive close are dropped. When every provider knows the instrument
    /// but has no bar in the range, the value is an empty history.
    #[tracing::instrument(skip_all, fields(symbol = %instrument.symbol))]
    pub async fn history(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> HistoryOutcome {
        let class = instrument.price_class();
        let mut outcome = Outcome::empty();
        let mut empty: Option<PriceHistory> = None;
        for provider in self.chain(class) {
            let name = provider.name();
            if let Some(skip) = self.skip(provider.as_ref(), class) {
                outcome.record(name, skip);
                continue;
            }
            match provider.history(instrument, from, to).await {
                Ok(Some(mut history)) => {
                    history.bars.retain(|b| b.close > Decimal::ZERO);
                    if history.bars.is_empty() {
                        outcome.record(name, AttemptOutcome::NotFound);
                        empty.get_or_insert(history);
                    } else {
                        outcome.record(name, AttemptOutcome::Success);
                        outcome.value = Some(history);
                        return outcome;
                    }
                }
                Ok(None) => outcome.record(name, AttemptOutcome::NotFound),
                Err(err) => outcome.record(name, AttemptOutcome::from_error(&err)),
            }
        }
        outcome.value = empty;
        outcome
    }

    /// The `base`/`quote` rate (ISO codes): the latest when `date` is `None`, else that
    /// date's (or the last before it). The same currency on both sides is 1.
    #[tracing::instrument(skip_all, fields(base, quote))]
    pub async fn fx(&self, base: &str, quote: &str, date: Option<NaiveDate>) -> FxOutcome {
        let (base, quote) = (base.to_ascii_uppercase(), quote.to_ascii_uppercase());
        let mut outcome = Outcome::empty();
        if base == quote {
            outcome.value = Some(FxRate {
                base,
                quote,
                rate: Decimal::ONE,
                date: date.unwrap_or_else(|| self.clock.now().date_naive()),
                source: "identity".to_owned(),
            });
            return outcome;
        }
        for provider in self.chain(PriceClass::Fx) {
            let name = provider.name();
            if let Some(skip) = self.skip(provider.as_ref(), PriceClass::Fx) {
                outcome.record(name, skip);
                continue;
            }
            match provider.fx(&base, &quote, date).await {
                Ok(Some(rate)) => match self.implausible(rate.rate, None) {
                    None => {
                        outcome.record(name, AttemptOutcome::Success);
                        outcome.value = Some(rate);
                        return outcome;
                    }
                    Some(reason) => outcome.record(
                        name,
                        AttemptOutcome::Implausible {
                            price: rate.rate,
                            reason,
                        },
                    ),
                },
                Ok(None) => outcome.record(name, AttemptOutcome::NotFound),
                Err(err) => outcome.record(name, AttemptOutcome::from_error(&err)),
            }
        }
        outcome
    }

    /// Instruments matching `query`: the first provider (equity order, then crypto and FX
    /// providers not yet asked) with a non-empty answer wins, so one search costs one
    /// request when the first provider is healthy.
    #[tracing::instrument(skip_all)]
    pub async fn search(&self, query: &str) -> SearchOutcome {
        let mut outcome = Outcome::empty();
        let mut asked = HashSet::new();
        for class in PriceClass::ALL {
            for provider in self.chain(class) {
                let name = provider.name();
                if !asked.insert(name) {
                    continue;
                }
                if let Some(skip) = AttemptOutcome::from_availability(&provider.availability()) {
                    outcome.record(name, skip);
                    continue;
                }
                match provider.search(query).await {
                    Ok(results) if !results.is_empty() => {
                        outcome.record(name, AttemptOutcome::Success);
                        outcome.value = Some(results);
                        return outcome;
                    }
                    Ok(_) => outcome.record(name, AttemptOutcome::NotFound),
                    Err(err) => outcome.record(name, AttemptOutcome::from_error(&err)),
                }
            }
        }
        outcome
    }

    /// Tiingo's daily fundamentals (market cap, EV, P/E, P/B, PEG).
    ///
    /// # Errors
    /// `NotSupported` when the chain has no Tiingo provider or it is disabled; otherwise as
    /// [`TiingoProvider::daily_fundamentals`].
    pub async fn fundamentals(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DailyFundamentals>>, ConnectorError> {
        match &self.tiingo {
            Some(tiingo) => tiingo.daily_fundamentals(instrument, from, to).await,
            None => Err(ConnectorError::NotSupported(
                "fundamentals need the tiingo provider".to_owned(),
            )),
        }
    }

    fn skip(&self, provider: &dyn MarketDataProvider, class: PriceClass) -> Option<AttemptOutcome> {
        if provider.supports(class) {
            AttemptOutcome::from_availability(&provider.availability())
        } else {
            Some(AttemptOutcome::Unsupported)
        }
    }
}
