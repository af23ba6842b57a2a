//! An HTTPS loopback mock of the IBKR Client Portal gateway (`/v1/api`), with a self-signed
//! certificate made at start-up, as the real gateway ships one. It keeps the gateway's
//! session rules: nothing but `/tickle` and `/iserver/auth/status` answers while not logged
//! in (401), and the per-account portfolio endpoints answer 400 until `/portfolio/accounts`
//! has been called in the session. Positions come 30 to a page, then `[]`.
//!
//! Default data: `U1234567` (Individual, USD) with 65 positions (62 stocks, an option, a
//! future, a forex `CASH` position), USD and EUR cash and 5 recent executions; `U7654321`
//! (Joint, EUR) with 3 positions, EUR cash and 1 execution. Everything is scriptable, faults
//! can be injected per path prefix, and every request is logged with its arrival time.

use std::collections::HashMap;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Positions per page, as the gateway pages them.
pub const PAGE_SIZE: usize = 30;
/// The default main account (Individual, USD base).
pub const MAIN_ACCOUNT: &str = "U1234567";
/// The default second account (Joint, EUR base).
pub const SECOND_ACCOUNT: &str = "U7654321";

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    /// The path after `/v1/api` (`/portfolio/U1234567/positions/0`).
    pub path: String,
    pub query: String,
    /// The status the mock answered.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Debug)]
struct Fault {
    prefix: String,
    status: u16,
    remaining: u32,
}

#[derive(Debug)]
struct State {
    authenticated: bool,
    connected: bool,
    competing: bool,
    /// `/portfolio/accounts` was called in this session.
    primed: bool,
    accounts: Vec<Value>,
    positions: HashMap<String, Vec<Value>>,
    ledgers: HashMap<String, Value>,
    summaries: HashMap<String, Value>,
    trades: Vec<Value>,
    faults: Vec<Fault>,
    log: Vec<RequestRecord>,
}

type Shared = Arc<Mutex<State>>;

/// The running mock; stopped when dropped.
pub struct GatewayMock {
    state: Shared,
    port: u16,
    handle: ServerHandle,
}

impl GatewayMock {
    /// Starts the mock on `127.0.0.1:0` with the default accounts, logged in and connected.
    ///
    /// # Panics
    /// When the certificate cannot be made or the port cannot be bound.
    pub async fn start() -> Self {
        let now = Utc::now();
        let state: Shared = Arc::new(Mutex::new(State {
            authenticated: true,
            connected: true,
            competing: false,
            primed: false,
            accounts: default_accounts(),
            positions: HashMap::from([
                (MAIN_ACCOUNT.to_owned(), main_positions()),
                (SECOND_ACCOUNT.to_owned(), second_positions()),
            ]),
            ledgers: HashMap::from([
                (MAIN_ACCOUNT.to_owned(), main_ledger(now)),
                (SECOND_ACCOUNT.to_owned(), second_ledger(now)),
            ]),
            summaries: HashMap::from([
                (
                    MAIN_ACCOUNT.to_owned(),
                    summary(MAIN_ACCOUNT, "1287345.61", "28851.09", "USD", now),
                ),
                (
                    SECOND_ACCOUNT.to_owned(),
                    summary(SECOND_ACCOUNT, "87654.32", "10500.0", "EUR", now),
                ),
            ]),
            trades: default_trades(now),
            faults: Vec::new(),
            log: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway mock");
        let port = listener.local_addr().expect("local address").port();
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(respond))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen_rustls_0_23(listener, tls_config())
        .expect("listen with TLS")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            state,
            port,
            handle,
        }
    }

    /// Always `127.0.0.1`.
    #[must_use]
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT` (the client appends `/v1/api`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("https://{}:{}", self.host(), self.port)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs the brokerage session in or out. Logging out also ends the session (the next one
    /// must call `/portfolio/accounts` again).
    pub fn set_authenticated(&self, authenticated: bool) {
        let mut state = self.state();
        state.authenticated = authenticated;
        if !authenticated {
            state.primed = false;
        }
    }

    /// Whether the gateway is connected to IBKR's servers.
    pub fn set_connected(&self, connected: bool) {
        self.state().connected = connected;
    }

    /// Whether another session competes for the brokerage connection.
    pub fn set_competing(&self, competing: bool) {
        self.state().competing = competing;
    }

    /// Ends the session as the gateway's nightly restart does: `/portfolio/accounts` must be
    /// called again.
    pub fn restart_session(&self) {
        self.state().primed = false;
    }

    /// Replaces the account list (see [`account`]).
    pub fn set_accounts(&self, accounts: Vec<Value>) {
        self.state().accounts = accounts;
    }

    /// Replaces an account's positions (see [`Stock`]).
    pub fn set_positions(&self, account: &str, positions: Vec<Value>) {
        self.state().positions.insert(account.to_owned(), positions);
    }

    /// Replaces an account's ledger (see [`ledger_entry`]).
    pub fn set_ledger(&self, account: &str, ledger: Value) {
        self.state().ledgers.insert(account.to_owned(), ledger);
    }

    /// Replaces an account's summary (see [`summary`]).
    pub fn set_summary(&self, account: &str, summary: Value) {
        self.state().summaries.insert(account.to_owned(), summary);
    }

    /// Replaces the executions of every account (see [`Execution`]).
    pub fn set_trades(&self, trades: Vec<Value>) {
        self.state().trades = trades;
    }

    /// The current positions of an account.
    #[must_use]
    pub fn positions(&self, account: &str) -> Vec<Value> {
        self.state()
            .positions
            .get(account)
            .cloned()
            .unwrap_or_default()
    }

    /// The current executions of every account.
    #[must_use]
    pub fn trades(&self) -> Vec<Value> {
        self.state().trades.clone()
    }

    /// The next `n` requests whose path (after `/v1/api`) starts with `path_prefix` answer
    /// `status` (429s with `Retry-After: 1`).
    pub fn fail_next(&self, path_prefix: &str, status: u16, n: u32) {
        let prefix = path_prefix
            .strip_prefix("/v1/api")
            .unwrap_or(path_prefix)
            .to_owned();
        self.state().faults.push(Fault {
            prefix,
            status,
            remaining: n,
        });
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    /// The requests whose path starts with `prefix`.
    #[must_use]
    pub fn requests_to(&self, prefix: &str) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state().log.clear();
    }
}

impl Drop for GatewayMock {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = self.handle.clone();
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`.
fn tls_config() -> rustls::ServerConfig {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server certificate")
}

async fn respond(req: HttpRequest, state: web::Data<Shared>) -> HttpResponse {
    let at = Instant::now();
    let method = req.method().as_str().to_owned();
    let query = req.query_string().to_owned();
    let path = req
        .path()
        .strip_prefix("/v1/api")
        .unwrap_or(req.path())
        .to_owned();
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let (status, body) = if req.path().starts_with("/v1/api/") {
        state.answer(&method, &path, &query)
    } else {
        (404, json!({"error": "not found"}))
    };
    state.log.push(RequestRecord {
        method,
        path,
        query,
        status,
        at,
    });
    let mut response = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    if status == 429 {
        response.insert_header(("Retry-After", "1"));
    }
    response.json(body)
}

impl State {
    fn answer(&mut self, method: &str, path: &str, query: &str) -> (u16, Value) {
        if let Some(fault) = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && path.starts_with(&f.prefix))
        {
            fault.remaining -= 1;
            return (
                fault.status,
                json!({"error": "injected fault", "statusCode": fault.status}),
            );
        }
        match (method, path) {
            ("POST", "/tickle") => return (200, self.tickle()),
            ("POST", "/iserver/auth/status") => return (200, self.auth_status()),
            _ => {}
        }
        if !self.authenticated {
            return (
                401,
                json!({"error": "not authenticated", "statusCode": 401}),
            );
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("GET", ["portfolio", "accounts"]) => {
                self.primed = true;
                (200, Value::Array(self.accounts.clone()))
            }
            ("GET", ["iserver", "account", "trades"]) => (200, self.recent_trades(query)),
            ("GET", ["portfolio", account, rest @ ..]) => self.portfolio(account, rest),
            _ => (404, json!({"error": format!("no route {method} {path}")})),
        }
    }

    fn auth_status(&self) -> Value {
        json!({
            "authenticated": self.authenticated,
            "competing": self.competing,
            "connected": self.connected,
            "message": "",
            "MAC": "98:F2:B3:23:BF:A0",
            "serverInfo": {
                "serverName": "JifN19053",
                "serverVersion": "Build 10.25.0p, Dec 5, 2023 5:48:12 PM"
            },
            "fail": ""
        })
    }

    fn tickle(&self) -> Value {
        json!({
            "session": "bb665d0f55b6289d70bc0e8a0b4f7e0e",
            "ssoExpires": 460_311,
            "collission": false,
            "userId": 123_456_789,
            "hmds": {"error": "no bridge"},
            "iserver": {"authStatus": self.auth_status()}
        })
    }

    fn portfolio(&self, account: &str, rest: &[&str]) -> (u16, Value) {
        if !self.primed {
            return (
                400,
                json!({"error": "Please query /portfolio/accounts first", "statusCode": 400}),
            );
        }
        let known = self
            .accounts
            .iter()
            .any(|a| a["accountId"].as_str() == Some(account) || a["id"].as_str() == Some(account));
        if !known {
            return (
                400,
                json!({"error": format!("Account {account} not found"), "statusCode": 400}),
            );
        }
        match rest {
            ["positions", page] => {
                let Ok(page) = page.parse::<usize>() else {
                    return (400, json!({"error": "bad page id"}));
                };
                let all = self.positions.get(account).cloned().unwrap_or_default();
                let slice: Vec<Value> = all
                    .into_iter()
                    .skip(page.saturating_mul(PAGE_SIZE))
                    .take(PAGE_SIZE)
                    .collect();
                (200, Value::Array(slice))
            }
            ["ledger"] => (
                200,
                self.ledgers
                    .get(account)
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            ),
            ["summary"] => (
                200,
                self.summaries
                    .get(account)
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            ),
            _ => (404, json!({"error": "no such portfolio endpoint"})),
        }
    }

    /// Executions of today and the `days - 1` days before (UTC), `days` from the query
    /// (default 1, at most 7).
    fn recent_trades(&self, query: &str) -> Value {
        let days = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("days="))
            .and_then(|d| d.parse::<i64>().ok())
            .unwrap_or(1)
            .clamp(1, 7);
        let today = Utc::now().date_naive();
        let from = (today - TimeDelta::days(days - 1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default();
        Value::Array(
            self.trades
                .iter()
                .filter(|t| t["trade_time_r"].as_i64().unwrap_or_default() >= from)
                .cloned()
                .collect(),
        )
    }
}

/// A decimal from test text.
fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("bad decimal {text:?}: {e}"))
}

/// A JSON float from decimal text, as the gateway sends numbers.
fn num(value: Decimal) -> Value {
    Value::from(value.to_string().parse::<f64>().unwrap_or_default())
}

/// An entry of `/portfolio/accounts`.
#[must_use]
pub fn account(id: &str, title: &str, kind: &str, currency: &str) -> Value {
    json!({
        "id": id,
        "accountId": id,
        "accountVan": id,
        "accountTitle": title,
        "displayName": id,
        "accountAlias": null,
        "accountStatus": 1_644_814_800_000_i64,
        "currency": currency,
        "type": kind,
        "tradingType": "STKNOPT",
        "businessType": "IB_PROSERVE",
        "ibEntity": "IBLLC-US",
        "faclient": false,
        "clearingStatus": "O",
        "covestor": false,
        "noClientTrading": false,
        "trackVirtualFXPortfolio": true,
        "parent": {"mmc": [], "accountId": "", "isMParent": false, "isMChild": false, "isMultiplex": false},
        "desc": id
    })
}

fn default_accounts() -> Vec<Value> {
    vec![
        account(MAIN_ACCOUNT, "Jane Doe", "INDIVIDUAL", "USD"),
        account(SECOND_ACCOUNT, "Jane and John Doe", "JOINT", "EUR"),
    ]
}

/// A stock position; decimals as text so the JSON floats print exactly these digits.
#[derive(Debug, Clone)]
pub struct Stock<'a> {
    pub conid: i64,
    pub ticker: &'a str,
    pub name: &'a str,
    /// IB listing exchange (NASDAQ, NYSE, ARCA, IBIS, AEB, ...).
    pub exchange: &'a str,
    pub currency: &'a str,
    /// COMMON, ETF, ...
    pub stock_type: &'a str,
    pub quantity: &'a str,
    pub price: &'a str,
    /// Per share.
    pub avg_cost: &'a str,
}

impl Stock<'_> {
    /// The position as `/portfolio/{id}/positions/{page}` lists it (market value rounded to
    /// cents).
    #[must_use]
    pub fn position(&self, account: &str) -> Value {
        let quantity = dec(self.quantity);
        let price = dec(self.price);
        let avg_cost = dec(self.avg_cost);
        let value = (quantity * price).round_dp(2);
        json!({
            "acctId": account,
            "conid": self.conid,
            "contractDesc": self.ticker,
            "position": num(quantity),
            "mktPrice": num(price),
            "mktValue": num(value),
            "currency": self.currency,
            "avgCost": num(avg_cost),
            "avgPrice": num(avg_cost),
            "realizedPnl": 0.0,
            "unrealizedPnl": num((value - quantity * avg_cost).round_dp(2)),
            "exchs": null,
            "expiry": null,
            "putOrCall": null,
            "multiplier": 0.0,
            "strike": "0",
            "exerciseStyle": null,
            "conExchMap": [],
            "assetClass": "STK",
            "undConid": 0,
            "model": "",
            "time": 43,
            "listingExchange": self.exchange,
            "countryCode": if self.currency == "USD" { "US" } else { "DE" },
            "name": self.name,
            "lastTradingDay": null,
            "group": "",
            "sector": "",
            "sectorGroup": "",
            "ticker": self.ticker,
            "type": self.stock_type,
            "hasOptions": true,
            "fullName": self.ticker,
            "isUS": self.currency == "USD",
            "isEventContract": false,
            "pageSize": 100
        })
    }
}

/// US stocks of the main account after AAPL: ticker, exchange, name.
const US_STOCKS: [(&str, &str, &str); 61] = [
    ("MSFT", "NASDAQ", "MICROSOFT CORP"),
    ("AMZN", "NASDAQ", "AMAZON.COM INC"),
    ("NVDA", "NASDAQ", "NVIDIA CORP"),
    ("GOOGL", "NASDAQ", "ALPHABET INC-CL A"),
    ("META", "NASDAQ", "META PLATFORMS INC-CLASS A"),
    ("BRK B", "NYSE", "BERKSHIRE HATHAWAY INC-CL B"),
    ("JPM", "NYSE", "JPMORGAN CHASE & CO"),
    ("V", "NYSE", "VISA INC-CLASS A SHARES"),
    ("JNJ", "NYSE", "JOHNSON & JOHNSON"),
    ("WMT", "NYSE", "WALMART INC"),
    ("PG", "NYSE", "PROCTER & GAMBLE CO/THE"),
    ("MA", "NYSE", "MASTERCARD INC - A"),
    ("HD", "NYSE", "HOME DEPOT INC"),
    ("XOM", "NYSE", "EXXON MOBIL CORP"),
    ("CVX", "NYSE", "CHEVRON CORP"),
    ("KO", "NYSE", "COCA-COLA CO/THE"),
    ("PEP", "NASDAQ", "PEPSICO INC"),
    ("ABBV", "NYSE", "ABBVIE INC"),
    ("MRK", "NYSE", "MERCK & CO. INC."),
    ("COST", "NASDAQ", "COSTCO WHOLESALE CORP"),
    ("AVGO", "NASDAQ", "BROADCOM INC"),
    ("ADBE", "NASDAQ", "ADOBE INC"),
    ("CRM", "NYSE", "SALESFORCE INC"),
    ("NFLX", "NASDAQ", "NETFLIX INC"),
    ("TMO", "NYSE", "THERMO FISHER SCIENTIFIC INC"),
    ("ORCL", "NYSE", "ORACLE CORP"),
    ("CSCO", "NASDAQ", "CISCO SYSTEMS INC"),
    ("ACN", "NYSE", "ACCENTURE PLC-CL A"),
    ("MCD", "NYSE", "MCDONALD'S CORP"),
    ("ABT", "NYSE", "ABBOTT LABORATORIES"),
    ("DIS", "NYSE", "WALT DISNEY CO/THE"),
    ("INTC", "NASDAQ", "INTEL CORP"),
    ("AMD", "NASDAQ", "ADVANCED MICRO DEVICES"),
    ("QCOM", "NASDAQ", "QUALCOMM INC"),
    ("TXN", "NASDAQ", "TEXAS INSTRUMENTS INC"),
    ("IBM", "NYSE", "INTL BUSINESS MACHINES CORP"),
    ("NKE", "NYSE", "NIKE INC -CL B"),
    ("UNH", "NYSE", "UNITEDHEALTH GROUP INC"),
    ("LLY", "NYSE", "ELI LILLY & CO"),
    ("PFE", "NYSE", "PFIZER INC"),
    ("T", "NYSE", "AT&T INC"),
    ("VZ", "NYSE", "VERIZON COMMUNICATIONS INC"),
    ("BAC", "NYSE", "BANK OF AMERICA CORP"),
    ("WFC", "NYSE", "WELLS FARGO & CO"),
    ("GS", "NYSE", "GOLDMAN SACHS GROUP INC"),
    ("MS", "NYSE", "MORGAN STANLEY"),
    ("C", "NYSE", "CITIGROUP INC"),
    ("BA", "NYSE", "BOEING CO/THE"),
    ("CAT", "NYSE", "CATERPILLAR INC"),
    ("DE", "NYSE", "DEERE & CO"),
    ("GE", "NYSE", "GENERAL ELECTRIC CO"),
    ("HON", "NASDAQ", "HONEYWELL INTERNATIONAL INC"),
    ("UPS", "NYSE", "UNITED PARCEL SERVICE-CL B"),
    ("LOW", "NYSE", "LOWE'S COS INC"),
    ("SBUX", "NASDAQ", "STARBUCKS CORP"),
    ("PYPL", "NASDAQ", "PAYPAL HOLDINGS INC"),
    ("TSLA", "NASDAQ", "TESLA INC"),
    ("SPY", "ARCA", "SPDR S&P 500 ETF TRUST"),
    ("QQQ", "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    ("VTI", "ARCA", "VANGUARD TOTAL STOCK MKT ETF"),
    ("IEMG", "ARCA", "ISHARES CORE MSCI EMERGING"),
];

/// The conid the mock gives the `i`-th generated stock.
fn stock_conid(i: usize) -> i64 {
    4_100_000 + i64::try_from(i).unwrap_or_default() * 97
}

/// AAPL (the figures of IBKR's documentation example), 61 more US stocks and ETFs, then an
/// AAPL call (short 2), an ES future (long 1) and a forex `EUR.USD` cash position: 65
/// positions, three pages.
fn main_positions() -> Vec<Value> {
    let mut positions = vec![
        Stock {
            conid: 265_598,
            ticker: "AAPL",
            name: "APPLE INC",
            exchange: "NASDAQ",
            currency: "USD",
            stock_type: "COMMON",
            quantity: "614.2639",
            price: "197.3840027",
            avg_cost: "192.7477563",
        }
        .position(MAIN_ACCOUNT),
    ];
    for (i, (ticker, exchange, name)) in US_STOCKS.iter().enumerate() {
        let n = i64::try_from(i).unwrap_or_default();
        let quantity = (10 + n * 7 % 90).to_string();
        let price = Decimal::new(1500 + (n * 3_713) % 48_000, 2);
        let avg_cost = (price * dec("0.9137")).round_dp(4);
        let etf = matches!(*ticker, "SPY" | "QQQ" | "VTI" | "IEMG");
        positions.push(
            Stock {
                conid: if *ticker == "MSFT" {
                    272_093
                } else {
                    stock_conid(i)
                },
                ticker,
                name,
                exchange,
                currency: "USD",
                stock_type: if etf { "ETF" } else { "COMMON" },
                quantity: &quantity,
                price: &price.to_string(),
                avg_cost: &avg_cost.to_string(),
            }
            .position(MAIN_ACCOUNT),
        );
    }
    positions.push(json!({
        "acctId": MAIN_ACCOUNT,
        "conid": 731_234_567,
        "contractDesc": "AAPL  JAN2027 200 C [AAPL  270115C00200000 100]",
        "position": -2.0,
        "mktPrice": 5.35,
        "mktValue": -1070.0,
        "currency": "USD",
        "avgCost": 412.5,
        "avgPrice": 4.125,
        "realizedPnl": 0.0,
        "unrealizedPnl": -245.0,
        "expiry": "20270115",
        "putOrCall": "C",
        "multiplier": 100.0,
        "strike": 200,
        "assetClass": "OPT",
        "undConid": 265_598,
        "listingExchange": "CBOE",
        "ticker": "AAPL",
        "name": "APPLE INC",
        "fullName": "AAPL JAN2027 200 C",
        "isUS": true
    }));
    positions.push(json!({
        "acctId": MAIN_ACCOUNT,
        "conid": 495_512_563,
        "contractDesc": "ES MAR2027",
        "position": 1.0,
        "mktPrice": 6050.25,
        "mktValue": 302_512.5,
        "currency": "USD",
        "avgCost": 297_000.0,
        "avgPrice": 5940.0,
        "realizedPnl": 0.0,
        "unrealizedPnl": 5512.5,
        "expiry": "20270319",
        "putOrCall": null,
        "multiplier": 50.0,
        "strike": "0",
        "assetClass": "FUT",
        "undConid": 11_004_968,
        "listingExchange": "CME",
        "ticker": "ES",
        "name": "E-mini S&P 500",
        "fullName": "ES MAR2027",
        "isUS": true
    }));
    positions.push(json!({
        "acctId": MAIN_ACCOUNT,
        "conid": 12_087_792,
        "contractDesc": "EUR.USD",
        "position": 3150.5,
        "mktPrice": 1.0852,
        "mktValue": 3418.92,
        "currency": "USD",
        "avgCost": 1.0791,
        "avgPrice": 1.0791,
        "realizedPnl": 0.0,
        "unrealizedPnl": 19.22,
        "assetClass": "CASH",
        "listingExchange": "IDEALPRO",
        "ticker": "EUR",
        "name": "European Monetary Union Euro",
        "fullName": "EUR.USD"
    }));
    positions
}

fn second_positions() -> Vec<Value> {
    [
        (
            14_204, "SAP", "SAP SE", "IBIS", "COMMON", "25", "180.12", "151.3",
        ),
        (
            117_902_840,
            "ASML",
            "ASML HOLDING NV",
            "AEB",
            "COMMON",
            "6",
            "655.4",
            "601.25",
        ),
        (
            416_787_478,
            "VWCE",
            "VANG FTSE AW USDA",
            "IBIS2",
            "ETF",
            "140",
            "118.86",
            "101.02",
        ),
    ]
    .into_iter()
    .map(
        |(conid, ticker, name, exchange, stock_type, quantity, price, avg_cost)| {
            Stock {
                conid,
                ticker,
                name,
                exchange,
                currency: "EUR",
                stock_type,
                quantity,
                price,
                avg_cost,
            }
            .position(SECOND_ACCOUNT)
        },
    )
    .collect()
}

/// One currency of a ledger (`currency` is the code, or `BASE` for the totals).
#[must_use]
pub fn ledger_entry(
    account: &str,
    currency: &str,
    cash: &str,
    net_liquidation: Option<&str>,
    at: DateTime<Utc>,
) -> Value {
    let cash = num(dec(cash));
    json!({
        "commoditymarketvalue": 0.0,
        "futuremarketvalue": 0.0,
        "settledcash": cash,
        "exchangerate": 1,
        "sessionid": 1,
        "cashbalance": cash,
        "corporatebondsmarketvalue": 0.0,
        "warrantsmarketvalue": 0.0,
        "netliquidationvalue": net_liquidation.map(|n| num(dec(n))),
        "interest": 0.0,
        "unrealizedpnl": 0.0,
        "stockmarketvalue": 0.0,
        "moneyfunds": 0.0,
        "currency": currency,
        "realizedpnl": 0.0,
        "funds": 0.0,
        "acctcode": account,
        "issueroptionsmarketvalue": 0.0,
        "key": "LedgerList",
        "timestamp": at.timestamp(),
        "severity": 0,
        "stockoptionmarketvalue": 0.0,
        "futuresonlypnl": 0.0,
        "tradestoday": 0,
        "secondkey": currency,
        "cashbalancefxsegment": 0.0,
        "billable": 0.0,
        "dividends": 0.0
    })
}

fn main_ledger(at: DateTime<Utc>) -> Value {
    json!({
        "USD": ledger_entry(MAIN_ACCOUNT, "USD", "25432.17", None, at),
        "EUR": ledger_entry(MAIN_ACCOUNT, "EUR", "3150.5", None, at),
        "BASE": ledger_entry(MAIN_ACCOUNT, "BASE", "28851.09", Some("1287345.61"), at),
    })
}

fn second_ledger(at: DateTime<Utc>) -> Value {
    json!({
        "EUR": ledger_entry(SECOND_ACCOUNT, "EUR", "10500.0", None, at),
        "BASE": ledger_entry(SECOND_ACCOUNT, "BASE", "10500.0", Some("87654.32"), at),
    })
}

/// `/portfolio/{id}/summary` with the net liquidation and total cash in `currency`.
#[must_use]
pub fn summary(
    account: &str,
    net_liquidation: &str,
    total_cash: &str,
    currency: &str,
    at: DateTime<Utc>,
) -> Value {
    let amount = |value: Value| {
        json!({
            "amount": value,
            "currency": currency,
            "isNull": false,
            "timestamp": at.timestamp_millis(),
            "value": null,
            "severity": 0
        })
    };
    json!({
        "accountcode": {
            "amount": 0.0, "currency": null, "isNull": false,
            "timestamp": at.timestamp_millis(), "value": account, "severity": 0
        },
        "accounttype": {
            "amount": 0.0, "currency": null, "isNull": false,
            "timestamp": at.timestamp_millis(), "value": "INDIVIDUAL", "severity": 0
        },
        "netliquidation": amount(num(dec(net_liquidation))),
        "totalcashvalue": amount(num(dec(total_cash))),
        "availablefunds": amount(num(dec(total_cash))),
    })
}

/// An execution as `/iserver/account/trades` lists it; decimals as text.
#[derive(Debug, Clone)]
pub struct Execution<'a> {
    pub id: &'a str,
    pub account: &'a str,
    pub conid: i64,
    pub symbol: &'a str,
    /// STK, OPT, FUT, ...
    pub sec_type: &'a str,
    /// `B` or `S`.
    pub side: &'a str,
    pub size: &'a str,
    pub price: &'a str,
    pub commission: &'a str,
    /// Multiplier for the net amount (1 for stocks).
    pub multiplier: i64,
    /// Sent only when `Some` (the real endpoint often omits it).
    pub currency: Option<&'a str>,
    /// `NASDAQ.NMS`, `IBIS`, ...
    pub listing_exchange: &'a str,
    pub at: DateTime<Utc>,
}

impl Execution<'_> {
    /// The execution's JSON (`net_amount` = size × price × multiplier).
    #[must_use]
    pub fn json(&self) -> Value {
        let size = dec(self.size);
        let price = dec(self.price);
        let net = size * price * Decimal::from(self.multiplier);
        let verb = if self.side == "B" { "Bought" } else { "Sold" };
        let mut trade = json!({
            "execution_id": self.id,
            "symbol": self.symbol,
            "supports_tax_opt": "1",
            "side": self.side,
            "order_description": format!("{verb} {size} @ {price} on {}", self.listing_exchange),
            "trade_time": self.at.format("%Y%m%d-%H:%M:%S").to_string(),
            "trade_time_r": self.at.timestamp_millis(),
            "size": num(size),
            "price": self.price,
            "order_ref": "",
            "submitter": "janedoe123",
            "exchange": "ISLAND",
            "commission": self.commission,
            "net_amount": num(net),
            "account": self.account,
            "accountCode": self.account,
            "account_allocation_name": self.account,
            "company_name": self.symbol,
            "contract_description_1": self.symbol,
            "sec_type": self.sec_type,
            "listing_exchange": self.listing_exchange,
            "conid": self.conid,
            "conidEx": self.conid.to_string(),
            "clearing_id": "IB",
            "clearing_name": "IB",
            "liquidation_trade": "0",
            "is_event_trading": "0"
        });
        if let (Some(currency), Some(object)) = (self.currency, trade.as_object_mut()) {
            object.insert("currency".to_owned(), Value::from(currency));
        }
        trade
    }
}

/// Five executions of the main account in the last three days (one without a currency), and
/// one of the second account.
fn default_trades(now: DateTime<Utc>) -> Vec<Value> {
    let ago = |hours: i64| now - TimeDelta::hours(hours);
    let stock = |id, symbol, conid, side, size, price, commission, currency, hours| Execution {
        id,
        account: MAIN_ACCOUNT,
        conid,
        symbol,
        sec_type: "STK",
        side,
        size,
        price,
        commission,
        multiplier: 1,
        currency,
        listing_exchange: "NASDAQ.NMS",
        at: ago(hours),
    };
    vec![
        stock(
            "0000e0d5.67a1b2c3.01.01",
            "AAPL",
            265_598,
            "B",
            "10",
            "189.71",
            "1.00",
            Some("USD"),
            70,
        )
        .json(),
        stock(
            "0000e0d5.67a1b2c4.01.01",
            "AAPL",
            265_598,
            "S",
            "5",
            "192.26",
            "1.01",
            None,
            46,
        )
        .json(),
        stock(
            "0000e0d5.67a1b2c5.01.01",
            "MSFT",
            272_093,
            "B",
            "3",
            "420.55",
            "0.35",
            Some("USD"),
            26,
        )
        .json(),
        Execution {
            sec_type: "OPT",
            multiplier: 100,
            listing_exchange: "CBOE",
            ..stock(
                "0000e0d5.67a1b2c6.01.01",
                "AAPL",
                731_234_567,
                "S",
                "1",
                "5.35",
                "0.65",
                Some("USD"),
                2,
            )
        }
        .json(),
        Execution {
            listing_exchange: "IBIS",
            ..stock(
                "0000e0d5.67a1b2c7.01.01",
                "SAP",
                14_204,
                "B",
                "4",
                "180.12",
                "1.25",
                Some("EUR"),
                20,
            )
        }
        .json(),
        Execution {
            account: SECOND_ACCOUNT,
            listing_exchange: "AEB",
            ..stock(
                "0000e0d5.67a1b2c8.01.01",
                "ASML",
                117_902_840,
                "B",
                "2",
                "655.4",
                "2.00",
                Some("EUR"),
                22,
            )
        }
        .json(),
    ]
}
