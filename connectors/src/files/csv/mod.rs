//! Generic CSV import through a per-account [`CsvProfile`].
//!
//! [`read`] validates the profile, decodes the input to UTF-8 as it streams (see
//! [`Encoding`]), drops `skip_rows` title lines, resolves the mapped columns against the header
//! and returns [`CsvRecords`], an iterator yielding one `Result<ParsedRecord, RowError>` per
//! data row. Memory use does not grow with the file: one row is held at a time.
//!
//! Each row becomes a [`Transaction`]:
//! - `trade_date`/`settle_date` parsed with `date_format`;
//! - `kind` from the type column through the profile's `type_map` and the built-in words, else
//!   `default_type`, else from the sign of the amount (see [`CsvProfile::default_type`]);
//! - `amount` with the [`SignConvention`] applied; without an amount column it is computed from
//!   quantity × price and the fee (buy: `-(q·p + fee)`, sell: `q·p - fee`);
//! - `quantity` and `fee` are magnitudes for buys and sells (Tributary's convention), signed for
//!   transfers and splits;
//! - `asset` when a symbol is present: symbol upper-cased, `asset_id` `EQUITY:<SYMBOL>` (see
//!   [`crate::normalize::asset_id::equity`]), class equity, quoted in the row's currency; the
//!   caller can re-resolve it through the taxonomy;
//! - `source_id` from the `id` column, or empty (dedup then uses the content fingerprint).

mod profile;

use std::collections::HashMap;
use std::io::Read;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;

use super::encoding::{DecodeFailure, DecodingReader};
use super::number::{NumberFormat, parse_decimal};
use super::{FileError, ParsedRecord, RowError};
use crate::normalize::asset_id;
use crate::types::{AssetClass, AssetRef, Transaction, TransactionType};

pub use super::Encoding;
pub use profile::{
    ColumnMapping, ColumnRef, CsvProfile, MAX_SKIP_ROWS, ProfileError, SignConvention,
};

/// The longest physical line accepted (bytes, after decoding). Longer means a binary file or a
/// broken export; refusing it bounds memory.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The longest record accepted (a quoted field can span lines; an unbalanced quote would
/// otherwise swallow the rest of the file into one field).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Starts reading `input` with `profile`: validates the profile, skips the title rows, reads
/// and checks the header. Rows are parsed lazily by the returned iterator.
///
/// # Errors
/// A [`FileError`] when the profile is invalid (`field` names it), the file cannot be decoded
/// before the first data row, the header row is missing, or a mapped column is not in the
/// header (`field` is `columns.<field>`, the message lists the header).
pub fn read<R: Read>(input: R, profile: &CsvProfile) -> Result<CsvRecords<R>, FileError> {
    profile.validate()?;
    let mut decoded = DecodingReader::new(input, profile.encoding, MAX_LINE_BYTES);
    for skipped in 0..profile.skip_rows {
        match decoded.skip_line() {
            Ok(true) => {}
            Ok(false) => {
                return Err(FileError::at(
                    skipped as u64 + 1,
                    format!(
                        "the file ends within the {} title rows to skip",
                        profile.skip_rows
                    ),
                )
                .with_field("skip_rows"));
            }
            Err(e) => return Err(io_file_error(&e, skipped as u64 + 1)),
        }
    }
    let delimiter = u8::try_from(profile.delimiter).unwrap_or(b',');
    // Only LF ends a record (a CR before it is trimmed with the cell), and the decoder ends
    // the stream with LF, so every record consumes its terminator and `record_line` is exact.
    let mut reader = ::csv::ReaderBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(decoded);
    let line_offset = profile.skip_rows as u64;
    let mut record = ::csv::StringRecord::new();
    let headers = if profile.has_header {
        let header_line = line_offset + 1;
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => {
                return Err(FileError::at(header_line, "the file has no header row"));
            }
            Err(e) => return Err(FileError::from(csv_row_error(&e, line_offset))),
        }
        let line = record_line(&reader, &record, line_offset);
        let names: Vec<String> = record
            .iter()
            .map(|h| {
                h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
                    .to_owned()
            })
            .collect();
        Some((names, line))
    } else {
        None
    };
    let columns = Columns::resolve(&profile.columns, headers.as_ref())?;
    Ok(CsvRecords {
        reader,
        record,
        rows: RowParser::new(profile, columns),
        line_offset,
        headers: headers.map(|(names, _)| names),
        footers: profile
            .skip_footer_matching
            .iter()
            .map(|s| s.trim().to_lowercase())
            .collect(),
        done: false,
    })
}

/// The 1-based file line a record starts on. csv's own record position is taken before the
/// blank lines it skips, so count back from where the record ended instead: the reader has
/// consumed the record's terminating LF and every LF inside its quoted fields.
fn record_line<R: Read>(
    reader: &::csv::Reader<R>,
    record: &::csv::StringRecord,
    line_offset: u64,
) -> u64 {
    let embedded = record.as_slice().bytes().filter(|&b| b == b'\n').count() as u64;
    let after = reader.position().line();
    after.saturating_sub(embedded + 1).max(1) + line_offset
}

fn io_file_error(err: &std::io::Error, line: u64) -> FileError {
    match DecodeFailure::from_io(err) {
        Some(failure) => FileError::at(failure.line, failure.message.clone()),
        None => FileError::at(line, format!("could not read the file: {err}")),
    }
}

fn csv_row_error(err: &::csv::Error, line_offset: u64) -> RowError {
    let line_of =
        |pos: Option<&::csv::Position>| pos.map_or(line_offset + 1, |p| p.line() + line_offset);
    match err.kind() {
        ::csv::ErrorKind::Io(io) => {
            let (line, message) = match DecodeFailure::from_io(io) {
                Some(failure) => (failure.line, failure.message.clone()),
                None => (line_offset + 1, format!("could not read the file: {io}")),
            };
            RowError {
                line,
                field: None,
                message,
                fatal: true,
            }
        }
        ::csv::ErrorKind::Utf8 { pos, .. } => {
            RowError::new(line_of(pos.as_ref()), None, "the row is not valid UTF-8")
        }
        other => RowError {
            line: line_offset + 1,
            field: None,
            message: format!("could not read the CSV: {other:?}"),
            fatal: true,
        },
    }
}

/// The streaming row iterator returned by [`read`].
pub struct CsvRecords<R: Read> {
    reader: ::csv::Reader<DecodingReader<R>>,
    record: ::csv::StringRecord,
    rows: RowParser,
    line_offset: u64,
    headers: Option<Vec<String>>,
    footers: Vec<String>,
    done: bool,
}

impl<R: Read> CsvRecords<R> {
    /// The header row's cells (trimmed), when the profile has a header.
    #[must_use]
    pub fn headers(&self) -> Option<&[String]> {
        self.headers.as_deref()
    }

    fn is_footer(&self) -> bool {
        if self.footers.is_empty() {
            return false;
        }
        let Some(first) = self.record.iter().map(str::trim).find(|c| !c.is_empty()) else {
            return false;
        };
        let first = first.to_lowercase();
        self.footers.iter().any(|f| first.starts_with(f.as_str()))
    }
}

impl<R: Read> Iterator for CsvRecords<R> {
    type Item = Result<ParsedRecord, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    let err = csv_row_error(&e, self.line_offset);
                    self.done = err.fatal;
                    return Some(Err(err));
                }
            }
            let line = record_line(&self.reader, &self.record, self.line_offset);
            if self.record.iter().all(|cell| cell.trim().is_empty()) || self.is_footer() {
                continue;
            }
            if self.record.as_slice().len() > MAX_RECORD_BYTES {
                return Some(Err(RowError::new(
                    line,
                    None,
                    format!(
                        "the row is longer than {} KiB (an unbalanced quote?)",
                        MAX_RECORD_BYTES / 1024
                    ),
                )));
            }
            return Some(
                self.rows
                    .parse(&self.record, line)
                    .map(|transaction| ParsedRecord { line, transaction }),
            );
        }
    }
}

/// Mapped columns resolved to indices.
#[derive(Debug, Clone, Default)]
struct Columns {
    date: usize,
    kind: Option<usize>,
    symbol: Option<usize>,
    name: Option<usize>,
    quantity: Option<usize>,
    price: Option<usize>,
    amount: Option<usize>,
    fee: Option<usize>,
    currency: Option<usize>,
    description: Option<usize>,
    id: Option<usize>,
    settle_date: Option<usize>,
}

impl Columns {
    fn resolve(
        mapping: &ColumnMapping,
        headers: Option<&(Vec<String>, u64)>,
    ) -> Result<Self, FileError> {
        let one = |field: &str, column: &Option<ColumnRef>| -> Result<Option<usize>, FileError> {
            let Some(column) = column else {
                return Ok(None);
            };
            match (column, headers) {
                (ColumnRef::Index(i), None) => Ok(Some(*i)),
                (ColumnRef::Index(i), Some((names, line))) => {
                    if *i < names.len() {
                        Ok(Some(*i))
                    } else {
                        Err(FileError::at(
                            *line,
                            format!(
                                "column #{i} does not exist: the header has {} columns",
                                names.len()
                            ),
                        )
                        .with_field(format!("columns.{field}")))
                    }
                }
                (ColumnRef::Name(name), Some((names, line))) => {
                    let wanted = name.trim().to_lowercase();
                    names
                        .iter()
                        .position(|h| h.to_lowercase() == wanted)
                        .map(Some)
                        .ok_or_else(|| {
                            let mut found = names.join(", ");
                            if found.chars().count() > 300 {
                                found = found.chars().take(300).collect::<String>() + "…";
                            }
                            FileError::at(
                                *line,
                                format!("column {name:?} is not in the header (found: {found})"),
                            )
                            .with_field(format!("columns.{field}"))
                        })
                }
                (ColumnRef::Name(name), None) => Err(FileError::new(format!(
                    "column {name:?} is a header name, but the profile has no header row"
                ))
                .with_field(format!("columns.{field}"))),
            }
        };
        Ok(Self {
            date: one("date", &mapping.date)?.ok_or_else(|| {
                FileError::new("the date column is required").with_field("columns.date")
            })?,
            kind: one("type", &mapping.kind)?,
            symbol: one("symbol", &mapping.symbol)?,
            name: one("name", &mapping.name)?,
            quantity: one("quantity", &mapping.quantity)?,
            price: one("price", &mapping.price)?,
            amount: one("amount", &mapping.amount)?,
            fee: one("fee", &mapping.fee)?,
            currency: one("currency", &mapping.currency)?,
            description: one("description", &mapping.description)?,
            id: one("id", &mapping.id)?,
            settle_date: one("settle_date", &mapping.settle_date)?,
        })
    }
}

/// Turns one record into a transaction.
struct RowParser {
    columns: Columns,
    date_format: String,
    number: NumberFormat,
    types: HashMap<String, TransactionType>,
    default_type: Option<TransactionType>,
    sign: SignConvention,
    default_currency: Option<String>,
}

/// Cash direction of each type: `Some(true)` cash in, `Some(false)` cash out, `None` either.
fn cash_in(kind: TransactionType) -> Option<bool> {
    match kind {
        TransactionType::Sell
        | TransactionType::Dividend
        | TransactionType::Interest
        | TransactionType::Deposit => Some(true),
        TransactionType::Buy
        | TransactionType::Withdrawal
        | TransactionType::Fee
        | TransactionType::Tax => Some(false),
        TransactionType::Transfer | TransactionType::Split | TransactionType::Merger => None,
    }
}

fn with_direction(value: Decimal, kind: TransactionType) -> Decimal {
    match cash_in(kind) {
        Some(true) => value.abs(),
        Some(false) => -value.abs(),
        None => value,
    }
}

impl RowParser {
    fn new(profile: &CsvProfile, columns: Columns) -> Self {
        Self {
            columns,
            date_format: profile.date_format.clone(),
            number: NumberFormat {
                decimal: profile.decimal_separator,
                thousands: profile.thousands_separator,
            },
            types: profile.type_lookup(),
            default_type: profile.default_type,
            sign: profile.sign_convention,
            default_currency: profile
                .default_currency
                .as_ref()
                .map(|c| c.trim().to_ascii_uppercase()),
        }
    }

    fn parse(&self, record: &::csv::StringRecord, line: u64) -> Result<Transaction, RowError> {
        let c = &self.columns;
        let cell = |field: &'static str, index: usize| -> Result<&str, RowError> {
            record.get(index).map(str::trim).ok_or_else(|| {
                RowError::new(
                    line,
                    Some(field),
                    format!(
                        "the row has {} fields; the {field} column is field {}",
                        record.len(),
                        index + 1
                    ),
                )
            })
        };
        // An optional column: a missing cell (short row) and an empty cell are both absent.
        let optional = |index: Option<usize>| -> Option<&str> {
            index
                .and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let number =
            |field: &'static str, text: Option<&str>| -> Result<Option<Decimal>, RowError> {
                text.map(|t| parse_decimal(t, self.number))
                    .transpose()
                    .map_err(|m| RowError::new(line, Some(field), m))
            };

        let date_text = cell("date", c.date)?;
        let trade_date = self.date(date_text, "date", line)?;
        let settle_date = optional(c.settle_date)
            .map(|t| self.date(t, "settle_date", line))
            .transpose()?;
        let quantity = number("quantity", optional(c.quantity))?;
        let price = number("price", optional(c.price))?;
        let fee = number("fee", optional(c.fee))?.map(|f| f.abs());
        let raw_amount = number("amount", optional(c.amount))?;
        let symbol = optional(c.symbol);

        let explicit_kind = match optional(c.kind) {
            Some(word) => Some(self.kind(word).ok_or_else(|| {
                RowError::new(
                    line,
                    Some("type"),
                    format!("unknown transaction type {word:?}; add it to the profile's type_map"),
                )
            })?),
            None => self.default_type,
        };

        // The file's amount with the sign convention applied (before type-driven signs).
        let signed = raw_amount.map(|a| match self.sign {
            SignConvention::NegateAll => -a,
            SignConvention::AsIs | SignConvention::AmountPositiveUseType => a,
        });
        let kind = match explicit_kind {
            Some(kind) => kind,
            None => match (signed, quantity, symbol.is_some()) {
                (Some(a), _, true) if a < Decimal::ZERO => TransactionType::Buy,
                (Some(_), _, true) => TransactionType::Sell,
                (None, Some(q), true) if q < Decimal::ZERO => TransactionType::Sell,
                (None, Some(_), true) => TransactionType::Buy,
                (Some(a), _, false) if a < Decimal::ZERO => TransactionType::Withdrawal,
                _ => TransactionType::Deposit,
            },
        };
        let amount = match signed {
            Some(a) if self.sign == SignConvention::AmountPositiveUseType => {
                with_direction(a, kind)
            }
            Some(a) => a,
            None => self.computed_amount(kind, quantity, price, fee, line)?,
        };
        let quantity = match kind {
            TransactionType::Buy | TransactionType::Sell => quantity.map(|q| q.abs()),
            _ => quantity,
        };

        let currency = match optional(c.currency) {
            Some(code) => {
                let code = code.to_ascii_uppercase();
                if !profile::is_currency_code(&code) {
                    return Err(RowError::new(
                        line,
                        Some("currency"),
                        format!("{code:?} is not a 3-letter ISO 4217 code"),
                    ));
                }
                code
            }
            None => self.default_currency.clone().ok_or_else(|| {
                RowError::new(
                    line,
                    Some("currency"),
                    "the currency is empty and the profile has no default_currency",
                )
            })?,
        };
        let name = optional(c.name);
        let asset = symbol.map(|s| {
            let symbol = s.to_uppercase();
            AssetRef {
                asset_id: asset_id::equity(None, &symbol),
                name: name.map_or_else(|| symbol.clone(), str::to_owned),
                symbol,
                class: AssetClass::Equity,
                currency: currency.clone(),
                exchange: None,
            }
        });
        let description = optional(c.description)
            .or(if asset.is_none() { name } else { None })
            .map(str::to_owned);
        Ok(Transaction {
            source_id: optional(c.id).unwrap_or_default().to_owned(),
            kind,
            trade_date,
            settle_date,
            asset,
            quantity,
            price,
            amount,
            fee: fee.filter(|f| !f.is_zero()),
            currency,
            description,
        })
    }

    fn kind(&self, word: &str) -> Option<TransactionType> {
        self.types.get(&word.to_lowercase()).copied()
    }

    fn date(&self, text: &str, field: &'static str, line: u64) -> Result<NaiveDate, RowError> {
        if text.is_empty() {
            return Err(RowError::new(line, Some(field), "the date is empty"));
        }
        NaiveDate::parse_from_str(text, &self.date_format)
            .or_else(|_| NaiveDateTime::parse_from_str(text, &self.date_format).map(|dt| dt.date()))
            .map_err(|_| {
                RowError::new(
                    line,
                    Some(field),
                    format!(
                        "cannot read {text:?} as a date in the format {:?}",
                        self.date_format
                    ),
                )
            })
    }

    fn computed_amount(
        &self,
        kind: TransactionType,
        quantity: Option<Decimal>,
        price: Option<Decimal>,
        fee: Option<Decimal>,
        line: u64,
    ) -> Result<Decimal, RowError> {
        let (Some(quantity), Some(price)) = (quantity, price) else {
            return Err(RowError::new(
                line,
                Some("amount"),
                "the amount is empty and there is no quantity and price to compute it from",
            ));
        };
        let overflow = || RowError::new(line, Some("amount"), "quantity × price is too large");
        let gross = quantity
            .abs()
            .checked_mul(price.abs())
            .ok_or_else(overflow)?;
        let fee = fee.unwrap_or_default();
        match kind {
            TransactionType::Buy => gross.checked_add(fee).map(|v| -v).ok_or_else(overflow),
            TransactionType::Sell => gross.checked_sub(fee).ok_or_else(overflow),
            other => Ok(with_direction(gross, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn profile() -> CsvProfile {
        let mut columns = ColumnMapping::new("date");
        columns.amount = Some("amount".into());
        columns.kind = Some("type".into());
        columns.symbol = Some("symbol".into());
        columns.quantity = Some("qty".into());
        columns.price = Some("price".into());
        let mut p = CsvProfile::new(columns);
        p.default_currency = Some("usd".to_owned());
        p
    }

    fn rows(text: &str, p: &CsvProfile) -> Vec<Result<ParsedRecord, RowError>> {
        match read(text.as_bytes(), p) {
            Ok(records) => records.collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn amounts_are_computed_from_quantity_and_price() {
        let text = "date,type,symbol,qty,price,amount\n2024-01-02,Buy,aapl,10,150.5,\n2024-01-03,sold,AAPL,-4,160,\n";
        let got = rows(text, &profile());
        let first = got
            .first()
            .cloned()
            .and_then(Result::ok)
            .map(|r| r.transaction);
        let t = first.unwrap_or_else(|| panic!("{got:?}"));
        assert_eq!(t.amount, dec!(-1505.0));
        assert_eq!(t.currency, "USD");
        assert_eq!(t.asset.map(|a| a.asset_id), Some("EQUITY:AAPL".to_owned()));
        let second = got
            .get(1)
            .cloned()
            .and_then(Result::ok)
            .map(|r| r.transaction);
        let t = second.unwrap_or_else(|| panic!("{got:?}"));
        assert_eq!(t.kind, TransactionType::Sell);
        assert_eq!(t.quantity, Some(dec!(4)));
        assert_eq!(t.amount, dec!(640));
    }

    #[test]
    fn crlf_quoted_last_cells_and_blank_lines_keep_exact_lines() {
        let mut p = profile();
        p.columns.description = Some("memo".into());
        let text = "date,type,symbol,qty,price,amount,memo\r\n\r\n2024-01-02,deposit,,,,5,\"a\r\nb\"\r\n\r\n\n2024-01-03,deposit,,,,6,\"last\"\r\n2024-01-04,deposit,,,,7,\"eof\"";
        let got: Vec<(u64, Option<String>)> = rows(text, &p)
            .into_iter()
            .map(|r| r.map(|r| (r.line, r.transaction.description)))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            vec![
                (3, Some("a\r\nb".to_owned())),
                (7, Some("last".to_owned())),
                (8, Some("eof".to_owned())),
            ]
        );
    }

    #[test]
    fn overflowing_products_are_row_errors() {
        let text = "date,type,symbol,qty,price,amount\n2024-01-02,buy,X,9999999999999999999999999999,9999999999999999999999999999,\n";
        let got = rows(text, &profile());
        assert!(matches!(got.first(), Some(Err(e)) if e.field.as_deref() == Some("amount")));
    }
}
