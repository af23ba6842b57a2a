//! No input may panic the file parsers: every fixture, truncated at many points, with random
//! bytes flipped, inserted and deleted, and pure random bytes, goes through format detection,
//! the OFX parser and the CSV reader under several profiles. Errors are fine; panics are not,
//! and every error names a line when it has one to name.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tributary_connectors::TransactionType;
use tributary_connectors::files::csv::{self, ColumnMapping, CsvProfile, Encoding, SignConvention};
use tributary_connectors::files::{detect_format, ofx};

const FIXTURES: &[&str] = &[
    "bank_v1.ofx",
    "bank_v2.ofx",
    "creditcard_v1.qfx",
    "investment_v1.ofx",
    "investment_v2.ofx",
    "multi_account_v1.ofx",
    "windows1252_v1.ofx",
    "bad_records_v1.ofx",
    "error_status_v1.ofx",
    "truncated_v1.ofx",
    "garbage.bin",
    "not_ofx.json",
    "utf8_bank.csv",
    "utf8_bom_broker.csv",
    "gbk_broker.csv",
    "gb18030_bank.csv",
    "windows1252_de.csv",
    "bad_rows.csv",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/files/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
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
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        // Bias towards bytes that matter to the parsers.
        const SPECIAL: &[u8] = b"<>/\n\r,;\"&[]:.-+0123456789\t|\xEF\xBB\xBF\x80\xFF\x00";
        if self.next().is_multiple_of(2) {
            SPECIAL[self.below(SPECIAL.len())]
        } else {
            (self.next() & 0xFF) as u8
        }
    }
}

fn profiles() -> Vec<CsvProfile> {
    // Every field mapped by index, no header: rows get parsed as deeply as possible.
    let mut columns = ColumnMapping::new(0);
    columns.kind = Some(1.into());
    columns.symbol = Some(2.into());
    columns.name = Some(3.into());
    columns.quantity = Some(4.into());
    columns.price = Some(5.into());
    columns.amount = Some(6.into());
    columns.fee = Some(7.into());
    columns.currency = Some(8.into());
    columns.description = Some(9.into());
    columns.id = Some(10.into());
    columns.settle_date = Some(11.into());
    let mut by_index = CsvProfile::new(columns);
    by_index.has_header = false;
    by_index.default_currency = Some("USD".to_owned());
    by_index.skip_footer_matching = vec!["total".to_owned()];

    let mut computed = by_index.clone();
    computed.columns.amount = None;
    computed.sign_convention = SignConvention::AmountPositiveUseType;
    computed.default_type = Some(TransactionType::Buy);

    let mut german = CsvProfile::new(ColumnMapping::new("Buchungstag"));
    german.columns.amount = Some("Betrag (€)".into());
    german.columns.description = Some("Verwendungszweck".into());
    german.delimiter = ';';
    german.encoding = Encoding::Windows1252;
    german.date_format = "%d.%m.%Y".to_owned();
    german.decimal_separator = ',';
    german.thousands_separator = Some('.');
    german.skip_rows = 4;
    german.default_currency = Some("EUR".to_owned());

    let mut gbk = by_index.clone();
    gbk.encoding = Encoding::Gbk;
    gbk.date_format = "%Y%m%d".to_owned();
    gbk.has_header = true;
    gbk.skip_rows = 1;

    let mut pipe = by_index.clone();
    pipe.delimiter = '|';
    pipe.encoding = Encoding::Gb18030;

    vec![by_index, computed, german, gbk, pipe]
}

fn exercise(bytes: &[u8], profiles: &[CsvProfile]) {
    let _ = detect_format(bytes);
    match ofx::parse(bytes) {
        Ok(file) => {
            for s in &file.statements {
                for e in s.errors.iter().chain(&s.warnings) {
                    assert!(e.line >= 1, "{e}");
                }
            }
            let _ = file.statement(None);
        }
        Err(e) => assert!(e.line.is_none_or(|l| l >= 1), "{e}"),
    }
    for profile in profiles {
        match csv::read(bytes, profile) {
            Ok(records) => {
                for result in records {
                    match result {
                        Ok(record) => assert!(record.line >= 1),
                        Err(e) => assert!(e.line >= 1, "{e}"),
                    }
                }
            }
            Err(e) => assert!(e.line.is_none_or(|l| l >= 1), "{e}"),
        }
    }
}

/// Every profile for CSV fixtures; one for the others (building a CSV reader is the costly
/// part of a debug-build run, and OFX bytes reach the same CSV paths under any profile).
fn profiles_for<'a>(name: &str, profiles: &'a [CsvProfile]) -> &'a [CsvProfile] {
    if name.ends_with(".csv") {
        profiles
    } else {
        profiles.get(..1).unwrap_or_default()
    }
}

fn check(label: &str, bytes: &[u8], profiles: &[CsvProfile]) {
    let outcome = catch_unwind(AssertUnwindSafe(|| exercise(bytes, profiles)));
    if outcome.is_err() {
        panic!(
            "{label}: panicked on {} bytes: {:?}",
            bytes.len(),
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn truncated_fixtures_never_panic() {
    let profiles = profiles();
    for name in FIXTURES {
        let bytes = fixture(name);
        let profiles = profiles_for(name, &profiles);
        // Every cut in the header area, then ~100 cuts spread over the rest.
        let step = (bytes.len() / 100).max(1);
        let cuts = (0..bytes.len().min(64)).chain((64..=bytes.len()).step_by(step));
        for end in cuts {
            let prefix = bytes.get(..end).unwrap_or_default();
            check(&format!("{name}[..{end}]"), prefix, profiles);
        }
        // And cut from the front: a file that starts mid-way.
        for start in (1..bytes.len()).step_by(step * 4) {
            let suffix = bytes.get(start..).unwrap_or_default();
            check(&format!("{name}[{start}..]"), suffix, profiles);
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let profiles = profiles();
    let mut rng = Rng(0x5EED_F11E_5EED_F11E);
    for name in FIXTURES {
        let original = fixture(name);
        let profiles = profiles_for(name, &profiles);
        for round in 0..100 {
            let mut bytes = original.clone();
            for _ in 0..=rng.below(8) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = rng.byte();
                        }
                    }
                    1 => bytes.insert(at.min(bytes.len()), rng.byte()),
                    2 => {
                        let end = (at + rng.below(40)).min(bytes.len());
                        bytes.drain(at.min(end)..end);
                    }
                    _ => {
                        // Duplicate a slice: repeated tags, repeated rows, deeper nesting.
                        let end = (at + rng.below(200)).min(bytes.len());
                        let copy = bytes.get(at.min(end)..end).unwrap_or_default().to_vec();
                        let to = rng.below(bytes.len() + 1);
                        bytes.splice(to..to, copy);
                    }
                }
            }
            check(&format!("{name} mutation {round}"), &bytes, profiles);
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let profiles = profiles();
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    for round in 0..200_u32 {
        let len = rng.below(4096);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        if round.is_multiple_of(3) {
            let mut with_header = b"OFXHEADER:100\nDATA:OFXSGML\nCHARSET:1252\n\n<OFX>".to_vec();
            with_header.append(&mut bytes);
            bytes = with_header;
        } else if round % 3 == 1 {
            let mut with_xml = b"<?xml version=\"1.0\"?><?OFX OFXHEADER=\"200\"?><OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>1</BANKACCTFROM><BANKTRANLIST><STMTTRN>".to_vec();
            with_xml.append(&mut bytes);
            bytes = with_xml;
        }
        check(&format!("random {round}"), &bytes, &profiles);
    }
}

#[test]
fn pathological_shapes_never_panic() {
    let profiles = profiles();
    let cases: Vec<Vec<u8>> = vec![
        b"<OFX>".repeat(5000),
        b"<".repeat(10_000),
        b"\"".repeat(10_000),
        b"OFXHEADER:100\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>1</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNAMT>99999999999999999999999999999999<DTPOSTED>99999999999999<FITID>x</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>".to_vec(),
        b"OFXHEADER:100\n<OFX><INVSTMTMSGSRSV1><INVSTMTTRNRS><INVSTMTRS><CURDEF>USD<INVACCTFROM><ACCTID>1</INVACCTFROM><INVTRANLIST><SELLOPT><INVSELL><INVTRAN><FITID>1<DTTRADE>20240101</INVTRAN><SECID><UNIQUEID>X</SECID><UNITS>79228162514264337593543950335<UNITPRICE>79228162514264337593543950335<COMMISSION>79228162514264337593543950335<FEES>79228162514264337593543950335</INVSELL><SHPERCTRCT>79228162514264337593543950335</SELLOPT><SPLIT><INVTRAN><DTTRADE>20240101</INVTRAN><SECID><UNIQUEID>X</SECID><OLDUNITS>-79228162514264337593543950335<NEWUNITS>79228162514264337593543950335</SPLIT></INVTRANLIST><INVPOSLIST><POSSTOCK><INVPOS><SECID><UNIQUEID>X</SECID><UNITS>79228162514264337593543950335<MKTVAL>79228162514264337593543950335</INVPOS></POSSTOCK><POSSTOCK><INVPOS><SECID><UNIQUEID>Y</SECID><UNITS>1<MKTVAL>79228162514264337593543950335</INVPOS></POSSTOCK></INVPOSLIST><INVBAL><AVAILCASH>79228162514264337593543950335</INVBAL><DTASOF>20240101</INVSTMTRS></INVSTMTTRNRS></INVSTMTMSGSRSV1></OFX>".to_vec(),
        b"2024-01-01,buy,X,n,79228162514264337593543950335,79228162514264337593543950335,,79228162514264337593543950335\n".repeat(3),
        "2024-01-01,\u{2212}\u{2212}1,(((1))),€€€,1e5,NaN,inf,-0,+-1\n".as_bytes().to_vec(),
        vec![0xFF, 0xFE, 0x00],
        vec![0xFE, 0xFF, 0xD8, 0x00],
        vec![b'\n'; 100_000],
        b"\xEF\xBB\xBF".to_vec(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        check(&format!("case {i}"), bytes, &profiles);
    }
}
