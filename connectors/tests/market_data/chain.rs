//! The fallback chain over the real providers (all pointed at one mock server) and over fakes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tributary_connectors::http::{CircuitConfig, CircuitState, ManualClock, RateLimits};
use tributary_connectors::market::{
    FxRate, MarketDataProvider, Priority, ProviderAvailability, ProviderStatus, Quote, SearchResult,
};
use tributary_connectors::{
    AttemptOutcome, ConnectorError, Instrument, MarketData, PriceClass, PriceHistory, QuoteRequest,
};
use wiremock::matchers::{path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::*;

fn outcomes(attempts: &[tributary_connectors::Attempt]) -> Vec<(String, String)> {
    attempts
        .iter()
        .map(|a| (a.provider.clone(), a.outcome.to_string()))
        .collect()
}

fn pair(provider: &str, outcome: &str) -> (String, String) {
    (provider.to_owned(), outcome.to_owned())
}

#[tokio::test]
async fn equities_fall_back_in_order_and_every_skip_is_recorded() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    // Yahoo is down; Alpha Vantage answers.
    Mock::given(path_regex("^/v8/finance/chart/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .and(query_param("symbol", "IBM"))
        .respond_with(json("alpha_vantage/global_quote_ibm.json"))
        .mount(&server)
        .await;
    let mut config = market_config(&server);
    config.tiingo.api_key = None;
    let market = MarketData::new(config).expect("market");
    let ibm = market.resolve("IBM", None).expect("symbol");
    let outcome = market.quote(&ibm, None).await;
    let quote = outcome.value.clone().expect("priced by alpha vantage");
    assert_eq!(
        (quote.price, quote.source.as_str()),
        (dec!(184.6700), "alpha_vantage")
    );
    assert_eq!(outcome.source(), Some("alpha_vantage"));
    assert_eq!(
        outcomes(&outcome.attempts),
        [
            pair("tiingo", "disabled (no API key configured)"),
            pair("yahoo", "failed (upstream)"),
            pair("alpha_vantage", "ok"),
        ]
    );
    assert_eq!(
        outcome.attempts[0].outcome,
        AttemptOutcome::Disabled {
            reason: "no API key configured".into()
        }
    );
}

#[tokio::test]
async fn nothing_found_anywhere_gives_a_reason_per_provider() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    guard_alpha_vantage(&server).await;
    tiingo_get("/iex/")
        .respond_with(json_status(200, "tiingo/iex_batch.json"))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/NOPE"))
        .respond_with(json_status(404, "yahoo/chart_not_found.json"))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .respond_with(json("alpha_vantage/note_rate_limit.json"))
        .mount(&server)
        .await;
    let market = MarketData::new(market_config(&server)).expect("market");
    let nope = market.resolve("NOPE", None).expect("symbol");
    let outcome = market.quote(&nope, None).await;
    assert!(outcome.value.is_none());
    assert_eq!(
        outcome.reason(),
        "tiingo: not found; yahoo: not found; alpha_vantage: rate limited (retry after 60 s)"
    );
}

#[tokio::test]
async fn an_implausible_quote_is_rejected_and_the_next_provider_asked() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(json("tiingo/iex_batch.json"))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/AAPL"))
        .respond_with(json("yahoo/chart_aapl_quote.json"))
        .mount(&server)
        .await;
    let market = MarketData::new(market_config(&server)).expect("market");
    let aapl = market.resolve("AAPL", None).expect("symbol");
    // Against a (made-up) last close of 830, Tiingo's 162.13 is more than 5x below it and
    // rejected; Yahoo's 170.85 is within the factor.
    let outcome = market.quote(&aapl, Some(dec!(830))).await;
    let quote = outcome.value.expect("yahoo");
    assert_eq!(quote.source, "yahoo");
    assert!(matches!(
        outcome.attempts[0].outcome,
        AttemptOutcome::Implausible { price, .. } if price == dec!(162.13)
    ));
    assert_eq!(outcome.attempts[1].outcome, AttemptOutcome::Success);
}

#[tokio::test]
async fn a_batch_uses_one_request_per_batch_endpoint_and_keeps_the_order() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    guard_coingecko(&server).await;
    tiingo_get("/iex/")
        .and(query_param("tickers", "aapl,msft"))
        .respond_with(json("tiingo/iex_batch.json"))
        .expect(1)
        .mount(&server)
        .await;
    cg_get("/api/v3/simple/price")
        .and(query_param("ids", "bitcoin,ethereum"))
        .respond_with(json("coingecko/simple_price.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(json("yahoo/chart_eurusd.json"))
        .expect(1)
        .mount(&server)
        .await;
    let market = MarketData::new(market_config(&server)).expect("market");
    let requests: Vec<QuoteRequest> = ["BTC", "AAPL", "EURUSD", "MSFT", "ETH"]
        .iter()
        .map(|s| market.resolve(s, None).expect("symbol").into())
        .collect();
    let outcomes = market.quotes(&requests).await;
    let got: Vec<(String, String)> = outcomes
        .iter()
        .map(|o| {
            let q = o.value.as_ref().expect("priced");
            (q.asset_id.clone(), q.source.clone())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("CRYPTO:BTC".to_owned(), "coingecko".to_owned()),
            ("EQUITY:XNAS:AAPL".to_owned(), "tiingo".to_owned()),
            ("FX:EUR".to_owned(), "yahoo".to_owned()),
            ("EQUITY:XNAS:MSFT".to_owned(), "tiingo".to_owned()),
            ("CRYPTO:ETH".to_owned(), "coingecko".to_owned()),
        ]
    );
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn rate_limited_and_circuit_open_providers_are_skipped_without_a_request() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/AAPL"))
        .respond_with(json("yahoo/chart_aapl_quote.json"))
        .mount(&server)
        .await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = market_config(&server);
    config.tiingo.retry.max_attempts = 1;
    config.tiingo.circuit = CircuitConfig {
        failure_threshold: 1,
        cool_down: Duration::from_secs(60),
    };
    config.alpha_vantage.rate_limits = RateLimits {
        per_day: Some(0),
        ..RateLimits::default()
    };
    config.priority.equity = vec!["tiingo".into(), "alpha_vantage".into(), "yahoo".into()];
    let market = MarketData::with_clock(config, clock.clone()).expect("market");
    let aapl = market.resolve("AAPL", None).expect("symbol");

    let first = market.quote(&aapl, None).await;
    assert_eq!(
        first.value.as_ref().map(|q| q.source.as_str()),
        Some("yahoo")
    );
    assert!(
        matches!(first.attempts[0].outcome, AttemptOutcome::Failed { ref kind, .. } if kind == "upstream")
    );
    assert!(matches!(
        first.attempts[1].outcome,
        AttemptOutcome::RateLimited { .. }
    ));
    let tiingo_requests =
        |reqs: &[wiremock::Request]| reqs.iter().filter(|r| r.url.path() == "/iex/").count();
    assert_eq!(
        tiingo_requests(&server.received_requests().await.unwrap_or_default()),
        1
    );

    // Tiingo's circuit is now open: skipped without a request.
    let second = market.quote(&aapl, None).await;
    assert_eq!(
        second.attempts[0].outcome,
        AttemptOutcome::CircuitOpen { retry_in_secs: 60 }
    );
    assert_eq!(
        tiingo_requests(&server.received_requests().await.unwrap_or_default()),
        1
    );
    let tiingo = market
        .statuses()
        .into_iter()
        .find(|s| s.name == "tiingo")
        .expect("status");
    assert_eq!(tiingo.circuit, CircuitState::Open);
    assert!(!tiingo.healthy);
    let av = market
        .statuses()
        .into_iter()
        .find(|s| s.name == "alpha_vantage")
        .expect("status");
    assert_eq!(
        (av.used, av.limit, av.window.as_deref()),
        (0, Some(0), Some("day"))
    );

    // After the cool-down the next call is the half-open trial.
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        market.provider("tiingo").expect("tiingo").status().circuit,
        CircuitState::HalfOpen
    );
    let third = market.quote(&aapl, None).await;
    assert!(matches!(
        third.attempts[0].outcome,
        AttemptOutcome::Failed { .. }
    ));
    assert_eq!(
        tiingo_requests(&server.received_requests().await.unwrap_or_default()),
        2
    );
}

#[tokio::test]
async fn history_fx_and_search_fall_back_too() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/daily/aapl/prices")
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    tiingo_get("/tiingo/fx/eurusd/prices")
        .respond_with(json("tiingo/fx_prices_eurusd.json"))
        .mount(&server)
        .await;
    tiingo_get("/tiingo/utilities/search")
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/AAPL"))
        .respond_with(json("yahoo/chart_aapl_history.json"))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(json_status(404, "yahoo/chart_not_found.json"))
        .mount(&server)
        .await;
    Mock::given(path("/v1/finance/search"))
        .respond_with(json("yahoo/search_apple.json"))
        .mount(&server)
        .await;
    let market = MarketData::new(market_config(&server)).expect("market");
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");

    let aapl = market.resolve("AAPL", None).expect("symbol");
    let history = market.history(&aapl, d(2019, 1, 2), d(2019, 1, 8)).await;
    assert_eq!(history.source(), Some("yahoo"));
    assert_eq!(history.value.expect("bars").bars.len(), 3);

    let fx = market.fx("eur", "usd", Some(d(2024, 3, 22))).await;
    assert_eq!(
        outcomes(&fx.attempts),
        [pair("yahoo", "not found"), pair("tiingo", "ok")]
    );
    assert_eq!(fx.value.expect("rate").rate, dec!(1.0808));

    let same = market.fx("USD", "USD", None).await;
    assert_eq!(same.value.expect("identity").rate, Decimal::ONE);

    let search = market.search("apple").await;
    assert_eq!(
        outcomes(&search.attempts),
        [pair("tiingo", "not found"), pair("yahoo", "ok")]
    );
    assert_eq!(
        search.value.expect("results")[0].asset_id,
        "EQUITY:XNAS:AAPL"
    );
}

#[tokio::test]
async fn unknown_priority_names_and_bad_jump_factors_are_config_errors() {
    let mut config = tributary_connectors::MarketDataConfig::default();
    config.priority.crypto = vec!["coingecko".into(), "binance".into()];
    assert!(matches!(
        MarketData::new(config),
        Err(ConnectorError::InvalidConfig { field, .. }) if field == "priority.crypto"
    ));
    let config = tributary_connectors::MarketDataConfig {
        max_jump_factor: dec!(1),
        ..Default::default()
    };
    assert!(matches!(
        MarketData::new(config),
        Err(ConnectorError::InvalidConfig { field, .. }) if field == "max_jump_factor"
    ));
    let mut config = tributary_connectors::MarketDataConfig::default();
    config.yahoo.base_url = "not a url".into();
    assert!(MarketData::new(config).is_err());
}

#[tokio::test]
async fn default_config_reports_keyless_providers_as_disabled() {
    let market =
        MarketData::new(tributary_connectors::MarketDataConfig::default()).expect("market");
    let statuses = market.statuses();
    let enabled: Vec<(&str, bool)> = statuses
        .iter()
        .map(|s| (s.name.as_str(), s.enabled))
        .collect();
    assert_eq!(
        enabled,
        [
            ("tiingo", false),
            ("yahoo", true),
            ("alpha_vantage", false),
            ("coingecko", true)
        ]
    );
    let tiingo = &statuses[0];
    assert_eq!(
        (tiingo.limit, tiingo.window.as_deref()),
        (Some(1000), Some("day"))
    );
    assert_eq!(tiingo.circuit, CircuitState::Closed);
}

/// A provider that answers every quote after a fixed latency, counting concurrency.
struct SlowFake {
    latency: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

#[async_trait]
impl MarketDataProvider for SlowFake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn supports(&self, class: PriceClass) -> bool {
        class == PriceClass::Equity
    }
    fn availability(&self) -> ProviderAvailability {
        ProviderAvailability::Ready
    }
    fn status(&self) -> ProviderStatus {
        ProviderStatus {
            name: "fake".into(),
            enabled: true,
            disabled_reason: None,
            healthy: true,
            circuit: CircuitState::Closed,
            used: 0,
            limit: None,
            window: None,
            windows: Vec::new(),
            last_error: None,
            last_error_at: None,
        }
    }
    fn max_concurrency(&self) -> usize {
        16
    }
    async fn quote(&self, instrument: &Instrument) -> Result<Option<Quote>, ConnectorError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(Some(Quote {
            asset_id: instrument.asset_id.clone(),
            symbol: instrument.symbol.clone(),
            price: dec!(10),
            currency: "USD".into(),
            as_of: Utc
                .with_ymd_and_hms(2026, 1, 2, 21, 0, 0)
                .single()
                .unwrap_or_default(),
            source: "fake".into(),
        }))
    }
    async fn history(
        &self,
        _: &Instrument,
        _: NaiveDate,
        _: NaiveDate,
    ) -> Result<Option<PriceHistory>, ConnectorError> {
        Ok(None)
    }
    async fn fx(
        &self,
        _: &str,
        _: &str,
        _: Option<NaiveDate>,
    ) -> Result<Option<FxRate>, ConnectorError> {
        Ok(None)
    }
    async fn search(&self, _: &str) -> Result<Vec<SearchResult>, ConnectorError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn a_cold_batch_of_200_runs_with_bounded_concurrency_not_serially() {
    let fake = Arc::new(SlowFake {
        latency: Duration::from_millis(20),
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let priority = Priority {
        equity: vec!["fake".into()],
        crypto: Vec::new(),
        fx: Vec::new(),
    };
    let market = MarketData::from_providers(vec![fake.clone()], priority, dec!(5), taxonomy())
        .expect("market");
    let requests: Vec<QuoteRequest> = (0..200)
        .map(|i| {
            market
                .resolve(&format!("T{i}"), None)
                .expect("symbol")
                .into()
        })
        .collect();
    let started = Instant::now();
    let outcomes = market.quotes(&requests).await;
    let elapsed = started.elapsed();
    assert!(outcomes.iter().all(|o| o.value.is_some()));
    // 200 x 20 ms serially would be 4 s; 16 at a time is ~250 ms.
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(fake.peak.load(Ordering::SeqCst), 16);
}

#[tokio::test]
async fn the_chain_is_shareable_and_its_futures_can_be_spawned() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let market = Arc::new(
        MarketData::new(tributary_connectors::MarketDataConfig::default()).expect("market"),
    );
    assert_send_sync(&market);
    let disabled_only = Priority {
        equity: vec!["alpha_vantage".into()],
        crypto: Vec::new(),
        fx: Vec::new(),
    };
    let config = tributary_connectors::MarketDataConfig {
        priority: disabled_only,
        ..Default::default()
    };
    let market = Arc::new(MarketData::new(config).expect("market"));
    let task = {
        let market = market.clone();
        tokio::spawn(async move {
            let ibm = market.resolve("IBM", None).expect("symbol");
            market.quotes(&[ibm.into()]).await
        })
    };
    let outcomes = task.await.expect("joined");
    // Alpha Vantage has no key: skipped, nothing asked over the network.
    assert!(matches!(
        outcomes[0].attempts[0].outcome,
        AttemptOutcome::Disabled { .. }
    ));
    assert!(outcomes[0].value.is_none());
}
