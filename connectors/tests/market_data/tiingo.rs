use chrono::NaiveDate;
use rust_decimal_macros::dec;
use tributary_connectors::market::{MarketDataProvider, ProviderAvailability, ProviderConfig};
use tributary_connectors::providers::TiingoProvider;
use tributary_connectors::types::AssetClass;
use tributary_connectors::{ConnectorError, Instrument};
use wiremock::matchers::query_param;
use wiremock::{MockServer, ResponseTemplate};

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[tokio::test]
async fn eod_history_is_parsed_into_exact_decimal_bars() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/daily/aapl/prices")
        .and(query_param("startDate", "2019-01-02"))
        .and(query_param("endDate", "2019-01-04"))
        .respond_with(json("tiingo/eod_aapl.json"))
        .expect(1)
        .mount(&server)
        .await;
    let history = tiingo(&server)
        .history(&instrument("AAPL"), date(2019, 1, 2), date(2019, 1, 4))
        .await
        .expect("history")
        .expect("known ticker");
    assert_eq!(history.asset_id, "EQUITY:XNAS:AAPL");
    assert_eq!(history.currency, "USD");
    assert_eq!(history.source, "tiingo");
    assert_eq!(history.bars.len(), 3);
    let first = &history.bars[0];
    assert_eq!(first.date, date(2019, 1, 2));
    assert_eq!(first.close, dec!(157.92));
    assert_eq!(first.open, Some(dec!(154.89)));
    assert_eq!(first.adj_close, Some(dec!(153.6345280691)));
    assert_eq!(first.volume, Some(dec!(37039737)));
    assert!(history.bars.windows(2).all(|w| w[0].date < w[1].date));
}

#[tokio::test]
async fn iex_prices_many_tickers_in_one_request() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .and(query_param("tickers", "aapl,msft,nope"))
        .respond_with(json("tiingo/iex_batch.json"))
        .expect(1)
        .mount(&server)
        .await;
    let instruments: Vec<Instrument> = ["AAPL", "MSFT", "NOPE"].map(instrument).into();
    let results = tiingo(&server).quotes(&instruments).await;
    let aapl = results[0].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!(aapl.price, dec!(162.13));
    assert_eq!(aapl.currency, "USD");
    assert_eq!(
        aapl.as_of.to_rfc3339(),
        "2019-01-30T15:33:38.186520297+00:00"
    );
    // Outside market hours `last` is null: Tiingo's reference price is used.
    let msft = results[1].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!(msft.price, dec!(106.38));
    assert!(matches!(results[2], Ok(None)));
}

#[tokio::test]
async fn crypto_and_fx_quotes_use_their_batch_endpoints() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/crypto/prices")
        .and(query_param("tickers", "btcusd,ethusd"))
        .respond_with(json("tiingo/crypto_prices_latest.json"))
        .expect(1)
        .mount(&server)
        .await;
    tiingo_get("/tiingo/fx/top")
        .and(query_param("tickers", "eurusd"))
        .respond_with(json("tiingo/fx_top.json"))
        .expect(1)
        .mount(&server)
        .await;
    let instruments: Vec<Instrument> = ["BTC", "ETH", "EURUSD"].map(instrument).into();
    let results = tiingo(&server).quotes(&instruments).await;
    let btc = results[0].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!((btc.price, btc.currency.as_str()), (dec!(67187.33), "USD"));
    assert_eq!(btc.asset_id, "CRYPTO:BTC");
    let eth = results[1].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!(eth.price, dec!(3505.42));
    let eur = results[2].as_ref().expect("ok").as_ref().expect("priced");
    assert_eq!((eur.price, eur.currency.as_str()), (dec!(1.0825), "USD"));
    assert_eq!(eur.asset_id, "FX:EUR");
}

#[tokio::test]
async fn a_historical_fx_rate_is_the_close_on_or_before_the_date() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/fx/eurusd/prices")
        .and(query_param("resampleFreq", "1day"))
        .respond_with(json("tiingo/fx_prices_eurusd.json"))
        .mount(&server)
        .await;
    // Saturday: Friday's close.
    let rate = tiingo(&server)
        .fx("EUR", "USD", Some(date(2024, 3, 23)))
        .await
        .expect("fx")
        .expect("rate");
    assert_eq!(rate.rate, dec!(1.0808));
    assert_eq!(rate.date, date(2024, 3, 22));
    assert_eq!((rate.base.as_str(), rate.quote.as_str()), ("EUR", "USD"));
}

#[tokio::test]
async fn search_maps_asset_types_and_skips_inactive_tickers() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/utilities/search")
        .and(query_param("query", "apple"))
        .respond_with(json("tiingo/search_apple.json"))
        .mount(&server)
        .await;
    let results = tiingo(&server).search("apple").await.expect("search");
    let ids: Vec<&str> = results.iter().map(|r| r.asset_id.as_str()).collect();
    assert_eq!(ids, ["EQUITY:XNAS:AAPL", "EQUITY:APLE", "EQUITY:APLX"]);
    assert_eq!(results[0].name, "Apple Inc");
    assert_eq!(results[0].exchange.as_deref(), Some("XNAS"));
    assert_eq!(results[2].asset_class, AssetClass::Etf);
}

#[tokio::test]
async fn daily_fundamentals_are_parsed() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/fundamentals/aapl/daily")
        .respond_with(json("tiingo/fundamentals_daily_aapl.json"))
        .mount(&server)
        .await;
    let rows = tiingo(&server)
        .daily_fundamentals(&instrument("AAPL"), date(2024, 3, 21), date(2024, 3, 22))
        .await
        .expect("fundamentals")
        .expect("known");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].market_cap, Some(dec!(2645315630000)));
    assert_eq!(rows[0].pe_ratio, Some(dec!(26.8315)));
    assert_eq!(rows[1].trailing_peg_1y, None);
}

#[tokio::test]
async fn an_unknown_ticker_is_none_not_an_error() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/daily/nope/prices")
        .respond_with(json_status(404, "tiingo/not_found.json"))
        .mount(&server)
        .await;
    let history = tiingo(&server)
        .history(&instrument("NOPE"), date(2024, 1, 1), date(2024, 1, 31))
        .await
        .expect("a 404 is not an error");
    assert!(history.is_none());
    // A 404 is not a provider fault and not worth an operator's attention.
    assert_eq!(tiingo(&server).status().last_error, None);
}

#[tokio::test]
async fn without_a_key_tiingo_is_disabled_and_makes_no_request() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    let config = fast(ProviderConfig::tiingo(), &server);
    let provider = TiingoProvider::new(&config, taxonomy(), clock()).expect("built");
    assert_eq!(
        provider.availability(),
        ProviderAvailability::Disabled {
            reason: "no API key configured".into()
        }
    );
    let status = provider.status();
    assert!(!status.enabled && !status.healthy);
    assert!(matches!(
        provider.quote(&instrument("AAPL")).await,
        Err(ConnectorError::NotSupported(_))
    ));
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn a_wrong_key_is_rejected_as_authentication() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(json("tiingo/iex_batch.json"))
        .mount(&server)
        .await;
    let config = tiingo_config(&server).with_api_key("wrong-key");
    let provider = TiingoProvider::new(&config, taxonomy(), clock()).expect("built");
    let err = provider.quote(&instrument("AAPL")).await.expect_err("401");
    assert!(matches!(err, ConnectorError::Authentication(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-key"));
    let status = provider.status();
    assert!(!status.healthy);
    assert!(status.last_error.is_some_and(|e| e.contains("401")));
    // Final, not retried.
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn a_bad_body_is_a_decode_error() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"detail": "unexpected"}"#, "application/json"),
        )
        .mount(&server)
        .await;
    let err = tiingo(&server)
        .quote(&instrument("AAPL"))
        .await
        .expect_err("an object where a list belongs");
    assert!(matches!(err, ConnectorError::Decode(_)), "{err:?}");
}
