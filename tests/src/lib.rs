//! Test support for Tributary: `spawn_app()` starts the real server in-process on port 0 with
//! a fresh database (a SQLite temp file, or a fresh PostgreSQL database when
//! `TRIBUTARY_TEST_POSTGRES_URL` is set), plus HTTP helpers and user fixtures.

pub mod mocks;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tributary_api::config::{SecretKeyMaterial, Settings};
use tributary_api::startup::Application;
use uuid::Uuid;

/// Everything the server logs during the test run (at debug level), so tests can check that no
/// secret is ever logged.
pub static LOG_CAPTURE: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = CaptureWriter(buffer.clone());
    let subscriber = tracing_subscriber_fmt(writer);
    let _ = tracing::subscriber::set_global_default(subscriber);
    buffer
});

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn tracing_subscriber_fmt(writer: CaptureWriter) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,sqlx=debug"))
        .with_writer(move || writer.clone())
        .finish()
}

/// The captured log so far, as text.
#[must_use]
pub fn captured_logs() -> String {
    String::from_utf8_lossy(
        &LOG_CAPTURE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

/// A running server for one test.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub ctx: tributary_api::startup::SharedContext,
    pub data_dir: PathBuf,
    /// The SQLite file, when the test runs on SQLite.
    pub sqlite_path: Option<PathBuf>,
    pub settings: Settings,
}

/// A response: status, headers and the body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    /// The problem `code`, for error responses.
    #[must_use]
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// Options for `spawn_app_with`.
#[derive(Default)]
pub struct AppOptions {
    pub env: Vec<(String, String)>,
}

/// No test reaches the internet: every market-data provider points at an unroutable loopback
/// port unless the test points it at its own mock (later pairs win), and the price scheduler
/// is off (tests call `jobs::prices::tick` with their own clock).
#[must_use]
pub fn offline_market_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = ["TIINGO", "YAHOO", "ALPHA_VANTAGE", "COINGECKO"]
        .iter()
        .map(|name| {
            (
                format!("TRIBUTARY__PROVIDERS__{name}__BASE_URL"),
                "http://127.0.0.1:9".to_string(),
            )
        })
        .collect();
    env.push((
        "TRIBUTARY__PRICES__SCHEDULER_ENABLED".into(),
        "false".into(),
    ));
    env
}

/// Starts the app with defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the app with extra settings (`TRIBUTARY__...` pairs).
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    LazyLock::force(&LOG_CAPTURE);
    let data_dir = std::env::temp_dir().join(format!("tributary-test-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data_dir).expect("temp dir");
    let mut env: Vec<(String, String)> = vec![
        ("TRIBUTARY__DATA_DIR".into(), data_dir.display().to_string()),
        ("TRIBUTARY__SERVER__PORT".into(), "0".into()),
        ("TRIBUTARY__SERVER__WORKERS".into(), "2".into()),
        ("TRIBUTARY__DATABASE__MAX_CONNECTIONS".into(), "5".into()),
        (
            "TRIBUTARY__SERVER__SHUTDOWN_TIMEOUT_SECS".into(),
            "1".into(),
        ),
    ];
    let mut sqlite_path = None;
    match std::env::var("TRIBUTARY_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let url = create_postgres_database(&admin_url).await;
            env.push(("DATABASE_URL".into(), url));
        }
        _ => {
            let path = data_dir.join("tributary.db");
            env.push((
                "DATABASE_URL".into(),
                format!("sqlite://{}?mode=rwc", path.display()),
            ));
            sqlite_path = Some(path);
        }
    }
    env.extend(offline_market_env());
    env.extend(options.env);
    let mut settings = Settings::load_from(None, &env).expect("test settings load");
    settings.secret_key = Some(SecretKeyMaterial::from_base64(&base64_key()).expect("test key"));
    let app = Application::build(settings.clone())
        .await
        .expect("app builds");
    let port = app.port();
    let ctx = app.context();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        ctx,
        data_dir,
        sqlite_path,
        settings,
    }
}

fn base64_key() -> String {
    use base64::Engine;
    let mut key = [0u8; 32];
    for (i, b) in Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(Uuid::new_v4().as_bytes())
        .enumerate()
    {
        key[i] = *b;
    }
    base64::engine::general_purpose::STANDARD.encode(key)
}

async fn create_postgres_database(admin_url: &str) -> String {
    let name = format!("trb_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to the admin database");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    // Replace the database name (the last path segment) of the admin URL.
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestApp {
    /// Whether this run uses PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.sqlite_path.is_none()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Sends a raw body with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    async fn read(resp: reqwest::Response) -> TestResponse {
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

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }
    pub async fn post_empty(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::POST, path, Some(token), None).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Runs a GraphQL operation (`token` may be `None` for anonymous calls). Returns the whole
    /// response; GraphQL answers 200 with `errors` for resolver failures.
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> TestResponse {
        self.request(
            Method::POST,
            "/graphql",
            token,
            Some(json!({"query": query, "variables": variables})),
        )
        .await
    }

    /// Logs in and returns the token response body.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Creates an account for the user and returns its id.
    /// `POST /api/accounts/{account}/import{query}` with `bytes` as the multipart field
    /// `file` named `name`: the status and the JSON body (`Null` when there is none).
    pub async fn upload(
        &self,
        token: &str,
        account: &str,
        query: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        let resp = self
            .client
            .post(format!(
                "{}/api/accounts/{account}/import{query}",
                self.address
            ))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload sent");
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn create_account(&self, token: &str, name: &str) -> String {
        let r = self
            .post(
                "/api/accounts",
                token,
                json!({"name": name, "kind": "brokerage", "currency": "USD"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates an account with a DEMO integration (optionally refreshed) and returns its id.
    pub async fn create_demo_account(&self, token: &str, config: Value, refresh: bool) -> String {
        let id = self.create_account(token, "Demo").await;
        let r = self
            .put(
                &format!("/api/accounts/{id}/integration"),
                token,
                json!({"type": "DEMO", "config": config}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if refresh {
            let r = self
                .post_empty(&format!("/api/accounts/{id}/integration/refresh"), token)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        }
        id
    }

    /// Every byte of the database file(s) (SQLite only), for "no plaintext secret" checks.
    #[must_use]
    pub fn raw_database_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", path.display()));
                if let Ok(bytes) = std::fs::read(p) {
                    out.extend(bytes);
                }
            }
        }
        out
    }

    /// Runs a SQL query on the app's database and returns the first column of every row as text.
    pub async fn sql_texts(&self, sql: &str) -> Vec<String> {
        let db = &self.ctx.db;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                sql.to_string(),
            ))
            .await
            .expect("query runs");
        rows.iter()
            .map(|r| {
                r.try_get_by_index::<Option<String>>(0)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A user fixture.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub email: String,
    pub password: String,
    pub id: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    /// Registers and logs in a fresh random user.
    pub async fn register(app: &TestApp) -> Self {
        let email = format!("user-{}@example.com", Uuid::new_v4().simple());
        let password = format!("pw-{}", Uuid::new_v4().simple());
        let r = app
            .request(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let id = r.body["id"].as_str().expect("id").to_string();
        let login = app.login(&email, &password).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.text);
        Self {
            email,
            password,
            id,
            access_token: login.body["access_token"]
                .as_str()
                .expect("token")
                .to_string(),
            refresh_token: login.body["refresh_token"]
                .as_str()
                .expect("token")
                .to_string(),
        }
    }

    /// The bearer token.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.access_token
    }

    /// Creates a personal API token with the scope and returns its secret.
    pub async fn api_token(&self, app: &TestApp, scope: &str) -> String {
        let r = app
            .post(
                "/api/tokens",
                self.token(),
                json!({"name": format!("{scope} token"), "scope": scope}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["secret"].as_str().expect("secret").to_string()
    }
}

impl TestResponse {
    /// The `extensions.code` of every GraphQL error, in order.
    #[must_use]
    pub fn gql_codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<no code>")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `extensions.code` of the first GraphQL error (empty when there is none).
    #[must_use]
    pub fn gql_code(&self) -> String {
        self.gql_codes().into_iter().next().unwrap_or_default()
    }

    /// The `extensions.field` of the first GraphQL error, if any.
    #[must_use]
    pub fn gql_field(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["field"].as_str()
    }
}

impl TestApp {
    /// Runs a GraphQL operation that must succeed (HTTP 200, no `errors`) and returns `data`.
    pub async fn graphql_data(&self, token: &str, query: &str, variables: Value) -> Value {
        let r = self.graphql(Some(token), query, variables).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
        assert!(
            r.body.get("errors").is_none(),
            "{query} answered errors: {}",
            r.text
        );
        r.body["data"].clone()
    }

    /// Opens a subscription WebSocket on `/graphql` with the sub-protocol (`graphql-transport-ws`
    /// or `graphql-ws`), or returns the HTTP status the upgrade was refused with.
    pub async fn graphql_ws_with(&self, protocol: Option<&str>) -> Result<GraphqlWs, StatusCode> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}/graphql", self.port)
            .into_client_request()
            .expect("websocket request");
        if let Some(p) = protocol {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                p.parse().expect("protocol header"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(GraphqlWs { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                Err(StatusCode::from_u16(resp.status().as_u16()).expect("status"))
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Opens a subscription WebSocket that must be accepted.
    pub async fn graphql_ws(&self, protocol: &str) -> GraphqlWs {
        self.graphql_ws_with(Some(protocol))
            .await
            .expect("the websocket upgrade is accepted")
    }
}

/// What a subscription WebSocket said next.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// A JSON text message.
    Message(Value),
    /// The server closed the connection (close code and reason; 1005 when it sent no code).
    Closed { code: u16, reason: String },
    /// Nothing arrived within the wait.
    Silent,
}

/// A GraphQL-over-WebSocket client for subscription tests. Pings are answered and skipped.
pub struct GraphqlWs {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl GraphqlWs {
    /// Sends one JSON message.
    pub async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(
                message.to_string(),
            ))
            .await
            .expect("websocket send");
    }

    /// The next event, waiting at most `wait`.
    pub async fn next_within(&mut self, wait: std::time::Duration) -> WsEvent {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            let Ok(next) = next else {
                return WsEvent::Silent;
            };
            match next {
                None => {
                    return WsEvent::Closed {
                        code: 1006,
                        reason: "stream ended without a close frame".into(),
                    };
                }
                Some(Err(e)) => {
                    return WsEvent::Closed {
                        code: 1006,
                        reason: e.to_string(),
                    };
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
                    if value["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    if value["type"] == "ka" {
                        continue;
                    }
                    return WsEvent::Message(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(f) => WsEvent::Closed {
                            code: u16::from(f.code),
                            reason: f.reason.to_string(),
                        },
                        None => WsEvent::Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                    };
                }
                Some(Ok(Message::Ping(payload))) => {
                    let _ = self.stream.send(Message::Pong(payload)).await;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next event, waiting at most 10 seconds.
    pub async fn next_event(&mut self) -> WsEvent {
        self.next_within(std::time::Duration::from_secs(10)).await
    }

    /// The next event, which must be a JSON message.
    pub async fn next_message(&mut self) -> Value {
        match self.next_event().await {
            WsEvent::Message(v) => v,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Sends `connection_init` with `{"authorization": "Bearer <token>"}` and expects the ack.
    pub async fn init_with_token(&mut self, token: &str) {
        self.send(json!({
            "type": "connection_init",
            "payload": {"authorization": format!("Bearer {token}")},
        }))
        .await;
        let ack = self.next_message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Starts another app (another node) on the same database as `first`, with its secret key, as
/// a second `tributary serve` process sharing one database would run.
pub async fn spawn_app_on(first: &TestApp, options: AppOptions) -> TestApp {
    use secrecy::ExposeSecret;
    LazyLock::force(&LOG_CAPTURE);
    let database_url = first
        .settings
        .database
        .url
        .as_ref()
        .expect("the first app's database URL")
        .expose_secret()
        .to_string();
    let data_dir = std::env::temp_dir().join(format!("tributary-test-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&data_dir).expect("temp dir");
    let mut env: Vec<(String, String)> = vec![
        ("TRIBUTARY__DATA_DIR".into(), data_dir.display().to_string()),
        ("TRIBUTARY__SERVER__PORT".into(), "0".into()),
        ("TRIBUTARY__SERVER__WORKERS".into(), "2".into()),
        ("TRIBUTARY__DATABASE__MAX_CONNECTIONS".into(), "5".into()),
        (
            "TRIBUTARY__SERVER__SHUTDOWN_TIMEOUT_SECS".into(),
            "1".into(),
        ),
        ("DATABASE_URL".into(), database_url),
    ];
    env.extend(offline_market_env());
    env.extend(options.env);
    let mut settings = Settings::load_from(None, &env).expect("test settings load");
    settings.secret_key = first.settings.secret_key.clone();
    let app = Application::build(settings.clone())
        .await
        .expect("app builds");
    let port = app.port();
    let ctx = app.context();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        ctx,
        data_dir,
        sqlite_path: first.sqlite_path.clone(),
        settings,
    }
}
