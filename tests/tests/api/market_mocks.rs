//! Loopback mock market-data providers (wiremock) serving the connectors crate's recorded
//! fixtures and enforcing keys the way the real APIs do, plus fixtures for holdings and
//! stored quotes. Every provider of an app under test points at one mock server (their paths
//! do not overlap), so nothing reaches the internet.

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tributary_entity::{asset, holding, quote};
use tributary_tests::{AppOptions, TestApp, TestUser, spawn_app_with};
use uuid::Uuid;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const TIINGO_KEY: &str = "tiingo-test-key";
pub const AV_KEY: &str = "av-test-key";

pub const TIINGO_IEX: &str =
    include_str!("../../../connectors/tests/fixtures/tiingo/iex_batch.json");
pub const TIINGO_EOD_AAPL: &str =
    include_str!("../../../connectors/tests/fixtures/tiingo/eod_aapl.json");
pub const TIINGO_INVALID_TOKEN: &str =
    include_str!("../../../connectors/tests/fixtures/tiingo/invalid_token.json");
pub const TIINGO_SEARCH: &str =
    include_str!("../../../connectors/tests/fixtures/tiingo/search_apple.json");
pub const YAHOO_EURUSD: &str =
    include_str!("../../../connectors/tests/fixtures/yahoo/chart_eurusd.json");
pub const YAHOO_NOT_FOUND: &str =
    include_str!("../../../connectors/tests/fixtures/yahoo/chart_not_found.json");
pub const AV_GLOBAL_QUOTE_IBM: &str =
    include_str!("../../../connectors/tests/fixtures/alpha_vantage/global_quote_ibm.json");
pub const AV_API_KEY_ERROR: &str =
    include_str!("../../../connectors/tests/fixtures/alpha_vantage/error_apikey.json");
pub const CG_SIMPLE_PRICE: &str =
    include_str!("../../../connectors/tests/fixtures/coingecko/simple_price.json");

/// HTTP 200 with a JSON body.
pub fn body(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text.to_owned(), "application/json")
}

/// Any status with a JSON body.
pub fn body_status(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(text.to_owned(), "application/json")
}

/// Tiingo answers a missing or wrong token with 401 (lower priority than real routes).
pub async fn guard_tiingo(server: &MockServer) {
    Mock::given(path_regex("^/(tiingo|iex)/"))
        .respond_with(body_status(401, TIINGO_INVALID_TOKEN))
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
        .respond_with(body(AV_API_KEY_ERROR))
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

/// Settings pointing every provider at `server`, with fast retries, Tiingo and Alpha Vantage
/// keyed (unless `keys` is false), and no quote cache.
pub fn provider_env(server: &MockServer, keys: bool) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for name in ["TIINGO", "YAHOO", "ALPHA_VANTAGE", "COINGECKO"] {
        env.push((
            format!("TRIBUTARY__PROVIDERS__{name}__BASE_URL"),
            server.uri(),
        ));
        env.push((
            format!("TRIBUTARY__PROVIDERS__{name}__MAX_ATTEMPTS"),
            "1".into(),
        ));
        env.push((
            format!("TRIBUTARY__PROVIDERS__{name}__TIMEOUT_SECS"),
            "5".into(),
        ));
        env.push((
            format!("TRIBUTARY__PROVIDERS__{name}__QUOTE_CACHE_SECS"),
            "0".into(),
        ));
    }
    if keys {
        env.push((
            "TRIBUTARY__PROVIDERS__TIINGO__API_KEY".into(),
            TIINGO_KEY.into(),
        ));
        // The product plan's variable name works too.
        env.push(("ALPHA_VANTAGE_KEY".into(), AV_KEY.into()));
    }
    env
}

/// An app whose providers all point at `server`.
pub async fn app_with_mock(server: &MockServer, keys: bool, extra: &[(&str, &str)]) -> TestApp {
    let mut env = provider_env(server, keys);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    spawn_app_with(AppOptions { env }).await
}

/// A registered user with the given base currency.
pub async fn user_with_base(app: &TestApp, base: &str) -> TestUser {
    let user = TestUser::register(app).await;
    let r = app
        .patch(
            "/api/me",
            &user.access_token,
            json!({"base_currency": base}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    user
}

/// An account with a currency; returns its id.
pub async fn account(app: &TestApp, token: &str, name: &str, currency: &str) -> String {
    let r = app
        .post(
            "/api/accounts",
            token,
            json!({"name": name, "kind": "brokerage", "currency": currency}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().expect("id").to_string()
}

/// An instrument for [`seed_holding`].
pub struct SeedAsset<'a> {
    pub key: &'a str,
    pub symbol: &'a str,
    pub class: &'a str,
    pub currency: &'a str,
    pub exchange: Option<&'a str>,
}

pub const AAPL: SeedAsset<'static> = SeedAsset {
    key: "EQUITY:XNAS:AAPL",
    symbol: "AAPL",
    class: "equity",
    currency: "USD",
    exchange: Some("XNAS"),
};
pub const BTC: SeedAsset<'static> = SeedAsset {
    key: "CRYPTO:BTC",
    symbol: "BTC",
    class: "crypto",
    currency: "USD",
    exchange: None,
};
pub const SAP: SeedAsset<'static> = SeedAsset {
    key: "EQUITY:XETR:SAP",
    symbol: "SAP",
    class: "equity",
    currency: "EUR",
    exchange: Some("XETR"),
};
pub const CASH_USD: SeedAsset<'static> = SeedAsset {
    key: "CASH:USD",
    symbol: "USD",
    class: "cash",
    currency: "USD",
    exchange: None,
};

/// Writes a position straight into the database (as an import would), with an optional
/// source-reported price.
pub async fn seed_holding(
    app: &TestApp,
    account_id: &str,
    a: &SeedAsset<'_>,
    quantity: &str,
    cost_basis: Option<&str>,
    reported_price: Option<&str>,
) {
    let db = &app.ctx.db;
    asset::Entity::insert(asset::ActiveModel {
        id: Set(Uuid::now_v7()),
        asset_key: Set(a.key.into()),
        symbol: Set(a.symbol.into()),
        name: Set(a.symbol.into()),
        class: Set(a.class.into()),
        currency: Set(a.currency.into()),
        exchange: Set(a.exchange.map(str::to_string)),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(asset::Column::AssetKey)
            .do_nothing()
            .to_owned(),
    )
    .try_insert()
    .exec_without_returning(db)
    .await
    .expect("asset");
    let asset_id = asset::Entity::find()
        .filter(asset::Column::AssetKey.eq(a.key))
        .one(db)
        .await
        .expect("query")
        .expect("asset row")
        .id;
    let q: rust_decimal::Decimal = quantity.parse().expect("quantity");
    let market_value = reported_price
        .map(|p| (q * p.parse::<rust_decimal::Decimal>().expect("price")).to_string());
    holding::Entity::insert(holding::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id.parse().expect("uuid")),
        asset_id: Set(asset_id),
        quantity: Set(quantity.into()),
        cost_basis: Set(cost_basis.map(str::to_string)),
        price: Set(reported_price.map(str::to_string)),
        market_value: Set(market_value),
        currency: Set(a.currency.into()),
        as_of: Set(Utc::now()),
        source: Set("file".into()),
        updated_at: Set(Utc::now()),
    })
    .exec(db)
    .await
    .expect("holding");
}

/// Stores a latest quote directly (as an earlier refresh would have).
pub async fn seed_quote(app: &TestApp, a: &SeedAsset<'_>, price: &str, source: &str) {
    quote::Entity::insert(quote::ActiveModel {
        id: Set(Uuid::now_v7()),
        asset_key: Set(a.key.into()),
        symbol: Set(a.symbol.into()),
        price: Set(price.into()),
        currency: Set(a.currency.into()),
        as_of: Set(Utc::now()),
        source: Set(source.into()),
        fetched_at: Set(Utc::now()),
    })
    .exec(&app.ctx.db)
    .await
    .expect("quote");
}

/// How many requests the mock received on paths starting with `prefix`.
pub async fn requests_to(server: &MockServer, prefix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(prefix))
        .count()
}
