//! The TWS socket client (`ibapi` underneath) against the loopback mock TWS.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use tributary_connectors::ConnectorError;
use tributary_connectors::TransactionType;
use tributary_connectors::ibkr::category::CategoryMap;
use tributary_connectors::ibkr::tws::{TwsClient, TwsSettings};
use tributary_tests::mocks::tws::{
    MockAccount, MockCommission, MockContract, MockExecution, MockPosition, MockSummaryRow,
    TwsData, TwsFault, TwsMock, TwsRequest,
};

const ACCOUNT: &str = "U1234567";
const OTHER: &str = "U7654321";

fn dec(s: &str) -> Decimal {
    match s.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad decimal literal {s}: {e}"),
    }
}

fn client(host: String, port: u16, timeout: Duration) -> TwsClient {
    TwsClient::new(TwsSettings {
        host,
        port,
        client_id: 17,
        timeout,
    })
}

fn client_for(mock: &TwsMock) -> TwsClient {
    client(mock.host(), mock.port(), Duration::from_secs(5))
}

fn aapl() -> MockContract {
    MockContract::stock("AAPL", "NASDAQ", "USD", 265_598)
}

fn aapl_call() -> MockContract {
    MockContract::option(
        "AAPL",
        "20250117",
        150.0,
        "C",
        "AAPL  250117C00150000",
        700_001,
    )
}

fn es() -> MockContract {
    MockContract::future("ES", "20251219", 50.0, "ESZ5", "CME", 495_512_563)
}

fn fill(
    exec_id: &str,
    contract: MockContract,
    side: &str,
    shares: &str,
    price: f64,
    time: &str,
    commission: Option<(f64, &str)>,
) -> MockExecution {
    MockExecution {
        contract,
        exec_id: exec_id.into(),
        time: time.into(),
        account: ACCOUNT.into(),
        side: side.into(),
        shares: shares.into(),
        price,
        client_id: 0,
        order_id: 0,
        commission: commission.map(|(amount, currency)| MockCommission {
            amount,
            currency: currency.into(),
            after_end: false,
        }),
    }
}

fn portfolio() -> TwsData {
    let summary = [
        (ACCOUNT, "AccountType", "INDIVIDUAL", ""),
        (ACCOUNT, "NetLiquidation", "125432.17", "USD"),
        (ACCOUNT, "TotalCashValue", "20480.55", "USD"),
        (ACCOUNT, "CashBalance", "20480.55", "BASE"),
        (ACCOUNT, "CashBalance", "15230.10", "USD"),
        (ACCOUNT, "CashBalance", "4600.00", "EUR"),
        (ACCOUNT, "ExchangeRate", "1.0945", "EUR"),
        (OTHER, "AccountType", "IRA", ""),
        (OTHER, "NetLiquidation", "88000.00", "EUR"),
        (OTHER, "CashBalance", "88000.00", "EUR"),
    ]
    .into_iter()
    .map(|(a, t, v, c)| MockSummaryRow::new(a, t, v, c))
    .collect();
    TwsData {
        accounts: vec![
            MockAccount { id: ACCOUNT.into() },
            MockAccount { id: OTHER.into() },
        ],
        positions: vec![
            MockPosition {
                account: ACCOUNT.into(),
                contract: aapl(),
                position: "100".into(),
                avg_cost: 150.25,
            },
            MockPosition {
                account: ACCOUNT.into(),
                contract: aapl_call(),
                position: "2".into(),
                avg_cost: 250.5,
            },
            MockPosition {
                account: ACCOUNT.into(),
                contract: es(),
                position: "-1".into(),
                avg_cost: 301_262.5,
            },
            MockPosition {
                account: ACCOUNT.into(),
                contract: MockContract::stock("MSFT", "NASDAQ", "USD", 272_093),
                position: "0".into(),
                avg_cost: 0.0,
            },
            MockPosition {
                account: OTHER.into(),
                contract: aapl(),
                position: "5".into(),
                avg_cost: 170.0,
            },
        ],
        summary,
        executions: vec![
            fill(
                "0000e0d5.6789abcd.01.01",
                aapl(),
                "BOT",
                "10",
                185.37,
                "20250115-14:30:05",
                Some((1.0, "USD")),
            ),
            fill(
                "0000e0d5.6789abce.01.01",
                aapl_call(),
                "SLD",
                "2",
                3.15,
                "20250115-15:01:00",
                Some((1.3, "USD")),
            ),
            fill(
                "0000e0d5.6789abcf.01.01",
                es(),
                "BOT",
                "1",
                6025.25,
                "20250115-16:00:00",
                Some((2.25, "USD")),
            ),
            fill(
                "0000e0d5.6789ab00.01.01",
                aapl(),
                "SLD",
                "5",
                180.0,
                "20250113-14:00:00",
                Some((1.0, "USD")),
            ),
            MockExecution {
                account: OTHER.into(),
                ..fill(
                    "0000e0d5.6789ab99.01.01",
                    aapl(),
                    "BOT",
                    "1",
                    185.0,
                    "20250115-14:00:00",
                    None,
                )
            },
        ],
        ..TwsData::default()
    }
}

#[tokio::test]
async fn check_connects_and_reports_the_server_version() {
    let mock = TwsMock::start(portfolio()).await;
    let message = client_for(&mock).check().await;
    let Ok(message) = message else {
        panic!("check failed: {message:?}");
    };
    assert_eq!(message, "Connected to TWS/IB Gateway (server version 213)");
    let requests = mock.requests();
    assert!(
        matches!(requests.first(), Some(TwsRequest::Handshake { min_version: 213, max_version }) if *max_version >= 213),
        "{requests:?}"
    );
    assert!(requests.contains(&TwsRequest::StartApi { client_id: 17 }));
}

#[tokio::test]
async fn accounts_lists_managed_accounts_with_type_and_base_currency() {
    let mock = TwsMock::start(portfolio()).await;
    let accounts = client_for(&mock).accounts().await;
    let Ok(accounts) = accounts else {
        panic!("accounts failed: {accounts:?}");
    };
    let got: Vec<_> = accounts
        .iter()
        .map(|a| (a.id.as_str(), a.kind.as_deref(), a.base_currency.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (ACCOUNT, Some("INDIVIDUAL"), Some("USD")),
            (OTHER, Some("IRA"), Some("EUR")),
        ]
    );
    assert!(mock.requests().iter().any(|r| matches!(
        r,
        TwsRequest::AccountSummary { group, tags, .. }
            if group == "All" && tags.contains(&"AccountType".to_owned())
    )));
}

#[tokio::test]
async fn account_data_returns_exact_positions_cash_and_balance() {
    let mock = TwsMock::start(portfolio()).await;
    let data = client_for(&mock)
        .account_data(ACCOUNT, &CategoryMap::default(), None)
        .await;
    let Ok(data) = data else {
        panic!("account_data failed: {data:?}");
    };
    let holdings: Vec<_> = data
        .holdings
        .iter()
        .map(|h| {
            (
                h.asset.asset_id.as_str(),
                h.asset.symbol.as_str(),
                h.asset.currency.as_str(),
                h.quantity,
                h.cost_basis,
            )
        })
        .collect();
    assert_eq!(
        holdings,
        vec![
            (
                "EQUITY:XNAS:AAPL",
                "AAPL",
                "USD",
                dec("100"),
                Some(dec("15025"))
            ),
            (
                "OPTION:AAPL:20250117:C:150",
                "AAPL  250117C00150000",
                "USD",
                dec("2"),
                Some(dec("501"))
            ),
            (
                "FUTURE:ES:20251219",
                "ESZ5",
                "USD",
                dec("-1"),
                Some(dec("-301262.5"))
            ),
            ("CASH:EUR", "EUR", "EUR", dec("4600"), Some(dec("4600"))),
            (
                "CASH:USD",
                "USD",
                "USD",
                dec("15230.10"),
                Some(dec("15230.10"))
            ),
        ]
    );
    let Some(balance) = data.balance else {
        panic!("no balance");
    };
    assert_eq!(balance.amount, dec("125432.17"));
    assert_eq!(balance.currency, "USD");

    let requests = mock.requests();
    assert!(requests.contains(&TwsRequest::Positions));
    assert!(requests.iter().any(|r| matches!(
        r,
        TwsRequest::AccountSummary { tags, .. }
            if tags.contains(&"$LEDGER:ALL".to_owned()) && tags.contains(&"NetLiquidation".to_owned())
    )));
}

#[tokio::test]
async fn executions_become_buys_and_sells_with_fees_and_signed_amounts() {
    let mock = TwsMock::start(portfolio()).await;
    let data = client_for(&mock)
        .account_data(ACCOUNT, &CategoryMap::default(), None)
        .await;
    let Ok(data) = data else {
        panic!("account_data failed: {data:?}");
    };
    let mut txs: Vec<_> = data
        .transactions
        .iter()
        .map(|t| {
            (
                t.source_id.as_str(),
                t.kind,
                t.trade_date,
                t.quantity,
                t.price,
                t.amount,
                t.fee,
                t.currency.as_str(),
            )
        })
        .collect();
    txs.sort_by_key(|t| t.0);
    let day = |d| NaiveDate::from_ymd_opt(2025, 1, d).unwrap_or_default();
    assert_eq!(
        txs,
        vec![
            (
                "exec:0000e0d5.6789ab00.01.01",
                TransactionType::Sell,
                day(13),
                Some(dec("5")),
                Some(dec("180")),
                dec("899"),
                Some(dec("1")),
                "USD"
            ),
            (
                "exec:0000e0d5.6789abcd.01.01",
                TransactionType::Buy,
                day(15),
                Some(dec("10")),
                Some(dec("185.37")),
                dec("-1854.7"),
                Some(dec("1")),
                "USD"
            ),
            (
                "exec:0000e0d5.6789abce.01.01",
                TransactionType::Sell,
                day(15),
                Some(dec("2")),
                Some(dec("3.15")),
                dec("628.7"),
                Some(dec("1.3")),
                "USD"
            ),
            (
                "exec:0000e0d5.6789abcf.01.01",
                TransactionType::Buy,
                day(15),
                Some(dec("1")),
                Some(dec("6025.25")),
                dec("-301264.75"),
                Some(dec("2.25")),
                "USD"
            ),
        ]
    );
    assert!(mock.requests().iter().any(|r| matches!(
        r,
        TwsRequest::Executions { account, time, client_id: None, .. } if account == ACCOUNT && time.is_empty()
    )));
}

#[tokio::test]
async fn since_is_sent_as_the_execution_filter_time_and_respected() {
    let mock = TwsMock::start(portfolio()).await;
    let since = Utc.with_ymd_and_hms(2025, 1, 15, 0, 0, 0).single();
    let data = client_for(&mock)
        .account_data(ACCOUNT, &CategoryMap::default(), since)
        .await;
    let Ok(data) = data else {
        panic!("account_data failed: {data:?}");
    };
    let mut ids: Vec<_> = data
        .transactions
        .iter()
        .map(|t| t.source_id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![
            "exec:0000e0d5.6789abcd.01.01",
            "exec:0000e0d5.6789abce.01.01",
            "exec:0000e0d5.6789abcf.01.01",
        ]
    );
    assert!(mock.requests().iter().any(|r| matches!(
        r,
        TwsRequest::Executions { account, time, .. } if account == ACCOUNT && time == "20250115-00:00:00"
    )));
}

#[tokio::test]
async fn commission_reports_sent_after_the_execution_list_still_become_fees() {
    let mut data = portfolio();
    for e in &mut data.executions {
        if let Some(c) = &mut e.commission {
            c.after_end = true;
        }
    }
    let mock = TwsMock::start(data).await;
    let data = client_for(&mock)
        .account_data(ACCOUNT, &CategoryMap::default(), None)
        .await;
    let Ok(data) = data else {
        panic!("account_data failed: {data:?}");
    };
    let Some(buy) = data
        .transactions
        .iter()
        .find(|t| t.source_id == "exec:0000e0d5.6789abcd.01.01")
    else {
        panic!("buy missing: {:?}", data.transactions);
    };
    assert_eq!(buy.fee, Some(dec("1")));
    assert_eq!(buy.amount, dec("-1854.7"));
}

#[tokio::test]
async fn connection_refused_says_how_to_enable_the_api() {
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("no free port: {e}"),
    };
    let result = client("127.0.0.1".into(), port, Duration::from_secs(5))
        .check()
        .await;
    let Err(error) = result else {
        panic!("connected to a closed port");
    };
    assert!(error.is_retryable());
    let ConnectorError::Transport(message) = error else {
        panic!("expected a transport error, got {error:?}");
    };
    assert!(
        message.contains(&format!("Nothing is listening on 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("Enable ActiveX and Socket Clients"));
}

#[tokio::test]
async fn a_gateway_that_never_answers_times_out() {
    let mock = TwsMock::start(TwsData {
        fault: TwsFault::NeverAnswer,
        ..portfolio()
    })
    .await;
    let started = Instant::now();
    let result = client(mock.host(), mock.port(), Duration::from_millis(400))
        .check()
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let Err(ConnectorError::Transport(message)) = result else {
        panic!("expected a timeout, got {result:?}");
    };
    assert_eq!(message, "TWS did not answer within 0.4s");
}

#[tokio::test]
async fn unanswered_requests_time_out_after_a_good_handshake() {
    let mock = TwsMock::start(TwsData {
        fault: TwsFault::IgnoreRequests,
        ..portfolio()
    })
    .await;
    let result = client(mock.host(), mock.port(), Duration::from_millis(500))
        .account_data(ACCOUNT, &CategoryMap::default(), None)
        .await;
    let Err(error @ ConnectorError::Transport(_)) = result else {
        panic!("expected a timeout, got {result:?}");
    };
    assert!(error.to_string().contains("did not answer"), "{error}");
}

#[tokio::test]
async fn client_id_in_use_is_a_final_upstream_error() {
    let mock = TwsMock::start(TwsData {
        fault: TwsFault::ClientIdInUse,
        ..portfolio()
    })
    .await;
    let result = client_for(&mock).check().await;
    let Err(error) = result else {
        panic!("connected although the client id is in use");
    };
    assert!(!error.is_retryable());
    let ConnectorError::Upstream { status, message } = error else {
        panic!("expected an upstream error, got {error:?}");
    };
    assert_eq!(status, 409);
    assert!(
        message.contains("Client id 17 is already in use"),
        "{message}"
    );
}

#[tokio::test]
async fn a_gateway_that_hangs_up_is_a_retryable_transport_error() {
    for fault in [TwsFault::CloseOnConnect, TwsFault::CloseAfterHandshake] {
        let mock = TwsMock::start(TwsData {
            fault,
            ..portfolio()
        })
        .await;
        let result = client_for(&mock).check().await;
        let Err(error) = result else {
            panic!("{fault:?}: connected to a gateway that hung up");
        };
        assert!(
            matches!(error, ConnectorError::Transport(_)),
            "{fault:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_gateway_older_than_the_protobuf_protocol_is_asked_to_upgrade() {
    let mock = TwsMock::start(TwsData {
        server_version: 187,
        ..portfolio()
    })
    .await;
    let result = client_for(&mock).check().await;
    let Err(ConnectorError::Upstream { status, message }) = result else {
        panic!("expected an upgrade error, got {result:?}");
    };
    assert_eq!(status, 426);
    assert!(
        message.contains("187") && message.contains("213"),
        "{message}"
    );
}
