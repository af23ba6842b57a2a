//! The whole user journey through the REST API, as the README walks it.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;
use tributary_tests::{TestUser, spawn_app};

#[tokio::test]
async fn a_user_registers_connects_a_demo_broker_and_sees_holdings_transactions_and_balance() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let token = user.token();

    let me = app.get("/api/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], user.email.as_str());
    assert_eq!(me.body["role"], "user");

    let catalogue = app.get("/api/integrations", token).await;
    assert_eq!(catalogue.status, StatusCode::OK);
    let demo = &catalogue.body[0];
    assert_eq!(demo["type"], "DEMO");
    assert_eq!(demo["config_schema"]["additionalProperties"], false);
    assert!(
        demo["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["name"] == "password" && f["secret"] == true)
    );

    let created = app
        .post("/api/accounts", token, json!({"name": "Brokerage", "kind": "brokerage", "currency": "eur", "institution": "Demo"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["currency"], "EUR");
    assert!(created.body["integration_type"].is_null());
    let id = created.body["id"].as_str().expect("id").to_string();

    let set = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            token,
            json!({"type": "DEMO", "config": {"seed": 42, "password": "demo"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["status"], "configured");
    assert_eq!(set.body["config"]["password"], "********");
    assert_eq!(set.body["config"]["has_password"], true);
    assert_eq!(set.body["config"]["profile"], "balanced");

    let test = app
        .post_empty(&format!("/api/accounts/{id}/integration/test"), token)
        .await;
    assert_eq!(test.status, StatusCode::OK);
    assert_eq!(test.body["success"], true, "{}", test.text);
    assert_eq!(test.body["status"], "ok");

    let refresh = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), token)
        .await;
    assert_eq!(refresh.status, StatusCode::OK, "{}", refresh.text);
    let inserted = refresh.body["inserted"].as_i64().expect("inserted");
    assert!(inserted > 50, "a year of demo history, got {inserted}");
    assert_eq!(refresh.body["duplicates"], 0);
    assert_eq!(refresh.body["currency"], "USD");
    let balance = Decimal::from_str(
        refresh.body["balance"]
            .as_str()
            .expect("balance is a string"),
    )
    .expect("decimal");
    assert!(balance > Decimal::ZERO);
    assert!(refresh.body["import_job_id"].is_string());

    let holdings = app
        .get(&format!("/api/accounts/{id}/holdings"), token)
        .await;
    assert_eq!(holdings.status, StatusCode::OK);
    let holdings = holdings.body.as_array().expect("array").clone();
    assert!(holdings.len() >= 5);
    assert!(holdings.iter().any(|h| h["asset"]["class"] == "crypto"));
    assert!(
        holdings
            .iter()
            .filter(|h| h["asset"]["class"] == "cash")
            .count()
            >= 2,
        "cash in two currencies"
    );
    for h in &holdings {
        assert!(h["quantity"].is_string(), "decimals are strings: {h}");
    }

    let txs = app
        .get(&format!("/api/accounts/{id}/transactions?limit=500"), token)
        .await;
    assert_eq!(txs.status, StatusCode::OK);
    let kinds: std::collections::HashSet<String> = txs.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["type"].as_str().unwrap_or_default().to_string())
        .collect();
    for kind in [
        "buy", "sell", "dividend", "interest", "fee", "deposit", "split",
    ] {
        assert!(kinds.contains(kind), "missing {kind} in {kinds:?}");
    }

    let again = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), token)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body["inserted"], 0,
        "a second refresh inserts nothing new: {}",
        again.text
    );
    let count = app
        .get(&format!("/api/accounts/{id}/transactions?limit=500"), token)
        .await;
    assert_eq!(
        count.body["items"].as_array().map(Vec::len),
        Some(inserted as usize)
    );

    let account = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(account.body["integration_type"], "DEMO");
    assert_eq!(account.body["integration_status"], "ok");
    assert_eq!(account.body["integration_config"]["password"], "********");
    assert_eq!(account.body["balance"], refresh.body["balance"]);
    assert!(account.body["last_synced_at"].is_string());

    let audit = app.get("/api/audit-log", token).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["auth.login", "integration.set", "integration.tested"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
}

#[tokio::test]
async fn the_demo_seed_creates_a_user_with_two_synced_accounts() {
    let app = spawn_app().await;
    let (email, password) = tributary_api::cli::seed_demo(&app.ctx)
        .await
        .expect("seeds");
    let login = app.login(&email, &password).await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.body["access_token"].as_str().expect("token");
    let accounts = app.get("/api/accounts", token).await;
    let items = accounts.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for a in items {
        assert_eq!(a["integration_type"], "DEMO");
        assert_eq!(a["integration_status"], "ok");
        assert!(a["balance"].is_string());
    }
}
