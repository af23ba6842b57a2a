//! Yahoo Finance: the v8 chart endpoint for latest prices, daily history and FX
//! (`EURUSD=X`), and the v1 search endpoint. No key. Yahoo has no batch quote endpoint that
//! works without a session cookie, so batches run per symbol with bounded concurrency.

mod convert;
mod models;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};

use self::models::{ChartEnvelope, ChartResult, SearchEnvelope};
use super::{Core, KeyUse, none_if_not_found, start_of};
use crate::ConnectorError;
use crate::http::{Clock, Get};
use crate::market::config::{ProviderConfig, YAHOO};
use crate::market::{
    FxRate, Instrument, MarketDataProvider, PriceClass, PriceHistory, ProviderAvailability,
    ProviderStatus, Quote, SearchResult,
};
use crate::normalize::Taxonomy;

/// The Yahoo Finance provider.
pub struct YahooProvider {
    core: Core,
}

impl YahooProvider {
    /// Builds it (no key needed).
    ///
    /// # Errors
    /// `InvalidConfig` for a bad base URL.
    pub fn new(
        config: &ProviderConfig,
        taxonomy: Arc<Taxonomy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            core: Core::new(YAHOO, config, &KeyUse::None, taxonomy, clock)?,
        })
    }

    /// The chart of `symbol`: the last few days (`range=5d`) or `from`..=`to`.
    async fn chart(
        &self,
        symbol: &str,
        range: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Option<ChartResult>, ConnectorError> {
        let req = Get::new(format!("/v8/finance/chart/{symbol}")).query("interval", "1d");
        let req = match range {
            None => req.query("range", "5d").cache_for(self.core.ttl.quote),
            Some((from, to)) => {
                let end = to.checked_add_days(Days::new(1)).unwrap_or(to);
                req.query("period1", start_of(from).timestamp().to_string())
                    .query("period2", start_of(end).timestamp().to_string())
                    .cache_for(self.core.ttl.history)
            }
        };
        let envelope: Option<ChartEnvelope> =
            none_if_not_found(self.core.http.get_json(&req).await)?;
        let Some(envelope) = envelope else {
            return Ok(None);
        };
        if let Some(code) = envelope.chart.error.and_then(|e| e.code) {
            if code.eq_ignore_ascii_case("Not Found") {
                return Ok(None);
            }
            return Err(ConnectorError::Upstream {
                status: 200,
                message: format!("yahoo reported an error: {code}"),
            });
        }
        Ok(envelope.chart.result.and_then(|mut r| {
            if r.is_empty() {
                None
            } else {
                Some(r.swap_remove(0))
            }
        }))
    }
}

#[async_trait]
impl MarketDataProvider for YahooProvider {
    fn name(&self) -> &'static str {
        YAHOO
    }

    fn supports(&self, _class: PriceClass) -> bool {
        true
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

    #[tracing::instrument(skip_all, fields(provider = YAHOO, symbol = %instrument.symbol), err(level = "debug"))]
    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError> {
        self.core.ensure_enabled()?;
        let Some(symbol) = convert::symbol(&self.core.taxonomy, instrument) else {
            return Ok(None);
        };
        Ok(self
            .chart(&symbol, None)
            .await?
            .and_then(|chart| convert::quote(&self.core.taxonomy, instrument, &chart)))
    }

    #[tracing::instrument(skip_all, fields(provider = YAHOO, symbol = %instrument.symbol), err(level = "debug"))]
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
        let Some(chart) = self.chart(&symbol, Some((from, to))).await? else {
            return Ok(None);
        };
        let bars = convert::bars(&self.core.taxonomy, &chart)
            .into_iter()
            .filter(|b| b.date >= from && b.date <= to)
            .collect();
        let fallback = instrument.currency.as_deref().unwrap_or("USD");
        Ok(Some(PriceHistory {
            asset_id: instrument.asset_id.clone(),
            symbol: instrument.symbol.clone(),
            currency: convert::currency(&self.core.taxonomy, &chart, fallback),
            source: YAHOO.to_owned(),
            bars,
        }))
    }

    #[tracing::instrument(skip_all, fields(provider = YAHOO, base, quote), err(level = "debug"))]
    async fn fx(
        &self,
        base: &str,
        quote: &str,
        date: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError> {
        self.core.ensure_enabled()?;
        let symbol = format!("{base}{quote}=X").to_ascii_uppercase();
        let rate = |rate, date| FxRate {
            base: base.to_owned(),
            quote: quote.to_owned(),
            rate,
            date,
            source: YAHOO.to_owned(),
        };
        match date {
            None => {
                let Some(chart) = self.chart(&symbol, None).await? else {
                    return Ok(None);
                };
                let instrument = Instrument {
                    asset_id: String::new(),
                    symbol: format!("{base}{quote}"),
                    class: crate::types::AssetClass::Cash,
                    mic: None,
                    currency: Some(quote.to_owned()),
                    name: None,
                };
                Ok(convert::quote(&self.core.taxonomy, &instrument, &chart)
                    .map(|q| rate(q.price, q.as_of.date_naive())))
            }
            Some(date) => {
                let from = date.checked_sub_days(Days::new(7)).unwrap_or(date);
                let Some(chart) = self.chart(&symbol, Some((from, date))).await? else {
                    return Ok(None);
                };
                let bars = convert::bars(&self.core.taxonomy, &chart);
                Ok(convert::close_on(&bars, date).map(|b| rate(b.close, b.date)))
            }
        }
    }

    #[tracing::instrument(skip_all, fields(provider = YAHOO), err(level = "debug"))]
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ConnectorError> {
        self.core.ensure_enabled()?;
        let req = Get::new("/v1/finance/search")
            .query("q", query)
            .query("quotesCount", "10")
            .query("newsCount", "0")
            .cache_for(self.core.ttl.search);
        let envelope: SearchEnvelope = self.core.http.get_json(&req).await?;
        Ok(convert::search_results(
            &self.core.taxonomy,
            envelope.quotes,
        ))
    }
}
