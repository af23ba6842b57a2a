//! Accounts: create, read, update, delete, pagination, holdings and transaction filters.

use reqwest::StatusCode;
use serde_json::json;
use tributary_tests::{TestUser, spawn_app};

#[tokio::test]
async fn accounts_are_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let r = app
        .post(
            "/api/accounts",
            t,
            json!({"name": "  Savings  ", "kind": "bank", "currency": "CHF", "notes": "rainy day"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["name"], "Savings");
    assert_eq!(r.body["kind"], "bank");
    let id = r.body["id"].as_str().expect("id").to_string();

    let r = app
        .put(
            &format!("/api/accounts/{id}"),
            t,
            json!({"name": "Savings (joint)", "institution": "Local Bank", "notes": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["name"], "Savings (joint)");
    assert_eq!(r.body["institution"], "Local Bank");
    assert!(r.body["notes"].is_null());
    assert_eq!(r.body["currency"], "CHF", "omitted fields stay");

    let r = app.get(&format!("/api/accounts/{id}"), t).await;
    assert_eq!(r.body["name"], "Savings (joint)");

    let r = app.delete(&format!("/api/accounts/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/api/accounts/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.delete(&format!("/api/accounts/{id}"), t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn account_lists_are_paginated_with_a_cursor() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.create_account(user.token(), &format!("A{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/accounts?limit=3&cursor={c}"),
            None => "/api/accounts?limit=3".to_string(),
        };
        let r = app.get(&path, user.token()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for item in r.body["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every account once, in creation order");
}

#[tokio::test]
async fn transactions_filter_by_type_and_date_range_and_paginate() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app
        .create_demo_account(user.token(), json!({"seed": 11}), true)
        .await;
    let all = app
        .get(
            &format!("/api/accounts/{id}/transactions?limit=200"),
            user.token(),
        )
        .await;
    let all_items = all.body["items"].as_array().expect("items").clone();
    assert!(!all_items.is_empty());

    let buys = app
        .get(
            &format!("/api/accounts/{id}/transactions?type=buy,sell&limit=200"),
            user.token(),
        )
        .await;
    let buy_items = buys.body["items"].as_array().expect("items");
    assert!(!buy_items.is_empty());
    assert!(
        buy_items
            .iter()
            .all(|t| t["type"] == "buy" || t["type"] == "sell")
    );

    let ranged = app
        .get(
            &format!("/api/accounts/{id}/transactions?from=2025-06-01&to=2025-06-30&limit=200"),
            user.token(),
        )
        .await;
    for t in ranged.body["items"].as_array().expect("items") {
        let d = t["trade_date"].as_str().expect("date");
        assert!(("2025-06-01"..="2025-06-30").contains(&d), "{d}");
    }

    // Newest first, and pages of 10 cover the same entries in the same order.
    let dates: Vec<&str> = all_items
        .iter()
        .filter_map(|t| t["trade_date"].as_str())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/accounts/{id}/transactions?limit=10&cursor={cursor}"),
                user.token(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        paged.extend(
            r.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|t| t["id"].clone()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        if cursor.is_empty() {
            break;
        }
    }
    let all_ids: Vec<_> = all_items.iter().map(|t| t["id"].clone()).collect();
    if all_ids.len() < 200 {
        assert_eq!(paged, all_ids);
    }
}

#[tokio::test]
async fn profile_updates_are_validated_and_saved() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let r = app
        .patch(
            "/api/me",
            user.token(),
            json!({"display_name": "Alice", "base_currency": "eur"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["display_name"], "Alice");
    assert_eq!(r.body["base_currency"], "EUR");
    let r = app
        .patch("/api/me", user.token(), json!({"base_currency": "EURO"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["field"], "base_currency");
    let r = app.get("/api/me", user.token()).await;
    assert_eq!(r.body["base_currency"], "EUR");
}

#[tokio::test]
async fn only_administrators_list_users() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let r = app.get("/api/admin/users", user.token()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "FORBIDDEN");
    app.ctx
        .auth()
        .create_user(
            "root@example.com",
            "an admin password",
            tributary_api::domain::Role::Admin,
        )
        .await
        .expect("creates admin");
    let login = app.login("root@example.com", "an admin password").await;
    let token = login.body["access_token"].as_str().expect("token");
    let r = app.get("/api/admin/users", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let emails: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert!(emails.contains(&user.email.as_str()) && emails.contains(&"root@example.com"));
    assert!(!r.text.contains("password_hash") && !r.text.contains("argon2"));
}

#[tokio::test]
async fn account_lists_reflect_every_write_immediately() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let t = user.token();
    let names = |r: &tributary_tests::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| format!("{}|{}|{}", a["name"], a["integration_status"], a["balance"]))
            .collect()
    };
    let id = app.create_account(t, "First").await;
    assert_eq!(
        names(&app.get("/api/accounts", t).await),
        vec![r#""First"|null|null"#]
    );
    app.put(
        &format!("/api/accounts/{id}"),
        t,
        json!({"name": "Renamed"}),
    )
    .await;
    assert_eq!(
        names(&app.get("/api/accounts", t).await),
        vec![r#""Renamed"|null|null"#]
    );
    app.put(
        &format!("/api/accounts/{id}/integration"),
        t,
        json!({"type": "DEMO", "config": {"seed": 3}}),
    )
    .await;
    assert_eq!(
        names(&app.get("/api/accounts", t).await),
        vec![r#""Renamed"|"configured"|null"#]
    );
    let refresh = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), t)
        .await;
    let listed = app.get("/api/accounts", t).await;
    assert_eq!(listed.body["items"][0]["balance"], refresh.body["balance"]);
    assert_eq!(listed.body["items"][0]["integration_status"], "ok");
    app.put(
        &format!("/api/accounts/{id}/integration"),
        t,
        json!({"type": "DEMO", "config": {"seed": 3, "fail_mode": "auth"}}),
    )
    .await;
    app.post_empty(&format!("/api/accounts/{id}/integration/test"), t)
        .await;
    let listed = app.get("/api/accounts", t).await;
    assert_eq!(
        listed.body["items"][0]["integration_status"],
        "needs_reauth"
    );
    app.delete(&format!("/api/accounts/{id}/integration"), t)
        .await;
    let listed = app.get("/api/accounts", t).await;
    assert!(listed.body["items"][0]["integration_type"].is_null());
    app.delete(&format!("/api/accounts/{id}"), t).await;
    assert!(names(&app.get("/api/accounts", t).await).is_empty());
}

#[tokio::test]
async fn holdings_across_accounts_are_grouped_and_only_the_callers() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let other = TestUser::register(&app).await;
    let t = user.token();
    let a = app.create_demo_account(t, json!({"seed": 1}), true).await;
    let b = app
        .create_demo_account(t, json!({"seed": 2, "profile": "crypto"}), true)
        .await;
    app.create_demo_account(other.token(), json!({"seed": 3}), true)
        .await;
    let mut total = 0;
    for id in [&a, &b] {
        total += app
            .get(&format!("/api/accounts/{id}/holdings"), t)
            .await
            .body
            .as_array()
            .map_or(0, Vec::len);
    }

    let r = app.get("/api/holdings", t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let groups = r.body.as_array().expect("groups");
    assert_eq!(groups.len(), 2, "one group per account");
    let keys: Vec<&str> = groups.iter().filter_map(|g| g["key"].as_str()).collect();
    assert!(keys.contains(&a.as_str()) && keys.contains(&b.as_str()));
    let members: usize = groups
        .iter()
        .map(|g| g["holdings"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        members, total,
        "every holding once, none of the other user's"
    );

    for group_by in ["asset", "asset_class", "currency"] {
        let r = app
            .get(&format!("/api/holdings?group_by={group_by}"), t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{group_by}: {}", r.text);
        let groups = r.body.as_array().expect("groups");
        let members: usize = groups
            .iter()
            .map(|g| g["holdings"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(members, total, "{group_by}");
        for g in groups {
            for h in g["holdings"].as_array().expect("holdings") {
                let id = h["account_id"].as_str().expect("account id");
                assert!(id == a || id == b, "{group_by}: another user's holding");
            }
        }
    }
    let classes = app.get("/api/holdings?group_by=asset_class", t).await;
    assert!(
        classes
            .body
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["key"] == "crypto")
    );
    let bad = app.get("/api/holdings?group_by=broker", t).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "group_by");

    let gql = app
        .graphql(Some(t), "{ holdingsGrouped(groupBy: CURRENCY) { key complete holdings { accountId holding { quantity } } } }", json!({}))
        .await;
    let groups = gql.body["data"]["holdingsGrouped"]
        .as_array()
        .expect("groups");
    let members: usize = groups
        .iter()
        .map(|g| g["holdings"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(members, total, "{}", gql.text);
}
