//! Cross-tenant isolation: another user (with a session or either kind of API token) cannot
//! read, change, delete, test or refresh someone else's account or integration, cannot revoke
//! their API tokens, and cannot even tell their resources exist: every attempt answers exactly
//! like a request for a random id.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestUser, spawn_app};
use uuid::Uuid;

/// Every account-scoped route: method, path under `/api/accounts/{id}`, body.
fn account_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "", None),
        (Method::PUT, "", Some(json!({"name": "taken over by B"}))),
        (Method::PUT, "", Some(json!({"integration_type": null}))),
        (
            Method::PUT,
            "",
            Some(json!({"integration_type": "DEMO", "integration_config": {"seed": 1}})),
        ),
        (Method::DELETE, "", None),
        (Method::GET, "/holdings", None),
        (Method::GET, "/transactions", None),
        (
            Method::GET,
            "/transactions?type=buy,sell&from=2000-01-01&to=2100-12-31&limit=5",
            None,
        ),
        (Method::GET, "/integration", None),
        (
            Method::PUT,
            "/integration",
            Some(json!({"type": "DEMO", "config": {"seed": 1, "fail_mode": "auth"}})),
        ),
        (Method::DELETE, "/integration", None),
        (Method::POST, "/integration/test", None),
        (Method::GET, "/integration/remote-accounts", None),
        (Method::POST, "/integration/refresh", None),
    ]
}

/// Everything A can observe about the account, to prove B's attempts changed nothing.
#[derive(Debug, PartialEq)]
struct AccountSnapshot {
    account: Value,
    integration: Value,
    holdings: Value,
    transactions: Vec<Value>,
}

async fn snapshot(app: &TestApp, token: &str, id: &str) -> AccountSnapshot {
    let account = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.text);
    let integration = app
        .get(&format!("/api/accounts/{id}/integration"), token)
        .await;
    assert_eq!(integration.status, StatusCode::OK, "{}", integration.text);
    let holdings = app
        .get(&format!("/api/accounts/{id}/holdings"), token)
        .await;
    assert_eq!(holdings.status, StatusCode::OK, "{}", holdings.text);
    AccountSnapshot {
        account: account.body,
        integration: integration.body,
        holdings: holdings.body,
        transactions: all_transactions(app, token, id).await,
    }
}

async fn all_transactions(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/accounts/{id}/transactions?limit=200&cursor={c}"),
            None => format!("/api/accounts/{id}/transactions?limit=200"),
        };
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

async fn audit_entries(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/audit-log?limit=200", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

/// Asserts that two error responses are indistinguishable to the caller.
fn assert_same_answer(
    label: &str,
    foreign: &tributary_tests::TestResponse,
    random: &tributary_tests::TestResponse,
) {
    assert_eq!(
        foreign.status, random.status,
        "{label}: status differs: {}",
        foreign.text
    );
    assert_eq!(foreign.body, random.body, "{label}: body differs");
    assert_eq!(
        foreign.headers.get("content-type"),
        random.headers.get("content-type"),
        "{label}: content type differs"
    );
    assert_eq!(
        foreign.headers.get("content-length"),
        random.headers.get("content-length"),
        "{label}: length differs"
    );
}

#[tokio::test]
async fn another_user_cannot_touch_an_account_or_its_integration_by_any_route() {
    let app = spawn_app().await;
    let a = TestUser::register(&app).await;
    let b = TestUser::register(&app).await;
    let a_account = app
        .create_demo_account(a.token(), json!({"seed": 5, "password": "demo"}), true)
        .await;
    let before = snapshot(&app, a.token(), &a_account).await;
    assert_eq!(
        before.account["integration_status"], "ok",
        "{:?}",
        before.account
    );
    assert!(
        !before.transactions.is_empty(),
        "the demo refresh stored transactions"
    );
    assert!(
        before.holdings.as_array().is_some_and(|h| !h.is_empty()),
        "the demo refresh stored holdings"
    );
    assert!(
        before.account["balance"].is_string(),
        "{:?}",
        before.account
    );

    let b_read = b.api_token(&app, "read").await;
    let b_write = b.api_token(&app, "write").await;
    let callers = [
        ("B's session", b.token().to_string()),
        ("B's read token", b_read),
        ("B's write token", b_write),
    ];
    for (who, token) in &callers {
        for (method, suffix, body) in account_routes() {
            let random = Uuid::new_v4();
            let label = format!("{who}: {method} /api/accounts/{{A's id}}{suffix}");
            let foreign = app
                .request(
                    method.clone(),
                    &format!("/api/accounts/{a_account}{suffix}"),
                    Some(token),
                    body.clone(),
                )
                .await;
            let missing = app
                .request(
                    method.clone(),
                    &format!("/api/accounts/{random}{suffix}"),
                    Some(token),
                    body,
                )
                .await;
            let read_only_write = *who == "B's read token" && method != Method::GET;
            let (status, code) = if read_only_write {
                (StatusCode::FORBIDDEN, "FORBIDDEN")
            } else {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            };
            assert_eq!(foreign.status, status, "{label}: {}", foreign.text);
            assert_eq!(foreign.code(), code, "{label}: {}", foreign.text);
            assert_eq!(
                foreign
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/problem+json"),
                "{label}"
            );
            assert!(
                foreign.body.get("field").is_none(),
                "{label}: {}",
                foreign.text
            );
            assert!(
                !foreign.text.contains(&a_account) && !foreign.text.contains(&a.email),
                "{label}: the answer mentions A's data: {}",
                foreign.text
            );
            assert_same_answer(&label, &foreign, &missing);
        }
    }

    let after = snapshot(&app, a.token(), &a_account).await;
    assert_eq!(after.account["name"], before.account["name"]);
    assert_eq!(after.integration["config"], before.integration["config"]);
    assert_eq!(after.integration["status"], before.integration["status"]);
    assert_eq!(after.account["balance"], before.account["balance"]);
    assert_eq!(
        after.holdings.as_array().map(Vec::len),
        before.holdings.as_array().map(Vec::len)
    );
    assert_eq!(after.transactions.len(), before.transactions.len());
    assert_eq!(after, before, "B's attempts changed A's account");
}

#[tokio::test]
async fn another_users_account_is_absent_from_every_list_and_audit_log() {
    let app = spawn_app().await;
    let a = TestUser::register(&app).await;
    let b = TestUser::register(&app).await;
    let a_account = app
        .create_demo_account(a.token(), json!({"seed": 5, "password": "demo"}), true)
        .await;
    let a_token = app
        .post(
            "/api/tokens",
            a.token(),
            json!({"name": "A's script", "scope": "write"}),
        )
        .await;
    assert_eq!(a_token.status, StatusCode::CREATED, "{}", a_token.text);
    let a_token_id = a_token.body["id"].as_str().expect("token id").to_string();
    let a_secret = a_token.body["secret"].as_str().expect("secret").to_string();

    let b_account = app.create_account(b.token(), "B's own").await;
    let b_read = b.api_token(&app, "read").await;
    let b_write = b.api_token(&app, "write").await;
    for (who, token) in [
        ("session", b.token()),
        ("read token", &b_read),
        ("write token", &b_write),
    ] {
        let list = app.get("/api/accounts", token).await;
        assert_eq!(list.status, StatusCode::OK, "{who}: {}", list.text);
        let ids: Vec<&str> = list.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|a| a["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [b_account.as_str()],
            "B ({who}) lists only B's account"
        );
        // A cursor naming A's account pages B's own accounts only.
        let paged = app
            .get(&format!("/api/accounts?cursor={a_account}"), token)
            .await;
        assert_eq!(paged.status, StatusCode::OK, "{who}: {}", paged.text);
        assert!(!paged.text.contains(&a_account), "{who}: {}", paged.text);

        let tokens = app.get("/api/tokens", token).await;
        assert_eq!(tokens.status, StatusCode::OK, "{who}: {}", tokens.text);
        assert!(
            !tokens.text.contains(&a_token_id),
            "{who} sees A's token: {}",
            tokens.text
        );
        assert_eq!(
            tokens.body.as_array().map(Vec::len),
            Some(2),
            "{who}: {}",
            tokens.text
        );
    }

    // B cannot revoke A's token, and cannot tell it exists.
    for (who, token) in [("session", b.token()), ("write token", &b_write)] {
        let foreign = app
            .delete(&format!("/api/tokens/{a_token_id}"), token)
            .await;
        let missing = app
            .delete(&format!("/api/tokens/{}", Uuid::new_v4()), token)
            .await;
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "{who}: {}",
            foreign.text
        );
        assert_eq!(foreign.code(), "NOT_FOUND");
        assert_same_answer(
            &format!("B's {who}: DELETE /api/tokens/{{A's id}}"),
            &foreign,
            &missing,
        );
    }
    let read_only = app
        .delete(&format!("/api/tokens/{a_token_id}"), &b_read)
        .await;
    assert_eq!(
        read_only.status,
        StatusCode::FORBIDDEN,
        "{}",
        read_only.text
    );
    let me = app.get("/api/me", &a_secret).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "A's token still works: {}",
        me.text
    );
    assert_eq!(me.body["id"], a.id.as_str());
    let a_tokens = app.get("/api/tokens", a.token()).await;
    assert!(a_tokens.text.contains(&a_token_id), "{}", a_tokens.text);

    // Each audit log holds only its owner's entries.
    let a_log = audit_entries(&app, a.token()).await;
    let b_log = audit_entries(&app, b.token()).await;
    let a_actions: Vec<&str> = a_log.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["auth.login", "integration.set", "api_token.created"] {
        assert!(
            a_actions.contains(&action),
            "A's log lacks {action}: {a_actions:?}"
        );
    }
    let a_ids: Vec<&Value> = a_log.iter().map(|e| &e["id"]).collect();
    for entry in &b_log {
        assert!(
            !a_ids.contains(&&entry["id"]),
            "B's log holds A's entry {entry}"
        );
        let text = entry.to_string();
        assert!(
            !text.contains(&a_account) && !text.contains(&a_token_id) && !text.contains(&a.email),
            "B's log mentions A: {entry}"
        );
    }
    let b_actions: Vec<&str> = b_log.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(!b_actions.contains(&"integration.set"), "{b_actions:?}");
    assert_eq!(
        b_actions
            .iter()
            .filter(|a| **a == "api_token.created")
            .count(),
        2,
        "{b_actions:?}"
    );
    assert!(!b_actions.contains(&"api_token.revoked"), "{b_actions:?}");
}
