//! Tiingo: end-of-day history, IEX latest prices (batched, many tickers per request),
//! crypto prices, FX top-of-book, ticker search and daily fundamentals. Authenticated with an
//! `Authorization: Token <key>` header; disabled without a key.

mod convert;
mod models;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};

use self::models::{CryptoPrices, DailyMetrics, EodPrice, FxBar, FxTop, IexQuote, SearchHit};
use super::{Core, KeyUse, none_if_not_found};
use crate::ConnectorError;
use crate::http::{Clock, Get, clone_error};
use crate::market::config::{ProviderConfig, TIINGO};
use crate::market::{
    DailyFundamentals, FxRate, Instrument, MarketDataProvider, PriceClass, PriceHistory,
    ProviderAvailability, ProviderStatus, Quote, SearchResult,
};
use crate::normalize::Taxonomy;
use crate::types::AssetClass;

type QuoteResult = Result<Option<Quote>, ConnectorError>;

/// The Tiingo provider.
pub struct TiingoProvider {
    core: Core,
}

impl TiingoProvider {
    /// Builds it; without `api_key` it exists but reports itself disabled.
    ///
    /// # Errors
    /// `InvalidConfig` for a bad base URL or key.
    pub fn new(
        config: &ProviderConfig,
        taxonomy: Arc<Taxonomy>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let key_use = KeyUse::RequiredHeader {
            name: "authorization",
            prefix: "Token ",
        };
        Ok(Self {
            core: Core::new(TIINGO, config, &key_use, taxonomy, clock)?,
        })
    }

    /// Daily market cap, enterprise value and valuation ratios from `from` to `to`;
    /// `None` when Tiingo does not know the ticker (or it is not a US listing).
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy; fundamentals need a Tiingo plan that includes them
    /// (otherwise `Authentication`).
    #[tracing::instrument(skip_all, fields(provider = TIINGO, symbol = %instrument.symbol), err(level = "debug"))]
    pub async fn daily_fundamentals(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DailyFundamentals>>, ConnectorError> {
        self.core.ensure_enabled()?;
        if instrument.price_class() != PriceClass::Equity {
            return Ok(None);
        }
        let Some(ticker) = convert::ticker(instrument) else {
            return Ok(None);
        };
        let req = Get::new(format!("/tiingo/fundamentals/{ticker}/daily"))
            .query("startDate", from.to_string())
            .query("endDate", to.to_string())
            .cache_for(self.core.ttl.history);
        let rows: Option<Vec<DailyMetrics>> =
            none_if_not_found(self.core.http.get_json(&req).await)?;
        Ok(rows.map(convert::fundamentals))
    }

    async fn iex(&self, tickers: &[String]) -> Result<Vec<IexQuote>, ConnectorError> {
        let req = Get::new("/iex/")
            .query("tickers", tickers.join(","))
            .cache_for(self.core.ttl.quote);
        self.core.http.get_json(&req).await
    }

    async fn eod(
        &self,
        ticker: &str,
        range: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Option<Vec<EodPrice>>, ConnectorError> {
        let mut req = Get::new(format!("/tiingo/daily/{ticker}/prices"));
        req = match range {
            Some((from, to)) => req
                .query("startDate", from.to_string())
                .query("endDate", to.to_string())
                .cache_for(self.core.ttl.history),
            None => req.cache_for(self.core.ttl.quote),
        };
        none_if_not_found(self.core.http.get_json(&req).await)
    }

    async fn crypto_prices(
        &self,
        tickers: &[String],
        range: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Vec<CryptoPrices>, ConnectorError> {
        let mut req = Get::new("/tiingo/crypto/prices").query("tickers", tickers.join(","));
        req = match range {
            Some((from, to)) => req
                .query("startDate", from.to_string())
                .query("endDate", to.to_string())
                .query("resampleFreq", "1day")
                .cache_for(self.core.ttl.history),
            None => req
                .query("resampleFreq", "5min")
                .cache_for(self.core.ttl.quote),
        };
        self.core.http.get_json(&req).await
    }

    async fn fx_top(&self, tickers: &[String]) -> Result<Vec<FxTop>, ConnectorError> {
        let req = Get::new("/tiingo/fx/top")
            .query("tickers", tickers.join(","))
            .cache_for(self.core.ttl.quote);
        self.core.http.get_json(&req).await
    }

    async fn fx_bars(
        &self,
        ticker: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<FxBar>, ConnectorError> {
        let req = Get::new(format!("/tiingo/fx/{ticker}/prices"))
            .query("startDate", from.to_string())
            .query("endDate", to.to_string())
            .query("resampleFreq", "1day")
            .cache_for(self.core.ttl.history);
        Ok(none_if_not_found(self.core.http.get_json(&req).await)?.unwrap_or_default())
    }

    /// One batch request per chunk of same-class instruments; results land in `out` by
    /// index.
    async fn quote_chunk(
        &self,
        class: PriceClass,
        chunk: &[(usize, &Instrument, String)],
        out: &mut [Option<QuoteResult>],
    ) {
        let tickers: Vec<String> = chunk.iter().map(|(_, _, t)| t.clone()).collect();
        let find = |ticker: &str, candidate: &str| candidate.eq_ignore_ascii_case(ticker);
        match class {
            PriceClass::Equity => match self.iex(&tickers).await {
                Ok(rows) => {
                    for (i, instrument, ticker) in chunk {
                        let quote = rows
                            .iter()
                            .find(|r| find(ticker, &r.ticker))
                            .and_then(|r| convert::iex_quote(instrument, r));
                        out[*i] = Some(Ok(quote));
                    }
                }
                Err(err) => chunk
                    .iter()
                    .for_each(|(i, _, _)| out[*i] = Some(Err(clone_error(&err)))),
            },
            PriceClass::Crypto => match self.crypto_prices(&tickers, None).await {
                Ok(rows) => {
                    for (i, instrument, ticker) in chunk {
                        let quote = rows
                            .iter()
                            .find(|r| find(ticker, &r.ticker))
                            .and_then(|r| convert::crypto_quote(instrument, r));
                        out[*i] = Some(Ok(quote));
                    }
                }
                Err(err) => chunk
                    .iter()
                    .for_each(|(i, _, _)| out[*i] = Some(Err(clone_error(&err)))),
            },
            PriceClass::Fx => match self.fx_top(&tickers).await {
                Ok(rows) => {
                    for (i, instrument, ticker) in chunk {
                        let quote = rows
                            .iter()
                            .find(|r| find(ticker, &r.ticker))
                            .and_then(|r| convert::fx_top_quote(instrument, r));
                        out[*i] = Some(Ok(quote));
                    }
                }
                Err(err) => chunk
                    .iter()
                    .for_each(|(i, _, _)| out[*i] = Some(Err(clone_error(&err)))),
            },
        }
    }
}

#[async_trait]
impl MarketDataProvider for TiingoProvider {
    fn name(&self) -> &'static str {
        TIINGO
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

    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError> {
        self.quotes(std::slice::from_ref(instrument))
            .await
            .pop()
            .unwrap_or(Ok(None))
    }

    /// Batched: IEX for stocks and ETFs, crypto prices and FX top-of-book take many tickers
    /// per request; mutual funds (not on IEX) use their latest end-of-day close.
    #[tracing::instrument(skip_all, fields(provider = TIINGO, count = instruments.len()))]
    async fn quotes(&self, instruments: &[Instrument]) -> Vec<QuoteResult> {
        if let Err(err) = self.core.ensure_enabled() {
            return instruments.iter().map(|_| Err(clone_error(&err))).collect();
        }
        let mut out: Vec<Option<QuoteResult>> = instruments.iter().map(|_| None).collect();
        let mut funds = Vec::new();
        for class in PriceClass::ALL {
            let batch: Vec<(usize, &Instrument, String)> = instruments
                .iter()
                .enumerate()
                .filter(|(_, i)| i.price_class() == class)
                .filter_map(|(n, i)| {
                    if i.class == AssetClass::Fund {
                        funds.push(n);
                        return None;
                    }
                    convert::ticker(i).map(|t| (n, i, t))
                })
                .collect();
            for chunk in batch.chunks(self.core.batch_size) {
                self.quote_chunk(class, chunk, &mut out).await;
            }
        }
        for n in funds {
            let instrument = &instruments[n];
            out[n] = Some(match convert::ticker(instrument) {
                None => Ok(None),
                Some(ticker) => self
                    .eod(&ticker, None)
                    .await
                    .map(|rows| rows.and_then(|r| convert::eod_quote(instrument, &r))),
            });
        }
        out.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
    }

    #[tracing::instrument(skip_all, fields(provider = TIINGO, symbol = %instrument.symbol), err(level = "debug"))]
    async fn history(
        &self,
        instrument: &Instrument,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<PriceHistory>, ConnectorError> {
        self.core.ensure_enabled()?;
        let Some(ticker) = convert::ticker(instrument) else {
            return Ok(None);
        };
        let (bars, currency) = match instrument.price_class() {
            PriceClass::Equity => match self.eod(&ticker, Some((from, to))).await? {
                Some(rows) => (convert::eod_bars(rows), "USD".to_owned()),
                None => return Ok(None),
            },
            PriceClass::Crypto => {
                let rows = self
                    .crypto_prices(std::slice::from_ref(&ticker), Some((from, to)))
                    .await?;
                match rows
                    .into_iter()
                    .find(|r| r.ticker.eq_ignore_ascii_case(&ticker))
                {
                    Some(prices) => {
                        let currency = prices
                            .quote_currency
                            .clone()
                            .unwrap_or_else(|| instrument.quote_currency().to_owned())
                            .to_ascii_uppercase();
                        (convert::crypto_bars(prices), currency)
                    }
                    None => return Ok(None),
                }
            }
            PriceClass::Fx => {
                let Some((_, quote)) = instrument.fx_pair() else {
                    return Ok(None);
                };
                let bars = self
                    .fx_bars(&ticker, from, to)
                    .await?
                    .into_iter()
                    .map(|b| crate::market::Bar {
                        date: b.date.with_timezone(&chrono::Utc).date_naive(),
                        open: None,
                        high: None,
                        low: None,
                        close: b.close,
                        adj_close: None,
                        volume: None,
                    })
                    .collect();
                (super::tidy_bars(bars), quote.to_owned())
            }
        };
        Ok(Some(PriceHistory {
            asset_id: instrument.asset_id.clone(),
            symbol: instrument.symbol.clone(),
            currency,
            source: TIINGO.to_owned(),
            bars,
        }))
    }

    #[tracing::instrument(skip_all, fields(provider = TIINGO, base, quote), err(level = "debug"))]
    async fn fx(
        &self,
        base: &str,
        quote: &str,
        date: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError> {
        self.core.ensure_enabled()?;
        let ticker = format!("{base}{quote}").to_ascii_lowercase();
        match date {
            None => {
                let rows = self.fx_top(std::slice::from_ref(&ticker)).await?;
                Ok(rows
                    .iter()
                    .find(|r| r.ticker.eq_ignore_ascii_case(&ticker))
                    .and_then(|r| convert::fx_top_rate(base, quote, r)))
            }
            Some(date) => {
                let from = date.checked_sub_days(Days::new(7)).unwrap_or(date);
                let bars = self.fx_bars(&ticker, from, date).await?;
                Ok(convert::fx_rate_on(base, quote, date, &bars))
            }
        }
    }

    #[tracing::instrument(skip_all, fields(provider = TIINGO), err(level = "debug"))]
    async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ConnectorError> {
        self.core.ensure_enabled()?;
        let req = Get::new("/tiingo/utilities/search")
            .query("query", query)
            .query("limit", "10")
            .cache_for(self.core.ttl.search);
        let hits: Vec<SearchHit> = self.core.http.get_json(&req).await?;
        Ok(convert::search_results(&self.core.taxonomy, hits))
    }
}
