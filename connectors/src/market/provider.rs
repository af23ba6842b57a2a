//! The market-data provider trait, object-safe behind `Arc<dyn MarketDataProvider>`.

use async_trait::async_trait;
use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt};

use super::types::{
    FxRate, Instrument, PriceClass, PriceHistory, ProviderAvailability, ProviderStatus, Quote,
    SearchResult,
};
use crate::ConnectorError;

/// A source of prices, history, FX rates and instrument search.
///
/// `Ok(None)` (or an empty search) means "this provider has nothing for that": the chain
/// then asks the next provider. Errors follow the [`ConnectorError`] taxonomy; operations a
/// provider does not offer return `NotSupported`.
#[async_trait]
pub trait MarketDataProvider: Send + Sync {
    /// Stable name (`tiingo`, `yahoo`, `alpha_vantage`, `coingecko`), used in config
    /// priorities and recorded as the `source` of every value.
    fn name(&self) -> &'static str;

    /// Whether it prices instruments of this class at all.
    fn supports(&self, class: PriceClass) -> bool;

    /// Whether it can take a call now (enabled, circuit closed, budget left); checked by the
    /// chain before every call so skips cost no network.
    fn availability(&self) -> ProviderAvailability;

    /// Health, circuit state and budget usage.
    fn status(&self) -> ProviderStatus;

    /// How many single-instrument calls [`MarketDataProvider::quotes`] runs at once by
    /// default (the rate limiter still paces them).
    fn max_concurrency(&self) -> usize {
        4
    }

    /// The latest price.
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy.
    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError>;

    /// Latest prices of several instruments, one result per instrument in the same order.
    /// The default runs [`MarketDataProvider::quote`] with bounded concurrency; providers
    /// with batch endpoints override it.
    async fn quotes(
        &self,
        instruments: &[Instrument],
    ) -> Vec<Result<Option<Quote>, ConnectorError>> {
        let limit = self.max_concurrency().max(1);
        // Boxed futures collected first: a lazily mapping stream would hold a closure over
        // a borrowed lifetime, which the `Send` bound of the returned future rejects.
        let calls: Vec<_> = instruments.iter().map(|i| self.quote(i)).collect();
        stream::iter(calls).buffered(limit).collect().await
    }

    /// Daily bars from `from` to `to`, both included.
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy.
    async fn history(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<PriceHistory>, ConnectorError>;

    /// The `base`/`quote` rate: the latest when `date` is `None`, else the close of that
    /// date (or the last one before it, for weekends and holidays).
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy.
    async fn fx(
        &self,
        base: &str,
        quote: &str,
        date: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError>;

    /// Instruments matching a free-text query (ticker or name).
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy.
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ConnectorError>;
}
