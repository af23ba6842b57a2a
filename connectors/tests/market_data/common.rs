//! Shared helpers: fixtures, fast provider configs, key-enforcing mock guards.

use std::sync::Arc;
use std::time::Duration;

use tributary_connectors::Instrument;
use tributary_connectors::http::{CircuitConfig, Clock, RateLimits, RetryPolicy, SystemClock};
use tributary_connectors::market::{CacheTtls, MarketDataConfig, ProviderConfig};
use tributary_connectors::normalize::Taxonomy;
use tributary_connectors::providers::{
    AlphaVantageProvider, CoinGeckoProvider, TiingoProvider, YahooProvider,
};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const TIINGO_KEY: &str = "tiingo-test-key";
pub const AV_KEY: &str = "av-test-key";
pub const CG_KEY: &str = "cg-test-key";

pub fn fixture(name: &str) -> String {
    let file = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// HTTP 200 with a fixture as JSON body.
pub fn json(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

/// A JSON body with any status.
pub fn json_status(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

/// Real defaults, pointed at the mock, with tiny retry delays, no limits and no cache.
pub fn fast(config: ProviderConfig, server: &MockServer) -> ProviderConfig {
    ProviderConfig {
        base_url: server.uri(),
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        rate_limits: RateLimits::unlimited(),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(2),
        },
        circuit: CircuitConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        },
        cache: CacheTtls::disabled(),
        ..config
    }
}

pub fn taxonomy() -> Arc<Taxonomy> {
    Arc::new(Taxonomy::builtin().expect("built-in taxonomy"))
}

pub fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

pub fn instrument(symbol: &str) -> Instrument {
    taxonomy().resolve(symbol, None).expect("symbol")
}

pub fn tiingo_config(server: &MockServer) -> ProviderConfig {
    fast(ProviderConfig::tiingo(), server).with_api_key(TIINGO_KEY)
}

pub fn yahoo_config(server: &MockServer) -> ProviderConfig {
    fast(ProviderConfig::yahoo(), server)
}

pub fn alpha_vantage_config(server: &MockServer) -> ProviderConfig {
    fast(ProviderConfig::alpha_vantage(), server).with_api_key(AV_KEY)
}

pub fn coingecko_config(server: &MockServer) -> ProviderConfig {
    fast(ProviderConfig::coingecko(), server).with_api_key(CG_KEY)
}

pub fn tiingo(server: &MockServer) -> TiingoProvider {
    TiingoProvider::new(&tiingo_config(server), taxonomy(), clock()).expect("tiingo")
}

pub fn yahoo(server: &MockServer) -> YahooProvider {
    YahooProvider::new(&yahoo_config(server), taxonomy(), clock()).expect("yahoo")
}

pub fn alpha_vantage(server: &MockServer) -> AlphaVantageProvider {
    AlphaVantageProvider::new(&alpha_vantage_config(server), taxonomy(), clock())
        .expect("alpha vantage")
}

pub fn coingecko(server: &MockServer) -> CoinGeckoProvider {
    CoinGeckoProvider::new(
        &coingecko_config(server),
        Default::default(),
        taxonomy(),
        clock(),
    )
    .expect("coingecko")
}

/// Every provider pointed at one mock server (their paths do not overlap).
pub fn market_config(server: &MockServer) -> MarketDataConfig {
    MarketDataConfig {
        tiingo: tiingo_config(server),
        yahoo: yahoo_config(server),
        alpha_vantage: alpha_vantage_config(server),
        coingecko: coingecko_config(server),
        ..MarketDataConfig::default()
    }
}

/// Tiingo rejects a missing or wrong token with 401.
pub async fn guard_tiingo(server: &MockServer) {
    Mock::given(path_regex("^/(tiingo|iex)/"))
        .respond_with(json_status(401, "tiingo/invalid_token.json"))
        .with_priority(100)
        .mount(server)
        .await;
}

/// A Tiingo GET that only matches with the right `Authorization: Token` header.
pub fn tiingo_get(p: &str) -> MockBuilder {
    Mock::given(method("GET")).and(path(p)).and(header(
        "authorization",
        format!("Token {TIINGO_KEY}").as_str(),
    ))
}

/// Alpha Vantage answers a missing or wrong key with HTTP 200 and an `Error Message`.
pub async fn guard_alpha_vantage(server: &MockServer) {
    Mock::given(path("/query"))
        .respond_with(json("alpha_vantage/error_apikey.json"))
        .with_priority(100)
        .mount(server)
        .await;
}

/// An Alpha Vantage call that only matches with the right `apikey`.
pub fn av_get(function: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/query"))
        .and(query_param("function", function))
        .and(query_param("apikey", AV_KEY))
}

/// CoinGecko rejects a wrong demo key with 401.
pub async fn guard_coingecko(server: &MockServer) {
    Mock::given(path_regex("^/api/v3/"))
        .respond_with(json_status(401, "coingecko/error_invalid_key.json"))
        .with_priority(100)
        .mount(server)
        .await;
}

/// A CoinGecko GET that only matches with the demo key header.
pub fn cg_get(p: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("x-cg-demo-api-key", CG_KEY))
}

/// A Yahoo GET (no key).
pub fn yahoo_get(p: &str) -> MockBuilder {
    Mock::given(method("GET")).and(path(p))
}

pub async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}
