//! Tributary connectors: the normalized data model every provider maps into, the error
//! taxonomy, the provider traits, and the providers themselves.
//!
//! This crate is a pure library: no web framework, no ORM, no GraphQL. Connectors never
//! persist anything; they return normalized values and the caller stores them.
//!
//! Market data: build a [`market::MarketData`] from a [`market::MarketDataConfig`] and ask it
//! for quotes, history, FX rates and searches; it runs the fallback chain over the Tiingo,
//! Yahoo Finance, Alpha Vantage and CoinGecko providers (each over [`http::ProviderHttp`])
//! and reports every skipped provider with its reason. Symbols become instruments with
//! stable asset ids through [`normalize::Taxonomy`].

pub mod catalogue;
mod dec;
pub mod demo;
pub mod error;
pub mod files;
pub mod http;
pub mod ibkr;
pub mod market;
pub mod normalize;
pub mod providers;
pub mod registry;
pub mod types;

pub use catalogue::{ConfigField, ConfigFieldType, IntegrationDescriptor};
pub use error::ConnectorError;
pub use market::{
    Attempt, AttemptOutcome, Bar, FxRate, Instrument, MarketData, MarketDataConfig,
    MarketDataProvider, Outcome, PriceClass, PriceHistory, ProviderConfig, ProviderStatus, Quote,
    QuoteRequest, SearchResult,
};
pub use normalize::{SymbolError, Taxonomy};
pub use types::{
    AccountConnector, AssetClass, AssetRef, Balance, ConnectionCheck, Holding, RemoteAccount,
    SyncBatch, Transaction, TransactionType,
};
