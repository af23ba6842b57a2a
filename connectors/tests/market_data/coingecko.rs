use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal_macros::dec;
use std::sync::Arc;
use tributary_connectors::ConnectorError;
use tributary_connectors::http::ManualClock;
use tributary_connectors::market::{MarketDataProvider, ProviderConfig};
use tributary_connectors::providers::CoinGeckoProvider;
use wiremock::MockServer;
use wiremock::matchers::query_param;

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[tokio::test]
async fn simple_price_prices_many_coins_in_one_request() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/simple/price")
        .and(query_param("ids", "bitcoin,ethereum"))
        .and(query_param("vs_currencies", "usd"))
        .and(query_param("include_last_updated_at", "true"))
        .respond_with(json("coingecko/simple_price.json"))
        .expect(1)
        .mount(&server)
        .await;
    let results = coingecko(&server)
        .quotes(&[instrument("BTC"), instrument("ETH/USDT")])
        .await;
    let btc = results[0].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!((btc.price, btc.currency.as_str()), (dec!(67187.33), "USD"));
    assert_eq!(btc.as_of.timestamp(), 1_711_356_300);
    let eth = results[1].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!(
        (eth.asset_id.as_str(), eth.price),
        ("CRYPTO:ETH", dec!(3505.42))
    );
    // Known ids come from the taxonomy: no coins/list request.
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_shared_symbol_resolves_to_the_largest_market_cap_and_the_list_is_fetched_once() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/coins/list")
        .respond_with(json("coingecko/coins_list.json"))
        .expect(1)
        .mount(&server)
        .await;
    cg_get("/api/v3/coins/markets")
        .and(query_param("ids", "pepe,pepe-token,based-pepe"))
        .and(query_param("vs_currency", "usd"))
        .respond_with(json("coingecko/coins_markets_pepe.json"))
        .expect(1)
        .mount(&server)
        .await;
    cg_get("/api/v3/simple/price")
        .and(query_param("ids", "pepe"))
        .respond_with(json("coingecko/simple_price_pepe.json"))
        .expect(2)
        .mount(&server)
        .await;
    let provider = coingecko(&server);
    let pepe = tributary_connectors::normalize::Taxonomy::builtin()
        .expect("taxonomy")
        .resolve(
            "PEPE",
            Some(tributary_connectors::types::AssetClass::Crypto),
        )
        .expect("symbol");
    for _ in 0..2 {
        let quote = provider.quote(&pepe).await.expect("quote").expect("priced");
        // 7.71e-06 arrives in scientific notation and is read exactly.
        assert_eq!(quote.price, dec!(0.00000771));
    }
}

#[tokio::test]
async fn the_operator_mapping_wins_over_the_market_cap() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/simple/price")
        .and(query_param("ids", "pepe-token"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            r#"{"pepe-token":{"usd":0.0000012,"last_updated_at":1711356300}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mapping = BTreeMap::from([("pepe".to_owned(), "pepe-token".to_owned())]);
    let provider = CoinGeckoProvider::new(&coingecko_config(&server), mapping, taxonomy(), clock())
        .expect("built");
    let pepe = taxonomy()
        .resolve(
            "PEPE",
            Some(tributary_connectors::types::AssetClass::Crypto),
        )
        .expect("symbol");
    let quote = provider.quote(&pepe).await.expect("quote").expect("priced");
    assert_eq!(quote.price, dec!(0.0000012));
}

#[tokio::test]
async fn market_chart_gives_daily_closes_with_volumes() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/coins/bitcoin/market_chart")
        .and(query_param("vs_currency", "usd"))
        .and(query_param("days", "3"))
        .and(query_param("interval", "daily"))
        .respond_with(json("coingecko/market_chart_bitcoin.json"))
        .mount(&server)
        .await;
    let now = Utc
        .with_ymd_and_hms(2024, 3, 25, 9, 0, 0)
        .single()
        .expect("time");
    let provider = CoinGeckoProvider::new(
        &coingecko_config(&server),
        BTreeMap::new(),
        taxonomy(),
        Arc::new(ManualClock::new(now)),
    )
    .expect("built");
    let history = provider
        .history(&instrument("BTC"), date(2024, 3, 23), date(2024, 3, 25))
        .await
        .expect("history")
        .expect("known");
    let closes: Vec<_> = history.bars.iter().map(|b| (b.date, b.close)).collect();
    // The 25th has a midnight point and a live one: the later wins.
    assert_eq!(
        closes,
        [
            (date(2024, 3, 23), dec!(63778.7612)),
            (date(2024, 3, 24), dec!(64037.2734)),
            (date(2024, 3, 25), dec!(67187.33)),
        ]
    );
    assert_eq!(history.bars[0].volume, Some(dec!(24521000000.3)));
    assert_eq!(history.bars[0].open, None);
}

#[tokio::test]
async fn a_wrong_demo_key_is_authentication() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/simple/price")
        .respond_with(json("coingecko/simple_price.json"))
        .mount(&server)
        .await;
    let config = coingecko_config(&server).with_api_key("bad");
    let provider =
        CoinGeckoProvider::new(&config, BTreeMap::new(), taxonomy(), clock()).expect("built");
    let err = provider
        .quote(&instrument("BTC"))
        .await
        .expect_err("rejected");
    assert!(matches!(err, ConnectorError::Authentication(_)), "{err:?}");
}

#[tokio::test]
async fn without_a_key_the_public_api_is_used() {
    let server = MockServer::start().await;
    // The public API takes no key header at all.
    wiremock::Mock::given(wiremock::matchers::path("/api/v3/simple/price"))
        .respond_with(json("coingecko/simple_price.json"))
        .mount(&server)
        .await;
    let config = fast(ProviderConfig::coingecko(), &server);
    let provider =
        CoinGeckoProvider::new(&config, BTreeMap::new(), taxonomy(), clock()).expect("built");
    assert!(provider.status().enabled);
    let quote = provider.quote(&instrument("BTC")).await.expect("quote");
    assert!(quote.is_some());
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(requests[0].headers.get("x-cg-demo-api-key").is_none());
}

#[tokio::test]
async fn a_429_is_rate_limited_and_fiat_fx_is_not_supported() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/simple/price")
        .respond_with(
            json_status(429, "coingecko/error_rate_limited.json")
                .insert_header("retry-after", "60"),
        )
        .mount(&server)
        .await;
    let provider = coingecko(&server);
    let err = provider.quote(&instrument("BTC")).await.expect_err("429");
    assert!(
        matches!(
            err,
            ConnectorError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        provider.fx("EUR", "USD", None).await,
        Err(ConnectorError::NotSupported(_))
    ));
}

#[tokio::test]
async fn search_finds_coins_by_symbol_and_name() {
    let server = MockServer::start().await;
    guard_coingecko(&server).await;
    cg_get("/api/v3/coins/list")
        .respond_with(json("coingecko/coins_list.json"))
        .mount(&server)
        .await;
    let results = coingecko(&server).search("bitcoin").await.expect("search");
    let ids: Vec<&str> = results.iter().map(|r| r.asset_id.as_str()).collect();
    assert_eq!(ids, ["CRYPTO:BTC", "CRYPTO:BITCOIN"]);
}
