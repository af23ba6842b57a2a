//! Bad input of every kind is refused with a problem+json naming the field at fault, never a
//! 500, and nothing is written. One table; each row is a request the API must turn down.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tributary_tests::{TestApp, TestUser, spawn_app};

const JSON: &str = "application/json";

/// Who sends the request.
#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    User,
}

/// One bad request and the answer it must get.
struct Case {
    what: &'static str,
    method: Method,
    path: String,
    caller: Caller,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

impl Case {
    fn new(what: &'static str, method: Method, path: impl Into<String>) -> Self {
        Self {
            what,
            method,
            path: path.into(),
            caller: Caller::User,
            content_type: JSON,
            body: Vec::new(),
            status: 0,
            code: "",
            field: None,
        }
    }

    fn anonymous(mut self) -> Self {
        self.caller = Caller::Anonymous;
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = serde_json::to_vec(&body).expect("serializes");
        self
    }

    fn raw(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    fn expect(mut self, status: u16, code: &'static str, field: Option<&'static str>) -> Self {
        self.status = status;
        self.code = code;
        self.field = field;
        self
    }

    /// 422 VALIDATION naming `field`.
    fn invalid(self, field: &'static str) -> Self {
        self.expect(422, "VALIDATION", Some(field))
    }

    /// 400 VALIDATION naming `field` (the request could not be read).
    fn malformed(self, field: &'static str) -> Self {
        self.expect(400, "VALIDATION", Some(field))
    }
}

fn cases(plain: &str, demo: &str) -> Vec<Case> {
    use Method as M;
    let accounts = "/api/accounts";
    let account = format!("/api/accounts/{plain}");
    let integration = format!("/api/accounts/{demo}/integration");
    let txs = format!("/api/accounts/{demo}/transactions");
    let valid_account = json!({"name": "Valid", "kind": "bank", "currency": "USD"});
    let mut oversize = br#"{"name": ""#.to_vec();
    oversize.extend(std::iter::repeat_n(b'a', 1_048_577));
    oversize.extend(br#"", "kind": "bank", "currency": "USD"}"#);
    let long_name = "n".repeat(201);
    let deep = format!(
        r#"{{"type": "DEMO", "config": {{"seed": 1, "deep": {}{}}}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );

    vec![
        // Bodies that are not a JSON object of the right shape.
        Case::new("truncated JSON", M::POST, accounts)
            .raw(JSON, r#"{"name": "Broken", "kind": "bank""#)
            .malformed("body"),
        Case::new("trailing garbage after the object", M::POST, accounts)
            .raw(JSON, r#"{"name": "X", "kind": "bank", "currency": "USD"} trailing"#)
            .malformed("body"),
        Case::new("not JSON at all", M::POST, accounts)
            .raw(JSON, "name=X&kind=bank&currency=USD")
            .malformed("body"),
        Case::new("empty body", M::POST, accounts).raw(JSON, "").malformed("body"),
        Case::new("whitespace-only body", M::POST, accounts)
            .raw(JSON, " \n\t ")
            .malformed("body"),
        Case::new("empty body on PUT integration", M::PUT, integration.clone())
            .raw(JSON, "")
            .malformed("body"),
        Case::new("invalid UTF-8 inside a string", M::POST, accounts)
            .raw(JSON, b"{\"name\": \"\xff\xfe\", \"kind\": \"bank\", \"currency\": \"USD\"}".to_vec())
            .malformed("body"),
        Case::new("JSON nested 300 levels deep", M::PUT, integration.clone())
            .raw(JSON, deep)
            .malformed("body"),
        Case::new("duplicate key", M::POST, accounts)
            .raw(JSON, r#"{"name": "First", "name": "Second", "kind": "bank", "currency": "USD"}"#)
            .invalid("name"),
        Case::new("JSON array instead of an object", M::POST, accounts)
            .json(json!([valid_account]))
            .invalid("body"),
        Case::new("positional JSON array instead of an object", M::POST, accounts)
            .json(json!(["Positional", "bank", "USD", null, null]))
            .invalid("body"),
        Case::new("JSON string instead of an object", M::POST, accounts)
            .json(json!("Valid"))
            .invalid("body"),
        Case::new("JSON null instead of an object", M::POST, accounts)
            .raw(JSON, "null")
            .invalid("body"),
        // Wrong types and missing fields.
        Case::new("name is a number", M::POST, accounts)
            .json(json!({"name": 123, "kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("kind is a number", M::POST, accounts)
            .json(json!({"name": "X", "kind": 5, "currency": "USD"}))
            .invalid("kind"),
        Case::new("kind is null", M::POST, accounts)
            .json(json!({"name": "X", "kind": null, "currency": "USD"}))
            .invalid("kind"),
        Case::new("token scope is a number", M::POST, "/api/tokens")
            .json(json!({"name": "numeric", "scope": 1}))
            .invalid("scope"),
        Case::new("currency is an object", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": {"code": "USD"}}))
            .invalid("currency"),
        Case::new("name missing", M::POST, accounts)
            .json(json!({"kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("currency missing", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank"}))
            .invalid("currency"),
        Case::new("kind missing", M::POST, accounts)
            .json(json!({"name": "X", "currency": "USD"}))
            .invalid("kind"),
        // Unknown fields, including attempts to set what the server owns.
        Case::new("owner_id on create account", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": "USD", "owner_id": "00000000-0000-0000-0000-000000000001"}))
            .invalid("owner_id"),
        Case::new("user_id on update account", M::PUT, account.clone())
            .json(json!({"name": "Renamed", "user_id": "00000000-0000-0000-0000-000000000001"}))
            .invalid("user_id"),
        Case::new("balance on update account", M::PUT, account.clone())
            .json(json!({"balance": "1000000"}))
            .invalid("balance"),
        Case::new("role on register", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "mallory@example.com", "password": "long enough password", "role": "admin"}))
            .invalid("role"),
        Case::new("role on PATCH /api/me", M::PATCH, "/api/me")
            .json(json!({"role": "admin"}))
            .invalid("role"),
        // Unknown enum values.
        Case::new("kind savings", M::POST, accounts)
            .json(json!({"name": "X", "kind": "savings", "currency": "USD"}))
            .invalid("kind"),
        Case::new("kind savings on update", M::PUT, account.clone())
            .json(json!({"kind": "savings"}))
            .invalid("kind"),
        Case::new("token scope admin", M::POST, "/api/tokens")
            .json(json!({"name": "root", "scope": "admin"}))
            .invalid("scope"),
        // Currencies.
        Case::new("currency usd1", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": "usd1"}))
            .invalid("currency"),
        Case::new("currency XXX (not an active currency)", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": "XXX"}))
            .invalid("currency"),
        Case::new("currency empty", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": ""}))
            .invalid("currency"),
        Case::new("currency EURO", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": "EURO"}))
            .invalid("currency"),
        Case::new("currency BTC on update", M::PUT, account.clone())
            .json(json!({"currency": "BTC"}))
            .invalid("currency"),
        Case::new("base currency XXX", M::PATCH, "/api/me")
            .json(json!({"base_currency": "XXX"}))
            .invalid("base_currency"),
        // Names and free text.
        Case::new("empty account name", M::POST, accounts)
            .json(json!({"name": "", "kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("whitespace account name", M::POST, accounts)
            .json(json!({"name": "  \t ", "kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("account name of 201 characters", M::POST, accounts)
            .json(json!({"name": long_name, "kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("account name with a control character", M::POST, accounts)
            .json(json!({"name": "bell\u{7}", "kind": "bank", "currency": "USD"}))
            .invalid("name"),
        Case::new("empty name on update", M::PUT, account.clone())
            .json(json!({"name": " "}))
            .invalid("name"),
        Case::new("institution of 201 characters", M::POST, accounts)
            .json(json!({"name": "X", "kind": "bank", "currency": "USD", "institution": long_name}))
            .invalid("institution"),
        Case::new("display name of 101 characters", M::PATCH, "/api/me")
            .json(json!({"display_name": "d".repeat(101)}))
            .invalid("display_name"),
        Case::new("empty token name", M::POST, "/api/tokens")
            .json(json!({"name": "", "scope": "read"}))
            .invalid("name"),
        // Registration and login.
        Case::new("e-mail without @", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "not-an-email", "password": "long enough password"}))
            .invalid("email"),
        Case::new("e-mail without a domain dot", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "a@b", "password": "long enough password"}))
            .invalid("email"),
        Case::new("e-mail without a local part", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "@example.com", "password": "long enough password"}))
            .invalid("email"),
        Case::new("e-mail with two @", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "a@b@example.com", "password": "long enough password"}))
            .invalid("email"),
        Case::new("e-mail with a space", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "sp ace@example.com", "password": "long enough password"}))
            .invalid("email"),
        Case::new("e-mail is a number", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": 42, "password": "long enough password"}))
            .invalid("email"),
        Case::new("password of 11 characters", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "short@example.com", "password": "elevenchars"}))
            .invalid("password"),
        Case::new("password missing on register", M::POST, "/api/auth/register")
            .anonymous()
            .json(json!({"email": "nopw@example.com"}))
            .invalid("password"),
        Case::new("password missing on login", M::POST, "/api/auth/login")
            .anonymous()
            .json(json!({"email": "nopw@example.com"}))
            .invalid("password"),
        Case::new("login e-mail with a NUL byte", M::POST, "/api/auth/login")
            .anonymous()
            .json(json!({"email": "nul\u{0}@example.com", "password": "whatever it is"}))
            .expect(401, "UNAUTHENTICATED", None),
        Case::new("refresh token is a number", M::POST, "/api/auth/refresh")
            .anonymous()
            .json(json!({"refresh_token": 5}))
            .invalid("refresh_token"),
        Case::new("form-encoded login", M::POST, "/api/auth/login")
            .anonymous()
            .raw("application/x-www-form-urlencoded", "email=a%40b.io&password=x")
            .expect(415, "UNSUPPORTED_MEDIA_TYPE", None),
        Case::new("weak new password", M::POST, "/api/me/password")
            .json(json!({"current_password": "whatever it is", "new_password": "short"}))
            .invalid("new_password"),
        // Malformed ids in paths.
        Case::new("account id not a UUID", M::GET, "/api/accounts/not-a-uuid").malformed("id"),
        Case::new("account id a number on DELETE", M::DELETE, "/api/accounts/123").malformed("id"),
        Case::new("account id not a UUID on holdings", M::GET, "/api/accounts/nope/holdings")
            .malformed("id"),
        Case::new("account id not a UUID on PUT integration", M::PUT, "/api/accounts/nope/integration")
            .json(json!({"type": "DEMO", "config": {"seed": 1}}))
            .malformed("id"),
        Case::new("account id not a UUID on refresh", M::POST, "/api/accounts/nope/integration/refresh")
            .malformed("id"),
        Case::new("account id not a UUID on remote accounts", M::GET, "/api/accounts/nope/integration/remote-accounts")
            .malformed("id"),
        Case::new("import format unknown", M::POST, format!("{account}/import?format=ibkr"))
            .raw("multipart/form-data; boundary=x", "--x--\r\n")
            .invalid("format"),
        Case::new("token id not a UUID", M::DELETE, "/api/tokens/abc").malformed("id"),
        Case::new("import job id not a UUID on retry", M::POST, "/api/import-jobs/nope/retry")
            .malformed("id"),
        Case::new("import job id not a UUID on cancel", M::POST, "/api/import-jobs/1/cancel")
            .malformed("id"),
        Case::new("import job status unknown", M::GET, "/api/import-jobs?status=done")
            .invalid("status"),
        // Query strings.
        Case::new("limit=abc", M::GET, "/api/accounts?limit=abc").malformed("limit"),
        Case::new("limit=-1", M::GET, format!("{txs}?limit=-1")).malformed("limit"),
        Case::new("limit larger than u64", M::GET, "/api/accounts?limit=99999999999999999999")
            .malformed("limit"),
        Case::new("limit given twice", M::GET, "/api/accounts?limit=1&limit=2").malformed("limit"),
        Case::new("unknown query parameter", M::GET, "/api/accounts?owner=someone-else")
            .malformed("owner"),
        Case::new("cursor that is not a cursor", M::GET, "/api/accounts?cursor=garbage")
            .invalid("cursor"),
        Case::new("from=2024-13-45", M::GET, format!("{txs}?from=2024-13-45")).malformed("from"),
        Case::new("to=yesterday", M::GET, format!("{txs}?to=yesterday")).malformed("to"),
        Case::new("type=bogus", M::GET, format!("{txs}?type=buy,bogus")).invalid("type"),
        Case::new("from after to", M::GET, format!("{txs}?from=2024-06-01&to=2024-01-01"))
            .invalid("from"),
        Case::new("transaction cursor garbage", M::GET, format!("{txs}?cursor=%21%21%21"))
            .invalid("cursor"),
        Case::new("audit-log cursor garbage", M::GET, "/api/audit-log?cursor=nope").invalid("cursor"),
        // Size and media type.
        Case::new("body over 1 MiB", M::POST, accounts)
            .raw(JSON, oversize)
            .expect(413, "PAYLOAD_TOO_LARGE", None),
        Case::new("text/plain body", M::POST, accounts)
            .raw("text/plain", serde_json::to_vec(&valid_account).expect("serializes"))
            .expect(415, "UNSUPPORTED_MEDIA_TYPE", None),
        Case::new("text/plain on PUT integration", M::PUT, integration.clone())
            .raw("text/plain", r#"{"type": "DEMO", "config": {"seed": 1}}"#)
            .expect(415, "UNSUPPORTED_MEDIA_TYPE", None),
        // Integrations.
        Case::new("integration type unknown", M::PUT, integration.clone())
            .json(json!({"type": "NOPE", "config": {"seed": 1}}))
            .invalid("type"),
        Case::new("integration type known but unavailable", M::PUT, integration.clone())
            .json(json!({"type": "SCHWAB", "config": {"seed": 1}}))
            .invalid("type"),
        Case::new("integration type missing", M::PUT, integration.clone())
            .json(json!({"config": {"seed": 1}}))
            .invalid("type"),
        Case::new("config is a string", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": "seed=1"}))
            .invalid("config"),
        Case::new("config is an array", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": [1]}))
            .invalid("config"),
        Case::new("config with an unknown field", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": 1, "api_key": "x"}}))
            .invalid("config.api_key"),
        Case::new("config without the required seed", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"profile": "crypto"}}))
            .invalid("config.seed"),
        Case::new("seed is a string", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": "x"}}))
            .invalid("config.seed"),
        Case::new("seed is negative", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": -1}}))
            .invalid("config.seed"),
        Case::new("seed is huge", M::PUT, integration.clone())
            .raw(JSON, r#"{"type": "DEMO", "config": {"seed": 100000000000000000000000}}"#)
            .invalid("config.seed"),
        Case::new("profile yolo", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": 1, "profile": "yolo"}}))
            .invalid("config.profile"),
        Case::new("fail_mode explode", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": 1, "fail_mode": "explode"}}))
            .invalid("config.fail_mode"),
        Case::new("password is a number", M::PUT, integration.clone())
            .json(json!({"type": "DEMO", "config": {"seed": 1, "password": 1234}}))
            .invalid("config.password"),
        Case::new("integration_type without integration_config", M::PUT, account.clone())
            .json(json!({"integration_type": "DEMO"}))
            .invalid("integration_config"),
        Case::new("integration_config without integration_type", M::PUT, account.clone())
            .json(json!({"integration_config": {"seed": 1}}))
            .invalid("integration_type"),
        Case::new("rename with an unknown integration type", M::PUT, account.clone())
            .json(json!({"name": "Half-applied", "integration_type": "NOPE", "integration_config": {"seed": 1}}))
            .invalid("type"),
        Case::new("rename with an invalid integration config", M::PUT, format!("/api/accounts/{demo}"))
            .json(json!({"name": "Half-applied", "integration_type": "DEMO", "integration_config": {"seed": -1}}))
            .invalid("config.seed"),
        // Token expiry.
        Case::new("token expires_at in the past", M::POST, "/api/tokens")
            .json(json!({"name": "old", "scope": "read", "expires_at": "2020-01-01T00:00:00Z"}))
            .invalid("expires_at"),
        Case::new("token expires_at not RFC 3339", M::POST, "/api/tokens")
            .json(json!({"name": "soon", "scope": "read", "expires_at": "tomorrow"}))
            .invalid("expires_at"),
        Case::new("token expires_at on February 30th", M::POST, "/api/tokens")
            .json(json!({"name": "soon", "scope": "read", "expires_at": "2030-02-30T00:00:00Z"}))
            .invalid("expires_at"),
    ]
}

/// Everything the user can observe, to prove the refused requests wrote nothing.
async fn observable_state(app: &TestApp, token: &str) -> Vec<(String, Value)> {
    let mut state = Vec::new();
    for path in [
        "/api/me",
        "/api/accounts?limit=200",
        "/api/tokens",
        "/api/audit-log?limit=200",
    ] {
        let r = app.get(path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        state.push((path.to_string(), r.body));
    }
    state
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_is_written() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let plain = app.create_account(user.token(), "Plain").await;
    let demo = app
        .create_demo_account(user.token(), json!({"seed": 11, "password": "demo"}), true)
        .await;
    let before = observable_state(&app, user.token()).await;
    let users_before = app.sql_texts("SELECT email FROM users").await;

    let table = cases(&plain, &demo);
    assert!(table.len() >= 35, "only {} cases", table.len());
    let mut failures = Vec::new();
    for case in &table {
        let token = match case.caller {
            Caller::Anonymous => None,
            Caller::User => Some(user.token()),
        };
        let r = app
            .raw(
                case.method.clone(),
                &case.path,
                token,
                case.content_type,
                case.body.clone(),
            )
            .await;
        let mut problems = Vec::new();
        if r.status == StatusCode::INTERNAL_SERVER_ERROR {
            problems.push("answered 500".to_string());
        }
        if r.status.as_u16() != case.status {
            problems.push(format!(
                "status {} instead of {}",
                r.status.as_u16(),
                case.status
            ));
        }
        if r.code() != case.code {
            problems.push(format!("code {:?} instead of {:?}", r.code(), case.code));
        }
        if r.body["field"].as_str() != case.field {
            problems.push(format!(
                "field {:?} instead of {:?}",
                r.body["field"], case.field
            ));
        }
        if r.body["status"].as_u64() != Some(u64::from(case.status)) {
            problems.push(format!("body status {}", r.body["status"]));
        }
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok());
        if content_type != Some("application/problem+json") {
            problems.push(format!("content type {content_type:?}"));
        }
        if let Some(field) = case.field {
            let detail = r.body["detail"].as_str().unwrap_or_default();
            if !detail.contains(field) {
                problems.push(format!("detail {detail:?} does not name the field"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({} {}): {}; body: {}",
                case.what,
                case.method,
                case.path,
                problems.join(", "),
                r.text.chars().take(300).collect::<String>()
            ));
        }
    }
    // Whatever the answers were, nothing may have been written.
    let after = observable_state(&app, user.token()).await;
    for ((path, was), (_, now)) in before.iter().zip(&after) {
        if now != was {
            failures.push(format!(
                "refused requests changed {path}:\nbefore: {was}\nafter:  {now}"
            ));
        }
    }
    let users_after = app.sql_texts("SELECT email FROM users").await;
    if users_after != users_before {
        failures.push(format!(
            "a refused registration created a user: {users_after:?}"
        ));
    }
    let names: Vec<&str> = after[1].1["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|a| a["name"].as_str()).collect())
        .unwrap_or_default();
    if names != ["Plain", "Demo"] {
        failures.push(format!("the user's accounts are now {names:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} problems with {} bad-input cases:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_put_account_refused_for_its_integration_part_changes_nothing() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app
        .create_demo_account(user.token(), json!({"seed": 3, "password": "demo"}), true)
        .await;
    let path = format!("/api/accounts/{id}");
    let before = app.get(&path, user.token()).await;
    for (what, integration_type, config, field) in [
        ("unknown type", "NOPE", json!({"seed": 1}), "type"),
        ("unavailable type", "SCHWAB", json!({"seed": 1}), "type"),
        ("invalid config", "DEMO", json!({"seed": -1}), "config.seed"),
        ("config not an object", "DEMO", json!("seed=1"), "config"),
    ] {
        let r = app
            .put(
                &path,
                user.token(),
                json!({
                    "name": "Half-applied",
                    "notes": "should not be stored",
                    "currency": "EUR",
                    "integration_type": integration_type,
                    "integration_config": config,
                }),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            r.text
        );
        assert_eq!(r.body["field"], field, "{what}: {}", r.text);
        let now = app.get(&path, user.token()).await;
        assert_eq!(
            now.body, before.body,
            "{what}: the refused PUT still applied its other fields"
        );
    }
}
