//! Other people's secrets: never in responses, logs or the database file; key rotation.
//! Money: decimals round-trip exactly on every backend.

use std::str::FromStr;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::json;
use tributary_api::repo;
use tributary_api::secrets::MasterKey;
use tributary_tests::{TestUser, captured_logs, spawn_app};
use uuid::Uuid;

#[tokio::test]
async fn integration_secrets_never_appear_in_responses_logs_or_the_database() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let secret = format!("s3cret-{}", Uuid::new_v4().simple());
    let id = app.create_account(t, "A").await;
    let mut bodies = Vec::new();
    let r = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            t,
            json!({"type": "DEMO", "config": {"seed": 1, "password": secret}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    bodies.push(r.text);
    for path in [
        format!("/api/accounts/{id}"),
        format!("/api/accounts/{id}/integration"),
        "/api/accounts".to_string(),
        "/api/audit-log".to_string(),
    ] {
        bodies.push(app.get(&path, t).await.text);
    }
    bodies.push(
        app.post_empty(&format!("/api/accounts/{id}/integration/test"), t)
            .await
            .text,
    );
    bodies.push(
        app.post_empty(&format!("/api/accounts/{id}/integration/refresh"), t)
            .await
            .text,
    );
    for body in &bodies {
        assert!(!body.contains(&secret), "secret in a response: {body}");
    }
    assert!(!captured_logs().contains(&secret), "secret in the logs");
    assert!(
        !captured_logs().contains(&user.password),
        "password in the logs"
    );
    let stored = app
        .sql_texts("SELECT integration_config FROM accounts")
        .await;
    assert!(
        stored
            .iter()
            .all(|c| c.starts_with("v1.") && !c.contains(&secret)),
        "{stored:?}"
    );
    let raw = app.raw_database_bytes();
    let needle = secret.as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "secret in the raw database file"
    );
    let pw = user.password.as_bytes();
    assert!(
        !raw.windows(pw.len()).any(|w| w == pw),
        "password in the raw database file"
    );
}

#[tokio::test]
async fn key_rotation_re_encrypts_every_config_under_the_new_key() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app
        .create_demo_account(user.token(), json!({"seed": 1, "password": "demo"}), false)
        .await;
    let old = app.ctx.master_key.clone();
    let new = MasterKey::generate();
    let count = tributary_api::services::keys::rotate(&app.ctx.db, &old, &new)
        .await
        .expect("rotates");
    assert_eq!(count, 1);
    let stored = app
        .sql_texts("SELECT integration_config FROM accounts")
        .await;
    assert!(
        stored[0].starts_with(&format!("v1.{}.", new.id())),
        "{stored:?}"
    );
    // The running server still holds the old key: it can no longer read the config...
    let r = app
        .post_empty(
            &format!("/api/accounts/{id}/integration/test"),
            user.token(),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.code(), "INTERNAL");
    assert!(
        !r.text.contains(old.id()),
        "internal causes are not leaked: {}",
        r.text
    );
    // ...and the new key opens it, bound to the account id.
    let sealed = &stored[0];
    let plain = new
        .open(sealed, Uuid::parse_str(&id).expect("uuid").as_bytes())
        .expect("opens");
    let config: serde_json::Value = serde_json::from_slice(&plain).expect("json");
    assert_eq!(config["password"], "demo");
    // Rotating again with the wrong old key changes nothing.
    let err =
        tributary_api::services::keys::rotate(&app.ctx.db, &old, &MasterKey::generate()).await;
    assert!(err.is_err());
    assert_eq!(
        app.sql_texts("SELECT integration_config FROM accounts")
            .await,
        stored
    );
}

#[tokio::test]
async fn decimals_round_trip_exactly_through_the_database() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app.create_account(user.token(), "Exact").await;
    let account_id = Uuid::parse_str(&id).expect("uuid");
    let values = [
        "0.1",
        "0.2",
        "0.000000000000000001",
        "1.123456789012345678",
        "12345678901234567.123456789",
        "7922816251426433759354395033",
        "-7922816251426433759354395033",
        "-0.01",
        "100.50",
    ];
    let rows = values
        .iter()
        .enumerate()
        .map(|(i, v)| repo::transactions::NewTransaction {
            id: Uuid::now_v7(),
            asset_id: None,
            kind: "deposit",
            trade_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
                + chrono::Days::new(i as u64),
            settle_date: None,
            quantity: Some(repo::dec_to_db(Decimal::from_str(v).expect("dec"))),
            price: None,
            amount: repo::dec_to_db(Decimal::from_str(v).expect("dec")),
            fee: None,
            currency: "USD".into(),
            description: None,
            source_id: format!("t{i}"),
            fingerprint: format!("f{i}"),
            occurrence: 0,
            alias_of: None,
            match_reason: None,
        })
        .collect();
    assert_eq!(
        repo::transactions::insert_new(
            &app.ctx.db,
            account_id,
            "test",
            None,
            chrono::Utc::now(),
            rows
        )
        .await
        .expect("inserts"),
        values.len() as u64
    );
    let r = app
        .get(
            &format!("/api/accounts/{id}/transactions?limit=50"),
            user.token(),
        )
        .await;
    let mut read: Vec<(String, Decimal)> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["trade_date"].as_str().expect("date").to_string(),
                Decimal::from_str(t["amount"].as_str().expect("amount is a string"))
                    .expect("decimal"),
            )
        })
        .collect();
    read.sort();
    let got: Vec<Decimal> = read.into_iter().map(|(_, d)| d).collect();
    let want: Vec<Decimal> = values
        .iter()
        .map(|v| Decimal::from_str(v).expect("dec"))
        .collect();
    assert_eq!(got, want);
    assert_eq!(r.body["items"][0]["amount"], "100.50", "scale is kept too");
}
