//! Alpha Vantage: GLOBAL_QUOTE, TIME_SERIES_DAILY, SYMBOL_SEARCH and CURRENCY_EXCHANGE_RATE,
//! with the key as the `apikey` query parameter (disabled without one). Its errors arrive as
//! HTTP 200 bodies (`Note`, `Information`, `Error Message`): a body check turns them into
//! errors before anything is parsed or cached, so they are never taken for data.

mod convert;
mod models;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;

use self::models::{
    DailySeriesEnvelope, ExchangeRateEnvelope, GlobalQuoteEnvelope, Notice, SearchEnvelope,
};
use super::{Core, KeyUse, none_if_not_found};
use crate::ConnectorError;
use crate::http::{BodyCheck, Clock, Get};
use crate::market::config::{ALPHA_VANTAGE, ProviderConfig};
use crate::market::{
    FxRate, Instrument, MarketDataProvider, PriceClass, PriceHistory, ProviderAvailability,
    ProviderStatus, Quote, SearchResult,
};
use crate::normalize::Taxonomy;

/// Trading days a `compact` daily series holds.
const COMPACT_DAYS: i64 = 100;

/// The Alpha Vantage provider.
pub struct AlphaVantageProvider {
    core: Core,
}

impl AlphaVantageProvider {
    /// Builds it; without `api_key` it exists but reports itself disabled.
    ///
    /// # Errors
    /// `InvalidConfig` for a bad base URL.
    pub fn new(
        config: &ProviderConfig,
        taxonomy: Arc<Taxonomy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let mut core = Core::new(
            ALPHA_VANTAGE,
            config,
            &KeyUse::RequiredQuery { name: "apikey" },
            taxonomy,
            clock.clone(),
        )?;
        let check: BodyCheck = Arc::new(move |body: &[u8]| {
            let notice: Notice = serde_json::from_slice(body).unwrap_or_default();
            match convert::notice_error(&notice, clock.now()) {
                Some(err) => Err(err),
                None => Ok(()),
            }
        });
        core.http = core.http.with_body_check(check);
        Ok(Self { core })
    }

    fn query(function: &str) -> Get {
        Get::new("/query").query("function", function)
    }
}

#[async_trait]
impl MarketDataProvider for AlphaVantageProvider {
    fn name(&self) -> &'static str {
        ALPHA_VANTAGE
    }

    fn supports(&self, class: PriceClass) -> bool {
        class != PriceClass::Crypto
    }

    fn availability(&self) -> ProviderAvailability {
        self.core.availability()
    }

    fn status(&self) -> ProviderStatus {
        self.core.status()
    }

    fn max_concurrency(&self) -> usize {
        self.core.max_concurrency
    }

    #[tracing::instrument(skip_all, fields(provider = ALPHA_VANTAGE, symbol = %instrument.symbol), err(level = "debug"))]
    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError> {
        self.core.ensure_enabled()?;
        if let Some((base, quote)) = instrument.fx_pair() {
            let rate = self.fx(base, quote, None).await?;
            return Ok(rate.map(|r| Quote {
                asset_id: instrument.asset_id.clone(),
                symbol: instrument.symbol.clone(),
                price: r.rate,
                currency: r.quote,
                as_of: super::start_of(r.date),
                source: ALPHA_VANTAGE.to_owned(),
            }));
        }
        let Some(symbol) = convert::symbol(&self.core.taxonomy, instrument) else {
            return Ok(None);
        };
        let req = Self::query("GLOBAL_QUOTE")
            .query("symbol", symbol)
            .cache_for(self.core.ttl.quote);
        let envelope: Option<GlobalQuoteEnvelope> =
            none_if_not_found(self.core.http.get_json(&req).await)?;
        Ok(envelope
            .and_then(|e| e.quote)
            .and_then(|q| convert::quote(&self.core.taxonomy, instrument, &q)))
    }

    #[tracing::instrument(skip_all, fields(provider = ALPHA_VANTAGE, symbol = %instrument.symbol), err(level = "debug"))]
    async fn history(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<PriceHistory>, ConnectorError> {
        self.core.ensure_enabled()?;
        let Some(symbol) = convert::symbol(&self.core.taxonomy, instrument) else {
            return Ok(None);
        };
        // `compact` (the last 100 trading days) when it reaches back far enough.
        let calendar_days = (self.core.now().date_naive() - from).num_days();
        let size = if calendar_days * 5 / 7 < COMPACT_DAYS - 5 {
            "compact"
        } else {
            "full"
        };
        let req = Self::query("TIME_SERIES_DAILY")
            .query("symbol", symbol)
            .query("outputsize", size)
            .cache_for(self.core.ttl.history);
        let envelope: Option<DailySeriesEnvelope> =
            none_if_not_found(self.core.http.get_json(&req).await)?;
        let Some(series) = envelope.and_then(|e| e.series) else {
            return Ok(None);
        };
        let (bars, currency) = convert::bars(&self.core.taxonomy, instrument, series, from, to);
        Ok(Some(PriceHistory {
            asset_id: instrument.asset_id.clone(),
            symbol: instrument.symbol.clone(),
            currency,
            source: ALPHA_VANTAGE.to_owned(),
            bars,
        }))
    }

    /// The latest rate only; historical rates (`FX_DAILY`) are left to the other providers.
    #[tracing::instrument(skip_all, fields(provider = ALPHA_VANTAGE, base, quote), err(level = "debug"))]
    async fn fx(
        &self,
        base: &str,
        quote: &str,
        date: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError> {
        self.core.ensure_enabled()?;
        let today = self.core.now().date_naive();
        if date.is_some_and(|d| d < today) {
            return Err(ConnectorError::NotSupported(
                "alpha_vantage: historical FX rates".to_owned(),
            ));
        }
        let req = Self::query("CURRENCY_EXCHANGE_RATE")
            .query("from_currency", base)
            .query("to_currency", quote)
            .cache_for(self.core.ttl.quote);
        let envelope: Option<ExchangeRateEnvelope> =
            none_if_not_found(self.core.http.get_json(&req).await)?;
        Ok(envelope.and_then(|e| e.rate).map(|r| FxRate {
            base: base.to_owned(),
            quote: quote.to_owned(),
            rate: r.rate,
            date: convert::refreshed_date(r.last_refreshed.as_deref(), self.core.now()),
            source: ALPHA_VANTAGE.to_owned(),
        }))
    }

    #[tracing::instrument(skip_all, fields(provider = ALPHA_VANTAGE), err(level = "debug"))]
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ConnectorError> {
        self.core.ensure_enabled()?;
        let req = Self::query("SYMBOL_SEARCH")
            .query("keywords", query)
            .cache_for(self.core.ttl.search);
        let envelope: SearchEnvelope = self.core.http.get_json(&req).await?;
        Ok(convert::search_results(
            &self.core.taxonomy,
            envelope.best_matches,
        ))
    }
}
