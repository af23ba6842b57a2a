//! Market data: the normalized types, the provider trait, configuration, and the fallback
//! chain ([`MarketData`]) the server uses for quotes, history, FX and search.

mod chain;
pub mod config;
mod provider;
mod types;

pub use chain::{Attempt, AttemptOutcome, MarketData, Outcome, QuoteRequest};
pub use config::{CacheTtls, MarketDataConfig, Priority, ProviderConfig};
pub use provider::MarketDataProvider;
pub use types::{
    Bar, DailyFundamentals, FxRate, Instrument, PriceClass, PriceHistory, ProviderAvailability,
    ProviderStatus, Quote, SearchResult,
};
