//! OFX/QFX statements written from the OFX 1.0.2 / 2.1 specification shapes: bank, credit
//! card and investment, SGML and XML, several accounts, declared character sets, broken files.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tributary_connectors::files::ofx::{self, OfxDialect, OfxFile, OfxStatement};
use tributary_connectors::files::{FileFormat, ParsedRecord, detect_format};
use tributary_connectors::{AssetClass, Transaction, TransactionType};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/files/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> OfxFile {
    ofx::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only(file: &OfxFile) -> &OfxStatement {
    file.statement(None).unwrap_or_else(|e| panic!("{e}"))
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
}

fn by_id<'a>(s: &'a OfxStatement, id: &str) -> &'a ParsedRecord {
    s.transactions
        .iter()
        .find(|r| r.transaction.source_id == id)
        .unwrap_or_else(|| panic!("no record {id} in {:#?}", s.transactions))
}

fn tx<'a>(s: &'a OfxStatement, id: &str) -> &'a Transaction {
    &by_id(s, id).transaction
}

#[test]
fn every_fixture_is_detected_as_ofx() {
    for name in [
        "bank_v1.ofx",
        "creditcard_v1.qfx",
        "bank_v2.ofx",
        "investment_v1.ofx",
        "investment_v2.ofx",
        "multi_account_v1.ofx",
        "windows1252_v1.ofx",
        "truncated_v1.ofx",
    ] {
        assert_eq!(
            detect_format(&fixture(name)),
            Some(FileFormat::Ofx),
            "{name}"
        );
    }
    assert_eq!(detect_format(&fixture("garbage.bin")), None);
    assert_eq!(
        detect_format(&fixture("not_ofx.json")),
        Some(FileFormat::Csv)
    );
}

#[test]
fn sgml_bank_statement_maps_types_signs_balances_and_lines() {
    let file = parse("bank_v1.ofx");
    assert_eq!(file.dialect, OfxDialect::Sgml);
    let s = only(&file);
    assert_eq!(s.account_id, "000123456789");
    assert_eq!(s.account_type, "CHECKING");
    assert_eq!(s.institution_id.as_deref(), Some("121000358"));
    assert_eq!(s.currency, "USD");
    assert_eq!(s.start_date, Some(day(2024, 1, 1)));
    assert_eq!(s.end_date, Some(day(2024, 1, 31)));
    assert!(s.errors.is_empty() && s.warnings.is_empty(), "{s:#?}");
    assert_eq!(s.transactions.len(), 7);

    let payroll = by_id(s, "20240102-0001");
    assert_eq!(payroll.line, 43);
    assert_eq!(payroll.transaction.kind, TransactionType::Deposit);
    assert_eq!(payroll.transaction.amount, dec!(2500.00));
    assert_eq!(payroll.transaction.trade_date, day(2024, 1, 2));
    assert_eq!(
        payroll.transaction.description.as_deref(),
        Some("ACME CORP PAYROLL / SALARY JAN")
    );
    assert_eq!(payroll.transaction.currency, "USD");
    assert!(payroll.transaction.asset.is_none());

    let check = tx(s, "20240105-0002");
    assert_eq!(check.kind, TransactionType::Withdrawal);
    assert_eq!(check.amount, dec!(-125.50));
    assert_eq!(check.description.as_deref(), Some("CHECK / check 1043"));

    let pos = tx(s, "20240107-0003");
    assert_eq!(pos.description.as_deref(), Some("BARNES & NOBLE #123"));
    assert_eq!(pos.kind, TransactionType::Withdrawal);
    assert_eq!(tx(s, "20240110-0004").kind, TransactionType::Withdrawal);
    assert_eq!(tx(s, "20240115-0005").kind, TransactionType::Transfer);
    assert_eq!(tx(s, "20240115-0005").amount, dec!(-500.00));
    assert_eq!(tx(s, "20240131-0006").kind, TransactionType::Fee);
    let interest = tx(s, "20240131-0007");
    assert_eq!(interest.kind, TransactionType::Interest);
    // 23:30 EST is already the next day in UTC; the posting day stays the bank's day.
    assert_eq!(interest.trade_date, day(2024, 1, 31));

    let ledger = s.balance.as_ref().unwrap_or_else(|| panic!("no balance"));
    assert_eq!(ledger.amount, dec!(1760.75));
    assert_eq!(ledger.currency, "USD");
    assert_eq!(ledger.as_of.to_rfc3339(), "2024-02-01T04:59:59+00:00");
    assert_eq!(
        s.available_balance.as_ref().map(|b| b.amount),
        Some(dec!(1700.75))
    );
    assert!(s.cash.is_none() && s.holdings.is_empty());
}

#[test]
fn qfx_credit_card_statement_reads_compact_sgml() {
    let file = parse("creditcard_v1.qfx");
    let s = only(&file);
    assert_eq!(s.account_id, "4111XXXXXXXX1111");
    assert_eq!(s.account_type, "CREDITCARD");
    assert_eq!(s.transactions.len(), 6);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let kinds: Vec<(TransactionType, Decimal)> = s
        .transactions
        .iter()
        .map(|r| (r.transaction.kind, r.transaction.amount))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (TransactionType::Withdrawal, dec!(-54.30)),
            (TransactionType::Withdrawal, dec!(-1299.00)),
            (TransactionType::Deposit, dec!(35.00)),
            (TransactionType::Deposit, dec!(800.00)),
            (TransactionType::Fee, dec!(-18.44)),
            (TransactionType::Fee, dec!(-39.00)),
        ]
    );
    let lines: Vec<u64> = s.transactions.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![15, 16, 17, 18, 19, 20]);
    assert_eq!(s.balance.as_ref().map(|b| b.amount), Some(dec!(-1375.74)));
    assert_eq!(
        s.balance.as_ref().map(|b| b.as_of.to_rfc3339()),
        Some("2024-03-01T16:00:00+00:00".to_owned())
    );
    assert_eq!(
        s.available_balance.as_ref().map(|b| b.amount),
        Some(dec!(8624.26))
    );
}

#[test]
fn xml_bank_statement_decodes_entities_payees_and_foreign_currency() {
    let file = parse("bank_v2.ofx");
    assert_eq!(file.dialect, OfxDialect::Xml);
    let s = only(&file);
    assert_eq!(s.account_type, "SAVINGS");
    assert_eq!(s.currency, "EUR");
    assert_eq!(s.transactions.len(), 4);
    let credit = by_id(s, "X-2024-0402-1");
    assert_eq!(credit.line, 31);
    assert_eq!(
        credit.transaction.description.as_deref(),
        Some("Müller & Söhne GmbH / Rechnung 2024/17 <bezahlt>")
    );
    let debit = tx(s, "X-2024-0405-1");
    assert_eq!(
        debit.description.as_deref(),
        Some("Stadtwerke Köln / Strom April")
    );
    assert_eq!(debit.kind, TransactionType::Withdrawal);
    let foreign = tx(s, "X-2024-0410-1");
    assert_eq!(foreign.currency, "GBP");
    assert_eq!(foreign.amount, dec!(-25.00));
    let zero = tx(s, "X-2024-0412-1");
    assert_eq!(zero.description.as_deref(), Some("Kontoabschluss"));
    assert_eq!(zero.kind, TransactionType::Deposit);
    assert_eq!(s.balance.as_ref().map(|b| b.amount), Some(dec!(12345.67)));
    assert_eq!(
        s.balance.as_ref().map(|b| b.as_of.to_rfc3339()),
        Some("2024-04-14T21:59:59+00:00".to_owned())
    );
    assert!(s.available_balance.is_none());
}

#[test]
fn sgml_investment_statement_covers_trades_income_reinvest_transfer_split_and_positions() {
    let file = parse("investment_v1.ofx");
    let s = only(&file);
    assert_eq!(s.account_id, "X12345678");
    assert_eq!(s.account_type, "INVESTMENT");
    assert_eq!(s.institution_id.as_deref(), Some("broker.example.com"));
    assert!(s.errors.is_empty(), "{:#?}", s.errors);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!(
        s.warnings.first().and_then(|w| w.field.as_deref()),
        Some("JRNLFUND")
    );

    let deposit = tx(s, "B-0001");
    assert_eq!(deposit.kind, TransactionType::Deposit);
    assert_eq!(deposit.amount, dec!(25000.00));

    let buy = by_id(s, "T-1001");
    assert_eq!(buy.line, 43);
    let buy = &buy.transaction;
    assert_eq!(buy.kind, TransactionType::Buy);
    assert_eq!(buy.quantity, Some(dec!(100)));
    assert_eq!(buy.price, Some(dec!(185.50)));
    assert_eq!(buy.fee, Some(dec!(5.00)));
    assert_eq!(buy.amount, dec!(-18555.00));
    assert_eq!(buy.trade_date, day(2024, 1, 3));
    assert_eq!(buy.settle_date, Some(day(2024, 1, 5)));
    let aapl = buy.asset.as_ref().unwrap_or_else(|| panic!("no asset"));
    assert_eq!(aapl.asset_id, "EQUITY:AAPL");
    assert_eq!(aapl.symbol, "AAPL");
    assert_eq!(aapl.name, "APPLE INC");
    assert_eq!(aapl.class, AssetClass::Equity);
    assert_eq!(aapl.currency, "USD");

    let sell = tx(s, "T-1002");
    assert_eq!(sell.kind, TransactionType::Sell);
    assert_eq!(sell.quantity, Some(dec!(20)));
    assert_eq!(sell.amount, dec!(8200.05));
    assert_eq!(sell.asset.as_ref().map(|a| a.symbol.as_str()), Some("MSFT"));

    let fund = tx(s, "T-1003");
    assert_eq!(fund.asset.as_ref().map(|a| a.class), Some(AssetClass::Fund));
    assert_eq!(fund.amount, dec!(-1260.00));

    let option_buy = tx(s, "T-1004");
    let option = option_buy
        .asset
        .as_ref()
        .unwrap_or_else(|| panic!("no asset"));
    assert_eq!(option.asset_id, "OPTION:AAPL240621C00200000");
    assert_eq!(option.class, AssetClass::Option);
    assert_eq!(option_buy.amount, dec!(-631.30));
    // No TOTAL: 2 contracts × 4.00 × 100 shares − 1.30 commission.
    assert_eq!(tx(s, "T-1005").amount, dec!(798.70));
    assert_eq!(tx(s, "T-1005").quantity, Some(dec!(2)));

    let dividend = tx(s, "T-1006");
    assert_eq!(dividend.kind, TransactionType::Dividend);
    assert_eq!(dividend.amount, dec!(24.00));
    assert_eq!(
        dividend.description.as_deref(),
        Some("AAPL QUARTERLY DIVIDEND")
    );
    let tax = tx(s, "T-1006:withholding");
    assert_eq!(tax.kind, TransactionType::Tax);
    assert_eq!(tax.amount, dec!(-3.60));
    assert_eq!(tax.asset.as_ref().map(|a| a.symbol.as_str()), Some("AAPL"));

    let cg = tx(s, "T-1007");
    assert_eq!(cg.kind, TransactionType::Dividend);
    assert_eq!(cg.amount, dec!(15.20));

    let reinvest_income = tx(s, "T-1008");
    assert_eq!(reinvest_income.kind, TransactionType::Dividend);
    assert_eq!(reinvest_income.amount, dec!(30.00));
    let reinvest_buy = tx(s, "T-1008:reinvest");
    assert_eq!(reinvest_buy.kind, TransactionType::Buy);
    assert_eq!(reinvest_buy.quantity, Some(dec!(0.25)));
    assert_eq!(reinvest_buy.amount, dec!(-30.00));

    let transfer = tx(s, "T-1009");
    assert_eq!(transfer.kind, TransactionType::Transfer);
    assert_eq!(transfer.quantity, Some(dec!(50)));
    assert_eq!(transfer.amount, Decimal::ZERO);
    let ibm = transfer
        .asset
        .as_ref()
        .unwrap_or_else(|| panic!("no asset"));
    assert_eq!(ibm.asset_id, "CUSIP:459200101");
    assert_eq!(ibm.name, "INTERNATIONAL BUSINESS MACHINES");

    let split = tx(s, "T-1010");
    assert_eq!(split.kind, TransactionType::Split);
    assert_eq!(split.quantity, Some(dec!(90)));
    assert_eq!(split.amount, Decimal::ZERO);
    assert_eq!(split.description.as_deref(), Some("10-for-1 split of NVDA"));

    let margin = tx(s, "T-1011");
    assert_eq!(margin.kind, TransactionType::Fee);
    assert_eq!(margin.amount, dec!(-3.21));

    assert_eq!(s.transactions.len(), 14);

    assert_eq!(s.holdings.len(), 4);
    let first = s.holdings.first().unwrap_or_else(|| panic!("no holdings"));
    assert_eq!(first.asset.asset_id, "EQUITY:AAPL");
    assert_eq!(first.quantity, dec!(100));
    assert_eq!(first.price, Some(dec!(190.00)));
    assert_eq!(first.market_value, Some(dec!(19000.00)));
    assert_eq!(first.as_of.to_rfc3339(), "2024-06-28T20:00:00+00:00");
    // No DTPRICEASOF: the statement's DTASOF.
    let nvda = s.holdings.get(3).unwrap_or_else(|| panic!("no NVDA"));
    assert_eq!(nvda.asset.asset_id, "EQUITY:NVDA");
    assert_eq!(nvda.as_of.to_rfc3339(), "2024-06-28T20:00:00+00:00");

    assert_eq!(s.cash.as_ref().map(|c| c.amount), Some(dec!(2500.00)));
    assert_eq!(s.balance.as_ref().map(|b| b.amount), Some(dec!(40300.75)));
    assert_eq!(file.securities.len(), 6);
    assert_eq!(s.securities.len(), 6);
}

#[test]
fn xml_investment_statement_resolves_isins_currencies_and_short_positions() {
    let file = parse("investment_v2.ofx");
    assert_eq!(file.dialect, OfxDialect::Xml);
    let s = only(&file);
    assert_eq!(s.currency, "EUR");
    assert!(s.errors.is_empty() && s.warnings.is_empty(), "{s:#?}");
    assert_eq!(s.transactions.len(), 6);

    let sap = tx(s, "EU-2001");
    let sap_asset = sap.asset.as_ref().unwrap_or_else(|| panic!("no asset"));
    assert_eq!(sap_asset.asset_id, "ISIN:DE0007164600");
    assert_eq!(sap_asset.symbol, "DE0007164600");
    assert_eq!(sap_asset.name, "SAP SE");
    assert_eq!(sap_asset.currency, "EUR");
    assert_eq!(sap.fee, Some(dec!(9.90)));
    assert_eq!(sap.description.as_deref(), Some("Kauf SAP SE"));

    let apple = tx(s, "EU-2002");
    assert_eq!(apple.currency, "USD");
    assert_eq!(
        apple.asset.as_ref().map(|a| a.currency.as_str()),
        Some("USD")
    );
    assert_eq!(
        apple.asset.as_ref().map(|a| a.asset_id.as_str()),
        Some("EQUITY:AAPL")
    );

    let etf = tx(s, "EU-2003");
    assert_eq!(etf.kind, TransactionType::Sell);
    assert_eq!(etf.quantity, Some(dec!(12.5)));
    assert_eq!(etf.fee, Some(dec!(1.00)));
    assert_eq!(etf.amount, dec!(1189.00));

    assert_eq!(tx(s, "EU-2004").kind, TransactionType::Interest);
    assert_eq!(tx(s, "EU-2005").quantity, Some(dec!(-5)));
    assert_eq!(tx(s, "EU-2006").kind, TransactionType::Withdrawal);

    let short = s.holdings.get(1).unwrap_or_else(|| panic!("no short"));
    assert_eq!(short.quantity, dec!(-3));
    assert_eq!(short.asset.asset_id, "ISIN:US88160R1014");
    assert_eq!(short.as_of.to_rfc3339(), "2024-09-30T00:00:00+00:00");
    assert_eq!(s.balance.as_ref().map(|b| b.amount), Some(dec!(2338.00)));
    assert_eq!(
        s.balance.as_ref().map(|b| b.as_of.to_rfc3339()),
        Some("2024-09-30T15:00:00+00:00".to_owned())
    );
}

#[test]
fn several_accounts_become_several_statements() {
    let file = parse("multi_account_v1.ofx");
    let ids: Vec<(&str, &str, usize)> = file
        .statements
        .iter()
        .map(|s| {
            (
                s.account_id.as_str(),
                s.account_type.as_str(),
                s.transactions.len(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            ("1111", "CHECKING", 2),
            ("2222", "SAVINGS", 2),
            ("5500XXXXXXXX0004", "CREDITCARD", 1)
        ]
    );
    let err = file
        .statement(None)
        .err()
        .unwrap_or_else(|| panic!("ambiguous accepted"));
    assert_eq!(err.field.as_deref(), Some("ofx_account"));
    assert!(err.message.contains("2222 (SAVINGS)"), "{err}");
    let savings = file
        .statement(Some("2222"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        savings.balance.as_ref().map(|b| b.amount),
        Some(dec!(5301.05))
    );
    assert_eq!(by_id(savings, "S-1").line, 38);
    assert!(file.statement(Some("9999")).is_err());
}

#[test]
fn windows_1252_header_charset_is_honoured() {
    let file = parse("windows1252_v1.ofx");
    let s = only(&file);
    assert_eq!(s.currency, "EUR");
    let descriptions: Vec<&str> = s
        .transactions
        .iter()
        .filter_map(|r| r.transaction.description.as_deref())
        .collect();
    assert_eq!(
        descriptions,
        vec![
            "Café Crème Société / Carte 1234 – déjeuner",
            "Bäckerei Müller & Söhne / Überweisung €120 „Rechnung“",
            "Señor Núñez / Remboursement œuvre",
        ]
    );
    // OFX 1.x allows a decimal comma.
    assert_eq!(tx(s, "FR-1").amount, dec!(-23.90));
}

#[test]
fn a_utf8_header_with_latin1_bytes_is_a_decoding_error_with_its_line() {
    let text = fixture("windows1252_v1.ofx");
    let relabelled = String::from_utf8_lossy(&text)
        .replace("ENCODING:USASCII", "ENCODING:UTF-8")
        .into_bytes();
    // from_utf8_lossy already replaced the bytes; rebuild with the raw 1252 body instead.
    let header_end = relabelled
        .windows(5)
        .position(|w| w == b"<OFX>")
        .unwrap_or_else(|| panic!("no body"));
    let body_start = text
        .windows(5)
        .position(|w| w == b"<OFX>")
        .unwrap_or_else(|| panic!("no body"));
    let mut bytes = relabelled.get(..header_end).unwrap_or_default().to_vec();
    bytes.extend_from_slice(text.get(body_start..).unwrap_or_default());
    let err = ofx::parse(&bytes)
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(err.line, Some(21), "{err}");
    assert!(err.message.contains("UTF-8"), "{err}");
}

#[test]
fn bad_records_are_reported_with_line_and_element_and_the_rest_imported() {
    let file = parse("bad_records_v1.ofx");
    let s = only(&file);
    assert_eq!(s.account_type, "UNKNOWN");
    let ids: Vec<&str> = s
        .transactions
        .iter()
        .map(|r| r.transaction.source_id.as_str())
        .collect();
    assert_eq!(ids, vec!["OK-1", ""]);
    let last = s.transactions.get(1).map(|r| &r.transaction);
    assert_eq!(last.map(|t| t.kind), Some(TransactionType::Withdrawal));
    assert_eq!(tx(s, "OK-1").description.as_deref(), Some("GOOD ONE"));
    let errors: Vec<(u64, Option<&str>)> = s
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (38, Some("TRNAMT")),
            (42, Some("DTPOSTED")),
            (50, Some("DTPOSTED"))
        ]
    );
    assert!(s.errors.iter().all(|e| !e.fatal));
    // The unreadable DTEND is a warning; the empty LEDGERBAL is no balance.
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!(s.warnings.first().map(|w| w.line), Some(26));
    assert!(s.end_date.is_none() && s.balance.is_none());
}

#[test]
fn broken_files_name_the_problem_and_the_line() {
    let err = ofx::parse(&fixture("truncated_v1.ofx")).err();
    let err = err.unwrap_or_else(|| panic!("truncated file accepted"));
    assert!(err.message.contains("truncated"), "{err}");
    assert_eq!(err.field.as_deref(), Some("LEDGERBAL"));
    assert_eq!(err.line, Some(97));
    assert!(
        err.message.contains("</LEDGERBAL> (opened on line 96)"),
        "{err}"
    );

    let err = ofx::parse(&fixture("garbage.bin")).err();
    let err = err.unwrap_or_else(|| panic!("garbage accepted"));
    assert_eq!(err.line, Some(1));
    assert!(err.message.contains("not an OFX file"), "{err}");

    let err = ofx::parse(&fixture("not_ofx.json")).err();
    assert!(err.is_some_and(|e| e.message.contains("not an OFX file")));

    let err = ofx::parse(&fixture("utf8_bank.csv")).err();
    assert!(err.is_some_and(|e| e.line == Some(1)));

    let err = ofx::parse(&fixture("error_status_v1.ofx")).err();
    let err = err.unwrap_or_else(|| panic!("error status accepted"));
    assert_eq!(err.line, Some(14));
    assert!(err.message.contains("15500: Signon invalid"), "{err}");

    let err = ofx::parse(b"").err();
    assert!(err.is_some_and(|e| e.message.contains("empty")));

    let err = ofx::parse(b"OFXHEADER:100\nDATA:OFXSGML\nCHARSET:KLINGON\n\n<OFX></OFX>").err();
    let err = err.unwrap_or_else(|| panic!("unknown charset accepted"));
    assert_eq!((err.line, err.field.as_deref()), (Some(3), Some("CHARSET")));

    let err = ofx::parse(b"OFXHEADER:100\nDATA:OFXSGML\n").err();
    assert!(err.is_some_and(|e| e.message.contains("not followed by a body")));

    let err = ofx::parse(b"<OFX><SIGNONMSGSRSV1></SIGNONMSGSRSV1></OFX>").err();
    assert!(err.is_some_and(|e| e.message.contains("no statement")));
}

#[test]
fn headerless_files_fall_back_to_windows_1252() {
    let mut bytes = b"<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>1</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240101<TRNAMT>-1<FITID>a<NAME>Caf".to_vec();
    bytes.push(0xE9);
    bytes.extend_from_slice(b"</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>");
    let file = ofx::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.dialect, OfxDialect::Headerless);
    let s = only(&file);
    assert_eq!(tx(s, "a").description.as_deref(), Some("Café"));
}
