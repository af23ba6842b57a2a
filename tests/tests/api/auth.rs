//! Authentication edge cases: malformed and forged credentials, token expiry, refresh-token
//! rotation and reuse detection, logout, password change, login throttling, registration
//! policy, API token scopes, revocation and expiry, and the audit trail of all of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tributary_tests::{AppOptions, TestApp, TestResponse, TestUser, spawn_app, spawn_app_with};
use uuid::Uuid;

/// Sends a request with a raw `Authorization` header (or none).
async fn with_authorization(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&[u8]>,
    body: Option<Value>,
) -> TestResponse {
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(value) = authorization {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
        req = req.header(reqwest::header::AUTHORIZATION, value);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        text,
        body,
    }
}

fn header<'a>(r: &'a TestResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Asserts a 401 problem with the Bearer challenge.
fn assert_unauthenticated(label: &str, r: &TestResponse) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {}", r.text);
    assert_eq!(r.code(), "UNAUTHENTICATED", "{label}: {}", r.text);
    assert_eq!(r.body["status"], 401, "{label}");
    assert_eq!(header(r, "www-authenticate"), Some("Bearer"), "{label}");
    assert_eq!(
        header(r, "content-type"),
        Some("application/problem+json"),
        "{label}"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("serializes"))
}

/// Claims the server would accept, apart from the signature.
fn claims_for(user_id: &str, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": user_id,
        "role": role,
        "iss": "tributary",
        "aud": "tributary-api",
        "iat": now,
        "exp": now + 600,
        "jti": Uuid::new_v4(),
    })
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get("/api/audit-log?limit=200", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    app.request(
        Method::POST,
        "/api/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

/// Creates a personal API token and returns (id, secret).
async fn create_token(
    app: &TestApp,
    user: &TestUser,
    scope: &str,
    extra: Value,
) -> (String, String) {
    let mut body = json!({"name": format!("{scope} script"), "scope": scope});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let r = app.post("/api/tokens", user.token(), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (
        r.body["id"].as_str().expect("id").to_string(),
        r.body["secret"].as_str().expect("secret").to_string(),
    )
}

#[tokio::test]
async fn missing_malformed_and_forged_credentials_are_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let other = TestUser::register(&app).await;

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims_for(&user.id, "admin"))
    );
    let wrong_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims_for(&user.id, "user"),
        &EncodingKey::from_secret(b"not-the-server-key-not-the-server-key"),
    )
    .expect("signs");
    // The real token with its payload swapped for one naming another user.
    let parts: Vec<&str> = user.access_token.split('.').collect();
    assert_eq!(parts.len(), 3, "an access token is a JWS");
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload"))
            .expect("JSON payload");
    assert_eq!(payload["sub"], user.id.as_str());
    assert_eq!(payload["iss"], "tributary");
    assert_eq!(payload["aud"], "tributary-api");
    payload["sub"] = json!(other.id);
    let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    let mut elevated = payload.clone();
    elevated["sub"] = json!(user.id);
    elevated["role"] = json!("admin");
    let role_tampered = format!("{}.{}.{}", parts[0], b64(&elevated), parts[2]);
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    let unknown_api_token = format!("trb_{}", URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes()));

    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", user.email, user.password))
    );
    let bad: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        (
            "no Authorization header",
            None,
            "an Authorization: Bearer token is required",
        ),
        (
            "garbage token",
            Some(b"Bearer garbage".to_vec()),
            "the access token is invalid or expired",
        ),
        (
            "three dots",
            Some(b"Bearer ...".to_vec()),
            "the access token is invalid or expired",
        ),
        (
            "Basic scheme with the right password",
            Some(basic.into_bytes()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "Bearer with an empty token",
            Some(b"Bearer ".to_vec()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "Bearer with only spaces",
            Some(b"Bearer    ".to_vec()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "the word Bearer alone",
            Some(b"Bearer".to_vec()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "token without a scheme",
            Some(user.access_token.clone().into_bytes()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "Token scheme",
            Some(format!("Token {}", user.access_token).into_bytes()),
            "the Authorization header must be `Bearer <token>`",
        ),
        (
            "non-UTF-8 header",
            Some(b"Bearer \xff\xfe".to_vec()),
            "the Authorization header is malformed",
        ),
        (
            "alg none",
            Some(format!("Bearer {alg_none}").into_bytes()),
            "the access token is invalid or expired",
        ),
        (
            "HS256 with a wrong key",
            Some(format!("Bearer {wrong_key}").into_bytes()),
            "the access token is invalid or expired",
        ),
        (
            "payload swapped to another user",
            Some(format!("Bearer {tampered}").into_bytes()),
            "the access token is invalid or expired",
        ),
        (
            "payload elevated to admin",
            Some(format!("Bearer {role_tampered}").into_bytes()),
            "the access token is invalid or expired",
        ),
        (
            "signature stripped",
            Some(format!("Bearer {stripped}").into_bytes()),
            "the access token is invalid or expired",
        ),
        (
            "unknown API token",
            Some(format!("Bearer {unknown_api_token}").into_bytes()),
            "invalid or expired API token",
        ),
        (
            "refresh token used as access token",
            Some(format!("Bearer {}", user.refresh_token).into_bytes()),
            "the access token is invalid or expired",
        ),
    ];
    for (label, authorization, detail) in &bad {
        let me =
            with_authorization(&app, Method::GET, "/api/me", authorization.as_deref(), None).await;
        assert_unauthenticated(label, &me);
        assert_eq!(me.body["detail"], *detail, "{label}");
        let create = with_authorization(
            &app,
            Method::POST,
            "/api/accounts",
            authorization.as_deref(),
            Some(json!({"name": format!("via {label}"), "kind": "bank", "currency": "USD"})),
        )
        .await;
        assert_unauthenticated(&format!("{label} (POST)"), &create);
    }
    // Nothing was created for either user by the refused requests.
    for u in [&user, &other] {
        let list = app.get("/api/accounts", u.token()).await;
        assert_eq!(list.body["items"], json!([]), "{}", list.text);
    }
    // The untouched token works, with either capitalisation of the scheme.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {}", user.access_token);
        let me =
            with_authorization(&app, Method::GET, "/api/me", Some(auth.as_bytes()), None).await;
        assert_eq!(me.status, StatusCode::OK, "{scheme}: {}", me.text);
        assert_eq!(me.body["id"], user.id.as_str());
        assert_eq!(me.body["role"], "user");
    }
}

#[tokio::test]
async fn an_expired_access_token_is_refused_but_the_refresh_token_still_works() {
    let app = spawn_app_with(AppOptions {
        env: vec![("TRIBUTARY__AUTH__ACCESS_TOKEN_TTL_SECS".into(), "1".into())],
    })
    .await;
    let user = TestUser::register(&app).await;
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(login.body["expires_in"], 1);
    let me = app.get("/api/me", user.token()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    // One second of lifetime plus the verifier's five seconds of leeway.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let expired = app.get("/api/me", user.token()).await;
    assert_unauthenticated("expired access token", &expired);
    assert_eq!(
        expired.body["detail"],
        "the access token is invalid or expired"
    );
    let renewed = refresh(&app, &user.refresh_token).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let fresh = renewed.body["access_token"].as_str().expect("access token");
    let me = app.get("/api/me", fresh).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["email"], user.email.as_str());
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_retires_the_used_refresh_token() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let r = refresh(&app, &user.refresh_token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    let access = r.body["access_token"].as_str().expect("access token");
    let next = r.body["refresh_token"].as_str().expect("refresh token");
    assert_ne!(access, user.access_token);
    assert_ne!(next, user.refresh_token);
    let me = app.get("/api/me", access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["id"], user.id.as_str());
    // The next token in the chain keeps working.
    let again = refresh(&app, next).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    // Garbage and empty refresh tokens are plain 401s.
    for bogus in ["", "not-a-refresh-token", user.access_token.as_str()] {
        let r = refresh(&app, bogus).await;
        assert_unauthenticated(&format!("refresh with {bogus:?}"), &r);
        assert_eq!(r.body["detail"], "invalid or expired refresh token");
    }
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let other_session = app.login(&user.email, &user.password).await;
    let other_refresh = other_session.body["refresh_token"]
        .as_str()
        .expect("refresh token");

    let first = refresh(&app, &user.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let newest = first.body["refresh_token"].as_str().expect("refresh token");

    let replay = refresh(&app, &user.refresh_token).await;
    assert_unauthenticated("replayed refresh token", &replay);
    assert_eq!(replay.body["detail"], "invalid or expired refresh token");
    let after_replay = refresh(&app, newest).await;
    assert_unauthenticated("newest token of the revoked family", &after_replay);
    // Once revoked, replaying again is still refused.
    assert_unauthenticated("second replay", &refresh(&app, &user.refresh_token).await);

    // A session from another login is a different family and is untouched.
    let independent = refresh(&app, other_refresh).await;
    assert_eq!(independent.status, StatusCode::OK, "{}", independent.text);
    let log = audit_actions(&app, user.token()).await;
    assert!(
        actions(&log).contains(&"auth.refresh_reuse_detected"),
        "{:?}",
        actions(&log)
    );
}

#[tokio::test]
async fn logout_ends_only_that_session_and_is_idempotent() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let second = app.login(&user.email, &user.password).await;
    let second_refresh = second.body["refresh_token"]
        .as_str()
        .expect("refresh token");
    let rotated = refresh(&app, &user.refresh_token).await;
    let rotated_refresh = rotated.body["refresh_token"]
        .as_str()
        .expect("refresh token");

    let body = json!({"refresh_token": rotated_refresh});
    let out = app
        .request(Method::POST, "/api/auth/logout", None, Some(body.clone()))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    assert!(out.text.is_empty());
    assert_unauthenticated(
        "refresh after logout",
        &refresh(&app, rotated_refresh).await,
    );
    assert_unauthenticated(
        "older token of the same family",
        &refresh(&app, &user.refresh_token).await,
    );
    let again = app
        .request(Method::POST, "/api/auth/logout", None, Some(body))
        .await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "logout is idempotent: {}",
        again.text
    );
    let unknown = app
        .request(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": "nope"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NO_CONTENT, "{}", unknown.text);

    let other = refresh(&app, second_refresh).await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "the other session survives: {}",
        other.text
    );
    let log = audit_actions(&app, user.token()).await;
    assert_eq!(
        actions(&log)
            .iter()
            .filter(|a| **a == "auth.logout")
            .count(),
        1,
        "{:?}",
        actions(&log)
    );
}

#[tokio::test]
async fn password_change_revokes_every_refresh_token_and_the_old_password() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let second = app.login(&user.email, &user.password).await;
    let second_refresh = second.body["refresh_token"]
        .as_str()
        .expect("refresh token");
    let new_password = "a brand new passphrase";

    let wrong = app
        .post(
            "/api/me/password",
            user.token(),
            json!({"current_password": "not my password", "new_password": new_password}),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text
    );
    assert_eq!(wrong.body["field"], "current_password");
    assert_eq!(
        refresh(&app, second_refresh).await.status,
        StatusCode::OK,
        "a refused change revokes nothing"
    );
    let second = app.login(&user.email, &user.password).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let second_refresh = second.body["refresh_token"]
        .as_str()
        .expect("refresh token");

    let (_, write_token) = create_token(&app, &user, "write", json!({})).await;
    let by_token = app
        .post(
            "/api/me/password",
            &write_token,
            json!({"current_password": user.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(by_token.status, StatusCode::FORBIDDEN, "{}", by_token.text);
    assert_eq!(by_token.code(), "FORBIDDEN");

    let changed = app
        .post(
            "/api/me/password",
            user.token(),
            json!({"current_password": user.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_unauthenticated(
        "first session's refresh",
        &refresh(&app, &user.refresh_token).await,
    );
    assert_unauthenticated(
        "second session's refresh",
        &refresh(&app, second_refresh).await,
    );
    let old = app.login(&user.email, &user.password).await;
    assert_unauthenticated("login with the old password", &old);
    let new = app.login(&user.email, new_password).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    let new_token = new.body["access_token"].as_str().expect("access token");
    let log = audit_actions(&app, new_token).await;
    assert!(
        actions(&log).contains(&"auth.password_changed"),
        "{:?}",
        actions(&log)
    );
    let text = serde_json::to_string(&log).expect("serializes");
    assert!(
        !text.contains(new_password) && !text.contains(&user.password),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_identical_answers() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let wrong_password = app.login(&user.email, "definitely not the password").await;
    let unknown_email = app
        .login("nobody-here@example.com", "definitely not the password")
        .await;
    assert_unauthenticated("wrong password", &wrong_password);
    assert_unauthenticated("unknown e-mail", &unknown_email);
    assert_eq!(wrong_password.body, unknown_email.body);
    assert_eq!(wrong_password.text, unknown_email.text);
    assert_eq!(wrong_password.body["detail"], "invalid e-mail or password");
    for name in ["content-type", "content-length", "www-authenticate"] {
        assert_eq!(
            header(&wrong_password, name),
            header(&unknown_email, name),
            "{name}"
        );
    }
    // E-mails are matched case-insensitively and trimmed.
    let shouted = app
        .login(
            &format!("  {}  ", user.email.to_uppercase()),
            &user.password,
        )
        .await;
    assert_eq!(shouted.status, StatusCode::OK, "{}", shouted.text);
}

#[tokio::test]
async fn repeated_login_failures_are_rate_limited_per_email() {
    let app = spawn_app_with(AppOptions {
        env: vec![("TRIBUTARY__AUTH__LOGIN_MAX_FAILURES".into(), "3".into())],
    })
    .await;
    let victim = TestUser::register(&app).await;
    let bystander = TestUser::register(&app).await;
    for attempt in 1..=3 {
        let r = app
            .login(&victim.email, &format!("guess number {attempt}"))
            .await;
        assert_unauthenticated(&format!("failure {attempt}"), &r);
    }
    for (label, password) in [
        ("another guess", "guess number 4"),
        ("the right password", victim.password.as_str()),
    ] {
        let r = app.login(&victim.email, password).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{label}: {}",
            r.text
        );
        assert_eq!(r.code(), "RATE_LIMITED", "{label}");
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        let retry_after: u64 = header(&r, "retry-after")
            .expect("Retry-After header")
            .parse()
            .expect("Retry-After is whole seconds");
        assert!(
            (1..=900).contains(&retry_after),
            "Retry-After {retry_after}"
        );
        assert_eq!(r.body["retry_after"], retry_after, "{label}");
        assert!(r.body.get("access_token").is_none());
    }
    // The block is keyed on the e-mail as normalized.
    let shouted = app
        .login(&victim.email.to_uppercase(), &victim.password)
        .await;
    assert_eq!(
        shouted.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        shouted.text
    );

    // Another e-mail from the same client is not blocked.
    let wrong = app.login(&bystander.email, "wrong password here").await;
    assert_unauthenticated("another e-mail, wrong password", &wrong);
    let right = app.login(&bystander.email, &bystander.password).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
    // Existing sessions of the blocked user keep working.
    let me = app.get("/api/me", victim.token()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
}

#[tokio::test]
async fn with_registration_disabled_sign_up_is_403_and_existing_users_still_work() {
    let app = spawn_app_with(AppOptions {
        env: vec![("TRIBUTARY__AUTH__ALLOW_REGISTRATION".into(), "false".into())],
    })
    .await;
    let r = app
        .request(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "newcomer@example.com", "password": "long enough password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "FORBIDDEN");
    assert_eq!(r.body["detail"], "registration is disabled on this server");
    assert!(app.sql_texts("SELECT email FROM users").await.is_empty());

    // An operator-created user (as the CLI does) signs in and uses the DEMO flow.
    app.ctx
        .auth()
        .create_user(
            "operator-made@example.com",
            "operator chosen password",
            tributary_api::domain::Role::User,
        )
        .await
        .expect("user created");
    let login = app
        .login("operator-made@example.com", "operator chosen password")
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let token = login.body["access_token"].as_str().expect("access token");
    let id = app
        .create_demo_account(token, json!({"seed": 9}), true)
        .await;
    let account = app.get(&format!("/api/accounts/{id}"), token).await;
    assert_eq!(account.body["integration_status"], "ok", "{}", account.text);
    let holdings = app
        .get(&format!("/api/accounts/{id}/holdings"), token)
        .await;
    assert!(
        holdings.body.as_array().is_some_and(|h| !h.is_empty()),
        "{}",
        holdings.text
    );
}

#[tokio::test]
async fn registering_a_taken_email_in_any_case_is_409() {
    let app = spawn_app().await;
    let first = app
        .request(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "Alice@Example.com", "password": "long enough password"})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(
        first.body["email"], "alice@example.com",
        "e-mails are stored normalized"
    );
    assert_eq!(first.body["role"], "user");
    assert!(first.body.get("password_hash").is_none() && !first.text.contains("argon2"));
    for email in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "  alice@example.com ",
    ] {
        let r = app
            .request(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": "another long password"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{email:?}: {}", r.text);
        assert_eq!(r.code(), "CONFLICT");
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    }
    assert_eq!(
        app.sql_texts("SELECT email FROM users").await,
        ["alice@example.com"]
    );
    // The original password is untouched by the refused attempts.
    let login = app.login("alice@example.com", "long enough password").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}

/// What a user can read about one account and themselves.
async fn readable_state(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/me".to_string(),
        "/api/accounts".to_string(),
        format!("/api/accounts/{id}"),
        format!("/api/accounts/{id}/holdings"),
        format!("/api/accounts/{id}/transactions?limit=200"),
        format!("/api/accounts/{id}/integration"),
    ] {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        out.push(r.body);
    }
    out
}

#[tokio::test]
async fn a_read_token_is_refused_every_write_but_can_read_everything() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let id = app
        .create_demo_account(user.token(), json!({"seed": 4, "password": "demo"}), true)
        .await;
    let (read_id, read) = create_token(&app, &user, "read", json!({})).await;
    let (write_id, _) = create_token(&app, &user, "write", json!({})).await;
    let before = readable_state(&app, user.token(), &id).await;

    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/accounts".into(),
            Some(json!({"name": "X", "kind": "bank", "currency": "USD"})),
        ),
        (
            Method::PUT,
            format!("/api/accounts/{id}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, format!("/api/accounts/{id}"), None),
        (
            Method::PUT,
            format!("/api/accounts/{id}/integration"),
            Some(json!({"type": "DEMO", "config": {"seed": 1}})),
        ),
        (
            Method::DELETE,
            format!("/api/accounts/{id}/integration"),
            None,
        ),
        (
            Method::POST,
            format!("/api/accounts/{id}/integration/test"),
            None,
        ),
        (
            Method::POST,
            format!("/api/accounts/{id}/integration/refresh"),
            None,
        ),
        (
            Method::POST,
            "/api/tokens".into(),
            Some(json!({"name": "escalate", "scope": "write"})),
        ),
        (Method::DELETE, format!("/api/tokens/{write_id}"), None),
        (Method::DELETE, format!("/api/tokens/{read_id}"), None),
        (
            Method::PATCH,
            "/api/me".into(),
            Some(json!({"display_name": "Read-only"})),
        ),
        (
            Method::POST,
            "/api/me/password".into(),
            Some(
                json!({"current_password": user.password, "new_password": "a brand new passphrase"}),
            ),
        ),
    ];
    for (method, path, body) in writes {
        let r = app.request(method.clone(), &path, Some(&read), body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.code(), "FORBIDDEN", "{method} {path}");
        assert_eq!(
            r.body["detail"], "this API token is read-only",
            "{method} {path}"
        );
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
    }

    let through_token = readable_state(&app, &read, &id).await;
    assert_eq!(
        through_token, before,
        "the read token sees what the session sees"
    );
    for path in ["/api/tokens", "/api/integrations", "/api/audit-log"] {
        let r = app.get(path, &read).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let after = readable_state(&app, user.token(), &id).await;
    assert_eq!(after, before, "the refused writes changed nothing");
    let tokens = app.get("/api/tokens", user.token()).await;
    assert_eq!(
        tokens.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        tokens.text
    );
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(login.status, StatusCode::OK, "the password is unchanged");
}

#[tokio::test]
async fn a_write_token_can_change_data_but_cannot_create_tokens_or_change_the_password() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let (_, write) = create_token(&app, &user, "write", json!({})).await;
    let created = app
        .post(
            "/api/accounts",
            &write,
            json!({"name": "Scripted", "kind": "crypto", "currency": "eur"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["currency"], "EUR");
    let id = created.body["id"].as_str().expect("id");
    let set = app
        .put(
            &format!("/api/accounts/{id}/integration"),
            &write,
            json!({"type": "DEMO", "config": {"seed": 2}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let synced = app
        .post_empty(&format!("/api/accounts/{id}/integration/refresh"), &write)
        .await;
    assert_eq!(synced.status, StatusCode::OK, "{}", synced.text);
    let renamed = app
        .patch("/api/me", &write, json!({"display_name": "Script"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.body["display_name"], "Script");

    let token = app
        .post(
            "/api/tokens",
            &write,
            json!({"name": "child", "scope": "write"}),
        )
        .await;
    assert_eq!(token.status, StatusCode::FORBIDDEN, "{}", token.text);
    assert_eq!(token.code(), "FORBIDDEN");
    assert!(token.body.get("secret").is_none());
    let password = app
        .post(
            "/api/me/password",
            &write,
            json!({"current_password": user.password, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(password.status, StatusCode::FORBIDDEN, "{}", password.text);
    let tokens = app.get("/api/tokens", user.token()).await;
    assert_eq!(
        tokens.body.as_array().map(Vec::len),
        Some(1),
        "no token was created: {}",
        tokens.text
    );
    let login = app.login(&user.email, &user.password).await;
    assert_eq!(login.status, StatusCode::OK, "the password is unchanged");
}

#[tokio::test]
async fn a_revoked_api_token_is_401_and_disappears_from_the_list() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let (id, secret) = create_token(&app, &user, "write", json!({})).await;
    assert!(secret.starts_with("trb_"), "{secret}");
    let me = app.get("/api/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let listed = app.get("/api/tokens", user.token()).await;
    assert_eq!(listed.body[0]["id"], id.as_str());
    assert_eq!(listed.body[0]["prefix"], &secret[..8]);
    assert!(
        listed.body[0]["last_used_at"].is_string(),
        "use is recorded: {}",
        listed.text
    );
    assert!(
        !listed.text.contains(&secret),
        "the list never shows secrets"
    );

    let revoked = app.delete(&format!("/api/tokens/{id}"), user.token()).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    for (method, path) in [
        (Method::GET, "/api/me"),
        (Method::GET, "/api/accounts"),
        (
            Method::DELETE,
            "/api/tokens/00000000-0000-0000-0000-000000000000",
        ),
    ] {
        let r = app.request(method.clone(), path, Some(&secret), None).await;
        assert_unauthenticated(&format!("revoked token on {method} {path}"), &r);
        assert_eq!(r.body["detail"], "invalid or expired API token");
    }
    let again = app.delete(&format!("/api/tokens/{id}"), user.token()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    let listed = app.get("/api/tokens", user.token()).await;
    assert_eq!(listed.body, json!([]));
}

#[tokio::test]
async fn an_api_token_stops_working_when_it_expires() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let expires_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (id, secret) = create_token(&app, &user, "read", json!({"expires_at": expires_at})).await;
    let listed = app.get("/api/tokens", user.token()).await;
    assert!(listed.body[0]["expires_at"].is_string(), "{}", listed.text);
    let me = app.get("/api/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);

    // Move the expiry into the past rather than waiting for it.
    let db = &app.ctx.db;
    let backend = db.get_database_backend();
    let sql = if app.is_postgres() {
        "UPDATE api_tokens SET expires_at = $1 WHERE id = $2"
    } else {
        "UPDATE api_tokens SET expires_at = ? WHERE id = ?"
    };
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let token_id = Uuid::parse_str(&id).expect("uuid");
    let updated = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [past.into(), token_id.into()],
        ))
        .await
        .expect("update runs");
    assert_eq!(updated.rows_affected(), 1);

    let r = app.get("/api/me", &secret).await;
    assert_unauthenticated("expired API token", &r);
    assert_eq!(r.body["detail"], "invalid or expired API token");
}

#[tokio::test]
async fn the_audit_log_records_logins_failures_and_the_token_lifecycle() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let failed = app.login(&user.email, "this is not the password").await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    let (id, secret) = create_token(&app, &user, "read", json!({})).await;
    let revoked = app.delete(&format!("/api/tokens/{id}"), user.token()).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    let log = audit_actions(&app, user.token()).await;
    // Newest first.
    assert_eq!(
        actions(&log),
        [
            "api_token.revoked",
            "api_token.created",
            "auth.login_failed",
            "auth.login"
        ],
        "{log:?}"
    );
    let (revoke, create, failure, login) = (&log[0], &log[1], &log[2], &log[3]);
    assert_eq!(revoke["target_type"], "api_token");
    assert_eq!(revoke["target_id"], id.as_str());
    assert_eq!(create["target_id"], id.as_str());
    assert_eq!(create["detail"]["scope"], "read");
    assert_eq!(create["detail"]["name"], "read script");
    assert_eq!(failure["detail"]["email"], user.email.as_str());
    for entry in [revoke, create, failure, login] {
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert!(entry["created_at"].is_string(), "{entry}");
    }
    let text = serde_json::to_string(&log).expect("serializes");
    assert!(
        !text.contains(&secret),
        "the audit log holds a token secret"
    );
    assert!(
        !text.contains("this is not the password"),
        "the audit log holds a password"
    );
    assert!(
        !text.contains(&user.password),
        "the audit log holds a password"
    );
}

#[tokio::test]
async fn only_an_administrator_can_list_users_and_the_role_cannot_be_forged() {
    let app = spawn_app().await;
    let user = TestUser::register(&app).await;
    let (_, read) = create_token(&app, &user, "read", json!({})).await;
    let (_, write) = create_token(&app, &user, "write", json!({})).await;
    for (who, token) in [
        ("session", user.token()),
        ("read token", &read),
        ("write token", &write),
    ] {
        let r = app.get("/api/admin/users", token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.text);
        assert_eq!(r.code(), "FORBIDDEN", "{who}");
        assert!(!r.text.contains(&user.email), "{who}: {}", r.text);
    }
    // A token claiming the admin role is refused outright, signed or not.
    let parts: Vec<&str> = user.access_token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload"))
            .expect("JSON payload");
    claims["role"] = json!("admin");
    let forged = [
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2]),
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        ),
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"guessed-secret-guessed-secret-00"),
        )
        .expect("signs"),
    ];
    for token in &forged {
        let r = app.get("/api/admin/users", token).await;
        assert_unauthenticated("forged admin token", &r);
    }

    app.ctx
        .auth()
        .create_user(
            "root@example.com",
            "administrator password",
            tributary_api::domain::Role::Admin,
        )
        .await
        .expect("admin created");
    let login = app
        .login("root@example.com", "administrator password")
        .await;
    let admin = login.body["access_token"].as_str().expect("access token");
    let r = app.get("/api/admin/users", admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let emails: Vec<&str> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, [user.email.as_str(), "root@example.com"]);
    assert!(
        !r.text.contains("argon2") && !r.text.contains("password"),
        "{}",
        r.text
    );
}
