//! A loopback Interactive Brokers Flex Web Service (v3) for tests: `SendRequest` and
//! `GetStatement` under `/AccountManagement/FlexWebService`, answering the same
//! `FlexStatementResponse` documents and error codes as the real service, with scriptable
//! misbehaviour (generation in progress, throttling, an expired token, HTTP failures) and a
//! record of what it was asked. Each test starts its own instance (a small actix-web server on
//! `127.0.0.1:0`), stopped when the value is dropped.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{NaiveDate, Utc};

/// The path every Flex endpoint lives under, as on IB's hosts.
pub const SERVICE_PATH: &str = "/AccountManagement/FlexWebService";

/// Builds the statement for the period a `SendRequest` asked for (`fd`, `td`; `None` when the
/// request used the query's own period).
pub type StatementFn = dyn Fn(Option<NaiveDate>, Option<NaiveDate>) -> Vec<u8> + Send + Sync;

/// A period as a `SendRequest` gave it.
pub type Period = (Option<NaiveDate>, Option<NaiveDate>);

struct Reference {
    period: Period,
    /// How many more `GetStatement` calls answer 1019 before the statement.
    generating: u32,
}

struct State {
    token: String,
    query_id: String,
    base_url: String,
    statement: Arc<StatementFn>,
    generating_polls: u32,
    throttle_next: u32,
    token_expired: bool,
    http_failures: Option<(u16, u32)>,
    code_failures: Option<(u32, String, u32)>,
    statement_url: Option<String>,
    references: HashMap<String, Reference>,
    next_reference: u64,
    send_requests: u32,
    get_statements: u32,
    periods: Vec<Period>,
    user_agents: Vec<String>,
}

/// A running mock Flex Web Service.
pub struct FlexMock {
    base_url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for FlexMock {
    fn drop(&mut self) {
        // Dropping the server future stops its workers.
        self.server.abort();
    }
}

impl std::fmt::Debug for FlexMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlexMock")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FlexMock {
    /// Starts a service that accepts `token` and knows one Flex query, `query_id`. Until told
    /// otherwise it answers every statement request with [`default_statement`].
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start(token: &str, query_id: &str) -> FlexMock {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let base_url = format!("http://127.0.0.1:{port}{SERVICE_PATH}");
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            query_id: query_id.to_owned(),
            base_url: base_url.clone(),
            statement: Arc::new(default_statement),
            generating_polls: 0,
            throttle_next: 0,
            token_expired: false,
            http_failures: None,
            code_failures: None,
            statement_url: None,
            references: HashMap::new(),
            // Ten digits, like IB's, and different across instances.
            next_reference: 1_000_000_000 + u64::from(port) * 10_000,
            send_requests: 0,
            get_statements: 0,
            periods: Vec::new(),
            user_agents: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    &format!("{SERVICE_PATH}/SendRequest"),
                    web::get().to(send_request),
                )
                .route(
                    &format!("{SERVICE_PATH}/GetStatement"),
                    web::get().to(get_statement),
                )
                .default_service(web::to(HttpResponse::NotFound))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        FlexMock {
            base_url,
            state,
            server: tokio::spawn(server),
        }
    }

    /// `http://127.0.0.1:<port>/AccountManagement/FlexWebService`.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every statement is `bytes`, whatever the period.
    pub fn set_statement(&self, bytes: impl Into<Vec<u8>>) {
        let bytes: Vec<u8> = bytes.into();
        self.state().statement = Arc::new(move |_, _| bytes.clone());
    }

    /// Statements are built from the period each `SendRequest` asked for (`fd`/`td`), e.g. one
    /// year chunk of a backfill.
    pub fn set_statement_for(
        &self,
        build: impl Fn(Option<NaiveDate>, Option<NaiveDate>) -> Vec<u8> + Send + Sync + 'static,
    ) {
        self.state().statement = Arc::new(build);
    }

    /// Every statement requested from now on answers 1019 ("generation in progress") to its
    /// first `n` `GetStatement` calls.
    pub fn generating_polls(&self, n: u32) {
        self.state().generating_polls = n;
    }

    /// The next `n` requests with a valid token (either endpoint) answer 1018 ("too many
    /// requests").
    pub fn throttle_next(&self, n: u32) {
        self.state().throttle_next = n;
    }

    /// The token is expired from now on: every request answers 1012.
    pub fn expire_token(&self) {
        self.state().token_expired = true;
    }

    /// The next `n` requests (either endpoint) fail with HTTP `status` and an HTML page.
    pub fn fail_next_with_http(&self, status: u16, n: u32) {
        self.state().http_failures = Some((status, n));
    }

    /// The next `n` requests with a valid token (either endpoint) answer the Flex error `code`
    /// with `message` (e.g. 1003 "Statement is not available.", 1009 server busy).
    pub fn fail_next_with_code(&self, code: u32, message: &str, n: u32) {
        self.state().code_failures = Some((code, message.to_owned(), n));
    }

    /// `SendRequest` answers name `url` as the `GetStatement` URL (the real service names its
    /// own; a test can name another host).
    pub fn set_statement_url(&self, url: &str) {
        self.state().statement_url = Some(url.to_owned());
    }

    /// How many `SendRequest` calls arrived (including refused ones).
    #[must_use]
    pub fn send_requests(&self) -> u32 {
        self.state().send_requests
    }

    /// How many `GetStatement` calls arrived (including refused ones).
    #[must_use]
    pub fn get_statements(&self) -> u32 {
        self.state().get_statements
    }

    /// The period (`fd`, `td`) of every accepted `SendRequest`, in order.
    #[must_use]
    pub fn requested_periods(&self) -> Vec<Period> {
        self.state().periods.clone()
    }

    /// The `User-Agent` of every request, in order (empty string when absent).
    #[must_use]
    pub fn user_agents(&self) -> Vec<String> {
        self.state().user_agents.clone()
    }
}

/// A small, valid `FlexQueryResponse` with one empty statement for account `U1234567` over
/// the period (the last 30 days when there is none).
#[must_use]
pub fn default_statement(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<u8> {
    let today = Utc::now().date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| to - chrono::Days::new(30));
    format!(
        "<FlexQueryResponse queryName=\"tributary-mock\" type=\"AF\">\n\
         <FlexStatements count=\"1\">\n\
         <FlexStatement accountId=\"U1234567\" fromDate=\"{}\" toDate=\"{}\" period=\"Custom\" whenGenerated=\"{}\">\n\
         </FlexStatement>\n\
         </FlexStatements>\n\
         </FlexQueryResponse>\n",
        from.format("%Y%m%d"),
        to.format("%Y%m%d"),
        Utc::now().format("%Y%m%d;%H%M%S"),
    )
    .into_bytes()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    SendRequest,
    GetStatement,
}

async fn send_request(req: HttpRequest, state: web::Data<Mutex<State>>) -> HttpResponse {
    answer(&req, &state, Endpoint::SendRequest)
}

async fn get_statement(req: HttpRequest, state: web::Data<Mutex<State>>) -> HttpResponse {
    answer(&req, &state, Endpoint::GetStatement)
}

fn answer(req: &HttpRequest, state: &Mutex<State>, endpoint: Endpoint) -> HttpResponse {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    match endpoint {
        Endpoint::SendRequest => state.send_requests += 1,
        Endpoint::GetStatement => state.get_statements += 1,
    }
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.user_agents.push(user_agent);

    if let Some((status, left)) = state.http_failures.as_mut()
        && *left > 0
    {
        *left -= 1;
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return HttpResponse::build(status)
            .content_type("text/html")
            .body("<html><body><h1>Service temporarily unavailable</h1></body></html>");
    }

    let Ok(params) = web::Query::<HashMap<String, String>>::from_query(req.query_string()) else {
        return error(1020, "Invalid request or unable to validate request.");
    };
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let (token, q) = (param("t"), param("q"));
    if token.is_empty() || q.is_empty() || param("v") != "3" {
        return error(1020, "Invalid request or unable to validate request.");
    }
    if state.token_expired {
        return error(1012, "Token has expired.");
    }
    if token != state.token {
        return error(1015, "Token is invalid.");
    }
    if state.throttle_next > 0 {
        state.throttle_next -= 1;
        return error(
            1018,
            "Too many requests have been made from this token. Please try again shortly.",
        );
    }
    if let Some((code, message, left)) = state.code_failures.as_mut()
        && *left > 0
    {
        *left -= 1;
        let (code, message) = (*code, message.clone());
        return error(code, &message);
    }

    match endpoint {
        Endpoint::SendRequest => {
            if q != state.query_id {
                return error(1014, "Query is invalid.");
            }
            let Some(period) = period(param("fd"), param("td")) else {
                return error(1020, "Invalid request or unable to validate request.");
            };
            let code = state.next_reference.to_string();
            state.next_reference += 1;
            let generating = state.generating_polls;
            state
                .references
                .insert(code.clone(), Reference { period, generating });
            state.periods.push(period);
            let url = state
                .statement_url
                .clone()
                .unwrap_or_else(|| format!("{}/GetStatement", state.base_url));
            xml(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <FlexStatementResponse timestamp='{}'>\n\
                 <Status>Success</Status>\n\
                 <ReferenceCode>{code}</ReferenceCode>\n\
                 <Url>{}</Url>\n\
                 </FlexStatementResponse>\n",
                timestamp(),
                escape(&url)
            ))
        }
        Endpoint::GetStatement => {
            let Some(reference) = state.references.get_mut(q) else {
                return error(1017, "Reference code is invalid.");
            };
            if reference.generating > 0 {
                reference.generating -= 1;
                return document(
                    "Warn",
                    1019,
                    "Statement generation in progress. Please try again shortly.",
                );
            }
            let (from, to) = reference.period;
            let build = state.statement.clone();
            drop(state);
            HttpResponse::Ok()
                .content_type("text/xml;charset=utf-8")
                .body(build(from, to))
        }
    }
}

/// `fd`/`td`: both absent, or both `yyyyMMdd` with `fd <= td`.
fn period(fd: &str, td: &str) -> Option<Period> {
    match (fd, td) {
        ("", "") => Some((None, None)),
        (fd, td) => {
            let from = NaiveDate::parse_from_str(fd, "%Y%m%d").ok()?;
            let to = NaiveDate::parse_from_str(td, "%Y%m%d").ok()?;
            (fd.len() == 8 && td.len() == 8 && from <= to).then_some((Some(from), Some(to)))
        }
    }
}

fn error(code: u32, message: &str) -> HttpResponse {
    document("Fail", code, message)
}

fn document(status: &str, code: u32, message: &str) -> HttpResponse {
    xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <FlexStatementResponse timestamp='{}'>\n\
         <Status>{status}</Status>\n\
         <ErrorCode>{code}</ErrorCode>\n\
         <ErrorMessage>{}</ErrorMessage>\n\
         </FlexStatementResponse>\n",
        timestamp(),
        escape(message)
    ))
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml;charset=utf-8")
        .body(body)
}

/// IB's style: `28 August, 2024 10:37 AM EDT` (US Eastern; the mock uses a fixed EST offset).
fn timestamp() -> String {
    (Utc::now() - chrono::Duration::hours(5))
        .format("%d %B, %Y %I:%M %p EST")
        .to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
