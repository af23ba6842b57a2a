use chrono::NaiveDate;
use rust_decimal_macros::dec;
use tributary_connectors::market::MarketDataProvider;
use tributary_connectors::types::AssetClass;
use wiremock::MockServer;
use wiremock::matchers::query_param;

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

#[tokio::test]
async fn the_chart_gives_the_latest_price_currency_and_time() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/AAPL")
        .and(query_param("range", "5d"))
        .and(query_param("interval", "1d"))
        .respond_with(json("yahoo/chart_aapl_quote.json"))
        .expect(1)
        .mount(&server)
        .await;
    let quote = yahoo(&server)
        .quote(&instrument("AAPL"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!(quote.price, dec!(170.85));
    assert_eq!(quote.currency, "USD");
    assert_eq!(quote.as_of.to_rfc3339(), "2024-03-25T20:00:00+00:00");
    assert_eq!(quote.source, "yahoo");
}

#[tokio::test]
async fn london_prices_in_pence_become_pounds() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/VOD.L")
        .respond_with(json("yahoo/chart_vod_l.json"))
        .mount(&server)
        .await;
    let quote = yahoo(&server)
        .quote(&instrument("VOD.LON"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!(
        (quote.price, quote.currency.as_str()),
        (dec!(0.7052), "GBP")
    );
    assert_eq!(quote.asset_id, "EQUITY:XLON:VOD");
}

#[tokio::test]
async fn history_skips_null_days_and_dates_bars_in_exchange_time() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/AAPL")
        .and(query_param("period1", "1546387200"))
        .and(query_param("period2", "1546992000"))
        .respond_with(json("yahoo/chart_aapl_history.json"))
        .mount(&server)
        .await;
    let history = yahoo(&server)
        .history(&instrument("AAPL"), date(2019, 1, 2), date(2019, 1, 8))
        .await
        .expect("history")
        .expect("known");
    let dates: Vec<NaiveDate> = history.bars.iter().map(|b| b.date).collect();
    assert_eq!(
        dates,
        [date(2019, 1, 2), date(2019, 1, 3), date(2019, 1, 4)]
    );
    // Vendor floats are read through their text, once: no further rounding.
    assert_eq!(history.bars[0].close, dec!(157.9199981689453));
    assert_eq!(history.bars[1].low, Some(dec!(142)));
    assert_eq!(history.bars[0].adj_close, Some(dec!(37.88)));
}

#[tokio::test]
async fn fx_latest_and_on_a_date() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/EURUSD=X")
        .respond_with(json("yahoo/chart_eurusd.json"))
        .mount(&server)
        .await;
    let provider = yahoo(&server);
    let latest = provider
        .fx("EUR", "USD", None)
        .await
        .expect("fx")
        .expect("rate");
    assert_eq!(
        (latest.rate, latest.date),
        (dec!(1.0824), date(2024, 3, 25))
    );
    let saturday = provider
        .fx("EUR", "USD", Some(date(2024, 3, 23)))
        .await
        .expect("fx")
        .expect("rate");
    assert_eq!(
        (saturday.rate, saturday.date),
        (dec!(1.0808), date(2024, 3, 22))
    );
    let quote = provider
        .quote(&instrument("EURUSD=X"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!(
        (quote.asset_id.as_str(), quote.price),
        ("FX:EUR", dec!(1.0824))
    );
}

#[tokio::test]
async fn crypto_uses_the_dash_pair() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/BTC-USD")
        .respond_with(json("yahoo/chart_btc_usd.json"))
        .mount(&server)
        .await;
    let quote = yahoo(&server)
        .quote(&instrument("XXBTZUSD"))
        .await
        .expect("quote")
        .expect("priced");
    assert_eq!(
        (quote.asset_id.as_str(), quote.price),
        ("CRYPTO:BTC", dec!(67212.5))
    );
}

#[tokio::test]
async fn an_unknown_symbol_is_none() {
    let server = MockServer::start().await;
    yahoo_get("/v8/finance/chart/NOPE")
        .respond_with(json_status(404, "yahoo/chart_not_found.json"))
        .mount(&server)
        .await;
    let quote = yahoo(&server)
        .quote(&instrument("NOPE"))
        .await
        .expect("not an error");
    assert!(quote.is_none());
}

#[tokio::test]
async fn search_results_get_mics_and_asset_ids() {
    let server = MockServer::start().await;
    yahoo_get("/v1/finance/search")
        .and(query_param("q", "apple"))
        .respond_with(json("yahoo/search_apple.json"))
        .mount(&server)
        .await;
    let results = yahoo(&server).search("apple").await.expect("search");
    let ids: Vec<&str> = results.iter().map(|r| r.asset_id.as_str()).collect();
    // The index (^GSPC) is left out; APLE's exchange comes from Yahoo's code NYQ.
    assert_eq!(
        ids,
        ["EQUITY:XNAS:AAPL", "EQUITY:XETR:APC", "EQUITY:XNYS:APLE"]
    );
    assert_eq!(results[1].currency.as_deref(), Some("EUR"));
    assert_eq!(results[0].asset_class, AssetClass::Equity);
    assert_eq!(results[0].name, "Apple Inc.");
}
