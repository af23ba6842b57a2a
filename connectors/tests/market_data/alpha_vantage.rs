use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal_macros::dec;
use tributary_connectors::ConnectorError;
use tributary_connectors::market::{MarketDataProvider, ProviderAvailability};
use tributary_connectors::providers::AlphaVantageProvider;
use wiremock::MockServer;
use wiremock::matchers::query_param;

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[tokio::test]
async fn global_quote_is_parsed_from_its_strings() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("GLOBAL_QUOTE")
        .and(query_param("symbol", "IBM"))
        .respond_with(json("alpha_vantage/global_quote_ibm.json"))
        .mount(&server)
        .await;
    let quote = alpha_vantage(&server)
        .quote(&instrument("IBM"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!(quote.price, dec!(184.6700));
    assert_eq!(quote.currency, "USD");
    assert_eq!(quote.as_of.date_naive(), date(2024, 3, 22));
    assert_eq!(quote.asset_id, "EQUITY:XNYS:IBM");
}

#[tokio::test]
async fn london_listings_use_the_lon_suffix_and_pence_become_pounds() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("GLOBAL_QUOTE")
        .and(query_param("symbol", "TSCO.LON"))
        .respond_with(json("alpha_vantage/global_quote_tsco_lon.json"))
        .mount(&server)
        .await;
    let quote = alpha_vantage(&server)
        .quote(&instrument("TSCO.L"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!((quote.price, quote.currency.as_str()), (dec!(2.925), "GBP"));
}

#[tokio::test]
async fn an_empty_global_quote_is_none() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("GLOBAL_QUOTE")
        .respond_with(json("alpha_vantage/global_quote_empty.json"))
        .mount(&server)
        .await;
    let quote = alpha_vantage(&server)
        .quote(&instrument("NOPE"))
        .await
        .expect("ok");
    assert!(quote.is_none());
}

#[tokio::test]
async fn daily_series_is_filtered_to_the_range_and_sorted() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("TIME_SERIES_DAILY")
        .and(query_param("symbol", "IBM"))
        .respond_with(json("alpha_vantage/time_series_daily_ibm.json"))
        .mount(&server)
        .await;
    let history = alpha_vantage(&server)
        .history(&instrument("IBM"), date(2024, 3, 21), date(2024, 3, 22))
        .await
        .expect("history")
        .expect("known");
    let closes: Vec<_> = history.bars.iter().map(|b| (b.date, b.close)).collect();
    assert_eq!(
        closes,
        [
            (date(2024, 3, 21), dec!(181.8600)),
            (date(2024, 3, 22), dec!(184.6700))
        ]
    );
    assert_eq!(history.bars[0].volume, Some(dec!(12354632)));
}

#[tokio::test]
async fn symbol_search_and_exchange_rate() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("SYMBOL_SEARCH")
        .and(query_param("keywords", "tesco"))
        .respond_with(json("alpha_vantage/symbol_search_tesco.json"))
        .mount(&server)
        .await;
    av_get("CURRENCY_EXCHANGE_RATE")
        .and(query_param("from_currency", "EUR"))
        .and(query_param("to_currency", "USD"))
        .respond_with(json("alpha_vantage/currency_exchange_rate_eur_usd.json"))
        .mount(&server)
        .await;
    let provider = alpha_vantage(&server);
    let results = provider.search("tesco").await.expect("search");
    assert_eq!(results[0].asset_id, "EQUITY:XLON:TSCO");
    assert_eq!(results[0].currency.as_deref(), Some("GBP"));
    assert_eq!(results[1].asset_id, "EQUITY:TSCDF");
    let rate = provider
        .fx("EUR", "USD", None)
        .await
        .expect("fx")
        .expect("rate");
    assert_eq!(
        (rate.rate, rate.date),
        (dec!(1.08270000), date(2024, 3, 25))
    );
}

#[tokio::test]
async fn a_note_is_a_rate_limit_never_data_and_stops_further_calls() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("GLOBAL_QUOTE")
        .respond_with(json("alpha_vantage/note_rate_limit.json"))
        .expect(1)
        .mount(&server)
        .await;
    let provider = alpha_vantage(&server);
    let err = provider
        .quote(&instrument("IBM"))
        .await
        .expect_err("a note");
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    // The provider said to wait a minute: the limiter holds further calls back.
    assert!(matches!(
        provider.availability(),
        ProviderAvailability::RateLimited { .. }
    ));
    let again = provider.quote(&instrument("IBM")).await;
    assert!(matches!(again, Err(ConnectorError::RateLimited { .. })));
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn the_daily_limit_information_is_a_rate_limit_until_midnight() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("TIME_SERIES_DAILY")
        .respond_with(json("alpha_vantage/information_daily_limit.json"))
        .mount(&server)
        .await;
    let err = alpha_vantage(&server)
        .history(&instrument("IBM"), date(2024, 3, 1), date(2024, 3, 22))
        .await
        .expect_err("daily limit");
    let ConnectorError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("expected RateLimited, got {err:?}");
    };
    assert!(wait <= Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn a_wrong_key_gets_the_error_message_and_is_authentication() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("GLOBAL_QUOTE")
        .respond_with(json("alpha_vantage/global_quote_ibm.json"))
        .mount(&server)
        .await;
    let config = alpha_vantage_config(&server).with_api_key("not-the-key");
    let provider = AlphaVantageProvider::new(&config, taxonomy(), clock()).expect("built");
    let err = provider
        .quote(&instrument("IBM"))
        .await
        .expect_err("rejected");
    assert!(matches!(err, ConnectorError::Authentication(_)), "{err:?}");
    assert!(!err.to_string().contains("not-the-key"));
}

#[tokio::test]
async fn an_invalid_call_error_message_is_none() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    av_get("TIME_SERIES_DAILY")
        .respond_with(json("alpha_vantage/error_invalid_call.json"))
        .mount(&server)
        .await;
    let history = alpha_vantage(&server)
        .history(&instrument("NOPE"), date(2024, 3, 1), date(2024, 3, 22))
        .await
        .expect("unknown symbol is not an error");
    assert!(history.is_none());
}

#[tokio::test]
async fn without_a_key_alpha_vantage_is_disabled() {
    let server = MockServer::start().await;
    let mut config = alpha_vantage_config(&server);
    config.api_key = None;
    let provider = AlphaVantageProvider::new(&config, taxonomy(), clock()).expect("built");
    assert!(matches!(
        provider.availability(),
        ProviderAvailability::Disabled { .. }
    ));
    assert!(!provider.status().enabled);
}
