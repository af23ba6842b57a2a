//! Quotes, daily prices, FX, search, asset lookup and provider status over REST and GraphQL,
//! against loopback mock providers: the fallback chain with its skip reasons, failing
//! providers, disabled providers, persistence, and bad input (4xx, never 500).

use serde_json::{Value, json};
use tributary_tests::{TestUser, spawn_app};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::market_mocks::*;

fn item<'a>(body: &'a Value, symbol: &str) -> &'a Value {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["symbol"] == symbol)
        .unwrap_or_else(|| panic!("{symbol} missing from {body}"))
}

fn error_reason(body: &Value, symbol: &str) -> String {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|i| i["symbol"] == symbol)
        .unwrap_or_else(|| panic!("{symbol} missing from errors of {body}"))["reason"]
        .as_str()
        .expect("reason")
        .to_string()
}

#[tokio::test]
async fn quotes_walk_the_fallback_chain_record_sources_and_list_unpriceable_symbols() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    // Tiingo has no key (disabled); Yahoo is down for IBM; Alpha Vantage answers IBM.
    Mock::given(path("/v8/finance/chart/IBM"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/NOPE"))
        .respond_with(body_status(404, YAHOO_NOT_FOUND))
        .mount(&server)
        .await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(body(YAHOO_EURUSD))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .and(wiremock::matchers::query_param("symbol", "IBM"))
        .respond_with(body(AV_GLOBAL_QUOTE_IBM))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .respond_with(body(include_str!(
            "../../../connectors/tests/fixtures/alpha_vantage/global_quote_empty.json"
        )))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/simple/price"))
        .respond_with(body(CG_SIMPLE_PRICE))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, false, &[("ALPHA_VANTAGE_KEY", AV_KEY)]).await;
    let user = TestUser::register(&app).await;

    let r = app
        .get(
            "/api/quotes?symbols=IBM,BTC,EURUSD,NOPE,%24%24%24",
            &user.access_token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ibm = item(&r.body, "IBM");
    assert_eq!(ibm["price"], "184.6700");
    assert_eq!(ibm["source"], "alpha_vantage");
    assert_eq!(ibm["currency"], "USD");
    let btc = item(&r.body, "BTC");
    assert_eq!(
        (
            btc["price"].as_str(),
            btc["source"].as_str(),
            btc["asset_id"].as_str()
        ),
        (Some("67187.33"), Some("coingecko"), Some("CRYPTO:BTC"))
    );
    let eurusd = item(&r.body, "EURUSD");
    assert_eq!(
        (eurusd["price"].as_str(), eurusd["source"].as_str()),
        (Some("1.0824"), Some("yahoo"))
    );

    let nope = error_reason(&r.body, "NOPE");
    assert!(nope.contains("tiingo: disabled"), "{nope}");
    assert!(nope.contains("yahoo: not found"), "{nope}");
    assert!(nope.contains("alpha_vantage: not found"), "{nope}");
    assert!(!error_reason(&r.body, "$$$").is_empty());

    // Every stored quote records its provider.
    let ibm_id = ibm["asset_id"].as_str().expect("asset id");
    let stored = app
        .sql_texts(&format!(
            "SELECT source || ' ' || price FROM quotes WHERE asset_key = '{ibm_id}'"
        ))
        .await;
    assert_eq!(stored, ["alpha_vantage 184.6700"]);
    let meta = app
        .sql_texts(&format!(
            "SELECT source FROM data_source_metadata WHERE asset_key = '{ibm_id}'"
        ))
        .await;
    assert_eq!(meta, ["alpha_vantage"]);

    // The quoted instrument can now be looked up.
    let r = app
        .get(&format!("/api/assets/{ibm_id}"), &user.access_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["quote"]["price"], "184.6700");
    assert_eq!(r.body["price_source"], "alpha_vantage");
    assert_eq!(r.body["quality_score"], 100);
}

#[tokio::test]
async fn failing_providers_401_429_and_malformed_fall_back_with_their_reasons() {
    let server = MockServer::start().await;
    guard_alpha_vantage(&server).await;
    // Tiingo is keyed with a token the mock rejects: 401.
    guard_tiingo(&server).await;
    // Yahoo rate-limits with a Retry-After longer than we wait.
    Mock::given(path("/v8/finance/chart/IBM"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "30"))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .and(wiremock::matchers::query_param("symbol", "IBM"))
        .respond_with(body(AV_GLOBAL_QUOTE_IBM))
        .mount(&server)
        .await;
    // For MSFT: Yahoo sends truncated JSON, Alpha Vantage a server error.
    Mock::given(path("/v8/finance/chart/MSFT"))
        .respond_with(body("{\"chart\": {\"result\": [{\"meta\""))
        .mount(&server)
        .await;
    av_get("GLOBAL_QUOTE")
        .and(wiremock::matchers::query_param("symbol", "MSFT"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let app = app_with_mock(
        &server,
        false,
        &[
            ("TIINGO_API_KEY", "wrong-key"),
            ("ALPHA_VANTAGE_KEY", AV_KEY),
        ],
    )
    .await;
    let user = TestUser::register(&app).await;
    let r = app
        .get("/api/quotes?symbols=IBM,MSFT", &user.access_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(item(&r.body, "IBM")["source"], "alpha_vantage");
    let msft = error_reason(&r.body, "MSFT");
    assert!(msft.contains("tiingo: failed (authentication)"), "{msft}");
    assert!(msft.contains("yahoo: failed (decode)"), "{msft}");
    assert!(msft.contains("alpha_vantage: failed (upstream)"), "{msft}");

    // The providers endpoint shows the failures.
    let r = app
        .get("/api/market-data/providers", &user.access_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tiingo = &r.body["items"][0];
    assert_eq!(tiingo["name"], "tiingo");
    assert_eq!(tiingo["enabled"], true);
    assert!(tiingo["last_error"].is_string(), "{tiingo}");
    assert_eq!(tiingo["circuit"], "closed");
}

#[tokio::test]
async fn providers_without_a_required_key_are_reported_disabled_not_failing() {
    let server = MockServer::start().await;
    let app = app_with_mock(
        &server,
        false,
        &[("TRIBUTARY__PROVIDERS__COINGECKO__ENABLED", "false")],
    )
    .await;
    let user = TestUser::register(&app).await;
    let r = app
        .get("/api/market-data/providers", &user.access_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let by_name = |n: &str| -> Value {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|p| p["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    for name in ["tiingo", "alpha_vantage"] {
        let p = by_name(name);
        assert_eq!(p["enabled"], false, "{p}");
        assert!(
            p["disabled_reason"]
                .as_str()
                .unwrap_or_default()
                .contains("key"),
            "{p}"
        );
        assert!(p["last_error"].is_null(), "{p}");
    }
    assert_eq!(by_name("yahoo")["enabled"], true);
    assert_eq!(by_name("coingecko")["enabled"], false);
    let limit = by_name("tiingo")["limit"].clone();
    assert_eq!(limit, 1000, "Tiingo's daily budget");

    let g = app
        .graphql(
            Some(&user.access_token),
            "{ marketDataProviders { name enabled disabledReason healthy circuit used limit window } }",
            json!({}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    let list = g.body["data"]["marketDataProviders"]
        .as_array()
        .expect("list");
    assert_eq!(list.len(), 4);
    assert_eq!(list[0]["name"], "tiingo");
    assert_eq!(list[0]["enabled"], false);
}

#[tokio::test]
async fn daily_bars_are_stored_and_served_from_storage_when_providers_fail() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/daily/aapl/prices")
        .respond_with(body(TIINGO_EOD_AAPL))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, true, &[]).await;
    let user = TestUser::register(&app).await;
    let r = app
        .get(
            "/api/prices/AAPL?from=2019-01-01&to=2019-01-10",
            &user.access_token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["source"], "tiingo");
    assert_eq!(r.body["asset_id"], "EQUITY:XNAS:AAPL");
    assert_eq!(r.body["currency"], "USD");
    let bars = r.body["bars"].as_array().expect("bars");
    assert!(!bars.is_empty());
    assert_eq!(bars[0]["date"], "2019-01-02");
    assert_eq!(bars[0]["close"], "157.92");
    assert!(bars[0]["volume"].is_string(), "decimals are strings");
    let stored = app
        .sql_texts("SELECT close FROM prices WHERE asset_key = 'EQUITY:XNAS:AAPL' ORDER BY date")
        .await;
    assert_eq!(stored.len(), bars.len());
    assert_eq!(stored[0], "157.92");

    // Every provider fails now: the stored bars are served.
    server.reset().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let again = app
        .get(
            "/api/prices/AAPL?from=2019-01-01&to=2019-01-10",
            &user.access_token,
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["bars"], r.body["bars"]);

    // Nothing stored for that range and every provider failing: a provider error, not a 500.
    let none = app
        .get(
            "/api/prices/AAPL?from=2010-01-01&to=2010-01-10",
            &user.access_token,
        )
        .await;
    assert_eq!(none.status, 502, "{}", none.text);
    assert_eq!(none.code(), "UPSTREAM");
}

#[tokio::test]
async fn fx_rates_are_fetched_stored_and_identity_pairs_are_one() {
    let server = MockServer::start().await;
    Mock::given(path("/v8/finance/chart/EURUSD=X"))
        .respond_with(body(YAHOO_EURUSD))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, false, &[]).await;
    let user = TestUser::register(&app).await;
    let r = app
        .get("/api/fx?base=eur&quote=USD", &user.access_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["base"].as_str(),
            r.body["quote"].as_str(),
            r.body["rate"].as_str(),
            r.body["source"].as_str()
        ),
        (Some("EUR"), Some("USD"), Some("1.0824"), Some("yahoo"))
    );
    let stored = app
        .sql_texts("SELECT base || quote || ' ' || rate || ' ' || source FROM fx_rates")
        .await;
    assert_eq!(stored, ["EURUSD 1.0824 yahoo"]);
    let same = app
        .get("/api/fx?base=CHF&quote=CHF", &user.access_token)
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(same.body["rate"], "1");

    let g = app
        .graphql(
            Some(&user.access_token),
            "query($b: String!, $q: String!) { fx(base: $b, quote: $q) { base quote rate source } }",
            json!({"b": "EUR", "q": "USD"}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    assert_eq!(g.body["data"]["fx"]["rate"], "1.0824");
}

#[tokio::test]
async fn search_and_graphql_quotes_prices_and_asset_match_rest() {
    let server = MockServer::start().await;
    guard_tiingo(&server).await;
    tiingo_get("/tiingo/utilities/search")
        .respond_with(body(TIINGO_SEARCH))
        .mount(&server)
        .await;
    tiingo_get("/iex/")
        .respond_with(body(TIINGO_IEX))
        .mount(&server)
        .await;
    tiingo_get("/tiingo/daily/aapl/prices")
        .respond_with(body(TIINGO_EOD_AAPL))
        .mount(&server)
        .await;
    let app = app_with_mock(&server, true, &[]).await;
    let user = TestUser::register(&app).await;
    let t = &user.access_token;

    let r = app.get("/api/assets/search?q=apple", t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = &r.body["items"][0];
    assert_eq!(first["symbol"], "AAPL");
    assert_eq!(first["name"], "Apple Inc");
    assert_eq!(first["source"], "tiingo");

    let g = app
        .graphql(
            Some(t),
            r#"{
                quotes(symbols: ["AAPL", "NOPE$"]) { items { symbol assetId price currency source } errors { symbol reason } }
                prices(symbol: "AAPL", from: "2019-01-01", to: "2019-01-10") { assetId source bars { date close adjClose } }
                searchAssets(q: "apple") { symbol assetClass }
            }"#,
            json!({}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    let d = &g.body["data"];
    assert_eq!(d["quotes"]["items"][0]["price"], "162.13");
    assert_eq!(d["quotes"]["items"][0]["source"], "tiingo");
    assert_eq!(d["quotes"]["errors"][0]["symbol"], "NOPE$");
    assert_eq!(d["prices"]["bars"][0]["close"], "157.92");
    assert_eq!(d["searchAssets"][0]["symbol"], "AAPL");

    let g = app
        .graphql(
            Some(t),
            r#"{ asset(assetId: "EQUITY:XNAS:AAPL") { symbol quote { price source } priceSource qualityScore } }"#,
            json!({}),
        )
        .await;
    assert!(g.body["errors"].is_null(), "{}", g.text);
    assert_eq!(g.body["data"]["asset"]["quote"]["price"], "162.13");
    let rest = app.get("/api/assets/EQUITY:XNAS:AAPL", t).await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    assert_eq!(rest.body["quote"]["price"], "162.13");
}

#[tokio::test]
async fn bad_input_to_every_market_endpoint_is_a_4xx_naming_the_field() {
    // Providers unreachable (the offline default): nothing may turn into a 500.
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = &user.access_token;
    let too_many: Vec<String> = (0..51).map(|i| format!("S{i}")).collect();
    let too_many = format!("/api/quotes?symbols={}", too_many.join(","));
    let long_q = format!("/api/assets/search?q={}", "a".repeat(101));
    let cases: Vec<(&str, u16, Option<&str>)> = vec![
        ("/api/quotes", 422, Some("symbols")),
        ("/api/quotes?symbols=", 422, Some("symbols")),
        ("/api/quotes?symbols=,,", 422, Some("symbols")),
        (&too_many, 422, Some("symbols")),
        ("/api/quotes?symbols=AAPL&extra=1", 400, Some("extra")),
        ("/api/prices/AAPL?from=2024-13-01", 422, Some("from")),
        ("/api/prices/AAPL?to=yesterday", 422, Some("to")),
        (
            "/api/prices/AAPL?from=2024-02-01&to=2024-01-01",
            422,
            Some("from"),
        ),
        (
            "/api/prices/AAPL?from=1900-01-01&to=2024-01-01",
            422,
            Some("from"),
        ),
        ("/api/prices/%24%24%24", 422, Some("symbol")),
        ("/api/fx", 422, Some("base")),
        ("/api/fx?base=EUR", 422, Some("quote")),
        ("/api/fx?base=EURO&quote=USD", 422, Some("base")),
        ("/api/fx?base=EUR&quote=XYZ", 422, Some("quote")),
        (
            "/api/fx?base=EUR&quote=USD&date=2024-02-30",
            422,
            Some("date"),
        ),
        (
            "/api/fx?base=EUR&quote=USD&date=2999-01-01",
            422,
            Some("date"),
        ),
        ("/api/assets/search", 422, Some("q")),
        ("/api/assets/search?q=%20", 422, Some("q")),
        (&long_q, 422, Some("q")),
        ("/api/assets/EQUITY:XNAS:NEVERSEEN", 404, None),
    ];
    for (path, status, field) in cases {
        let r = app.get(path, t).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.text);
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{path}"
        );
        if let Some(f) = field {
            assert_eq!(r.body["field"], f, "{path}: {}", r.text);
        }
    }
    // Unknown or unreachable: per-symbol errors, not a failed request.
    let r = app.get("/api/quotes?symbols=AAPL,ZZZZ", t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(2));
    // Every provider unreachable: a provider error, never a 500.
    for path in [
        "/api/prices/AAPL",
        "/api/fx?base=EUR&quote=USD",
        "/api/assets/search?q=apple",
    ] {
        let r = app.get(path, t).await;
        assert_eq!(r.status, 502, "{path}: {}", r.text);
    }
    // Every route requires authentication.
    for path in [
        "/api/quotes?symbols=AAPL",
        "/api/prices/AAPL",
        "/api/fx?base=EUR&quote=USD",
        "/api/assets/search?q=a",
        "/api/assets/CRYPTO:BTC",
        "/api/market-data/providers",
        "/api/portfolio/summary",
    ] {
        let r = app.request(reqwest::Method::GET, path, None, None).await;
        assert_eq!(r.status, 401, "{path}");
    }
    // GraphQL: the same checks carry the field.
    let g = app
        .graphql(
            Some(t),
            r#"{ prices(symbol: "AAPL", from: "2024-02-01", to: "2024-01-01") { source } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        g.body["errors"][0]["extensions"]["code"], "VALIDATION",
        "{}",
        g.text
    );
    assert_eq!(
        g.body["errors"][0]["extensions"]["field"], "from",
        "{}",
        g.text
    );
    let g = app
        .graphql(
            Some(t),
            r#"{ quotes(symbols: []) { items { symbol } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        g.body["errors"][0]["extensions"]["field"], "symbols",
        "{}",
        g.text
    );
    let g = app
        .graphql(
            Some(t),
            r#"{ fx(base: "EUR", quote: "USD", date: "2024-99-01") { rate } }"#,
            json!({}),
        )
        .await;
    assert!(g.body["errors"].is_array(), "{}", g.text);
}
