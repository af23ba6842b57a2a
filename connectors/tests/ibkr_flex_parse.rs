//! The Flex `FlexQueryResponse` parser against statements written from IB's Flex Query
//! reference: two accounts with every record kind, the same statement in three date formats,
//! IB error documents, HTML pages, truncated, binary and mangled files.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tributary_connectors::ibkr::category::CategoryMap;
use tributary_connectors::ibkr::flex::parse::{
    FlexAccount, FlexParseError, FlexStatement, looks_like_flex, parse_statement,
};
use tributary_connectors::{AssetClass, Holding, Transaction, TransactionType};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/ibkr/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(xml: &[u8]) -> FlexStatement {
    parse_statement(xml, &CategoryMap::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(xml: &[u8]) -> FlexParseError {
    match parse_statement(xml, &CategoryMap::default()) {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e,
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
}

fn end_of(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    day(y, m, d)
        .and_hms_opt(23, 59, 59)
        .unwrap_or_else(|| panic!("bad time"))
        .and_utc()
}

fn account<'a>(s: &'a FlexStatement, id: &str) -> &'a FlexAccount {
    s.accounts
        .iter()
        .find(|a| a.info.id == id)
        .unwrap_or_else(|| panic!("no account {id}"))
}

/// The transaction with `source_id` and its line.
fn tx<'a>(a: &'a FlexAccount, id: &str) -> (&'a Transaction, u64) {
    let i = a
        .data
        .transactions
        .iter()
        .position(|t| t.source_id == id)
        .unwrap_or_else(|| panic!("no transaction {id} in {:#?}", a.data.transactions));
    let line = a.lines.get(i).copied().unwrap_or_else(|| panic!("no line"));
    (&a.data.transactions[i], line)
}

fn asset_id(t: &Transaction) -> &str {
    t.asset.as_ref().map_or("", |a| a.asset_id.as_str())
}

fn holding<'a>(a: &'a FlexAccount, asset_id: &str) -> &'a Holding {
    a.data
        .holdings
        .iter()
        .find(|h| h.asset.asset_id == asset_id)
        .unwrap_or_else(|| panic!("no holding {asset_id} in {:#?}", a.data.holdings))
}

/// Checks kind, dates, quantity, price, amount, fee and currency of a transaction.
#[allow(clippy::too_many_arguments)]
fn check(
    t: &Transaction,
    kind: TransactionType,
    date: NaiveDate,
    quantity: Option<Decimal>,
    price: Option<Decimal>,
    amount: Decimal,
    fee: Option<Decimal>,
    currency: &str,
) {
    assert_eq!(t.kind, kind, "{t:#?}");
    assert_eq!(t.trade_date, date, "{t:#?}");
    assert_eq!(t.quantity, quantity, "{t:#?}");
    assert_eq!(t.price, price, "{t:#?}");
    assert_eq!(t.amount, amount, "{t:#?}");
    assert_eq!(t.fee, fee, "{t:#?}");
    assert_eq!(t.currency, currency, "{t:#?}");
}

#[test]
fn every_fixture_statement_is_detected_and_the_others_are_not() {
    for name in [
        "flex_multi_account.xml",
        "flex_dates_iso.xml",
        "flex_dates_us.xml",
        "flex_truncated.xml",
    ] {
        assert!(looks_like_flex(&fixture(name)), "{name}");
    }
    assert!(!looks_like_flex(&fixture("flex_error_1019.xml")));
    assert!(!looks_like_flex(&fixture("flex_error_page.html")));
}

#[test]
fn accounts_come_with_their_information_and_period() {
    let s = parse(&fixture("flex_multi_account.xml"));
    assert_eq!(s.accounts.len(), 2);
    let usd = account(&s, "U1234567");
    assert_eq!(usd.info.kind.as_deref(), Some("Individual"));
    assert_eq!(usd.info.base_currency.as_deref(), Some("USD"));
    assert_eq!(usd.info.name.as_deref(), Some("Main brokerage"));
    assert_eq!(usd.info.opened, Some(day(2019, 3, 15)));
    assert_eq!(usd.from_date, Some(day(2025, 1, 1)));
    assert_eq!(usd.to_date, Some(day(2025, 3, 31)));
    assert!(usd.rejected.is_empty(), "{:#?}", usd.rejected);
    assert_eq!(usd.data.transactions.len(), 23);
    assert_eq!(usd.lines.len(), usd.data.transactions.len());

    let eur = account(&s, "U7654321");
    assert_eq!(eur.info.base_currency.as_deref(), Some("EUR"));
    assert_eq!(
        eur.info.name.as_deref(),
        Some("Jane Q Investor"),
        "an empty alias falls back to the name"
    );
    assert_eq!(eur.info.opened, None);
}

#[test]
fn stock_and_etf_trades_keep_ib_signs_fees_and_ids() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");

    let (buy, line) = tx(a, "exec:0000e0d5.6789a1b2.01.01");
    assert_eq!(line, 26);
    check(
        buy,
        TransactionType::Buy,
        day(2025, 1, 6),
        Some(dec!(100)),
        Some(dec!(185.5)),
        dec!(-18551),
        Some(dec!(1)),
        "USD",
    );
    assert_eq!(buy.settle_date, Some(day(2025, 1, 7)));
    assert_eq!(buy.description.as_deref(), Some("APPLE INC"));
    let Some(aapl) = &buy.asset else {
        panic!("no asset")
    };
    assert_eq!(aapl.asset_id, "EQUITY:XNAS:AAPL");
    assert_eq!(aapl.class, AssetClass::Equity);
    assert_eq!(aapl.exchange.as_deref(), Some("XNAS"));
    assert_eq!(aapl.name, "APPLE INC");

    let (spy, line) = tx(a, "trade:718823302");
    assert_eq!(line, 28, "the <Order> row between them is skipped");
    check(
        spy,
        TransactionType::Buy,
        day(2025, 1, 7),
        Some(dec!(20)),
        Some(dec!(590.25)),
        dec!(-11806),
        Some(dec!(1)),
        "USD",
    );
    assert_eq!(asset_id(spy), "EQUITY:ARCX:SPY");
    assert_eq!(spy.asset.as_ref().map(|a| a.class), Some(AssetClass::Etf));
    assert_eq!(
        spy.asset.as_ref().map(|a| a.name.as_str()),
        Some("SPDR S&P 500 ETF TRUST")
    );

    let (sell, line) = tx(a, "trade:718823303");
    assert_eq!(line, 29);
    check(
        sell,
        TransactionType::Sell,
        day(2025, 2, 10),
        Some(dec!(40)),
        Some(dec!(190.1)),
        dec!(7602.92),
        Some(dec!(1.02)),
        "USD",
    );
    assert_eq!(asset_id(sell), "EQUITY:XNAS:AAPL");
}

#[test]
fn derivatives_forex_and_bonds_get_their_own_assets() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");

    let (option, line) = tx(a, "trade:718823304");
    assert_eq!(line, 30);
    check(
        option,
        TransactionType::Buy,
        day(2025, 1, 21),
        Some(dec!(2)),
        Some(dec!(5.35)),
        dec!(-1071.3),
        Some(dec!(1.3)),
        "USD",
    );
    assert_eq!(asset_id(option), "OPTION:AAPL:20250620:C:200");
    assert_eq!(
        option.asset.as_ref().map(|a| a.class),
        Some(AssetClass::Option)
    );
    assert_eq!(
        option.description.as_deref(),
        Some("AAPL 20JUN25 200 C (multiplier 100)")
    );

    let (future_buy, _) = tx(a, "trade:718823305");
    check(
        future_buy,
        TransactionType::Buy,
        day(2025, 2, 3),
        Some(dec!(1)),
        Some(dec!(5950.25)),
        dec!(-2.25),
        Some(dec!(2.25)),
        "USD",
    );
    assert_eq!(asset_id(future_buy), "FUTURE:ES:20250321");
    assert_eq!(
        future_buy.asset.as_ref().map(|a| a.class),
        Some(AssetClass::Future)
    );
    let (future_sell, _) = tx(a, "trade:718823306");
    check(
        future_sell,
        TransactionType::Sell,
        day(2025, 2, 5),
        Some(dec!(1)),
        Some(dec!(5990.5)),
        dec!(2010.25),
        Some(dec!(2.25)),
        "USD",
    );

    let (fx, line) = tx(a, "trade:718823307");
    assert_eq!(line, 33);
    check(
        fx,
        TransactionType::Buy,
        day(2025, 3, 3),
        Some(dec!(10000)),
        Some(dec!(1.0345)),
        dec!(-10347),
        Some(dec!(2)),
        "USD",
    );
    assert_eq!(asset_id(fx), "FX:EUR");
    assert_eq!(fx.settle_date, Some(day(2025, 3, 5)));

    let (bond, _) = tx(a, "trade:718823308");
    check(
        bond,
        TransactionType::Buy,
        day(2025, 3, 10),
        Some(dec!(10000)),
        Some(dec!(99.5)),
        dec!(-9955),
        Some(dec!(5)),
        "USD",
    );
    assert_eq!(asset_id(bond), "BOND:US91282CJS19");
    assert_eq!(bond.asset.as_ref().map(|a| a.class), Some(AssetClass::Bond));
}

#[test]
fn a_cancelled_trade_is_imported_as_its_reversal() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");
    let (sell, _) = tx(a, "trade:718823309");
    check(
        sell,
        TransactionType::Sell,
        day(2025, 3, 12),
        Some(dec!(5)),
        Some(dec!(600)),
        dec!(2999),
        Some(dec!(1)),
        "USD",
    );
    let (cancel, line) = tx(a, "trade:718823309:cancel");
    assert_eq!(line, 36);
    check(
        cancel,
        TransactionType::Buy,
        day(2025, 3, 12),
        Some(dec!(5)),
        Some(dec!(600)),
        dec!(-2999),
        Some(dec!(1)),
        "USD",
    );
    assert_eq!(
        cancel.description.as_deref(),
        Some("Cancellation: SPDR S&P 500 ETF TRUST")
    );
    assert_eq!(sell.amount + cancel.amount, Decimal::ZERO);
}

#[test]
fn splits_and_mergers_move_signed_quantities() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");

    let (split, line) = tx(a, "ca:29347120001");
    assert_eq!(line, 39);
    check(
        split,
        TransactionType::Split,
        day(2025, 2, 20),
        Some(dec!(150)),
        None,
        dec!(0),
        None,
        "USD",
    );
    assert_eq!(asset_id(split), "EQUITY:XNYS:ACME");
    assert_eq!(
        split.description.as_deref(),
        Some("ACME(US0044441018) SPLIT 4 FOR 1 (ACME, ACME CORP, US0044441018)")
    );

    let (old, line) = tx(a, "ca:29347120002");
    assert_eq!(line, 40);
    check(
        old,
        TransactionType::Merger,
        day(2025, 3, 14),
        Some(dec!(-100)),
        Some(dec!(60)),
        dec!(2500),
        None,
        "USD",
    );
    assert_eq!(asset_id(old), "EQUITY:XNYS:OLDCO");
    let (new, _) = tx(a, "ca:29347120003");
    check(
        new,
        TransactionType::Merger,
        day(2025, 3, 14),
        Some(dec!(50)),
        Some(dec!(70)),
        dec!(0),
        None,
        "USD",
    );
    assert_eq!(asset_id(new), "EQUITY:XNYS:NEWCO");
}

#[test]
fn position_and_cash_transfers() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");
    let (incoming, line) = tx(a, "transfer:29347130001");
    assert_eq!(line, 44);
    check(
        incoming,
        TransactionType::Transfer,
        day(2025, 1, 15),
        Some(dec!(30)),
        Some(dec!(420)),
        dec!(0),
        None,
        "USD",
    );
    assert_eq!(asset_id(incoming), "EQUITY:XNAS:MSFT");
    assert_eq!(
        incoming.description.as_deref(),
        Some("MICROSOFT CORP (ACATS IN 88812345 0164)")
    );
    let (cash, _) = tx(a, "transfer:29347130002");
    check(
        cash,
        TransactionType::Withdrawal,
        day(2025, 3, 20),
        None,
        None,
        dec!(-250),
        None,
        "USD",
    );
    assert!(cash.asset.is_none());
}

#[test]
fn cash_transactions_map_types_keep_signs_and_drop_summaries() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");
    let expect = [
        (
            "cash:29347140001",
            48,
            TransactionType::Deposit,
            day(2025, 1, 2),
            dec!(25000),
            "",
        ),
        (
            "cash:29347140002",
            49,
            TransactionType::Dividend,
            day(2025, 2, 13),
            dec!(15),
            "EQUITY:XNAS:AAPL",
        ),
        (
            "cash:29347140003",
            50,
            TransactionType::Tax,
            day(2025, 2, 13),
            dec!(-2.25),
            "EQUITY:XNAS:AAPL",
        ),
        (
            "cash:29347140004",
            51,
            TransactionType::Dividend,
            day(2025, 1, 31),
            dec!(8.4),
            "EQUITY:ARCX:SPY",
        ),
        (
            "cash:29347140005",
            52,
            TransactionType::Interest,
            day(2025, 3, 4),
            dec!(12.34),
            "",
        ),
        (
            "cash:29347140006",
            53,
            TransactionType::Interest,
            day(2025, 3, 4),
            dec!(-3.21),
            "",
        ),
        (
            "cash:29347140007",
            54,
            TransactionType::Fee,
            day(2025, 3, 4),
            dec!(-10),
            "",
        ),
        (
            "cash:29347140008",
            55,
            TransactionType::Withdrawal,
            day(2025, 3, 18),
            dec!(-1500),
            "",
        ),
    ];
    for (id, line, kind, date, amount, asset) in expect {
        let (t, at) = tx(a, id);
        assert_eq!(at, line, "{id}");
        check(t, kind, date, None, None, amount, None, "USD");
        assert_eq!(asset_id(t), asset, "{id}");
    }
    let (dividend, _) = tx(a, "cash:29347140002");
    assert_eq!(
        dividend.description.as_deref(),
        Some("AAPL(US0378331005) CASH DIVIDEND USD 0.25 PER SHARE (Ordinary Dividend)")
    );
    assert_eq!(dividend.settle_date, Some(day(2025, 2, 13)));
    assert!(
        !a.lines.contains(&56),
        "the SUMMARY row is dropped when detail rows exist"
    );
    let cash_total: Decimal = a
        .data
        .transactions
        .iter()
        .filter(|t| t.source_id.starts_with("cash:"))
        .map(|t| t.amount)
        .sum();
    assert_eq!(cash_total, dec!(23520.28));
}

#[test]
fn transactions_are_in_document_order_with_their_lines() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");
    assert_eq!(
        a.lines,
        vec![
            26, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 40, 41, 44, 45, 48, 49, 50, 51, 52, 53, 54,
            55
        ]
    );
}

#[test]
fn holdings_are_positions_plus_cash_per_currency() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U1234567");
    let ids: Vec<&str> = a
        .data
        .holdings
        .iter()
        .map(|h| h.asset.asset_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![
            "EQUITY:XNAS:AAPL",
            "EQUITY:ARCX:SPY",
            "OPTION:AAPL:20250620:C:200",
            "EQUITY:XNAS:TSLA",
            "CASH:USD",
            "CASH:EUR",
        ],
        "summary rows only, no LOT duplicate, no zero GBP cash"
    );
    let aapl = holding(a, "EQUITY:XNAS:AAPL");
    assert_eq!(aapl.quantity, dec!(60));
    assert_eq!(aapl.price, Some(dec!(222.13)));
    assert_eq!(aapl.market_value, Some(dec!(13327.8)));
    assert_eq!(aapl.cost_basis, Some(dec!(11130.6)));
    assert_eq!(aapl.as_of, end_of(2025, 3, 31));
    let option = holding(a, "OPTION:AAPL:20250620:C:200");
    assert_eq!(option.quantity, dec!(2));
    assert_eq!(option.market_value, Some(dec!(5680)));
    let short = holding(a, "EQUITY:XNAS:TSLA");
    assert_eq!(short.quantity, dec!(-10));
    assert_eq!(short.market_value, Some(dec!(-2591.6)));
    assert_eq!(short.cost_basis, Some(dec!(-3000)));
    let usd = holding(a, "CASH:USD");
    assert_eq!(usd.quantity, dec!(-8015.88));
    assert_eq!(usd.market_value, Some(dec!(-8015.88)));
    assert_eq!(usd.price, Some(Decimal::ONE));
    assert_eq!(usd.asset.class, AssetClass::Cash);
    let eur = holding(a, "CASH:EUR");
    assert_eq!(eur.quantity, dec!(10000));
    assert_eq!(eur.asset.currency, "EUR");
    assert_eq!(eur.as_of, end_of(2025, 3, 31));
}

#[test]
fn balance_is_the_latest_equity_summary_else_the_change_in_nav() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let Some(usd) = &account(&s, "U1234567").data.balance else {
        panic!("no balance")
    };
    assert_eq!(usd.amount, dec!(66331.13));
    assert_eq!(usd.currency, "USD");
    assert_eq!(usd.as_of, end_of(2025, 3, 31));
    let Some(eur) = &account(&s, "U7654321").data.balance else {
        panic!("no balance")
    };
    assert_eq!(eur.amount, dec!(5174.61));
    assert_eq!(eur.currency, "EUR");
}

#[test]
fn bad_rows_are_rejected_with_their_line_and_the_rest_still_comes_through() {
    let s = parse(&fixture("flex_multi_account.xml"));
    let a = account(&s, "U7654321");
    let lines: Vec<u64> = a.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![74, 79], "{:#?}", a.rejected);
    assert!(
        a.rejected[0].message.contains("netCash=\"12.3.4\""),
        "{}",
        a.rejected[0]
    );
    assert!(a.rejected[0].message.starts_with("Trade: "));
    assert!(
        a.rejected[1].message.contains("Price Adjustments"),
        "{}",
        a.rejected[1]
    );
    assert_eq!(
        a.rejected[1].to_string(),
        format!("line 79: {}", a.rejected[1].message)
    );

    let ids: Vec<&str> = a
        .data
        .transactions
        .iter()
        .map(|t| t.source_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["trade:718900001", "cash:29347240001", "cash:29347240002"]
    );
    let (sap, line) = tx(a, "trade:718900001");
    assert_eq!(line, 73);
    check(
        sap,
        TransactionType::Buy,
        day(2025, 1, 20),
        Some(dec!(8)),
        Some(dec!(210.4)),
        dec!(-1684.45),
        Some(dec!(1.25)),
        "EUR",
    );
    assert_eq!(asset_id(sap), "EQUITY:XETR:SAP");
    let (tax, _) = tx(a, "cash:29347240002");
    assert_eq!(tax.kind, TransactionType::Tax);
    assert_eq!(tax.amount, dec!(-4.64));
    assert_eq!(tax.currency, "EUR");
    assert_eq!(
        a.data
            .holdings
            .iter()
            .map(|h| (h.asset.asset_id.as_str(), h.quantity))
            .collect::<Vec<_>>(),
        vec![("EQUITY:XETR:SAP", dec!(8)), ("CASH:EUR", dec!(3318.41))]
    );
}

#[test]
fn the_same_statement_reads_the_same_in_every_date_format() {
    let plain = parse(&fixture("flex_multi_account.xml"));
    assert_eq!(parse(&fixture("flex_dates_iso.xml")), plain);
    assert_eq!(
        parse(&fixture("flex_dates_us.xml")),
        plain,
        "01/02/2025 is read month-first once 01/13/2025-style dates are seen"
    );
}

/// A one-account statement around `body` with `from`/`to` dates.
fn statement(from: &str, to: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <FlexQueryResponse queryName=\"q\" type=\"AF\">\n\
         <FlexStatements count=\"1\">\n\
         <FlexStatement accountId=\"U1\" fromDate=\"{from}\" toDate=\"{to}\" period=\"Custom\">\n\
         <AccountInformation accountId=\"U1\" currency=\"EUR\" accountType=\"Joint\"/>\n\
         {body}\n\
         </FlexStatement>\n\
         </FlexStatements>\n\
         </FlexQueryResponse>\n"
    )
}

const CASH_ROW: &str = "<CashTransaction currency=\"EUR\" type=\"Deposits/Withdrawals\" \
                        amount=\"100\" dateTime=\"{dt}\" transactionID=\"{id}\"/>";

fn cash_row(dt: &str, id: &str) -> String {
    CASH_ROW.replace("{dt}", dt).replace("{id}", id)
}

#[test]
fn day_first_slash_dates_are_detected_from_an_unambiguous_day() {
    let body = format!(
        "<CashTransactions>\n{}\n{}\n</CashTransactions>",
        cash_row("02/03/2025;101500", "1"),
        cash_row("25/03/2025;101500", "2")
    );
    let s = parse(statement("01/03/2025", "31/03/2025", &body).as_bytes());
    let a = account(&s, "U1");
    assert_eq!(a.from_date, Some(day(2025, 3, 1)));
    assert_eq!(tx(a, "cash:1").0.trade_date, day(2025, 3, 2));
    assert_eq!(tx(a, "cash:2").0.trade_date, day(2025, 3, 25));

    // Nothing above 12 anywhere and both orders keep fromDate before toDate: month-first.
    let body = format!(
        "<CashTransactions>\n{}\n</CashTransactions>",
        cash_row("02/03/2025", "1")
    );
    let s = parse(statement("01/02/2025", "12/02/2025", &body).as_bytes());
    assert_eq!(account(&s, "U1").from_date, Some(day(2025, 1, 2)));
    // Only day-first keeps fromDate before toDate.
    let s = parse(statement("05/02/2025", "03/03/2025", &body).as_bytes());
    let a = account(&s, "U1");
    assert_eq!(a.from_date, Some(day(2025, 2, 5)));
    assert_eq!(a.to_date, Some(day(2025, 3, 3)));
    assert_eq!(tx(a, "cash:1").0.trade_date, day(2025, 3, 2));
}

#[test]
fn summary_rows_count_only_in_sections_without_detail_rows() {
    let body = "<CashTransactions>\n\
        <CashTransaction currency=\"EUR\" type=\"Other Fees\" amount=\"-12.5\" \
         levelOfDetail=\"SUMMARY\"/>\n\
        <CashTransaction currency=\"EUR\" type=\"Other Fees\" amount=\"abc\" \
         levelOfDetail=\"SUMMARY\"/>\n\
        </CashTransactions>";
    let s = parse(statement("20250101", "20250131", body).as_bytes());
    let a = account(&s, "U1");
    assert_eq!(a.data.transactions.len(), 1);
    let t = &a.data.transactions[0];
    assert_eq!(t.kind, TransactionType::Fee);
    assert_eq!(t.amount, dec!(-12.5));
    assert_eq!(
        t.trade_date,
        day(2025, 1, 31),
        "a summary row is dated at the period end"
    );
    assert!(t.source_id.starts_with("cash:h:"));
    assert_eq!(a.rejected.len(), 1);
    assert_eq!(a.rejected[0].line, 8);
}

#[test]
fn rows_without_ids_get_stable_content_ids_and_twins_stay_apart() {
    let row = "<Trade currency=\"EUR\" assetCategory=\"STK\" symbol=\"SAP\" listingExchange=\"IBIS\" \
               tradeDate=\"20250120\" quantity=\"1\" tradePrice=\"200\" proceeds=\"-200\" \
               ibCommission=\"-1\" taxes=\"-0.5\" buySell=\"BUY\"/>";
    let body = format!("<Trades>\n{row}\n{row}\n</Trades>");
    let xml = statement("20250101", "20250131", &body);
    let first = parse(xml.as_bytes());
    let a = account(&first, "U1");
    assert_eq!(a.data.transactions.len(), 2);
    let ids: Vec<&str> = a
        .data
        .transactions
        .iter()
        .map(|t| t.source_id.as_str())
        .collect();
    assert!(ids[0].starts_with("trade:h:"), "{ids:?}");
    assert_eq!(ids[1], format!("{}:2", ids[0]));
    assert_eq!(
        a.data.transactions[0].amount,
        dec!(-201.5),
        "without netCash: proceeds + ibCommission + taxes"
    );
    assert_eq!(a.lines, vec![7, 8]);
    assert_eq!(parse(xml.as_bytes()), first, "ids are deterministic");
}

#[test]
fn rows_read_the_same_whatever_their_markup() {
    let row = |id: u32, extra: &str| {
        format!(
            "<Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"KO\" listingExchange=\"NYSE\" \
             tradeDate=\"20250102\" quantity=\"{id}\" tradePrice=\"62.5\" netCash=\"-{id}\" \
             buySell=\"BUY\" tradeID=\"{id}\"{extra}"
        )
    };
    let body = [
        "<Trades>".to_owned(),
        format!("{}/>", row(1, "")),
        format!("{} ></Trade>", row(2, "")),
        format!("{}/>", row(3, " description = 'COCA-COLA CO/THE' ")),
        "<!-- a comment between rows -->".to_owned(),
        format!("{}/>", row(4, " description=\"A/>B > C &amp; D\"")),
        "<Order currency=\"USD\" symbol=\"KO\" quantity=\"9\" levelOfDetail=\"ORDER\"/>".to_owned(),
        format!("{}\n   />", row(5, "\n   description=\"two lines\"")),
        format!("{}/>", row(6, "")),
        "</Trades>".to_owned(),
    ]
    .join("\n");
    let s = parse(statement("20250101", "20250131", &body).as_bytes());
    let a = account(&s, "U1");
    assert!(a.rejected.is_empty(), "{:#?}", a.rejected);
    let got: Vec<(&str, u64, Decimal, Option<&str>)> = a
        .data
        .transactions
        .iter()
        .zip(&a.lines)
        .map(|(t, &line)| {
            (
                t.source_id.as_str(),
                line,
                t.amount,
                t.description.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("trade:1", 7, dec!(-1), Some("KO")),
            ("trade:2", 8, dec!(-2), Some("KO")),
            ("trade:3", 9, dec!(-3), Some("COCA-COLA CO/THE")),
            ("trade:4", 11, dec!(-4), Some("A/>B > C & D")),
            ("trade:5", 13, dec!(-5), Some("two lines")),
            ("trade:6", 16, dec!(-6), Some("KO")),
        ]
    );
}

#[test]
fn a_commission_in_another_currency_is_described_not_counted() {
    let body = "<Trades><Trade currency=\"GBP\" assetCategory=\"STK\" symbol=\"VOD\" \
                description=\"VODAFONE GROUP PLC\" listingExchange=\"LSE\" tradeDate=\"20250120\" \
                quantity=\"1000\" tradePrice=\"0.7\" netCash=\"-700\" ibCommission=\"-3\" \
                ibCommissionCurrency=\"EUR\" buySell=\"BUY\" tradeID=\"9\"/></Trades>";
    let s = parse(statement("20250101", "20250131", body).as_bytes());
    let (t, _) = tx(account(&s, "U1"), "trade:9");
    assert_eq!(t.fee, None);
    assert_eq!(t.amount, dec!(-700));
    assert_eq!(
        t.description.as_deref(),
        Some("VODAFONE GROUP PLC (commission 3 EUR)")
    );
    assert_eq!(asset_id(t), "EQUITY:XLON:VOD");
}

#[test]
fn lots_are_summed_without_summaries_and_the_balance_falls_back_to_cash_plus_positions() {
    let body = "<OpenPositions>\n\
        <OpenPosition currency=\"USD\" fxRateToBase=\"0.9\" assetCategory=\"STK\" symbol=\"AAPL\" \
         listingExchange=\"NASDAQ\" reportDate=\"20250131\" position=\"10\" markPrice=\"200\" \
         positionValue=\"2000\" costBasisMoney=\"1500\" levelOfDetail=\"LOT\"/>\n\
        <OpenPosition currency=\"USD\" fxRateToBase=\"0.9\" assetCategory=\"STK\" symbol=\"AAPL\" \
         listingExchange=\"NASDAQ\" reportDate=\"20250131\" position=\"5\" markPrice=\"200\" \
         positionValue=\"1000\" costBasisMoney=\"900\" levelOfDetail=\"LOT\"/>\n\
        <OpenPosition currency=\"EUR\" assetCategory=\"STK\" symbol=\"SAP\" listingExchange=\"IBIS\" \
         position=\"2\" markPrice=\"240\" positionValue=\"480\" costBasisMoney=\"400\" \
         levelOfDetail=\"LOT\"/>\n\
        </OpenPositions>\n\
        <CashReport><CashReportCurrency currency=\"BASE_SUMMARY\" endingCash=\"1000.50\"/></CashReport>";
    let s = parse(statement("20250101", "20250131", body).as_bytes());
    let a = account(&s, "U1");
    let aapl = holding(a, "EQUITY:XNAS:AAPL");
    assert_eq!(aapl.quantity, dec!(15));
    assert_eq!(aapl.market_value, Some(dec!(3000)));
    assert_eq!(aapl.cost_basis, Some(dec!(2400)));
    assert_eq!(holding(a, "EQUITY:XETR:SAP").as_of, end_of(2025, 1, 31));
    let Some(balance) = &a.data.balance else {
        panic!("no balance")
    };
    // 1000.50 + 3000 × 0.9 + 480 (already in the EUR base currency)
    assert_eq!(balance.amount, dec!(4180.50));
    assert_eq!(balance.currency, "EUR");
    assert_eq!(a.info.kind.as_deref(), Some("Joint"));
}

#[test]
fn statements_of_one_account_are_merged() {
    let first = "<FlexStatement accountId=\"U9\" fromDate=\"20250101\" toDate=\"20250131\">\
        <CashTransactions><CashTransaction currency=\"USD\" type=\"Dividends\" amount=\"1\" \
        dateTime=\"20250110\" transactionID=\"1\"/></CashTransactions>\
        <EquitySummaryInBase><EquitySummaryByReportDateInBase currency=\"USD\" reportDate=\"20250131\" \
        total=\"100\"/></EquitySummaryInBase></FlexStatement>";
    let second = "<FlexStatement accountId=\"U9\" fromDate=\"20250201\" toDate=\"20250228\">\
        <AccountInformation accountId=\"U9\" currency=\"USD\" acctAlias=\"IRA\" accountType=\"IRA\"/>\
        <CashTransactions><CashTransaction currency=\"USD\" type=\"Dividends\" amount=\"1\" \
        dateTime=\"20250110\" transactionID=\"1\"/><CashTransaction currency=\"USD\" \
        type=\"Dividends\" amount=\"2\" dateTime=\"20250210\" transactionID=\"2\"/></CashTransactions>\
        <EquitySummaryInBase><EquitySummaryByReportDateInBase currency=\"USD\" reportDate=\"20250228\" \
        total=\"200\"/></EquitySummaryInBase></FlexStatement>";
    let xml = format!(
        "<FlexQueryResponse><FlexStatements count=\"2\">{first}{second}</FlexStatements></FlexQueryResponse>"
    );
    let s = parse(xml.as_bytes());
    assert_eq!(s.accounts.len(), 1);
    let a = account(&s, "U9");
    assert_eq!(a.from_date, Some(day(2025, 1, 1)));
    assert_eq!(a.to_date, Some(day(2025, 2, 28)));
    assert_eq!(a.info.name.as_deref(), Some("IRA"));
    let ids: Vec<&str> = a
        .data
        .transactions
        .iter()
        .map(|t| t.source_id.as_str())
        .collect();
    assert_eq!(ids, vec!["cash:1", "cash:2"]);
    assert_eq!(a.data.balance.as_ref().map(|b| b.amount), Some(dec!(200)));
}

#[test]
fn an_ib_error_document_is_reported_with_its_code_and_message() {
    let err = parse_err(&fixture("flex_error_1019.xml"));
    assert_eq!(
        err,
        FlexParseError::ServiceError {
            line: 3,
            code: Some("1019".into()),
            message: "Statement generation in progress. Please try again shortly.".into(),
        }
    );
    assert_eq!(err.line(), Some(3));
    assert!(
        err.to_string().contains("error 1019: Statement generation"),
        "{err}"
    );

    let token = "<FlexStatementResponse timestamp=\"x\"><Status>Fail</Status>\
                 <ErrorCode>1012</ErrorCode><ErrorMessage>Token has expired &amp; must be \
                 renewed.</ErrorMessage></FlexStatementResponse>";
    assert!(matches!(
        parse_err(token.as_bytes()),
        FlexParseError::ServiceError { code: Some(code), message, .. }
            if code == "1012" && message == "Token has expired & must be renewed."
    ));
    let reference = "<FlexStatementResponse><Status>Success</Status>\
                     <ReferenceCode>123</ReferenceCode></FlexStatementResponse>";
    assert!(matches!(
        parse_err(reference.as_bytes()),
        FlexParseError::ServiceError { code: None, message, .. } if message.contains("SendRequest")
    ));
}

#[test]
fn html_pages_csv_json_and_other_roots_are_not_statements() {
    let err = parse_err(&fixture("flex_error_page.html"));
    assert!(
        matches!(&err, FlexParseError::NotFlex { line: 2, message }
            if message.contains("Interactive Brokers - System Maintenance")),
        "{err:?}"
    );
    let csv = "\"ClientAccountID\",\"Symbol\",\"Quantity\"\n\"U1\",\"AAPL\",\"10\"\n";
    assert!(matches!(
        parse_err(csv.as_bytes()),
        FlexParseError::NotXml { line: 1, message } if message.contains("CSV")
    ));
    assert!(matches!(
        parse_err(b"\n\n{\"accounts\": []}"),
        FlexParseError::NotXml { line: 3, .. }
    ));
    assert!(matches!(parse_err(b""), FlexParseError::NotXml { .. }));
    assert!(matches!(parse_err(b"  \n "), FlexParseError::NotXml { .. }));
    assert!(matches!(
        parse_err(b"<?xml version=\"1.0\"?>\n<OFX><SIGNONMSGSRSV1/></OFX>"),
        FlexParseError::NotFlex { line: 2, message } if message.contains("<OFX>")
    ));
}

#[test]
fn truncated_and_malformed_files_name_the_line() {
    let err = parse_err(&fixture("flex_truncated.xml"));
    assert_eq!(
        err,
        FlexParseError::Truncated {
            line: 30,
            column: 7
        }
    );
    assert_eq!(err.line(), Some(30));
    // Cut right after a complete row: still inside the statement.
    let full = String::from_utf8(fixture("flex_multi_account.xml")).unwrap_or_default();
    let cut: String = full.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(matches!(
        parse_err(cut.as_bytes()),
        FlexParseError::Truncated { line: 40, .. }
    ));
    let broken = full.replacen("</Trades>", "</Trade>", 1);
    assert!(matches!(
        parse_err(broken.as_bytes()),
        FlexParseError::Malformed { line: 37, .. }
    ));
    let twice = format!("{full}{full}");
    assert!(matches!(
        parse_err(twice.as_bytes()),
        FlexParseError::Malformed { line: 85, .. }
    ));
}

#[test]
fn binary_and_undecodable_input_is_refused() {
    assert!(matches!(
        parse_err(b"PK\x03\x04\x14\x00\x06\x00"),
        FlexParseError::Binary { line: 1, .. }
    ));
    let mut xml = fixture("flex_multi_account.xml");
    let at = xml
        .windows(9)
        .position(|w| w == b"APPLE INC")
        .unwrap_or_default();
    xml[at] = 0xC1;
    assert!(matches!(
        parse_err(&xml),
        FlexParseError::Encoding { line: 19, .. }
    ));
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n\
        <FlexQueryResponse><FlexStatements><FlexStatement accountId=\"U1\" fromDate=\"20250101\" \
        toDate=\"20250131\"><AccountInformation acctAlias=\"Caf\xE9\"/></FlexStatement>\
        </FlexStatements></FlexQueryResponse>";
    assert_eq!(
        account(&parse(latin1), "U1").info.name.as_deref(),
        Some("Caf\u{e9}")
    );
}

#[test]
fn statement_level_problems_are_errors() {
    assert!(matches!(
        parse_err(statement("2025-13-45", "20250131", "").as_bytes()),
        FlexParseError::BadDate { line: 4, attribute, value }
            if attribute == "fromDate" && value == "2025-13-45"
    ));
    let nameless = "<FlexQueryResponse><FlexStatements>\n<FlexStatement fromDate=\"20250101\">\
                    </FlexStatement></FlexStatements></FlexQueryResponse>";
    assert!(matches!(
        parse_err(nameless.as_bytes()),
        FlexParseError::Invalid { line: 2, .. }
    ));
    let empty = parse(b"<FlexQueryResponse queryName=\"q\" type=\"AF\"><FlexStatements count=\"0\"/></FlexQueryResponse>");
    assert!(empty.accounts.is_empty());
}

#[test]
fn unreadable_rows_never_stop_the_statement() {
    let body = "<Trades>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"A\" tradeDate=\"20250102\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"HOLD\" tradeID=\"1\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"A\" tradeDate=\"2025-02-30\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"BUY\" tradeID=\"2\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" tradeDate=\"20250102\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"BUY\" tradeID=\"3\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"A\" tradeDate=\"20250102\" quantity=\"0\" \
         netCash=\"0\" buySell=\"BUY\" tradeID=\"4\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"A&amp;B\" tradeDate=\"20250102\" \
         quantity=\"1\" netCash=\"-1\" buySell=\"BUY\" tradeID=\"5\" levelOfDetail=\"EXECUTION\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"A\" tradeDate=\"20250102\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"BUY\" tradeID=\"6\" levelOfDetail=\"CLOSED_LOT\"/>\n\
        <Trade currency=USD assetCategory=\"STK\" symbol=\"A\" tradeDate=\"20250102\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"BUY\" tradeID=\"7\"/>\n\
        <Trade currency=\"USD\" assetCategory=\"STK\" symbol=\"B\" tradeDate=\"20250102\" quantity=\"1\" \
         netCash=\"-1\" buySell=\"BUY\" tradeID=\"8\"/>\n\
        </Trades>";
    let s = parse(statement("20250101", "20250131", body).as_bytes());
    let a = account(&s, "U1");
    let rejected: Vec<(u64, bool)> = a
        .rejected
        .iter()
        .map(|r| (r.line, r.message.starts_with("Trade: ")))
        .collect();
    assert_eq!(
        rejected,
        vec![(7, true), (8, true), (9, true), (10, true), (13, true)],
        "{:#?}",
        a.rejected
    );
    assert!(a.rejected[0].message.contains("HOLD"));
    assert!(a.rejected[1].message.contains("tradeDate=\"2025-02-30\""));
    assert!(a.rejected[2].message.contains("symbol is missing"));
    assert!(a.rejected[3].message.contains("quantity is zero"));
    assert!(a.rejected[4].message.contains("malformed attribute"));
    assert_eq!(
        a.data.transactions.len(),
        2,
        "the row after a malformed one is read"
    );
    assert_eq!(
        a.data.transactions[0]
            .asset
            .as_ref()
            .map(|x| x.symbol.as_str()),
        Some("A&B")
    );
}

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or_default()
        }
    }
}

fn survives(bytes: &[u8], what: &str) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = looks_like_flex(bytes);
        parse_statement(bytes, &CategoryMap::default())
    }));
    match outcome {
        Err(_) => panic!("parser panicked on {what}"),
        Ok(Err(e)) => assert!(e.line().is_some_and(|l| l >= 1), "{what}: {e:?}"),
        Ok(Ok(s)) => {
            for a in &s.accounts {
                assert_eq!(a.lines.len(), a.data.transactions.len(), "{what}");
            }
        }
    }
}

#[test]
fn no_input_makes_the_parser_panic() {
    let full = fixture("flex_multi_account.xml");
    for cut in (0..full.len()).step_by(97) {
        survives(&full[..cut], &format!("cut at {cut}"));
    }
    let mut rng = Rng(0x5EED_F1E7);
    const SPECIAL: &[u8] = b"<>/\"'=&;#x\n.,-0123456789MULTIBUY(Ca.)\x00\xC3\xFF";
    for round in 0..300 {
        let mut bytes = full.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(bytes.len());
            let byte = SPECIAL[rng.below(SPECIAL.len())];
            match rng.below(3) {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        survives(&bytes, &format!("mutation round {round}"));
    }
    for round in 0..50 {
        let bytes: Vec<u8> = (0..rng.below(4096))
            .map(|_| (rng.next() & 0xFF) as u8)
            .collect();
        survives(&bytes, &format!("random round {round}"));
    }
}
