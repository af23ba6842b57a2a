//! Generic CSV import through import profiles: encodings, locales, title and footer rows, type
//! mapping, sign conventions, and row/file errors with their lines.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal_macros::dec;
use tributary_connectors::files::csv::{
    self, ColumnMapping, ColumnRef, CsvProfile, Encoding, SignConvention,
};
use tributary_connectors::files::{FileError, FileFormat, ParsedRecord, RowError, detect_format};
use tributary_connectors::{AssetClass, TransactionType};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/files/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_all(bytes: &[u8], profile: &CsvProfile) -> Vec<Result<ParsedRecord, RowError>> {
    csv::read(bytes, profile)
        .unwrap_or_else(|e| panic!("{e}"))
        .collect()
}

fn ok_records(bytes: &[u8], profile: &CsvProfile) -> Vec<ParsedRecord> {
    read_all(bytes, profile)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn file_error(bytes: &[u8], profile: &CsvProfile) -> FileError {
    match csv::read(bytes, profile) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date"))
}

fn bank_profile() -> CsvProfile {
    let mut columns = ColumnMapping::new("Date");
    columns.description = Some("Description".into());
    columns.amount = Some("amount".into());
    columns.currency = Some("Currency".into());
    columns.id = Some("Reference".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    profile
}

#[test]
fn utf8_without_bom_reads_quoted_delimiters_newlines_and_quotes() {
    let bytes = fixture("utf8_bank.csv");
    assert_eq!(detect_format(&bytes), Some(FileFormat::Csv));
    let records = ok_records(&bytes, &bank_profile());
    let lines: Vec<u64> = records.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 3, 5, 7]);
    let t: Vec<_> = records.iter().map(|r| &r.transaction).collect();
    let salary = t.first().unwrap_or_else(|| panic!("empty"));
    assert_eq!(salary.description.as_deref(), Some("Salary, January"));
    assert_eq!(salary.kind, TransactionType::Deposit);
    assert_eq!(salary.amount, dec!(2500.00));
    assert_eq!(salary.source_id, "R-1");
    assert_eq!(salary.trade_date, day(2024, 1, 2));
    let rent = t.get(1).unwrap_or_else(|| panic!("no rent"));
    assert_eq!(rent.description.as_deref(), Some("Rent\n(February)"));
    assert_eq!(rent.kind, TransactionType::Withdrawal);
    let quote = t.get(2).unwrap_or_else(|| panic!("no quote"));
    assert_eq!(
        quote.description.as_deref(),
        Some("He said \"hi\" at Café Zoë")
    );
    assert_eq!(
        quote.currency, "USD",
        "empty currency cell falls back to the default"
    );
    assert_eq!(t.get(3).map(|t| t.currency.as_str()), Some("USD"));
}

fn broker_profile() -> CsvProfile {
    let mut columns = ColumnMapping::new("trade date");
    columns.settle_date = Some("Settle Date".into());
    columns.kind = Some("Action".into());
    columns.symbol = Some("Symbol".into());
    columns.name = Some("Security Name".into());
    columns.quantity = Some("Quantity".into());
    columns.price = Some("Price".into());
    columns.fee = Some("Fees".into());
    columns.amount = Some("Amount".into());
    columns.currency = Some("Currency".into());
    columns.id = Some("Transaction ID".into());
    let mut profile = CsvProfile::new(columns);
    profile.date_format = "%m/%d/%Y".to_owned();
    profile.thousands_separator = Some(',');
    profile.type_map = BTreeMap::from([
        ("Cash In".to_owned(), TransactionType::Deposit),
        ("ACCOUNT FEE".to_owned(), TransactionType::Fee),
    ]);
    profile
}

#[test]
fn utf8_with_bom_broker_export_maps_types_assets_and_fees() {
    let bytes = fixture("utf8_bom_broker.csv");
    assert_eq!(detect_format(&bytes), Some(FileFormat::Csv));
    let records = ok_records(&bytes, &broker_profile());
    let kinds: Vec<TransactionType> = records.iter().map(|r| r.transaction.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TransactionType::Buy,
            TransactionType::Sell,
            TransactionType::Dividend,
            TransactionType::Tax,
            TransactionType::Deposit,
            TransactionType::Interest,
            TransactionType::Fee,
        ]
    );
    let buy = &records
        .first()
        .unwrap_or_else(|| panic!("empty"))
        .transaction;
    assert_eq!(buy.amount, dec!(-18555.00));
    assert_eq!(buy.quantity, Some(dec!(100)));
    assert_eq!(buy.price, Some(dec!(185.50)));
    assert_eq!(buy.fee, Some(dec!(5.00)));
    assert_eq!(buy.settle_date, Some(day(2024, 1, 5)));
    let asset = buy.asset.as_ref().unwrap_or_else(|| panic!("no asset"));
    assert_eq!(asset.asset_id, "EQUITY:AAPL");
    assert_eq!(asset.name, "Apple Inc.");
    assert_eq!(asset.class, AssetClass::Equity);
    let sell = &records
        .get(1)
        .unwrap_or_else(|| panic!("no sell"))
        .transaction;
    assert_eq!(sell.asset.as_ref().map(|a| a.symbol.as_str()), Some("MSFT"));
    assert_eq!(sell.amount, dec!(8200.05));
    let deposit = &records
        .get(4)
        .unwrap_or_else(|| panic!("no deposit"))
        .transaction;
    assert_eq!(deposit.amount, dec!(10000.00));
    assert!(deposit.asset.is_none());
    assert_eq!(deposit.source_id, "T-5");
    assert_eq!(records.last().map(|r| r.line), Some(8));
}

fn chinese_profile() -> CsvProfile {
    let mut columns = ColumnMapping::new("成交日期");
    columns.kind = Some("业务类型".into());
    columns.symbol = Some("证券代码".into());
    columns.name = Some("证券名称".into());
    columns.quantity = Some("成交数量".into());
    columns.price = Some("成交价格".into());
    columns.amount = Some("发生金额".into());
    columns.fee = Some("手续费".into());
    columns.currency = Some("币种".into());
    columns.description = Some("摘要".into());
    let mut profile = CsvProfile::new(columns);
    profile.encoding = Encoding::Gbk;
    profile.date_format = "%Y%m%d".to_owned();
    profile
}

#[test]
fn gbk_export_with_chinese_headers_types_and_names() {
    let bytes = fixture("gbk_broker.csv");
    assert_eq!(detect_format(&bytes), Some(FileFormat::Csv));
    let records = ok_records(&bytes, &chinese_profile());
    assert_eq!(records.len(), 5);
    let buy = &records
        .first()
        .unwrap_or_else(|| panic!("empty"))
        .transaction;
    assert_eq!(buy.kind, TransactionType::Buy);
    assert_eq!(
        buy.asset.as_ref().map(|a| a.name.as_str()),
        Some("贵州茅台")
    );
    assert_eq!(buy.amount, dec!(-168520.10));
    assert_eq!(buy.currency, "CNY");
    assert_eq!(buy.description.as_deref(), Some("证券买入"));
    let kinds: Vec<TransactionType> = records.iter().map(|r| r.transaction.kind).collect();
    assert_eq!(
        kinds,
        vec![
            TransactionType::Buy,
            TransactionType::Sell,
            TransactionType::Dividend,
            TransactionType::Deposit,
            TransactionType::Withdrawal,
        ]
    );
    let transfer = &records
        .get(3)
        .unwrap_or_else(|| panic!("no deposit"))
        .transaction;
    assert_eq!(transfer.description.as_deref(), Some("银证转账 工商银行"));

    // The same bytes read as UTF-8 are refused with the line of the first bad byte.
    let mut utf8 = chinese_profile();
    utf8.encoding = Encoding::Utf8;
    let err = file_error(&bytes, &utf8);
    assert_eq!(err.line, Some(1));
    assert!(err.message.contains("not valid utf-8"), "{err}");
}

#[test]
fn gb18030_reads_four_byte_characters_with_a_pipe_delimiter() {
    let mut columns = ColumnMapping::new("日期");
    columns.name = Some("对方户名".into());
    columns.amount = Some("金额".into());
    let mut profile = CsvProfile::new(columns);
    profile.delimiter = '|';
    profile.encoding = Encoding::Gb18030;
    profile.default_currency = Some("CNY".to_owned());
    let records = ok_records(&fixture("gb18030_bank.csv"), &profile);
    let payees: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.transaction.description.as_deref())
        .collect();
    assert_eq!(
        payees,
        vec![Some("𠮷野家（北京）餐饮有限公司"), Some("张三")]
    );
    assert_eq!(
        records.first().map(|r| r.transaction.kind),
        Some(TransactionType::Withdrawal)
    );
}

fn german_profile() -> CsvProfile {
    let mut columns = ColumnMapping::new("Buchungstag");
    columns.settle_date = Some("Valuta".into());
    columns.name = Some("Auftraggeber/Empfänger".into());
    columns.description = Some("Verwendungszweck".into());
    columns.amount = Some("Betrag (€)".into());
    columns.currency = Some("Währung".into());
    let mut profile = CsvProfile::new(columns);
    profile.delimiter = ';';
    profile.encoding = Encoding::Windows1252;
    profile.date_format = "%d.%m.%Y".to_owned();
    profile.decimal_separator = ',';
    profile.thousands_separator = Some('.');
    profile.skip_rows = 4;
    profile.skip_footer_matching = vec!["summe".to_owned()];
    profile
}

#[test]
fn german_windows_1252_export_with_title_rows_and_total_footer() {
    let bytes = fixture("windows1252_de.csv");
    let records = ok_records(&bytes, &german_profile());
    let got: Vec<(u64, NaiveDate, rust_decimal::Decimal, Option<&str>)> = records
        .iter()
        .map(|r| {
            (
                r.line,
                r.transaction.trade_date,
                r.transaction.amount,
                r.transaction.description.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (6, day(2024, 3, 1), dec!(3250.00), Some("Gehalt; März")),
            (7, day(2024, 3, 4), dec!(-4.35), Some("Brötchen & Kaffee")),
            (8, day(2024, 3, 15), dec!(-1120.50), Some("Abschlag Strom")),
        ]
    );
    assert!(records.iter().all(|r| r.transaction.currency == "EUR"));

    let reader = csv::read(bytes.as_slice(), &german_profile()).unwrap_or_else(|e| panic!("{e}"));
    let headers = reader.headers().map(<[String]>::to_vec).unwrap_or_default();
    assert_eq!(
        headers.get(2).map(String::as_str),
        Some("Auftraggeber/Empfänger")
    );
    assert_eq!(headers.get(4).map(String::as_str), Some("Betrag (€)"));

    // Without the footer rule the "Summe" row is an error (no date), on its line.
    let mut no_footer = german_profile();
    no_footer.skip_footer_matching.clear();
    let results = read_all(&bytes, &no_footer);
    let last = results.last().and_then(|r| r.as_ref().err());
    assert_eq!(
        last.map(|e| (e.line, e.field.as_deref())),
        Some((10, Some("date")))
    );
}

#[test]
fn missing_columns_are_file_errors_naming_the_column() {
    let mut profile = german_profile();
    profile.columns.amount = Some("Umsatz".into());
    let err = file_error(&fixture("windows1252_de.csv"), &profile);
    assert_eq!(err.field.as_deref(), Some("columns.amount"));
    assert_eq!(err.line, Some(5));
    assert!(
        err.message.contains("\"Umsatz\" is not in the header"),
        "{err}"
    );
    assert!(err.message.contains("Buchungstag"), "{err}");

    let mut profile = bank_profile();
    profile.columns.id = Some(ColumnRef::Index(17));
    let err = file_error(&fixture("utf8_bank.csv"), &profile);
    assert_eq!(err.field.as_deref(), Some("columns.id"));

    // Wrong number of title rows: the header is not where the profile says.
    let mut profile = german_profile();
    profile.skip_rows = 0;
    let err = file_error(&fixture("windows1252_de.csv"), &profile);
    assert_eq!(err.field.as_deref(), Some("columns.date"));
    assert_eq!(err.line, Some(1));

    let err = file_error(b"", &bank_profile());
    assert!(err.message.contains("no header"), "{err}");
    let mut profile = german_profile();
    profile.skip_rows = 50;
    let err = file_error(&fixture("windows1252_de.csv"), &profile);
    assert_eq!(err.field.as_deref(), Some("skip_rows"));
}

#[test]
fn invalid_profiles_are_file_errors_naming_the_field() {
    let mut profile = bank_profile();
    profile.decimal_separator = ';';
    let err = file_error(&fixture("utf8_bank.csv"), &profile);
    assert_eq!(err.field.as_deref(), Some("decimal_separator"));
    assert_eq!(err.line, None);
}

#[test]
fn bad_rows_are_row_errors_with_line_and_field_and_good_rows_still_come() {
    let mut columns = ColumnMapping::new("date");
    columns.kind = Some("type".into());
    columns.amount = Some("amount".into());
    columns.currency = Some("currency".into());
    columns.description = Some("memo".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    let results = read_all(&fixture("bad_rows.csv"), &profile);
    let summary: Vec<Result<u64, (u64, Option<String>)>> = results
        .iter()
        .map(|r| match r {
            Ok(rec) => Ok(rec.line),
            Err(e) => Err((e.line, e.field.clone())),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            Ok(2),
            Err((3, Some("date".to_owned()))),
            Err((4, Some("amount".to_owned()))),
            Err((5, Some("type".to_owned()))),
            Err((6, Some("currency".to_owned()))),
            Err((7, Some("amount".to_owned()))),
            Ok(8),
        ]
    );
    let messages: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert_eq!(
        messages.first().map(String::as_str),
        Some("line 3, date: cannot read \"2024-02-30\" as a date in the format \"%Y-%m-%d\"")
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("unknown transaction type \"bogus\""))
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| !e.fatal)
    );
}

fn card_profile(sign: SignConvention) -> CsvProfile {
    let mut columns = ColumnMapping::new(0);
    columns.kind = Some(1.into());
    columns.amount = Some(2.into());
    let mut profile = CsvProfile::new(columns);
    profile.has_header = false;
    profile.sign_convention = sign;
    profile.default_currency = Some("EUR".to_owned());
    profile
}

#[test]
fn sign_conventions_as_is_negate_all_and_from_type() {
    let text = b"2024-05-01,withdrawal,-10\n2024-05-02,deposit,25\n2024-05-03,buy,7\n2024-05-04,transfer,-3\n";
    let amounts = |sign| -> Vec<rust_decimal::Decimal> {
        ok_records(text, &card_profile(sign))
            .iter()
            .map(|r| r.transaction.amount)
            .collect()
    };
    assert_eq!(
        amounts(SignConvention::AsIs),
        vec![dec!(-10), dec!(25), dec!(7), dec!(-3)]
    );
    assert_eq!(
        amounts(SignConvention::NegateAll),
        vec![dec!(10), dec!(-25), dec!(-7), dec!(3)]
    );
    assert_eq!(
        amounts(SignConvention::AmountPositiveUseType),
        vec![dec!(-10), dec!(25), dec!(-7), dec!(-3)]
    );
}

#[test]
fn without_a_type_column_the_default_type_or_the_sign_decides() {
    let mut columns = ColumnMapping::new(0);
    columns.amount = Some(1.into());
    columns.symbol = Some(2.into());
    let mut profile = CsvProfile::new(columns);
    profile.has_header = false;
    profile.default_currency = Some("USD".to_owned());
    let text = b"2024-05-01,-10,\n2024-05-02,25,\n2024-05-03,-100,VTI\n2024-05-04,120,VTI\n";
    let kinds: Vec<TransactionType> = ok_records(text, &profile)
        .iter()
        .map(|r| r.transaction.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            TransactionType::Withdrawal,
            TransactionType::Deposit,
            TransactionType::Buy,
            TransactionType::Sell,
        ]
    );
    profile.default_type = Some(TransactionType::Interest);
    let kinds: Vec<TransactionType> = ok_records(text, &profile)
        .iter()
        .map(|r| r.transaction.kind)
        .collect();
    assert!(kinds.iter().all(|k| *k == TransactionType::Interest));
}

#[test]
fn type_words_are_case_insensitive_and_the_profile_map_wins() {
    let mut profile = card_profile(SignConvention::AmountPositiveUseType);
    let text = "2024-05-01,KAUF,5\n2024-05-02,Verkauf,5\n2024-05-03, Dividende ,5\n2024-05-04,Sold,5\n2024-05-05,Stock Split,0\n2024-05-06,Gebühr,1\n";
    let kinds: Vec<TransactionType> = ok_records(text.as_bytes(), &profile)
        .iter()
        .map(|r| r.transaction.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            TransactionType::Buy,
            TransactionType::Sell,
            TransactionType::Dividend,
            TransactionType::Sell,
            TransactionType::Split,
            TransactionType::Fee,
        ]
    );
    profile.type_map = BTreeMap::from([("sold".to_owned(), TransactionType::Transfer)]);
    let fourth = ok_records(text.as_bytes(), &profile)
        .get(3)
        .map(|r| r.transaction.kind);
    assert_eq!(fourth, Some(TransactionType::Transfer));
}

#[test]
fn tab_delimited_utf16_is_sniffed_by_its_bom() {
    let text = "date\tamount\n2024-01-01\t1.5\n";
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let mut columns = ColumnMapping::new("date");
    columns.amount = Some("amount".into());
    let mut profile = CsvProfile::new(columns);
    profile.delimiter = '\t';
    profile.default_currency = Some("USD".to_owned());
    let records = ok_records(&bytes, &profile);
    assert_eq!(
        records.first().map(|r| r.transaction.amount),
        Some(dec!(1.5))
    );
}

#[test]
fn binary_input_is_a_fatal_error_on_its_line_and_ends_the_stream() {
    let mut bytes = b"date,amount\n2024-01-01,1\n".to_vec();
    bytes.extend_from_slice(&fixture("garbage.bin"));
    let mut columns = ColumnMapping::new("date");
    columns.amount = Some("amount".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    let results = read_all(&bytes, &profile);
    let last = results.last().and_then(|r| r.as_ref().err());
    let last = last.unwrap_or_else(|| panic!("{results:?}"));
    assert!(last.fatal);
    assert!(last.line >= 3, "{last}");
    assert!(last.message.contains("not valid utf-8"), "{last}");
    assert!(results.first().is_some_and(Result::is_ok));
}

#[test]
fn a_huge_line_is_refused_without_reading_it_into_memory() {
    let mut bytes = b"date,amount\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'9', 3 * 1024 * 1024));
    let mut columns = ColumnMapping::new("date");
    columns.amount = Some("amount".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    let results = read_all(&bytes, &profile);
    assert_eq!(results.len(), 1);
    let err = results.first().and_then(|r| r.as_ref().err());
    assert_eq!(err.map(|e| (e.line, e.fatal)), Some((2, true)));
}

/// A reader that makes up rows on the fly, so the test proves the parser streams: the whole
/// input never exists in memory at once.
struct Generated {
    row: u64,
    rows: u64,
    pending: Vec<u8>,
    at: usize,
}

impl std::io::Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            if self.row == self.rows {
                return Ok(0);
            }
            self.pending.clear();
            self.at = 0;
            if self.row == 0 {
                self.pending
                    .extend_from_slice(b"id,date,type,symbol,qty,price,amount\n");
            }
            self.row += 1;
            let r = self.row;
            let line = format!(
                "T{r},2024-01-{:02},buy,SYM{},{},10.25,-{}.25\n",
                r % 28 + 1,
                r % 50,
                r % 9 + 1,
                (r % 9 + 1) * 10
            );
            self.pending.extend_from_slice(line.as_bytes());
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn rows_stream_from_any_reader() {
    let mut columns = ColumnMapping::new("date");
    columns.id = Some("id".into());
    columns.kind = Some("type".into());
    columns.symbol = Some("symbol".into());
    columns.quantity = Some("qty".into());
    columns.price = Some("price".into());
    columns.amount = Some("amount".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    let rows = 50_000;
    let input = Generated {
        row: 0,
        rows,
        pending: Vec::new(),
        at: 0,
    };
    let mut count = 0u64;
    let mut last_line = 0;
    for result in csv::read(input, &profile).unwrap_or_else(|e| panic!("{e}")) {
        let record = result.unwrap_or_else(|e| panic!("{e}"));
        count += 1;
        last_line = record.line;
    }
    assert_eq!(count, rows);
    assert_eq!(last_line, rows + 1);
}

/// Throughput check for the import benchmark's CSV side (run in release:
/// `cargo test --release -p tributary-connectors --test files_csv -- --ignored --nocapture`).
#[test]
#[ignore = "benchmark; run in release mode"]
fn a_million_rows_parse_at_well_over_100k_rows_per_second() {
    let mut columns = ColumnMapping::new("date");
    columns.id = Some("id".into());
    columns.kind = Some("type".into());
    columns.symbol = Some("symbol".into());
    columns.quantity = Some("qty".into());
    columns.price = Some("price".into());
    columns.amount = Some("amount".into());
    let mut profile = CsvProfile::new(columns);
    profile.default_currency = Some("USD".to_owned());
    let rows = 1_000_000;
    let input = Generated {
        row: 0,
        rows,
        pending: Vec::new(),
        at: 0,
    };
    let started = std::time::Instant::now();
    let mut count = 0u64;
    for result in csv::read(input, &profile).unwrap_or_else(|e| panic!("{e}")) {
        result.unwrap_or_else(|e| panic!("{e}"));
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = count as f64 / elapsed;
    println!("{count} rows in {elapsed:.2} s: {rate:.0} rows/s");
    assert_eq!(count, rows);
    assert!(rate > 100_000.0, "{rate:.0} rows/s");
}
