//! The Client Portal gateway client against the HTTPS loopback mock gateway: certificate
//! handling, login state, the "accounts first" session rule, paging, ledger and summary,
//! executions, faults and pacing.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tributary_connectors::ConnectorError;
use tributary_connectors::ibkr::AccountData;
use tributary_connectors::ibkr::category::CategoryMap;
use tributary_connectors::ibkr::client_portal::{GatewayClient, GatewaySettings};
use tributary_connectors::types::{AssetClass, Transaction, TransactionType};
use tributary_tests::mocks::ibkr_gateway::{
    GatewayMock, MAIN_ACCOUNT, PAGE_SIZE, SECOND_ACCOUNT, ledger_entry,
};

/// Settings for the mock without pacing (pacing has its own test).
fn settings(mock: &GatewayMock) -> GatewaySettings {
    GatewaySettings {
        base_url: mock.base_url(),
        verify_tls: false,
        timeout: Duration::from_secs(10),
        requests_per_second: 1000,
        slow_endpoint_spacing: Duration::ZERO,
        tickle_spacing: Duration::ZERO,
    }
}

fn client(mock: &GatewayMock) -> GatewayClient {
    match GatewayClient::new(settings(mock)) {
        Ok(client) => client,
        Err(e) => panic!("client: {e}"),
    }
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn data(client: &GatewayClient, account: &str) -> AccountData {
    match client
        .account_data(account, &CategoryMap::default(), None)
        .await
    {
        Ok(data) => data,
        Err(e) => panic!("account_data({account}): {e}"),
    }
}

fn by_source<'a>(transactions: &'a [Transaction], execution_id: &str) -> &'a Transaction {
    let source_id = format!("exec:{execution_id}");
    transactions
        .iter()
        .find(|t| t.source_id == source_id)
        .unwrap_or_else(|| panic!("no {source_id} in {transactions:#?}"))
}

#[tokio::test]
async fn the_check_passes_over_the_self_signed_certificate_when_verification_is_off() {
    let mock = GatewayMock::start().await;
    let client = client(&mock);
    let line = client.check().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("logged in"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{}", mock.port())),
        "{line}"
    );
    assert!(line.contains("JifN19053"), "{line}");
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(calls, ["POST /tickle", "POST /iserver/auth/status"]);
}

#[tokio::test]
async fn verifying_the_self_signed_certificate_fails_naming_verify_tls_and_is_not_retried() {
    let mock = GatewayMock::start().await;
    let verifying = GatewaySettings {
        verify_tls: true,
        ..settings(&mock)
    };
    let Ok(client) = GatewayClient::new(verifying) else {
        panic!("client");
    };
    let err = match client.check().await {
        Ok(line) => panic!("a self-signed certificate was trusted: {line}"),
        Err(e) => e,
    };
    let ConnectorError::InvalidConfig { field, message } = &err else {
        panic!("expected a config error naming verify_tls, got {err:?}");
    };
    assert_eq!(field, "verify_tls");
    assert!(!err.is_retryable());
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("self-signed"), "{message}");
    assert!(message.contains(&mock.base_url()), "{message}");
    assert!(
        mock.requests().is_empty(),
        "no request got through the handshake"
    );
}

#[tokio::test]
async fn a_gateway_that_is_not_logged_in_asks_the_user_to_log_in_in_a_browser() {
    let mock = GatewayMock::start().await;
    mock.set_authenticated(false);
    let client = client(&mock);
    let hint = format!(
        "open {} in a browser on the gateway machine and log in, then sync again",
        mock.base_url()
    );
    let err = match client.check().await {
        Ok(line) => panic!("not logged in, yet: {line}"),
        Err(e) => e,
    };
    assert!(err.needs_reauth(), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(&hint), "{err}");
    // The portfolio endpoints answer 401 while logged out: the same instructions.
    let err = match client
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), None)
        .await
    {
        Ok(_) => panic!("data while logged out"),
        Err(e) => e,
    };
    assert!(err.needs_reauth(), "{err:?}");
    assert!(err.to_string().contains(&hint), "{err}");
}

#[tokio::test]
async fn a_competing_session_is_reported_and_a_disconnected_gateway_is_retryable() {
    let mock = GatewayMock::start().await;
    let client = client(&mock);
    mock.set_competing(true);
    let line = client.check().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("another session"), "{line}");
    mock.set_competing(false);
    mock.set_connected(false);
    let err = match client.check().await {
        Ok(line) => panic!("disconnected, yet: {line}"),
        Err(e) => e,
    };
    assert!(
        matches!(err, ConnectorError::Upstream { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn accounts_are_listed_with_their_type_title_and_base_currency() {
    let mock = GatewayMock::start().await;
    let accounts = client(&mock)
        .accounts()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0].id, MAIN_ACCOUNT);
    assert_eq!(accounts[0].kind.as_deref(), Some("Individual"));
    assert_eq!(accounts[0].base_currency.as_deref(), Some("USD"));
    assert_eq!(accounts[0].name.as_deref(), Some("Jane Doe"));
    assert_eq!(accounts[1].id, SECOND_ACCOUNT);
    assert_eq!(accounts[1].kind.as_deref(), Some("Joint"));
    assert_eq!(accounts[1].base_currency.as_deref(), Some("EUR"));
}

#[tokio::test]
async fn positions_are_fetched_page_by_page_until_the_empty_page() {
    let mock = GatewayMock::start().await;
    let positions = mock.positions(MAIN_ACCOUNT);
    assert_eq!(positions.len(), 65);
    let data = data(&client(&mock), MAIN_ACCOUNT).await;

    let pages: Vec<_> = mock
        .requests_to(&format!("/portfolio/{MAIN_ACCOUNT}/positions/"))
        .into_iter()
        .map(|r| r.path)
        .collect();
    let expected: Vec<_> = (0..=positions.len().div_ceil(PAGE_SIZE))
        .map(|page| format!("/portfolio/{MAIN_ACCOUNT}/positions/{page}"))
        .collect();
    assert_eq!(pages, expected, "pages 0-2 hold positions, page 3 is empty");
    assert_eq!(
        mock.requests()[0].path,
        "/portfolio/accounts",
        "the session is opened with the account list first"
    );

    // 62 stocks, the option and the future; the forex CASH position is the EUR cash the
    // ledger reports, so it is not a holding of its own.
    let positions: Vec<_> = data
        .holdings
        .iter()
        .filter(|h| h.asset.class != AssetClass::Cash)
        .collect();
    assert_eq!(positions.len(), 64);
    assert!(
        data.holdings
            .iter()
            .all(|h| !h.asset.asset_id.starts_with("FX:"))
    );

    let Some(aapl) = data
        .holdings
        .iter()
        .find(|h| h.asset.asset_id == "EQUITY:XNAS:AAPL")
    else {
        panic!("no AAPL in {:#?}", data.holdings);
    };
    assert_eq!(aapl.quantity, d("614.2639"));
    assert_eq!(aapl.price, Some(d("197.3840027")));
    assert_eq!(aapl.market_value, Some(d("121245.87")));
    assert_eq!(aapl.cost_basis, Some(d("192.7477563") * d("614.2639")));
    assert_eq!(aapl.asset.currency, "USD");

    let Some(call) = data
        .holdings
        .iter()
        .find(|h| h.asset.asset_id == "OPTION:AAPL:20270115:C:200")
    else {
        panic!("no AAPL call");
    };
    assert_eq!(call.quantity, d("-2"));
    assert_eq!(call.cost_basis, Some(d("-825")), "avgCost is per contract");
    assert_eq!(call.asset.class, AssetClass::Option);
    let Some(future) = data
        .holdings
        .iter()
        .find(|h| h.asset.asset_id == "FUTURE:ES:20270319")
    else {
        panic!("no ES future");
    };
    assert_eq!(future.market_value, Some(d("302512.5")));
    let Some(spy) = data
        .holdings
        .iter()
        .find(|h| h.asset.asset_id == "EQUITY:ARCX:SPY")
    else {
        panic!("no SPY");
    };
    assert_eq!(spy.asset.class, AssetClass::Etf);
}

#[tokio::test]
async fn cash_per_currency_and_the_balance_come_from_the_ledger_with_exact_decimals() {
    let mock = GatewayMock::start().await;
    let data = data(&client(&mock), MAIN_ACCOUNT).await;
    let cash: Vec<_> = data
        .holdings
        .iter()
        .filter(|h| h.asset.class == AssetClass::Cash)
        .map(|h| (h.asset.asset_id.as_str(), h.quantity, h.market_value))
        .collect();
    assert_eq!(
        cash,
        [
            ("CASH:EUR", d("3150.5"), Some(d("3150.5"))),
            ("CASH:USD", d("25432.17"), Some(d("25432.17"))),
        ]
    );
    let Some(balance) = &data.balance else {
        panic!("no balance");
    };
    assert_eq!(balance.amount, d("1287345.61"));
    assert_eq!(balance.currency, "USD");
    assert!(
        mock.requests_to(&format!("/portfolio/{MAIN_ACCOUNT}/summary"))
            .is_empty(),
        "the summary is only read when the ledger lacks the total"
    );
}

#[tokio::test]
async fn the_summary_supplies_the_balance_when_the_ledger_has_no_base_total() {
    let mock = GatewayMock::start().await;
    let now = Utc::now();
    mock.set_ledger(
        MAIN_ACCOUNT,
        json!({
            "USD": ledger_entry(MAIN_ACCOUNT, "USD", "100.25", None, now),
            "BASE": ledger_entry(MAIN_ACCOUNT, "BASE", "100.25", None, now),
        }),
    );
    let data = data(&client(&mock), MAIN_ACCOUNT).await;
    let Some(balance) = &data.balance else {
        panic!("no balance");
    };
    assert_eq!(balance.amount, d("1287345.61"));
    assert_eq!(balance.currency, "USD");
    assert_eq!(
        mock.requests_to(&format!("/portfolio/{MAIN_ACCOUNT}/summary"))
            .len(),
        1
    );
    let cash: Vec<_> = data
        .holdings
        .iter()
        .filter(|h| h.asset.class == AssetClass::Cash)
        .map(|h| (h.asset.asset_id.as_str(), h.quantity))
        .collect();
    assert_eq!(cash, [("CASH:USD", d("100.25"))]);
}

fn executed_on(mock: &GatewayMock, execution_id: &str) -> chrono::NaiveDate {
    let Some(trade) = mock
        .trades()
        .into_iter()
        .find(|t| t["execution_id"] == execution_id)
    else {
        panic!("no trade {execution_id}");
    };
    let Some(ms) = trade["trade_time_r"].as_i64() else {
        panic!("no trade_time_r");
    };
    let at: DateTime<Utc> = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| panic!("bad time {ms}"));
    at.date_naive()
}

#[tokio::test]
async fn executions_become_buys_and_sells_with_signed_amounts_fees_and_execution_ids() {
    let mock = GatewayMock::start().await;
    let data = data(&client(&mock), MAIN_ACCOUNT).await;
    assert_eq!(data.transactions.len(), 5, "{:#?}", data.transactions);
    assert!(
        data.transactions
            .iter()
            .all(|t| t.source_id != "exec:0000e0d5.67a1b2c8.01.01"),
        "the second account's execution is not the main account's"
    );
    let trades = mock.requests_to("/iserver/account/trades");
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].query, "days=7");

    let buy = by_source(&data.transactions, "0000e0d5.67a1b2c3.01.01");
    assert_eq!(buy.kind, TransactionType::Buy);
    assert_eq!(buy.quantity, Some(d("10")));
    assert_eq!(buy.price, Some(d("189.71")));
    assert_eq!(buy.fee, Some(d("1.00")));
    assert_eq!(buy.amount, d("-1898.10"), "cost plus commission, negative");
    assert_eq!(buy.currency, "USD");
    assert_eq!(
        buy.trade_date,
        executed_on(&mock, "0000e0d5.67a1b2c3.01.01")
    );
    let Some(asset) = &buy.asset else {
        panic!("no asset");
    };
    assert_eq!(asset.asset_id, "EQUITY:XNAS:AAPL");

    let sell = by_source(&data.transactions, "0000e0d5.67a1b2c4.01.01");
    assert_eq!(sell.kind, TransactionType::Sell);
    assert_eq!(sell.quantity, Some(d("5")));
    assert_eq!(sell.fee, Some(d("1.01")));
    assert_eq!(sell.amount, d("960.29"), "proceeds less commission");
    assert_eq!(sell.currency, "USD", "no currency sent: the position's");

    let option = by_source(&data.transactions, "0000e0d5.67a1b2c6.01.01");
    assert_eq!(option.kind, TransactionType::Sell);
    assert_eq!(option.amount, d("534.35"), "1 contract × 5.35 × 100 − 0.65");
    let Some(asset) = &option.asset else {
        panic!("no asset");
    };
    assert_eq!(
        asset.asset_id, "OPTION:AAPL:20270115:C:200",
        "the same asset as the position"
    );

    let sap = by_source(&data.transactions, "0000e0d5.67a1b2c7.01.01");
    assert_eq!(sap.kind, TransactionType::Buy);
    assert_eq!(sap.amount, d("-721.73"));
    assert_eq!(sap.currency, "EUR");
    let Some(asset) = &sap.asset else {
        panic!("no asset");
    };
    assert_eq!(asset.asset_id, "EQUITY:XETR:SAP");

    let msft = by_source(&data.transactions, "0000e0d5.67a1b2c5.01.01");
    assert_eq!(msft.amount, d("-1262.00"));
    assert_eq!(msft.fee, Some(d("0.35")));
}

#[tokio::test]
async fn the_since_filter_keeps_only_executions_at_or_after_it() {
    let mock = GatewayMock::start().await;
    let since = Utc::now() - TimeDelta::hours(30);
    let data = client(&mock)
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), Some(since))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids: Vec<_> = data
        .transactions
        .iter()
        .map(|t| t.source_id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "exec:0000e0d5.67a1b2c5.01.01",
            "exec:0000e0d5.67a1b2c6.01.01",
            "exec:0000e0d5.67a1b2c7.01.01",
        ]
    );
    let trades = mock.requests_to("/iserver/account/trades");
    assert_eq!(
        trades[0].query, "days=3",
        "only as many days as `since` needs"
    );
}

#[tokio::test]
async fn the_second_account_has_its_own_positions_cash_and_executions() {
    let mock = GatewayMock::start().await;
    let data = data(&client(&mock), SECOND_ACCOUNT).await;
    let ids: Vec<_> = data
        .holdings
        .iter()
        .map(|h| h.asset.asset_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "EQUITY:XETR:SAP",
            "EQUITY:XAMS:ASML",
            "EQUITY:XETR:VWCE",
            "CASH:EUR"
        ]
    );
    let Some(balance) = &data.balance else {
        panic!("no balance");
    };
    assert_eq!(balance.amount, d("87654.32"));
    assert_eq!(balance.currency, "EUR");
    assert_eq!(data.transactions.len(), 1);
    let asml = by_source(&data.transactions, "0000e0d5.67a1b2c8.01.01");
    assert_eq!(asml.amount, d("-1312.80"));
    assert_eq!(asml.fee, Some(d("2.00")));
    assert_eq!(asml.currency, "EUR");
}

#[tokio::test]
async fn a_401_in_the_middle_of_a_sync_needs_reauthentication() {
    let mock = GatewayMock::start().await;
    let client = client(&mock);
    mock.fail_next(&format!("/portfolio/{MAIN_ACCOUNT}/ledger"), 401, 1);
    let err = match client
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), None)
        .await
    {
        Ok(_) => panic!("a 401 was ignored"),
        Err(e) => e,
    };
    assert!(err.needs_reauth(), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("log in"), "{err}");
    // After the user logs in again the next sync opens a new session with the account list.
    mock.clear_requests();
    data(&client, MAIN_ACCOUNT).await;
    assert_eq!(mock.requests()[0].path, "/portfolio/accounts");
}

#[tokio::test]
async fn a_500_is_a_retryable_upstream_error_naming_the_endpoint() {
    let mock = GatewayMock::start().await;
    let client = client(&mock);
    mock.fail_next(&format!("/portfolio/{MAIN_ACCOUNT}/positions/1"), 500, 1);
    let err = match client
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), None)
        .await
    {
        Ok(_) => panic!("a 500 was ignored"),
        Err(e) => e,
    };
    assert!(
        matches!(err, ConnectorError::Upstream { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains(&format!("GET /portfolio/{MAIN_ACCOUNT}/positions/1")),
        "{err}"
    );
    assert_eq!(data(&client, MAIN_ACCOUNT).await.holdings.len(), 66);
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_gateways_retry_after() {
    let mock = GatewayMock::start().await;
    mock.fail_next("/iserver/account/trades", 429, 1);
    let err = match client(&mock)
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), None)
        .await
    {
        Ok(_) => panic!("a 429 was ignored"),
        Err(e) => e,
    };
    assert!(
        matches!(err, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_restarted_gateway_session_is_opened_again_with_the_account_list() {
    let mock = GatewayMock::start().await;
    let client = client(&mock);
    data(&client, MAIN_ACCOUNT).await;
    mock.restart_session();
    mock.clear_requests();
    assert_eq!(data(&client, MAIN_ACCOUNT).await.holdings.len(), 66);
    let calls: Vec<_> = mock
        .requests()
        .into_iter()
        .take(3)
        .map(|r| (r.path, r.status))
        .collect();
    assert_eq!(
        calls,
        [
            (format!("/portfolio/{MAIN_ACCOUNT}/positions/0"), 400),
            ("/portfolio/accounts".to_owned(), 200),
            (format!("/portfolio/{MAIN_ACCOUNT}/positions/0"), 200),
        ]
    );
}

#[tokio::test]
async fn a_malformed_response_is_a_decode_error_naming_the_endpoint_not_the_body() {
    let mock = GatewayMock::start().await;
    mock.set_positions(
        MAIN_ACCOUNT,
        vec![json!({"conid": 1, "assetClass": "STK", "ticker": "SECRETCO", "position": []})],
    );
    let err = match client(&mock)
        .account_data(MAIN_ACCOUNT, &CategoryMap::default(), None)
        .await
    {
        Ok(_) => panic!("a malformed position was accepted"),
        Err(e) => e,
    };
    let ConnectorError::Decode(message) = &err else {
        panic!("expected a decode error, got {err:?}");
    };
    assert!(
        message.contains(&format!("GET /portfolio/{MAIN_ACCOUNT}/positions/0")),
        "{message}"
    );
    assert!(message.contains("[0].position"), "{message}");
    assert!(!message.contains("SECRETCO"), "{message}");
}

#[tokio::test]
async fn the_slow_endpoints_and_the_overall_rate_are_paced() {
    let mock = GatewayMock::start().await;
    let paced = GatewaySettings {
        requests_per_second: 25,
        slow_endpoint_spacing: Duration::from_millis(250),
        tickle_spacing: Duration::from_millis(120),
        ..settings(&mock)
    };
    let Ok(client) = GatewayClient::new(paced) else {
        panic!("client");
    };
    // Loopback jitter between the client's send and the mock's arrival time.
    let slack = Duration::from_millis(15);
    client.accounts().await.unwrap_or_else(|e| panic!("{e}"));
    client.accounts().await.unwrap_or_else(|e| panic!("{e}"));
    client.check().await.unwrap_or_else(|e| panic!("{e}"));
    client.check().await.unwrap_or_else(|e| panic!("{e}"));
    data(&client, MAIN_ACCOUNT).await;
    data(&client, MAIN_ACCOUNT).await;

    let requests = mock.requests();
    for pair in requests.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(
            gap + slack >= Duration::from_millis(40),
            "{} then {} only {gap:?} apart (25/s)",
            pair[0].path,
            pair[1].path
        );
    }
    for (prefix, spacing) in [
        ("/portfolio/accounts", Duration::from_millis(250)),
        ("/iserver/account/trades", Duration::from_millis(250)),
        ("/tickle", Duration::from_millis(120)),
    ] {
        let calls = mock.requests_to(prefix);
        assert_eq!(calls.len(), 2, "{prefix}");
        let gap = calls[1].at.duration_since(calls[0].at);
        assert!(gap + slack >= spacing, "{prefix}: {gap:?} < {spacing:?}");
    }
}
