//! OFX and QFX statements, 1.x (SGML) and 2.x (XML): bank (`STMTRS`), credit card
//! (`CCSTMTRS`) and investment (`INVSTMTRS`) statements, balances, positions and the security
//! list, several accounts per file.
//!
//! Mapping to the normalized types:
//! - `FITID` is the `source_id`. Records that one OFX element splits into several get a
//!   suffix: `REINVEST` is a dividend/interest (`FITID`) plus a buy (`FITID:reinvest`);
//!   `INCOME` with `WITHHOLDING` adds a tax record (`FITID:withholding`).
//! - Bank `TRNTYPE`s: `INT` interest (negative: fee, i.e. interest charged), `DIV` dividend,
//!   `FEE`/`SRVCHG` fee (positive: a refund, deposit), `XFER` transfer; every other type
//!   (`CREDIT`, `DEBIT`, `DEP`, `ATM`, `POS`, `CHECK`, `PAYMENT`, `CASH`, `DIRECTDEP`,
//!   `DIRECTDEBIT`, `REPEATPMT`, `OTHER`, unknown ones) is a deposit or a withdrawal by the
//!   sign of `TRNAMT`, which is kept as the signed cash effect.
//! - Investment records: buys and sells (`BUY*`/`SELL*`) carry unsigned quantity and price, the
//!   fee (`COMMISSION + FEES + LOAD + TAXES`) and `TOTAL` signed as the cash effect; `TRANSFER`
//!   a signed quantity (`TFERACTION` `OUT` negative) and no cash; `SPLIT` the added shares
//!   (`NEWUNITS - OLDUNITS`) and any `FRACCASH`; `MARGININTEREST`/`INVEXPENSE` are fees;
//!   `INVBANKTRAN` is a bank record. `JRNLFUND`, `JRNLSEC`, `CLOSUREOPT`, `RETOFCAP` are
//!   reported as warnings and not imported.
//! - Dates: `trade_date` is the calendar day the institution wrote (`DTPOSTED`, `DTTRADE`),
//!   instants (`DTASOF`, `DTPRICEASOF`) are converted to UTC with the declared offset.
//! - Securities: `SECLIST` resolves a `SECID` to ticker, name and class. The `asset_id` is
//!   `EQUITY:<TICKER>` for stocks and funds with a ticker (the exchange is unknown; same rule
//!   as [`crate::normalize::asset_id::equity`]), `OPTION:<TICKER>` for options, otherwise
//!   `<UNIQUEIDTYPE>:<UNIQUEID>` (`CUSIP:037833100`, `ISIN:US0378331005`).
//!
//! Character sets: a 1.x header's `ENCODING:UTF-8` or `CHARSET` (`1252`, `ISO-8859-1`, `NONE`
//! read as windows-1252, other code pages by number) and a 2.x declaration's `encoding` are
//! honoured; a file without a header is read as UTF-8, or windows-1252 when it is not valid
//! UTF-8.

mod convert;
mod date;
mod sgml;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::encoding::decode_all;
use super::{FileError, ParsedRecord, RowError, contains_ignore_case, starts_with_ignore_case};
use crate::types::{AssetRef, Balance, Holding};

/// Which OFX dialect the file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfxDialect {
    /// OFX 1.x: `OFXHEADER:100` header, SGML body.
    Sgml,
    /// OFX 2.x: XML declaration and `<?OFX ...?>` instruction.
    Xml,
    /// No header, just `<OFX>...`: read with the same tolerant parser.
    Headerless,
}

/// A parsed OFX/QFX file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfxFile {
    pub dialect: OfxDialect,
    /// One per account statement, in file order.
    pub statements: Vec<OfxStatement>,
    /// Every security of the file's `SECLIST`.
    pub securities: Vec<AssetRef>,
}

/// One account's statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfxStatement {
    /// `ACCTID` (as the institution writes it; card numbers are often masked).
    pub account_id: String,
    /// `ACCTTYPE` for bank accounts (`CHECKING`, `SAVINGS`, `MONEYMRKT`, `CREDITLINE`, `CD`;
    /// `UNKNOWN` when absent), `CREDITCARD` or `INVESTMENT`.
    pub account_type: String,
    /// `BANKID` or `BROKERID`, when given.
    pub institution_id: Option<String>,
    /// `CURDEF`, the statement's default currency.
    pub currency: String,
    /// `DTSTART`/`DTEND` of the transaction list.
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub transactions: Vec<ParsedRecord>,
    /// Positions (`INVPOSLIST`); empty for bank and card statements.
    pub holdings: Vec<Holding>,
    /// The account's value: `LEDGERBAL` for bank and card accounts (negative when a card
    /// balance is owed); for investment accounts `AVAILCASH` plus the positions' `MKTVAL`.
    pub balance: Option<Balance>,
    /// `AVAILBAL` (bank and card accounts).
    pub available_balance: Option<Balance>,
    /// `INVBAL` `AVAILCASH` (investment accounts).
    pub cash: Option<Balance>,
    /// The securities this statement's records and positions refer to.
    pub securities: Vec<AssetRef>,
    /// Records or positions that could not be read (each with its line and element).
    pub errors: Vec<RowError>,
    /// Things skipped on purpose (unsupported record types, unreadable optional dates).
    pub warnings: Vec<RowError>,
    /// Line of the `<STMTRS>`/`<CCSTMTRS>`/`<INVSTMTRS>` start tag.
    pub line: u64,
}

impl OfxFile {
    /// Picks the statement to import: the one for `account_id`, or the only one when `None`.
    ///
    /// # Errors
    /// With `field` `ofx_account`: the account is not in the file, or the file holds several
    /// accounts and none was chosen (the message lists them).
    pub fn statement(&self, account_id: Option<&str>) -> Result<&OfxStatement, FileError> {
        let listed = || {
            self.statements
                .iter()
                .map(|s| format!("{} ({})", s.account_id, s.account_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match account_id.map(str::trim) {
            Some(id) => self
                .statements
                .iter()
                .find(|s| s.account_id == id)
                .ok_or_else(|| {
                    FileError::new(format!(
                        "account {id:?} is not in the file (found: {})",
                        listed()
                    ))
                    .with_field("ofx_account")
                }),
            None => match self.statements.as_slice() {
                [only] => Ok(only),
                _ => Err(FileError::new(format!(
                    "the file holds {} accounts: choose one of {}",
                    self.statements.len(),
                    listed()
                ))
                .with_field("ofx_account")),
            },
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Parses a whole OFX/QFX file.
///
/// # Errors
/// A [`FileError`] naming the line when the file is not OFX, is truncated, cannot be decoded
/// in its declared character set, declares an unsupported one, holds no statement, or reports
/// an institution error instead of one. Individual bad records do not fail the file: they are
/// in [`OfxStatement::errors`].
pub fn parse(bytes: &[u8]) -> Result<OfxFile, FileError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(FileError::at(1, "the file is empty"));
    };
    let leading_lines = count_lines(bytes.get(..start).unwrap_or_default());
    let head = bytes.get(start..).unwrap_or_default();
    let first_line = leading_lines + 1;

    let (dialect, text, body_line) = if starts_with_ignore_case(head, b"OFXHEADER") {
        let Some(body_at) = head.iter().position(|&b| b == b'<') else {
            return Err(FileError::at(
                first_line + count_lines(head),
                "the OFX header is not followed by a body (truncated?)",
            ));
        };
        let header_bytes = head.get(..body_at).unwrap_or_default();
        let codec = sgml_codec(header_bytes, first_line)?;
        let body_line = first_line + count_lines(header_bytes);
        let text = decode_all(head.get(body_at..).unwrap_or_default(), codec, body_line)?;
        (OfxDialect::Sgml, text, body_line)
    } else if starts_with_ignore_case(head, b"<?xml") {
        let codec = xml_codec(head, first_line)?;
        (
            OfxDialect::Xml,
            decode_all(head, codec, first_line)?,
            first_line,
        )
    } else if head.first() == Some(&b'<')
        && contains_ignore_case(head.get(..4096).unwrap_or(head), b"<OFX")
    {
        let text = match decode_all(head, encoding_rs::UTF_8, first_line) {
            Ok(text) => text,
            Err(_) => decode_all(head, encoding_rs::WINDOWS_1252, first_line)?,
        };
        (OfxDialect::Headerless, text, first_line)
    } else {
        return Err(FileError::at(
            first_line,
            "not an OFX file: expected an OFXHEADER line, an <?xml ...?> declaration or <OFX>",
        ));
    };
    let root = sgml::parse_document(&text, body_line)?;
    let (statements, securities) = convert::build(&root)?;
    Ok(OfxFile {
        dialect,
        statements,
        securities,
    })
}

/// The codec a 1.x header declares.
fn sgml_codec(header: &[u8], first_line: u64) -> Result<&'static encoding_rs::Encoding, FileError> {
    let mut encoding = None;
    let mut charset = None;
    let mut charset_line = first_line;
    for (line, raw_line) in (first_line..).zip(header.split(|&b| b == b'\n')) {
        for token in raw_line.split(|b| b.is_ascii_whitespace()) {
            let token = String::from_utf8_lossy(token);
            if let Some((key, value)) = token.split_once(':') {
                match key.trim().to_ascii_uppercase().as_str() {
                    "ENCODING" => encoding = Some(value.trim().to_ascii_uppercase()),
                    "CHARSET" => {
                        charset = Some(value.trim().to_ascii_uppercase());
                        charset_line = line;
                    }
                    _ => {}
                }
            }
        }
    }
    if matches!(encoding.as_deref(), Some("UTF-8" | "UTF8" | "UNICODE")) {
        return Ok(encoding_rs::UTF_8);
    }
    let codec = match charset.as_deref() {
        None
        | Some(
            "" | "NONE" | "1252" | "WINDOWS-1252" | "ISO-8859-1" | "8859-1" | "LATIN1"
            | "ISO-LATIN-1",
        ) => Some(encoding_rs::WINDOWS_1252),
        Some("UTF-8" | "UTF8") => Some(encoding_rs::UTF_8),
        Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => {
            encoding_rs::Encoding::for_label(format!("windows-{n}").as_bytes())
                .or_else(|| encoding_rs::Encoding::for_label(format!("cp{n}").as_bytes()))
                .or_else(|| encoding_rs::Encoding::for_label(format!("ibm{n}").as_bytes()))
        }
        Some(other) => encoding_rs::Encoding::for_label(other.as_bytes()),
    };
    codec.ok_or_else(|| {
        FileError::at(
            charset_line,
            format!(
                "unsupported character set {:?}",
                charset.unwrap_or_default()
            ),
        )
        .with_field("CHARSET")
    })
}

/// The codec an XML declaration names (UTF-8 when it names none).
fn xml_codec(head: &[u8], first_line: u64) -> Result<&'static encoding_rs::Encoding, FileError> {
    let Some(end) = head.windows(2).position(|w| w == b"?>") else {
        return Err(FileError::at(
            first_line,
            "the XML declaration is not closed (truncated?)",
        ));
    };
    let decl = String::from_utf8_lossy(head.get(..end).unwrap_or_default()).to_ascii_lowercase();
    let Some(at) = decl.find("encoding") else {
        return Ok(encoding_rs::UTF_8);
    };
    let rest = decl.get(at + "encoding".len()..).unwrap_or_default();
    let rest = rest
        .trim_start()
        .strip_prefix('=')
        .unwrap_or(rest)
        .trim_start();
    let label: String = rest
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '?'))
        .collect();
    encoding_rs::Encoding::for_label(label.as_bytes())
        .map(|codec| {
            // UTF-16 declared in an ASCII-compatible byte stream is a mislabel; read UTF-8.
            if codec == encoding_rs::UTF_16LE || codec == encoding_rs::UTF_16BE {
                encoding_rs::UTF_8
            } else {
                codec
            }
        })
        .ok_or_else(|| {
            FileError::at(first_line, format!("unsupported encoding {label:?}"))
                .with_field("encoding")
        })
}
