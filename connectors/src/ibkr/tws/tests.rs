//! Unit tests of the `ibapi` → Tributary mapping and of the error mapping.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use ibapi::accounts::{AccountSummary, Position};
use ibapi::contracts::{
    Contract as IbContract, Currency, Exchange, OptionRight, SecurityType, Symbol,
};
use ibapi::orders::{CommissionReport, Execution, ExecutionData, ExecutionSide};
use rust_decimal_macros::dec;

use super::convert;
use super::{TwsClient, TwsSettings};
use crate::ConnectorError;
use crate::ibkr::category::CategoryMap;
use crate::types::{AssetClass, TransactionType};

fn stock(symbol: &str, primary: &str, currency: &str) -> IbContract {
    IbContract {
        contract_id: 265_598,
        symbol: Symbol::from(symbol),
        security_type: SecurityType::Stock,
        primary_exchange: Exchange::from(primary),
        currency: Currency::from(currency),
        local_symbol: symbol.into(),
        ..IbContract::default()
    }
}

fn aapl_call() -> IbContract {
    IbContract {
        contract_id: 700_001,
        symbol: Symbol::from("AAPL"),
        security_type: SecurityType::Option,
        last_trade_date_or_contract_month: "20250117".into(),
        strike: 150.0,
        right: Some(OptionRight::Call),
        multiplier: "100".into(),
        exchange: Exchange::from("SMART"),
        currency: Currency::from("USD"),
        local_symbol: "AAPL  250117C00150000".into(),
        ..IbContract::default()
    }
}

fn es_future() -> IbContract {
    IbContract {
        contract_id: 495_512_563,
        symbol: Symbol::from("ES"),
        security_type: SecurityType::Future,
        last_trade_date_or_contract_month: "20251219".into(),
        multiplier: "50".into(),
        exchange: Exchange::from("CME"),
        currency: Currency::from("USD"),
        local_symbol: "ESZ5".into(),
        ..IbContract::default()
    }
}

fn position(account: &str, contract: IbContract, quantity: f64, avg_cost: f64) -> Position {
    Position {
        account: account.into(),
        contract,
        position: quantity,
        average_cost: avg_cost,
    }
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

#[test]
fn floats_become_decimals_through_their_shortest_text() {
    assert_eq!(convert::decimal(0.1, "x").ok(), Some(dec!(0.1)));
    assert_eq!(convert::decimal(185.37, "x").ok(), Some(dec!(185.37)));
    assert_eq!(
        convert::decimal(0.1 + 0.2, "x").ok(),
        Some(dec!(0.30000000000000004))
    );
    assert!(
        matches!(convert::decimal(f64::NAN, "price"), Err(ConnectorError::Decode(m)) if m.contains("price"))
    );
    assert!(convert::decimal(f64::INFINITY, "price").is_err());
}

#[test]
fn stock_positions_map_to_equity_holdings_with_cost_basis() {
    let map = CategoryMap::default();
    let p = position("U1", stock("AAPL", "NASDAQ", "USD"), 10.5, 150.25);
    let Ok(Some(h)) = convert::holding(&p, "U1", &map, at()) else {
        panic!("stock position not mapped");
    };
    assert_eq!(h.asset.asset_id, "EQUITY:XNAS:AAPL");
    assert_eq!(h.asset.class, AssetClass::Equity);
    assert_eq!(h.asset.exchange.as_deref(), Some("XNAS"));
    assert_eq!(h.quantity, dec!(10.5));
    assert_eq!(h.cost_basis, Some(dec!(1577.625)));
    assert_eq!(h.as_of, at());
}

#[test]
fn option_avg_cost_already_includes_the_multiplier() {
    let map = CategoryMap::default();
    // Two calls bought at 2.505 per share: IB reports avgCost 250.5 per contract.
    let p = position("U1", aapl_call(), 2.0, 250.5);
    let Ok(Some(h)) = convert::holding(&p, "U1", &map, at()) else {
        panic!("option position not mapped");
    };
    assert_eq!(h.asset.asset_id, "OPTION:AAPL:20250117:C:150");
    assert_eq!(h.asset.symbol, "AAPL  250117C00150000");
    assert_eq!(h.asset.class, AssetClass::Option);
    assert_eq!(h.cost_basis, Some(dec!(501)));
    let Ok(c) = convert::contract_of(&aapl_call()) else {
        panic!("contract not converted");
    };
    assert_eq!(c.multiplier, Some(dec!(100)));
    assert_eq!(c.strike, Some(dec!(150)));
    assert_eq!(c.put_call.as_deref(), Some("C"));
    assert_eq!(c.underlying.as_deref(), Some("AAPL"));
    assert_eq!(c.conid.as_deref(), Some("700001"));
    assert_eq!(c.expiry, NaiveDate::from_ymd_opt(2025, 1, 17));
}

#[test]
fn futures_short_positions_and_other_accounts() {
    let map = CategoryMap::default();
    let p = position("U1", es_future(), -1.0, 301_250.0);
    let Ok(Some(h)) = convert::holding(&p, "U1", &map, at()) else {
        panic!("future position not mapped");
    };
    assert_eq!(h.asset.asset_id, "FUTURE:ES:20251219");
    assert_eq!(h.asset.class, AssetClass::Future);
    assert_eq!(h.quantity, dec!(-1));
    assert_eq!(h.cost_basis, Some(dec!(-301250)));
    assert!(matches!(convert::holding(&p, "U2", &map, at()), Ok(None)));
    let flat = position("U1", stock("MSFT", "NASDAQ", "USD"), 0.0, 0.0);
    assert!(matches!(
        convert::holding(&flat, "U1", &map, at()),
        Ok(None)
    ));
}

fn row(account: &str, tag: &str, value: &str, currency: &str) -> AccountSummary {
    AccountSummary {
        account: account.into(),
        tag: tag.into(),
        value: value.into(),
        currency: currency.into(),
    }
}

#[test]
fn the_ledger_gives_cash_per_currency_and_net_liquidation_the_balance() {
    let rows = vec![
        row("U1", "NetLiquidation", "125432.17", "USD"),
        row("U1", "TotalCashValue", "20480.55", "USD"),
        row("U1", "AccountType", "INDIVIDUAL", ""),
        row("U1", "CashBalance", "20480.55", "BASE"),
        row("U1", "CashBalance", "15230.10", "USD"),
        row("U1", "CashBalance", "4600.00", "EUR"),
        row("U1", "CashBalance", "0.00", "GBP"),
        row("U2", "CashBalance", "999", "USD"),
    ];
    let Ok(summary) = convert::summary(&rows, "U1") else {
        panic!("summary not folded");
    };
    assert_eq!(summary.account_type.as_deref(), Some("INDIVIDUAL"));
    assert_eq!(summary.base_currency().as_deref(), Some("USD"));
    let cash = convert::cash_holdings(&summary, at());
    let got: Vec<_> = cash
        .iter()
        .map(|h| (h.asset.asset_id.as_str(), h.quantity))
        .collect();
    assert_eq!(
        got,
        vec![("CASH:EUR", dec!(4600)), ("CASH:USD", dec!(15230.10))]
    );
    let Some(balance) = convert::balance(&summary, at()) else {
        panic!("no balance");
    };
    assert_eq!(
        (balance.amount, balance.currency.as_str()),
        (dec!(125432.17), "USD")
    );

    let without_ledger = vec![row("U1", "TotalCashValue", "100.5", "CHF")];
    let Ok(summary) = convert::summary(&without_ledger, "U1") else {
        panic!("summary not folded");
    };
    let cash = convert::cash_holdings(&summary, at());
    assert_eq!(cash.len(), 1);
    assert_eq!(cash[0].asset.asset_id, "CASH:CHF");
    assert_eq!(cash[0].quantity, dec!(100.5));
    assert!(convert::summary(&[row("U1", "NetLiquidation", "n/a", "USD")], "U1").is_err());
}

fn execution(
    id: &str,
    contract: IbContract,
    side: ExecutionSide,
    shares: f64,
    price: f64,
    time: &str,
) -> ExecutionData {
    ExecutionData {
        request_id: 1,
        contract,
        execution: Execution {
            execution_id: id.into(),
            time: time.into(),
            account_number: "U1".into(),
            side,
            shares,
            price,
            ..Execution::default()
        },
    }
}

fn commission(id: &str, amount: f64, currency: &str) -> (String, CommissionReport) {
    (
        id.into(),
        CommissionReport {
            execution_id: id.into(),
            commission: amount,
            currency: currency.into(),
            ..CommissionReport::default()
        },
    )
}

#[test]
fn executions_become_signed_buys_and_sells_with_fees() {
    let map = CategoryMap::default();
    let executions = vec![
        execution(
            "0001.01",
            stock("AAPL", "NASDAQ", "USD"),
            ExecutionSide::Bought,
            10.0,
            185.37,
            "20250115-14:30:05",
        ),
        execution(
            "0002.01",
            aapl_call(),
            ExecutionSide::Sold,
            2.0,
            3.15,
            "20250115 10:01:00 US/Eastern",
        ),
        execution(
            "0003.01",
            stock("SAP", "IBIS", "EUR"),
            ExecutionSide::Bought,
            5.0,
            120.0,
            "20250115-09:00:00",
        ),
        execution(
            "0004.01",
            stock("MSFT", "NASDAQ", "USD"),
            ExecutionSide::Sold,
            1.0,
            400.0,
            "20250115-15:00:00",
        ),
    ];
    let commissions: HashMap<_, _> = [
        commission("0001.01", 1.0, "USD"),
        commission("0002.01", 1.3, "USD"),
        commission("0003.01", 1.25, "USD"),
    ]
    .into_iter()
    .collect();
    let Ok(txs) = convert::transactions(executions, &commissions, "U1", &map, None) else {
        panic!("executions not mapped");
    };
    let got: Vec<_> = txs
        .iter()
        .map(|t| {
            (
                t.source_id.as_str(),
                t.kind,
                t.quantity,
                t.price,
                t.amount,
                t.fee,
                t.currency.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "exec:0001.01",
                TransactionType::Buy,
                Some(dec!(10)),
                Some(dec!(185.37)),
                dec!(-1854.7),
                Some(dec!(1)),
                "USD"
            ),
            (
                "exec:0002.01",
                TransactionType::Sell,
                Some(dec!(2)),
                Some(dec!(3.15)),
                dec!(628.7),
                Some(dec!(1.3)),
                "USD"
            ),
            (
                "exec:0003.01",
                TransactionType::Buy,
                Some(dec!(5)),
                Some(dec!(120)),
                dec!(-600),
                None,
                "EUR"
            ),
            (
                "exec:0003.01:commission",
                TransactionType::Fee,
                None,
                None,
                dec!(-1.25),
                Some(dec!(1.25)),
                "USD"
            ),
            (
                "exec:0004.01",
                TransactionType::Sell,
                Some(dec!(1)),
                Some(dec!(400)),
                dec!(400),
                None,
                "USD"
            ),
        ]
    );
    assert_eq!(
        txs[0].trade_date,
        NaiveDate::from_ymd_opt(2025, 1, 15).unwrap_or_default()
    );
    assert_eq!(
        txs[1].asset.as_ref().map(|a| a.asset_id.as_str()),
        Some("OPTION:AAPL:20250117:C:150")
    );
}

#[test]
fn corrections_replace_the_fill_they_correct_and_since_drops_older_fills() {
    let map = CategoryMap::default();
    let executions = vec![
        execution(
            "0001.01",
            stock("AAPL", "NASDAQ", "USD"),
            ExecutionSide::Bought,
            10.0,
            185.0,
            "20250115-14:30:05",
        ),
        execution(
            "0001.02",
            stock("AAPL", "NASDAQ", "USD"),
            ExecutionSide::Bought,
            10.0,
            184.5,
            "20250115-14:30:05",
        ),
        execution(
            "0005.01",
            stock("AAPL", "NASDAQ", "USD"),
            ExecutionSide::Bought,
            1.0,
            180.0,
            "20250114-14:30:05",
        ),
    ];
    let since = Utc.with_ymd_and_hms(2025, 1, 15, 0, 0, 0).single();
    let Ok(txs) = convert::transactions(executions, &HashMap::new(), "U1", &map, since) else {
        panic!("executions not mapped");
    };
    let ids: Vec<_> = txs
        .iter()
        .map(|t| (t.source_id.as_str(), t.price))
        .collect();
    assert_eq!(ids, vec![("exec:0001.02", Some(dec!(184.5)))]);

    let bad = vec![execution(
        "0009.01",
        stock("AAPL", "NASDAQ", "USD"),
        ExecutionSide::Bought,
        1.0,
        1.0,
        "yesterday",
    )];
    assert!(matches!(
        convert::transactions(bad, &HashMap::new(), "U1", &map, None),
        Err(ConnectorError::Decode(_))
    ));
}

#[test]
fn filter_time_is_the_utc_form_tws_accepts() {
    let since = Utc
        .with_ymd_and_hms(2025, 1, 15, 9, 5, 0)
        .single()
        .unwrap_or_default();
    assert_eq!(convert::filter_time(since), "20250115-09:05:00");
}

fn client(host: &str) -> TwsClient {
    TwsClient::new(TwsSettings {
        host: host.into(),
        port: 4002,
        client_id: 7,
        timeout: Duration::from_secs(3),
    })
}

#[test]
fn ibapi_errors_map_to_actionable_connector_errors() {
    let c = client("127.0.0.1");
    let refused = c.map_error(ibapi::Error::Io(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    )));
    assert!(
        matches!(&refused, ConnectorError::Transport(m) if m.contains("Nothing is listening on 127.0.0.1:4002") && m.contains("Enable ActiveX and Socket Clients"))
    );
    assert!(refused.is_retryable());

    let in_use = c.map_error(ibapi::Error::ClientIdInUse { client_id: 7 });
    assert!(
        matches!(&in_use, ConnectorError::Upstream { status: 409, message } if message.contains("Client id 7"))
    );
    assert!(!in_use.is_retryable());

    let timeout = c.map_error(ibapi::Error::Timeout);
    assert!(
        matches!(&timeout, ConnectorError::Transport(m) if m == "TWS did not answer within 3s")
    );

    let old = c.map_error(ibapi::Error::ServerVersion(213, 187, String::new()));
    assert!(
        matches!(&old, ConnectorError::Upstream { status: 426, message } if message.contains("187"))
    );
    assert!(!old.is_retryable());
}

#[test]
fn ipv6_hosts_are_bracketed() {
    assert_eq!(client("::1").address(), "[::1]:4002");
    assert_eq!(client("gateway").address(), "gateway:4002");
}
