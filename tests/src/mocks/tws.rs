//! A loopback TWS / IB Gateway that speaks the socket protocol `ibapi` 5.x expects.
//!
//! The wire, as the mock plays it:
//!
//! 1. the client opens with `API\0` and a length-prefixed version range (`v213..226`);
//! 2. the mock answers one length-prefixed text frame, `<server version>\0<connection
//!    time>\0` (the version is the client's maximum capped at [`TwsData::server_version`]);
//! 3. from then on every frame is `[4-byte BE length][4-byte BE message id][payload]`; an id
//!    above 200 marks a protobuf payload (`id - 200` is the TWS message id);
//! 4. after `StartApi` (71) the mock sends a farm-status notice (error 2104),
//!    `ManagedAccounts` (15) and `NextValidId` (9);
//! 5. it answers `RequestPositions` (61) with `Position` (61) frames and `PositionEnd` (62),
//!    `RequestAccountSummary` (62) with `AccountSummary` (63) rows and `AccountSummaryEnd`
//!    (64), `RequestExecutions` (7) with `ExecutionDetails` (11) each followed by its
//!    `CommissionAndFeesReport` (59), then `ExecutionDetailsEnd` (55), and
//!    `RequestManagedAccounts` (17) with `ManagedAccounts`.
//!
//! Errors are `ErrorMessage` (4) frames. The protobuf messages below mirror the field tags of
//! IB's `.proto` files for the fields the mock uses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, Utc};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Protobuf message ids are sent with this offset added.
const PROTOBUF_OFFSET: i32 = 200;

/// Incoming (server → client) message ids.
mod incoming {
    pub const ERROR: i32 = 4;
    pub const NEXT_VALID_ID: i32 = 9;
    pub const EXECUTION_DATA: i32 = 11;
    pub const MANAGED_ACCOUNTS: i32 = 15;
    pub const EXECUTION_DATA_END: i32 = 55;
    pub const COMMISSION_REPORT: i32 = 59;
    pub const POSITION: i32 = 61;
    pub const POSITION_END: i32 = 62;
    pub const ACCOUNT_SUMMARY: i32 = 63;
    pub const ACCOUNT_SUMMARY_END: i32 = 64;
}

/// Outgoing (client → server) message ids.
mod outgoing {
    pub const REQUEST_EXECUTIONS: i32 = 7;
    pub const REQUEST_MANAGED_ACCOUNTS: i32 = 17;
    pub const REQUEST_POSITIONS: i32 = 61;
    pub const REQUEST_ACCOUNT_SUMMARY: i32 = 62;
    pub const CANCEL_ACCOUNT_SUMMARY: i32 = 63;
    pub const CANCEL_POSITIONS: i32 = 64;
    pub const START_API: i32 = 71;
}

/// The account summary tags `$LEDGER:ALL` stands for (one row per currency each).
const LEDGER_TAGS: [&str; 6] = [
    "CashBalance",
    "TotalCashBalance",
    "Currency",
    "ExchangeRate",
    "NetLiquidationByCurrency",
    "StockMarketValue",
];

/// An instrument as TWS describes it in `Position` and `ExecutionDetails` frames.
#[derive(Debug, Clone, Default)]
pub struct MockContract {
    pub con_id: i32,
    pub symbol: String,
    pub sec_type: String,
    pub last_trade_date_or_contract_month: String,
    pub strike: Option<f64>,
    pub right: Option<String>,
    pub multiplier: Option<f64>,
    pub exchange: String,
    pub primary_exchange: String,
    pub currency: String,
    pub local_symbol: String,
    pub trading_class: String,
}

impl MockContract {
    /// A stock listed on `primary_exchange`.
    #[must_use]
    pub fn stock(symbol: &str, primary_exchange: &str, currency: &str, con_id: i32) -> Self {
        Self {
            con_id,
            symbol: symbol.into(),
            sec_type: "STK".into(),
            primary_exchange: primary_exchange.into(),
            currency: currency.into(),
            local_symbol: symbol.into(),
            trading_class: symbol.into(),
            ..Self::default()
        }
    }

    /// An equity option (`right` is `C` or `P`, `expiry` is `YYYYMMDD`).
    #[must_use]
    pub fn option(
        underlying: &str,
        expiry: &str,
        strike: f64,
        right: &str,
        local_symbol: &str,
        con_id: i32,
    ) -> Self {
        Self {
            con_id,
            symbol: underlying.into(),
            sec_type: "OPT".into(),
            last_trade_date_or_contract_month: expiry.into(),
            strike: Some(strike),
            right: Some(right.into()),
            multiplier: Some(100.0),
            exchange: "SMART".into(),
            currency: "USD".into(),
            local_symbol: local_symbol.into(),
            trading_class: underlying.into(),
            ..Self::default()
        }
    }

    /// A future (`expiry` is `YYYYMMDD`).
    #[must_use]
    pub fn future(
        underlying: &str,
        expiry: &str,
        multiplier: f64,
        local_symbol: &str,
        exchange: &str,
        con_id: i32,
    ) -> Self {
        Self {
            con_id,
            symbol: underlying.into(),
            sec_type: "FUT".into(),
            last_trade_date_or_contract_month: expiry.into(),
            multiplier: Some(multiplier),
            exchange: exchange.into(),
            currency: "USD".into(),
            local_symbol: local_symbol.into(),
            trading_class: underlying.into(),
            ..Self::default()
        }
    }
}

/// A managed account.
#[derive(Debug, Clone)]
pub struct MockAccount {
    pub id: String,
}

/// One `Position` frame.
#[derive(Debug, Clone)]
pub struct MockPosition {
    pub account: String,
    pub contract: MockContract,
    /// As TWS sends it: a decimal string.
    pub position: String,
    pub avg_cost: f64,
}

/// One account summary row. Rows whose tag is one of the `$LEDGER` tags are sent when the
/// client asks for `$LEDGER:ALL`; the others when their tag is asked for.
#[derive(Debug, Clone)]
pub struct MockSummaryRow {
    pub account: String,
    pub tag: String,
    pub value: String,
    pub currency: String,
}

impl MockSummaryRow {
    #[must_use]
    pub fn new(account: &str, tag: &str, value: &str, currency: &str) -> Self {
        Self {
            account: account.into(),
            tag: tag.into(),
            value: value.into(),
            currency: currency.into(),
        }
    }
}

/// A commission report for one execution.
#[derive(Debug, Clone)]
pub struct MockCommission {
    pub amount: f64,
    pub currency: String,
    /// Send the report after `ExecutionDetailsEnd` instead of right after the execution.
    pub after_end: bool,
}

/// One `ExecutionDetails` frame (and its commission report).
#[derive(Debug, Clone)]
pub struct MockExecution {
    pub contract: MockContract,
    pub exec_id: String,
    /// As TWS sends it, e.g. `20250115-14:30:05` (UTC) or `20250115 09:30:05 US/Eastern`.
    pub time: String,
    pub account: String,
    /// `BOT` or `SLD`.
    pub side: String,
    /// As TWS sends it: a decimal string.
    pub shares: String,
    pub price: f64,
    /// The API client that placed the order (0 for TWS itself).
    pub client_id: i32,
    pub order_id: i32,
    pub commission: Option<MockCommission>,
}

/// What goes wrong, if anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TwsFault {
    /// Behave.
    #[default]
    None,
    /// Accept the socket, then close it without a handshake reply.
    CloseOnConnect,
    /// Reply to the handshake, then close before `startApi` is answered.
    CloseAfterHandshake,
    /// Accept the socket and read, but never send a byte.
    NeverAnswer,
    /// Answer `startApi` with error 326 (client id in use) and close, as TWS does.
    ClientIdInUse,
    /// Complete the handshake, then ignore every request.
    IgnoreRequests,
}

/// Everything the mock serves.
#[derive(Debug, Clone)]
pub struct TwsData {
    /// The highest server version the mock speaks (answer: min(this, client max)).
    pub server_version: i32,
    pub accounts: Vec<MockAccount>,
    pub positions: Vec<MockPosition>,
    pub summary: Vec<MockSummaryRow>,
    pub executions: Vec<MockExecution>,
    pub fault: TwsFault,
}

impl Default for TwsData {
    fn default() -> Self {
        Self {
            server_version: 213,
            accounts: Vec::new(),
            positions: Vec::new(),
            summary: Vec::new(),
            executions: Vec::new(),
            fault: TwsFault::None,
        }
    }
}

/// A request the mock received, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwsRequest {
    /// `API\0` + `v<min>..<max>`.
    Handshake {
        min_version: i32,
        max_version: i32,
    },
    StartApi {
        client_id: i32,
    },
    ManagedAccounts,
    Positions,
    CancelPositions,
    AccountSummary {
        req_id: i32,
        group: String,
        tags: Vec<String>,
    },
    CancelAccountSummary {
        req_id: i32,
    },
    Executions {
        req_id: i32,
        client_id: Option<i32>,
        account: String,
        time: String,
    },
    /// Any other message id (protobuf offset removed).
    Other(i32),
}

/// A running mock TWS on 127.0.0.1. Stops when dropped.
pub struct TwsMock {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<TwsRequest>>>,
    task: JoinHandle<()>,
}

impl TwsMock {
    /// Starts the mock on an ephemeral loopback port.
    ///
    /// # Panics
    /// When the loopback listener cannot be bound.
    pub async fn start(data: TwsData) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind the mock TWS listener: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("mock TWS listener has no address: {e}"),
        };
        let requests = Arc::new(Mutex::new(Vec::new()));
        let data = Arc::new(data);
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let data = data.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    // A session ends with the client's disconnect; its I/O errors are expected.
                    let _ = Session::new(socket, data, recorded).run().await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// `127.0.0.1`.
    #[must_use]
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in order, over all connections.
    #[must_use]
    pub fn requests(&self) -> Vec<TwsRequest> {
        match self.requests.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Drop for TwsMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection.
struct Session {
    socket: TcpStream,
    data: Arc<TwsData>,
    requests: Arc<Mutex<Vec<TwsRequest>>>,
}

type IoResult<T> = std::io::Result<T>;

impl Session {
    fn new(socket: TcpStream, data: Arc<TwsData>, requests: Arc<Mutex<Vec<TwsRequest>>>) -> Self {
        Self {
            socket,
            data,
            requests,
        }
    }

    fn record(&self, request: TwsRequest) {
        match self.requests.lock() {
            Ok(mut guard) => guard.push(request),
            Err(poisoned) => poisoned.into_inner().push(request),
        }
    }

    async fn run(mut self) -> IoResult<()> {
        let fault = self.data.fault;
        if fault == TwsFault::CloseOnConnect {
            return self.socket.shutdown().await;
        }
        let mut prefix = [0u8; 4];
        self.socket.read_exact(&mut prefix).await?;
        if &prefix != b"API\0" {
            return Err(std::io::Error::other("not a TWS API client"));
        }
        let range = String::from_utf8_lossy(&self.read_frame().await?).into_owned();
        let (min_version, max_version) = parse_version_range(&range);
        self.record(TwsRequest::Handshake {
            min_version,
            max_version,
        });
        if fault == TwsFault::NeverAnswer {
            let mut sink = [0u8; 1024];
            while self.socket.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        let version = self.data.server_version.min(max_version);
        let connected_at = Utc::now().format("%Y%m%d %H:%M:%S UTC");
        self.write_frame(format!("{version}\0{connected_at}\0").as_bytes())
            .await?;
        if fault == TwsFault::CloseAfterHandshake {
            return self.socket.shutdown().await;
        }

        loop {
            let frame = match self.read_frame().await {
                Ok(frame) => frame,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            };
            let Some((header, payload)) = frame.split_first_chunk::<4>() else {
                continue;
            };
            let raw_id = i32::from_be_bytes(*header);
            let id = if raw_id > PROTOBUF_OFFSET {
                raw_id - PROTOBUF_OFFSET
            } else {
                raw_id
            };
            self.handle(id, payload).await?;
        }
    }

    async fn handle(&mut self, id: i32, payload: &[u8]) -> IoResult<()> {
        let fault = self.data.fault;
        match id {
            outgoing::START_API => {
                let request = pb::StartApiRequest::decode(payload).unwrap_or_default();
                self.record(TwsRequest::StartApi {
                    client_id: request.client_id.unwrap_or_default(),
                });
                if fault == TwsFault::ClientIdInUse {
                    self.send_error(
                        -1,
                        326,
                        "Unable to connect as the client id is already in use. Retry with a \
                         unique client id.",
                    )
                    .await?;
                    return self.socket.shutdown().await;
                }
                self.send_error(-1, 2104, "Market data farm connection is OK:usfarm")
                    .await?;
                self.send_managed_accounts().await?;
                self.send(
                    incoming::NEXT_VALID_ID,
                    &pb::NextValidId { order_id: Some(1) },
                )
                .await
            }
            _ if fault == TwsFault::IgnoreRequests => {
                self.record(TwsRequest::Other(id));
                Ok(())
            }
            outgoing::REQUEST_MANAGED_ACCOUNTS => {
                self.record(TwsRequest::ManagedAccounts);
                self.send_managed_accounts().await
            }
            outgoing::REQUEST_POSITIONS => {
                self.record(TwsRequest::Positions);
                for p in self.data.positions.clone() {
                    let frame = pb::Position {
                        account: Some(p.account.clone()),
                        contract: Some(contract_pb(&p.contract)),
                        position: Some(p.position.clone()),
                        avg_cost: Some(p.avg_cost),
                    };
                    self.send(incoming::POSITION, &frame).await?;
                }
                self.send(incoming::POSITION_END, &pb::PositionEnd {}).await
            }
            outgoing::CANCEL_POSITIONS => {
                self.record(TwsRequest::CancelPositions);
                Ok(())
            }
            outgoing::REQUEST_ACCOUNT_SUMMARY => {
                let request = pb::AccountSummaryRequest::decode(payload).unwrap_or_default();
                let req_id = request.req_id.unwrap_or_default();
                let tags: Vec<String> = request
                    .tags
                    .unwrap_or_default()
                    .split(',')
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect();
                self.record(TwsRequest::AccountSummary {
                    req_id,
                    group: request.group.unwrap_or_default(),
                    tags: tags.clone(),
                });
                let ledger = tags.iter().any(|t| t.starts_with("$LEDGER"));
                for row in self.data.summary.clone() {
                    let wanted = if LEDGER_TAGS.contains(&row.tag.as_str()) {
                        ledger
                    } else {
                        tags.contains(&row.tag)
                    };
                    if !wanted {
                        continue;
                    }
                    let frame = pb::AccountSummary {
                        req_id: Some(req_id),
                        account: Some(row.account),
                        tag: Some(row.tag),
                        value: Some(row.value),
                        currency: Some(row.currency),
                    };
                    self.send(incoming::ACCOUNT_SUMMARY, &frame).await?;
                }
                let end = pb::AccountSummaryEnd {
                    req_id: Some(req_id),
                };
                self.send(incoming::ACCOUNT_SUMMARY_END, &end).await
            }
            outgoing::CANCEL_ACCOUNT_SUMMARY => {
                let request = pb::CancelAccountSummary::decode(payload).unwrap_or_default();
                self.record(TwsRequest::CancelAccountSummary {
                    req_id: request.req_id.unwrap_or_default(),
                });
                Ok(())
            }
            outgoing::REQUEST_EXECUTIONS => {
                let request = pb::ExecutionRequest::decode(payload).unwrap_or_default();
                let req_id = request.req_id.unwrap_or_default();
                let filter = request.execution_filter.unwrap_or_default();
                let account = filter.acct_code.clone().unwrap_or_default();
                let time = filter.time.clone().unwrap_or_default();
                self.record(TwsRequest::Executions {
                    req_id,
                    client_id: filter.client_id,
                    account: account.clone(),
                    time: time.clone(),
                });
                self.send_executions(req_id, &filter).await
            }
            other => {
                self.record(TwsRequest::Other(other));
                Ok(())
            }
        }
    }

    async fn send_executions(&mut self, req_id: i32, filter: &pb::ExecutionFilter) -> IoResult<()> {
        let since = filter
            .time
            .as_deref()
            .filter(|t| !t.is_empty())
            .and_then(parse_tws_time);
        let account = filter.acct_code.clone().unwrap_or_default();
        let mut late = Vec::new();
        for e in self.data.executions.clone() {
            if !account.is_empty() && e.account != account {
                continue;
            }
            if filter.client_id.is_some_and(|id| id != e.client_id) {
                continue;
            }
            if let (Some(since), Some(at)) = (since, parse_tws_time(&e.time))
                && at < since
            {
                continue;
            }
            let details = pb::ExecutionDetails {
                req_id: Some(req_id),
                contract: Some(contract_pb(&e.contract)),
                execution: Some(pb::Execution {
                    order_id: Some(e.order_id),
                    exec_id: Some(e.exec_id.clone()),
                    time: Some(e.time.clone()),
                    acct_number: Some(e.account.clone()),
                    exchange: Some(e.contract.exchange.clone()),
                    side: Some(e.side.clone()),
                    shares: Some(e.shares.clone()),
                    price: Some(e.price),
                    perm_id: Some(1_000_000 + i64::from(e.order_id)),
                    client_id: Some(e.client_id),
                    is_liquidation: Some(false),
                    cum_qty: Some(e.shares.clone()),
                    avg_price: Some(e.price),
                }),
            };
            self.send(incoming::EXECUTION_DATA, &details).await?;
            if let Some(c) = &e.commission {
                let report = pb::CommissionAndFeesReport {
                    exec_id: Some(e.exec_id.clone()),
                    commission_and_fees: Some(c.amount),
                    currency: Some(c.currency.clone()),
                    realized_pnl: Some(f64::MAX),
                };
                if c.after_end {
                    late.push(report);
                } else {
                    self.send(incoming::COMMISSION_REPORT, &report).await?;
                }
            }
        }
        let end = pb::ExecutionDetailsEnd {
            req_id: Some(req_id),
        };
        self.send(incoming::EXECUTION_DATA_END, &end).await?;
        for report in late {
            self.send(incoming::COMMISSION_REPORT, &report).await?;
        }
        Ok(())
    }

    async fn send_managed_accounts(&mut self) -> IoResult<()> {
        let list = self
            .data
            .accounts
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        self.send(
            incoming::MANAGED_ACCOUNTS,
            &pb::ManagedAccounts {
                accounts_list: Some(list),
            },
        )
        .await
    }

    async fn send_error(&mut self, id: i32, code: i32, message: &str) -> IoResult<()> {
        let frame = pb::ErrorMessage {
            id: Some(id),
            error_time: Some(Utc::now().timestamp_millis()),
            error_code: Some(code),
            error_msg: Some(message.into()),
        };
        self.send(incoming::ERROR, &frame).await
    }

    /// One protobuf frame: length, `id + 200`, payload.
    async fn send(&mut self, id: i32, message: &impl Message) -> IoResult<()> {
        let mut body = (id + PROTOBUF_OFFSET).to_be_bytes().to_vec();
        message
            .encode(&mut body)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.write_frame(&body).await
    }

    async fn write_frame(&mut self, body: &[u8]) -> IoResult<()> {
        let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
        let mut packet = len.to_be_bytes().to_vec();
        packet.extend_from_slice(body);
        self.socket.write_all(&packet).await
    }

    async fn read_frame(&mut self) -> IoResult<Vec<u8>> {
        let mut len = [0u8; 4];
        self.socket.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > 16 * 1024 * 1024 {
            return Err(std::io::Error::other("frame too large"));
        }
        let mut body = vec![0u8; len];
        self.socket.read_exact(&mut body).await?;
        Ok(body)
    }
}

/// `v213..226` → (213, 226); a single `v213` → (213, 213).
fn parse_version_range(range: &str) -> (i32, i32) {
    let range = range.trim().trim_start_matches('v');
    let (min, max) = range.split_once("..").unwrap_or((range, range));
    (
        min.trim().parse().unwrap_or_default(),
        max.trim().parse().unwrap_or_default(),
    )
}

/// `YYYYMMDD-HH:mm:ss` or `YYYYMMDD HH:mm:ss [zone]`, as a naive wall-clock time (the mock
/// compares filter and execution times in the same form).
fn parse_tws_time(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    let date = raw.get(..8)?;
    let time = raw.get(8..)?.trim_start_matches(['-', ' ']);
    let time = time.get(..8)?;
    NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y%m%d %H:%M:%S").ok()
}

fn contract_pb(c: &MockContract) -> pb::Contract {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    pb::Contract {
        con_id: Some(c.con_id),
        symbol: text(&c.symbol),
        sec_type: text(&c.sec_type),
        last_trade_date_or_contract_month: text(&c.last_trade_date_or_contract_month),
        strike: c.strike,
        right: c.right.clone(),
        multiplier: c.multiplier,
        exchange: text(&c.exchange),
        primary_exch: text(&c.primary_exchange),
        currency: text(&c.currency),
        local_symbol: text(&c.local_symbol),
        trading_class: text(&c.trading_class),
        last_trade_date: text(&c.last_trade_date_or_contract_month).filter(|d| d.len() == 8),
    }
}

/// The protobuf messages the mock reads and writes (field tags as in IB's `.proto` files;
/// fields the mock never uses are left out, which protobuf allows).
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StartApiRequest {
        #[prost(int32, optional, tag = "1")]
        pub client_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub optional_capabilities: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NextValidId {
        #[prost(int32, optional, tag = "1")]
        pub order_id: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ManagedAccounts {
        #[prost(string, optional, tag = "1")]
        pub accounts_list: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ErrorMessage {
        #[prost(int32, optional, tag = "1")]
        pub id: Option<i32>,
        #[prost(int64, optional, tag = "2")]
        pub error_time: Option<i64>,
        #[prost(int32, optional, tag = "3")]
        pub error_code: Option<i32>,
        #[prost(string, optional, tag = "4")]
        pub error_msg: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Contract {
        #[prost(int32, optional, tag = "1")]
        pub con_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub symbol: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub sec_type: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub last_trade_date_or_contract_month: Option<String>,
        #[prost(double, optional, tag = "5")]
        pub strike: Option<f64>,
        #[prost(string, optional, tag = "6")]
        pub right: Option<String>,
        #[prost(double, optional, tag = "7")]
        pub multiplier: Option<f64>,
        #[prost(string, optional, tag = "8")]
        pub exchange: Option<String>,
        #[prost(string, optional, tag = "9")]
        pub primary_exch: Option<String>,
        #[prost(string, optional, tag = "10")]
        pub currency: Option<String>,
        #[prost(string, optional, tag = "11")]
        pub local_symbol: Option<String>,
        #[prost(string, optional, tag = "12")]
        pub trading_class: Option<String>,
        #[prost(string, optional, tag = "21")]
        pub last_trade_date: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Position {
        #[prost(string, optional, tag = "1")]
        pub account: Option<String>,
        #[prost(message, optional, tag = "2")]
        pub contract: Option<Contract>,
        #[prost(string, optional, tag = "3")]
        pub position: Option<String>,
        #[prost(double, optional, tag = "4")]
        pub avg_cost: Option<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PositionEnd {}

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccountSummaryRequest {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub group: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub tags: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CancelAccountSummary {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccountSummary {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub account: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub tag: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub value: Option<String>,
        #[prost(string, optional, tag = "5")]
        pub currency: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccountSummaryEnd {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutionFilter {
        #[prost(int32, optional, tag = "1")]
        pub client_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub acct_code: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub time: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutionRequest {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub execution_filter: Option<ExecutionFilter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Execution {
        #[prost(int32, optional, tag = "1")]
        pub order_id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub exec_id: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub time: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub acct_number: Option<String>,
        #[prost(string, optional, tag = "5")]
        pub exchange: Option<String>,
        #[prost(string, optional, tag = "6")]
        pub side: Option<String>,
        #[prost(string, optional, tag = "7")]
        pub shares: Option<String>,
        #[prost(double, optional, tag = "8")]
        pub price: Option<f64>,
        #[prost(int64, optional, tag = "9")]
        pub perm_id: Option<i64>,
        #[prost(int32, optional, tag = "10")]
        pub client_id: Option<i32>,
        #[prost(bool, optional, tag = "11")]
        pub is_liquidation: Option<bool>,
        #[prost(string, optional, tag = "12")]
        pub cum_qty: Option<String>,
        #[prost(double, optional, tag = "13")]
        pub avg_price: Option<f64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutionDetails {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub contract: Option<Contract>,
        #[prost(message, optional, tag = "3")]
        pub execution: Option<Execution>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExecutionDetailsEnd {
        #[prost(int32, optional, tag = "1")]
        pub req_id: Option<i32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CommissionAndFeesReport {
        #[prost(string, optional, tag = "1")]
        pub exec_id: Option<String>,
        #[prost(double, optional, tag = "2")]
        pub commission_and_fees: Option<f64>,
        #[prost(string, optional, tag = "3")]
        pub currency: Option<String>,
        #[prost(double, optional, tag = "4")]
        pub realized_pnl: Option<f64>,
    }
}
