//! Valuation: holdings gain market values from stored quotes; the portfolio summary converts
//! into the user's base currency with stored (or fetched, then stored) FX rates, and covers
//! only the caller's accounts.

use serde_json::json;
use tributary_tests::TestUser;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

use crate::market_mocks::*;

#[tokio::test]
async fn the_summary_values_eur_and_usd_holdings_in_a_usd_base_currency() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(body(TIINGO_IEX))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(body(YAHOO_EURUSD))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, true, &[]).await;
    let user = user_with_base(&app, "USD").await;
    let t = &user.access_token;
    let eu = account(&app, t, "EU broker", "EUR").await;
    let us = account(&app, t, "US broker", "USD").await;
    seed_holding(&app, &eu, &SAP, "10", Some("1500"), None).await;
    seed_quote(&app, &SAP, "200", "yahoo").await;
    seed_holding(&app, &us, &AAPL, "2", Some("300"), None).await;
    seed_holding(&app, &us, &CASH_USD, "100", None, None).await;
    // AAPL is priced through the chain (Tiingo IEX: 162.13) and stored.
    let q = app.get("/api/quotes?symbols=AAPL", t).await;
    assert_eq!(q.body["items"][0]["price"], "162.13", "{}", q.text);

    // Holdings before any FX rate is stored: the EUR value has no USD value yet.
    let h = app.get(&format!("/api/accounts/{eu}/holdings"), t).await;
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.body[0]["market_price"], "200");
    assert_eq!(h.body[0]["market_value"], "2000");
    assert_eq!(h.body[0]["price_source"], "yahoo");
    assert!(h.body[0]["value_in_base_currency"].is_null(), "{}", h.text);
    assert_eq!(
        server_fx_requests(&server).await,
        0,
        "no network on the read path"
    );

    // The summary fetches the missing EUR/USD rate once and stores it.
    let s = app.get("/api/portfolio/summary", t).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let b = &s.body;
    assert_eq!(b["base_currency"], "USD");
    // 10 × 200 EUR × 1.0824 = 2164.8; 2 × 162.13 = 324.26; cash 100.
    assert_eq!(b["total_market_value"], "2589.06", "{b}");
    assert_eq!(b["holdings_count"], 3);
    // Cost: 1500 EUR at the same rate = 1623.6, plus 300 USD.
    assert_eq!(b["total_cost_basis"], "1923.6", "{b}");
    assert_eq!(b["unrealized_pnl"], "565.46", "{b}");
    let by_account = b["by_account"].as_array().expect("accounts");
    let eu_row = by_account
        .iter()
        .find(|a| a["account_id"] == eu.as_str())
        .expect("eu");
    assert_eq!(eu_row["market_value"], "2164.8");
    assert_eq!(eu_row["unrealized_pnl"], "541.2");
    let us_row = by_account
        .iter()
        .find(|a| a["account_id"] == us.as_str())
        .expect("us");
    assert_eq!(us_row["market_value"], "424.26");
    let class = |c: &str| {
        b["by_asset_class"]
            .as_array()
            .expect("classes")
            .iter()
            .find(|x| x["asset_class"] == c)
            .cloned()
            .expect("class")
    };
    assert_eq!(class("equity")["market_value"], "2489.06");
    assert_eq!(class("cash")["market_value"], "100");
    let eur = b["by_currency"]
        .as_array()
        .expect("currencies")
        .iter()
        .find(|c| c["currency"] == "EUR")
        .cloned()
        .expect("EUR");
    assert_eq!(
        (
            eur["market_value"].as_str(),
            eur["market_value_base"].as_str()
        ),
        (Some("2000"), Some("2164.8"))
    );
    assert_eq!(b["unvalued"], json!([]));
    assert_eq!(
        app.sql_texts("SELECT base || quote || ' ' || rate FROM fx_rates")
            .await,
        ["EURUSD 1.0824"]
    );

    // Holdings now carry the base-currency value, over REST and GraphQL alike.
    let h = app.get(&format!("/api/accounts/{eu}/holdings"), t).await;
    assert_eq!(h.body[0]["value_in_base_currency"], "2164.8", "{}", h.text);
    assert_eq!(h.body[0]["base_currency"], "USD");
    let g = app
        .graphql(
            Some(t),
            r#"query($id: UUID!) { account(id: $id) { holdings { marketPrice marketValue priceSource priceAsOf valueInBaseCurrency baseCurrency } } }"#,
            json!({"id": eu}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    let gh = &g.body["data"]["account"]["holdings"][0];
    assert_eq!(gh["marketPrice"], "200");
    assert_eq!(gh["valueInBaseCurrency"], "2164.8");
    assert_eq!(gh["priceSource"], "yahoo");
    let g = app
        .graphql(
            Some(t),
            "{ portfolioSummary { baseCurrency totalMarketValue unrealizedPnl byAccount { accountId marketValue } byCurrency { currency marketValueBase } } }",
            json!({}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    assert_eq!(
        g.body["data"]["portfolioSummary"]["totalMarketValue"],
        "2589.06"
    );
    assert_eq!(
        g.body["data"]["portfolioSummary"]["unrealizedPnl"],
        "565.46"
    );
    assert_eq!(
        server_fx_requests(&server).await,
        1,
        "the stored rate is reused"
    );
}

async fn server_fx_requests(server: &MockServer) -> usize {
    requests_to(server, "/v8/finance/chart/EURUSD").await
}

#[tokio::test]
async fn the_summary_only_covers_the_callers_accounts() {
    let server = MockServer::start().await;
    let app = app_with_mock(&server, false, &[]).await;
    let alice = user_with_base(&app, "USD").await;
    let bob = TestUser::register(&app).await;
    let a = account(&app, &alice.access_token, "Alice", "USD").await;
    seed_holding(&app, &a, &AAPL, "5", Some("500"), None).await;
    seed_quote(&app, &AAPL, "150", "tiingo").await;
    let b_acc = account(&app, &bob.access_token, "Bob", "USD").await;

    let alice_summary = app.get("/api/portfolio/summary", &alice.access_token).await;
    assert_eq!(
        alice_summary.body["total_market_value"], "750",
        "{}",
        alice_summary.text
    );
    let bob_summary = app.get("/api/portfolio/summary", &bob.access_token).await;
    assert_eq!(bob_summary.status, 200);
    assert_eq!(
        bob_summary.body["total_market_value"], "0",
        "{}",
        bob_summary.text
    );
    assert_eq!(bob_summary.body["holdings_count"], 0);
    let accounts = bob_summary.body["by_account"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["account_id"], b_acc.as_str());
    assert!(
        !bob_summary.text.contains(&a),
        "Alice's account leaks into Bob's summary"
    );
    // Bob cannot read Alice's valued holdings either.
    let r = app
        .get(&format!("/api/accounts/{a}/holdings"), &bob.access_token)
        .await;
    assert_eq!(r.status, 404);
    let g = app
        .graphql(
            Some(&bob.access_token),
            "{ portfolioSummary { totalMarketValue byAccount { accountId } } }",
            json!({}),
        )
        .await;
    assert_eq!(g.body["data"]["portfolioSummary"]["totalMarketValue"], "0");
    assert!(!g.text.contains(&a));
}

#[tokio::test]
async fn holdings_without_quote_or_rate_fall_back_and_are_listed_as_unvalued() {
    // Providers unreachable: no FX rate can be fetched.
    let app = tributary_tests::spawn_app().await;
    let user = user_with_base(&app, "USD").await;
    let t = &user.access_token;
    let eu = account(&app, t, "EU", "EUR").await;
    // A source-reported price, no stored quote.
    seed_holding(&app, &eu, &SAP, "3", None, Some("190.5")).await;
    let us = account(&app, t, "US", "USD").await;
    seed_holding(&app, &us, &BTC, "0.5", Some("10000"), None).await;

    let h = app.get(&format!("/api/accounts/{eu}/holdings"), t).await;
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.body[0]["market_value"], "571.5");
    assert_eq!(h.body[0]["market_price"], "190.5");
    assert_eq!(h.body[0]["price_source"], "file");
    assert!(h.body[0]["value_in_base_currency"].is_null());

    let s = app.get("/api/portfolio/summary", t).await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["total_market_value"], "0");
    let unvalued = s.body["unvalued"].as_array().expect("unvalued");
    assert_eq!(unvalued.len(), 2, "{}", s.text);
    let reasons: Vec<&str> = unvalued
        .iter()
        .filter_map(|u| u["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"no EUR/USD rate stored"), "{reasons:?}");
    assert!(reasons.contains(&"no price stored"), "{reasons:?}");
}

/// Dashboards poll the summary, so it is cached per user; every write that changes it (a new
/// transaction, a new base currency, a freshly stored quote) must show on the next read.
#[tokio::test]
async fn the_cached_summary_follows_transactions_base_currency_and_new_quotes() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/iex/")
        .respond_with(body(TIINGO_IEX))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(body(YAHOO_EURUSD))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, true, &[]).await;
    let user = user_with_base(&app, "USD").await;
    let t = &user.access_token;
    let acct = account(&app, t, "Broker", "USD").await;
    let total = |s: &tributary_tests::TestResponse| s.body["total_market_value"].clone();

    let deposit = |amount: &str| json!({"type": "deposit", "trade_date": "2026-01-05", "amount": amount, "currency": "USD"});
    let r = app
        .post(
            &format!("/api/accounts/{acct}/transactions"),
            t,
            deposit("1000"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let s = app.get("/api/portfolio/summary", t).await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(total(&s), "1000", "{}", s.text);
    // Served again (from the cache) it is the same.
    assert_eq!(total(&app.get("/api/portfolio/summary", t).await), "1000");

    // A new transaction shows at once.
    let r = app
        .post(
            &format!("/api/accounts/{acct}/transactions"),
            t,
            deposit("250.5"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(total(&app.get("/api/portfolio/summary", t).await), "1250.5");

    // A buy of AAPL without a stored quote is valued at its trade price...
    let r = app
        .post(
            &format!("/api/accounts/{acct}/transactions"),
            t,
            json!({"type": "buy", "trade_date": "2026-01-06", "symbol": "AAPL", "quantity": "2",
                   "price": "100", "amount": "-200", "currency": "USD"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let before = app.get("/api/portfolio/summary", t).await;
    // ...and once a quote is stored (the chain prices AAPL at 162.13), the summary uses it.
    let q = app.get("/api/quotes?symbols=AAPL", t).await;
    assert_eq!(q.body["items"][0]["price"], "162.13", "{}", q.text);
    let after = app.get("/api/portfolio/summary", t).await;
    assert_ne!(
        total(&before),
        total(&after),
        "{} / {}",
        before.text,
        after.text
    );
    assert_eq!(total(&after), "1374.76", "{}", after.text);

    // A new base currency shows at once (EUR/USD 1.0824 from the Yahoo mock).
    let r = app
        .patch("/api/me", t, json!({"base_currency": "EUR"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = app.get("/api/portfolio/summary", t).await;
    assert_eq!(s.body["base_currency"], "EUR", "{}", s.text);
}
