//! Per-account integrations: validation, redaction, secrets kept on PUT, fail modes, dedup.

use reqwest::StatusCode;
use serde_json::json;
use tributary_tests::{TestUser, spawn_app};

#[tokio::test]
async fn unavailable_and_unknown_integration_types_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app.create_account(user.token(), "A").await;
    for (kind, needle) in [("SCHWAB", "not available"), ("NOPE", "unknown")] {
        let r = app
            .put(
                &format!("/api/accounts/{id}/integration"),
                user.token(),
                json!({"type": kind, "config": {}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}");
        assert_eq!(r.body["field"], "type");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{}",
            r.text
        );
    }
    let r = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            user.token(),
            json!({"type": "DEMO", "config": {"seed": 1, "api_key": "x"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "config.api_key");
    let r = app
        .get(&format!("/api/accounts/{id}/integration"), user.token())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn a_put_with_the_redaction_marker_keeps_the_stored_secret() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app
        .create_demo_account(user.token(), json!({"seed": 9, "password": "demo"}), false)
        .await;
    let current = app
        .get(&format!("/api/accounts/{id}/integration"), user.token())
        .await;
    let mut config = current.body["config"].clone();
    assert_eq!(config["password"], "********");
    config["profile"] = json!("income");
    let r = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            user.token(),
            json!({"type": "DEMO", "config": config}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["config"]["profile"], "income");
    let test = app
        .post_empty(
            &format!("/api/accounts/{id}/integration/test"),
            user.token(),
        )
        .await;
    assert_eq!(
        test.body["success"], true,
        "the stored password was kept: {}",
        test.text
    );

    // A wrong secret replaces it, and the test now fails as a broker would.
    let r = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            user.token(),
            json!({"type": "DEMO", "config": {"seed": 9, "password": "wrong"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let test = app
        .post_empty(
            &format!("/api/accounts/{id}/integration/test"),
            user.token(),
        )
        .await;
    assert_eq!(test.body["success"], false);
    assert_eq!(test.body["status"], "needs_reauth");
    let integration = app
        .get(&format!("/api/accounts/{id}/integration"), user.token())
        .await;
    assert_eq!(integration.body["status"], "needs_reauth");
    assert!(
        integration.body["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("credentials")
    );
}

#[tokio::test]
async fn the_redaction_marker_without_a_stored_secret_is_rejected() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app.create_account(user.token(), "A").await;
    let r = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            user.token(),
            json!({"type": "DEMO", "config": {"seed": 1, "password": "********"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "config.password");
}

#[tokio::test]
async fn failing_brokers_set_the_matching_status_and_keep_existing_data() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let id = app.create_demo_account(t, json!({"seed": 4}), true).await;
    let before = app
        .get(&format!("/api/accounts/{id}/transactions?limit=200"), t)
        .await;
    for (mode, status, retry_after) in [
        ("auth", "needs_reauth", false),
        ("rate_limit", "error", true),
        ("server_error", "error", false),
    ] {
        let r = app
            .put(
                &format!("/api/accounts/{id}/integration"),
                t,
                json!({"type": "DEMO", "config": {"seed": 4, "fail_mode": mode}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let test = app
            .post_empty(&format!("/api/accounts/{id}/integration/test"), t)
            .await;
        assert_eq!(test.body["success"], false, "{mode}");
        assert_eq!(test.body["status"], status, "{mode}");
        let refresh = app
            .post_empty(&format!("/api/accounts/{id}/integration/refresh"), t)
            .await;
        assert_eq!(
            refresh.status,
            StatusCode::BAD_GATEWAY,
            "{mode}: {}",
            refresh.text
        );
        assert_eq!(refresh.code(), "UPSTREAM");
        assert_eq!(
            refresh.headers.contains_key("retry-after"),
            retry_after,
            "{mode}"
        );
        let account = app.get(&format!("/api/accounts/{id}"), t).await;
        assert_eq!(account.body["integration_status"], status, "{mode}");
        assert!(account.body["last_error"].is_string());
        assert!(
            account.body["balance"].is_string(),
            "the last good balance stays"
        );
    }
    let after = app
        .get(&format!("/api/accounts/{id}/transactions?limit=200"), t)
        .await;
    assert_eq!(before.body["items"], after.body["items"]);
    let jobs = app
        .sql_texts("SELECT status FROM import_jobs ORDER BY created_at")
        .await;
    // Credentials failures are final; rate limits and outages are queued for a retry with
    // backoff, and changing the integration cancels a queued retry.
    assert_eq!(jobs, vec!["succeeded", "failed", "cancelled", "queued"]);
}

#[tokio::test]
async fn removing_an_integration_keeps_holdings_and_transactions() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let id = app.create_demo_account(t, json!({"seed": 8}), true).await;
    let r = app
        .delete(&format!("/api/accounts/{id}/integration"), t)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/api/accounts/{id}/integration"), t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let account = app.get(&format!("/api/accounts/{id}"), t).await;
    assert!(account.body["integration_type"].is_null());
    let holdings = app.get(&format!("/api/accounts/{id}/holdings"), t).await;
    assert!(!holdings.body.as_array().expect("array").is_empty());
}

#[tokio::test]
async fn the_integration_can_be_set_and_removed_through_put_account() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let id = app.create_account(t, "A").await;
    let r = app
        .put(&format!("/api/accounts/{id}"), t, json!({"integration_type": "DEMO", "integration_config": {"seed": 2, "password": "demo"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["integration_type"], "DEMO");
    assert_eq!(r.body["integration_config"]["password"], "********");
    let r = app
        .put(
            &format!("/api/accounts/{id}"),
            t,
            json!({"integration_type": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["integration_type"].is_null());
    let r = app
        .put(
            &format!("/api/accounts/{id}"),
            t,
            json!({"integration_type": "DEMO"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "integration_config");
}

#[tokio::test]
async fn a_synced_trade_far_from_that_days_stored_close_is_flagged_as_an_anomaly() {
    use std::str::FromStr;
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    // Learn one buy of the simulated broker (same seed, another account).
    let probe = app.create_demo_account(t, json!({"seed": 21}), true).await;
    let buys = app
        .get(
            &format!("/api/accounts/{probe}/transactions?type=buy&limit=1"),
            t,
        )
        .await;
    let buy = &buys.body["items"][0];
    let asset = buy["asset"]["asset_id"]
        .as_str()
        .expect("asset")
        .to_string();
    let date =
        chrono::NaiveDate::parse_from_str(buy["trade_date"].as_str().expect("date"), "%Y-%m-%d")
            .expect("date");
    let price =
        rust_decimal::Decimal::from_str(buy["price"].as_str().expect("price")).expect("decimal");
    // The market closed at twice that price that day.
    let bar = tributary_connectors::market::Bar {
        date,
        open: None,
        high: None,
        low: None,
        close: price * rust_decimal::Decimal::from(2),
        adj_close: None,
        volume: None,
    };
    tributary_api::repo::market::upsert_bars(&app.ctx.db, &asset, "USD", "test", &[bar])
        .await
        .expect("stores the bar");
    let id = app.create_demo_account(t, json!({"seed": 21}), false).await;
    let refresh = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), t)
        .await;
    assert_eq!(refresh.status, StatusCode::OK, "{}", refresh.text);
    let job_id = refresh.body["import_job_id"].as_str().expect("job");
    let job = app.get(&format!("/api/import-jobs/{job_id}"), t).await;
    let anomalies = job.body["anomalies"].as_array().expect("anomalies");
    assert!(
        anomalies
            .iter()
            .any(|a| a["kind"] == "price_far_from_market"),
        "{}",
        job.text
    );
    let score = rust_decimal::Decimal::from_str(job.body["quality_score"].as_str().expect("score"))
        .expect("decimal");
    assert!(
        score < rust_decimal::Decimal::from(100),
        "anomalies lower the quality score"
    );
}
