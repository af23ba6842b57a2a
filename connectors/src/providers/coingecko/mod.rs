//! CoinGecko: simple/price (many coins per request), coins/list to map symbols to coin ids,
//! coins/markets to choose among coins sharing a symbol, and market_chart for daily history.
//! The demo key, when configured, goes in the `x-cg-demo-api-key` header; without one the
//! public (keyless) API is used.
//!
//! Symbols are not unique on CoinGecko (dozens of coins call themselves `UNI`), so a symbol
//! is resolved deliberately: the operator's mapping first, then the taxonomy's
//! `coingecko_id`, then among the coins/list candidates the one with the largest market cap.
//! Resolutions are remembered for the life of the process.

mod convert;
mod models;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::NaiveDate;

use self::models::{CoinListEntry, MarketChart, MarketEntry, SimplePrice};
use super::{Core, KeyUse, none_if_not_found};
use crate::ConnectorError;
use crate::http::{Clock, Get, clone_error};
use crate::market::config::{COINGECKO, ProviderConfig};
use crate::market::{
    FxRate, Instrument, MarketDataProvider, PriceClass, PriceHistory, ProviderAvailability,
    ProviderStatus, Quote, SearchResult,
};
use crate::normalize::Taxonomy;

type QuoteResult = Result<Option<Quote>, ConnectorError>;

/// The CoinGecko provider.
pub struct CoinGeckoProvider {
    core: Core,
    /// Operator mapping, upper-case symbol → coin id.
    mapping: BTreeMap<String, String>,
    /// Symbols resolved from coins/list (`None`: no such coin).
    resolved: Mutex<HashMap<String, Option<String>>>,
}

impl CoinGeckoProvider {
    /// Builds it; `mapping` (symbol → coin id) overrides the taxonomy's ids.
    ///
    /// # Errors
    /// `InvalidConfig` for a bad base URL or key.
    pub fn new(
        config: &ProviderConfig,
        mapping: BTreeMap<String, String>,
        taxonomy: Arc<Taxonomy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let key_use = KeyUse::OptionalHeader {
            name: "x-cg-demo-api-key",
        };
        Ok(Self {
            core: Core::new(COINGECKO, config, &key_use, taxonomy, clock)?,
            mapping: mapping
                .into_iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v))
                .collect(),
            resolved: Mutex::new(HashMap::new()),
        })
    }

    fn known_id(&self, symbol: &str) -> Option<Option<String>> {
        let symbol = symbol.to_ascii_uppercase();
        if let Some(id) = self.mapping.get(&symbol) {
            return Some(Some(id.clone()));
        }
        if let Some(id) = self
            .core
            .taxonomy
            .crypto(&symbol)
            .and_then(|a| a.coingecko_id.clone())
        {
            return Some(Some(id));
        }
        self.resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&symbol)
            .cloned()
    }

    async fn coins_list(&self) -> Result<Vec<CoinListEntry>, ConnectorError> {
        let req = Get::new("/api/v3/coins/list").cache_for(self.core.ttl.reference);
        self.core.http.get_json(&req).await
    }

    /// Coin ids for symbols (upper case), fetching coins/list (and coins/markets for
    /// ambiguous symbols) at most once for the whole set.
    async fn coin_ids(
        &self,
        symbols: &[String],
    ) -> Result<HashMap<String, Option<String>>, ConnectorError> {
        let mut ids = HashMap::new();
        let mut unknown = Vec::new();
        for symbol in symbols {
            match self.known_id(symbol) {
                Some(id) => {
                    ids.insert(symbol.clone(), id);
                }
                None => unknown.push(symbol.clone()),
            }
        }
        if unknown.is_empty() {
            return Ok(ids);
        }
        let list = self.coins_list().await?;
        let mut ambiguous: Vec<(String, Vec<&str>)> = Vec::new();
        for symbol in unknown {
            let candidates: Vec<&str> = list
                .iter()
                .filter(|c| c.symbol.eq_ignore_ascii_case(&symbol))
                .map(|c| c.id.as_str())
                .collect();
            match candidates.as_slice() {
                [] => {
                    ids.insert(symbol, None);
                }
                [only] => {
                    ids.insert(symbol, Some((*only).to_owned()));
                }
                _ => ambiguous.push((symbol, candidates)),
            }
        }
        if !ambiguous.is_empty() {
            let all: Vec<&str> = ambiguous
                .iter()
                .flat_map(|(_, c)| c.iter().copied())
                .collect();
            let mut markets: Vec<MarketEntry> = Vec::new();
            for chunk in all.chunks(250) {
                let req = Get::new("/api/v3/coins/markets")
                    .query("vs_currency", "usd")
                    .query("ids", chunk.join(","))
                    .query("per_page", "250")
                    .cache_for(self.core.ttl.reference);
                let mut page: Vec<MarketEntry> = self.core.http.get_json(&req).await?;
                markets.append(&mut page);
            }
            for (symbol, candidates) in ambiguous {
                let chosen = convert::largest_by_market_cap(&candidates, &markets);
                tracing::debug!(
                    symbol,
                    chosen,
                    candidates = candidates.len(),
                    "coingecko symbol resolved by market cap"
                );
                ids.insert(symbol, chosen.map(str::to_owned));
            }
        }
        let mut memo = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        for (symbol, id) in &ids {
            if self.mapping.contains_key(symbol) {
                continue;
            }
            memo.entry(symbol.clone()).or_insert_with(|| id.clone());
        }
        Ok(ids)
    }

    async fn simple_price(&self, ids: &[String], vs: &str) -> Result<SimplePrice, ConnectorError> {
        let req = Get::new("/api/v3/simple/price")
            .query("ids", ids.join(","))
            .query("vs_currencies", vs)
            .query("include_last_updated_at", "true")
            .cache_for(self.core.ttl.quote);
        self.core.http.get_json(&req).await
    }
}

#[async_trait]
impl MarketDataProvider for CoinGeckoProvider {
    fn name(&self) -> &'static str {
        COINGECKO
    }

    fn supports(&self, class: PriceClass) -> bool {
        class == PriceClass::Crypto
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

    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError> {
        self.quotes(std::slice::from_ref(instrument))
            .await
            .pop()
            .unwrap_or(Ok(None))
    }

    /// Batched: one simple/price request per quote currency and chunk of coin ids.
    #[tracing::instrument(skip_all, fields(provider = COINGECKO, count = instruments.len()))]
    async fn quotes(&self, instruments: &[Instrument]) -> Vec<QuoteResult> {
        let fail_all = |err: &ConnectorError| -> Vec<QuoteResult> {
            instruments.iter().map(|_| Err(clone_error(err))).collect()
        };
        if let Err(err) = self.core.ensure_enabled() {
            return fail_all(&err);
        }
        let symbols: Vec<String> = instruments
            .iter()
            .filter(|i| i.price_class() == PriceClass::Crypto)
            .map(|i| i.symbol.to_ascii_uppercase())
            .collect();
        let ids = match self.coin_ids(&symbols).await {
            Ok(ids) => ids,
            Err(err) => return fail_all(&err),
        };
        let mut out: Vec<QuoteResult> = instruments.iter().map(|_| Ok(None)).collect();
        // (index, coin id) grouped by quote currency.
        let mut by_vs: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
        for (n, instrument) in instruments.iter().enumerate() {
            if instrument.price_class() != PriceClass::Crypto {
                continue;
            }
            if let Some(Some(id)) = ids.get(&instrument.symbol.to_ascii_uppercase()) {
                by_vs
                    .entry(instrument.quote_currency().to_ascii_lowercase())
                    .or_default()
                    .push((n, id.clone()));
            }
        }
        let now = self.core.now();
        for (vs, wanted) in by_vs {
            for chunk in wanted.chunks(self.core.batch_size) {
                let mut chunk_ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
                chunk_ids.dedup();
                match self.simple_price(&chunk_ids, &vs).await {
                    Ok(prices) => {
                        for (n, id) in chunk {
                            out[*n] = match prices.get(id) {
                                None => Ok(None),
                                Some(entry) => convert::quote(&instruments[*n], entry, &vs, now)
                                    .map_err(|e| ConnectorError::Decode(format!("coingecko: {e}"))),
                            };
                        }
                    }
                    Err(err) => {
                        for (n, _) in chunk {
                            out[*n] = Err(clone_error(&err));
                        }
                    }
                }
            }
        }
        out
    }

    #[tracing::instrument(skip_all, fields(provider = COINGECKO, symbol = %instrument.symbol), err(level = "debug"))]
    async fn history(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<PriceHistory>, ConnectorError> {
        self.core.ensure_enabled()?;
        if instrument.price_class() != PriceClass::Crypto {
            return Ok(None);
        }
        let symbol = instrument.symbol.to_ascii_uppercase();
        let ids = self.coin_ids(std::slice::from_ref(&symbol)).await?;
        let Some(Some(id)) = ids.get(&symbol) else {
            return Ok(None);
        };
        let today = self.core.now().date_naive();
        let days = (today - from).num_days().max(0) + 1;
        let vs = instrument.quote_currency().to_ascii_lowercase();
        let req = Get::new(format!("/api/v3/coins/{id}/market_chart"))
            .query("vs_currency", vs.clone())
            .query("days", days.to_string())
            .query("interval", "daily")
            .cache_for(self.core.ttl.history);
        let chart: Option<MarketChart> = none_if_not_found(self.core.http.get_json(&req).await)?;
        let Some(chart) = chart else {
            return Ok(None);
        };
        let bars = convert::bars(&chart, from, to)
            .map_err(|e| ConnectorError::Decode(format!("coingecko: {e}")))?;
        Ok(Some(PriceHistory {
            asset_id: instrument.asset_id.clone(),
            symbol: instrument.symbol.clone(),
            currency: vs.to_ascii_uppercase(),
            source: COINGECKO.to_owned(),
            bars,
        }))
    }

    async fn fx(
        &self,
        _base: &str,
        _quote: &str,
        _date: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError> {
        Err(ConnectorError::NotSupported(
            "coingecko: fiat exchange rates".to_owned(),
        ))
    }

    /// Searches the (cached) coins list: exact symbol matches first, then names.
    #[tracing::instrument(skip_all, fields(provider = COINGECKO), err(level = "debug"))]
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ConnectorError> {
        self.core.ensure_enabled()?;
        let list = self.coins_list().await?;
        Ok(convert::search(&self.core.taxonomy, &list, query))
    }
}
