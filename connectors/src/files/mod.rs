//! File parsers: the fallback import path for every source without an API.
//!
//! Two formats, both pure (no I/O besides the reader they are handed, no persistence):
//! - [`csv`]: generic delimited text read through a per-account [`csv::CsvProfile`]
//!   (delimiter, encoding, date and number formats, column and type mapping, sign convention).
//!   It streams: [`csv::read`] returns an iterator that decodes and parses one row at a time, so
//!   memory stays constant whatever the file size.
//! - [`ofx`]: OFX/QFX bank, credit-card and investment statements, 1.x SGML and 2.x XML. Those
//!   files are small, so [`ofx::parse`] takes the whole file.
//!
//! Nothing here panics on input: a file that cannot be read at all is a [`FileError`]; a single
//! record that cannot be read is a [`RowError`] and the others still come through. Both name the
//! 1-based line and, where there is one, the field. What to do with bad rows (reject the file,
//! skip them) is the caller's decision.
//!
//! `source_id` is the source's own id (the CSV `id` column, the OFX `FITID`); it is empty when
//! the source has none, and the caller falls back to content fingerprints for dedup.

pub mod csv;
mod encoding;
mod number;
pub mod ofx;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Transaction;

pub use csv::{CsvProfile, CsvRecords};
pub use encoding::Encoding;
pub use ofx::{OfxFile, OfxStatement};

/// The file formats [`detect_format`] tells apart. QFX (Quicken) is OFX with extra tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Ofx,
    /// An Interactive Brokers Flex Query statement (`FlexQueryResponse` XML).
    IbkrFlex,
}

impl FileFormat {
    /// The wire name (`csv`, `ofx`, `ibkr_flex`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ofx => "ofx",
            Self::IbkrFlex => "ibkr_flex",
        }
    }
}

/// How many leading bytes [`detect_format`] looks at; pass at least this much when the file is
/// longer.
pub const SNIFF_LEN: usize = 8 * 1024;

/// Guesses the format from the first bytes of a file (give it [`SNIFF_LEN`] bytes or the whole
/// file when shorter).
///
/// OFX is recognised by its 1.x header (`OFXHEADER:`), its 2.x processing instruction
/// (`<?OFX ...?>`) or an `<OFX>` tag near the start. Anything else that looks like text with a
/// delimiter (`,` `;` tab `|`) on its first non-empty line is CSV. Binary data (NUL bytes, many
/// control characters) is `None`.
#[must_use]
pub fn detect_format(head: &[u8]) -> Option<FileFormat> {
    let head = head.get(..SNIFF_LEN).unwrap_or(head);
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let trimmed = trim_ascii_start(head);
    if crate::ibkr::flex::parse::looks_like_flex(head) {
        return Some(FileFormat::IbkrFlex);
    }
    if starts_with_ignore_case(trimmed, b"OFXHEADER")
        || (starts_with_ignore_case(trimmed, b"<?xml") && contains_ignore_case(head, b"<?OFX"))
        || starts_with_ignore_case(trimmed, b"<OFX>")
        || (trimmed.first() == Some(&b'<') && contains_ignore_case(head, b"<OFX>"))
    {
        return Some(FileFormat::Ofx);
    }
    if head.is_empty() || looks_binary(head) {
        return None;
    }
    let first_line = head
        .split(|&b| b == b'\n')
        .find(|line| line.iter().any(|b| !b.is_ascii_whitespace()))?;
    first_line
        .iter()
        .any(|b| matches!(b, b',' | b';' | b'\t' | b'|'))
        .then_some(FileFormat::Csv)
}

fn looks_binary(bytes: &[u8]) -> bool {
    // UTF-16 text starts with a BOM; it is text even though half its bytes are NUL.
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return false;
    }
    let control = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    bytes.contains(&0) || control * 100 > bytes.len()
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The whole file cannot be read: wrong format, wrong encoding, truncated, a required column
/// missing, an invalid profile. `line` is 1-based; `field` names the profile field, column or
/// OFX element at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub line: Option<u64>,
    pub field: Option<String>,
    pub message: String,
}

impl FileError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(line: u64, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, self.line, self.field.as_deref())?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileError {}

/// One record could not be read. The other records of the file are still returned, unless
/// `fatal` is set: then the file cannot be read past `line` (bad encoding, an overlong line, an
/// I/O error) and this is the last item the reader yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
    pub fatal: bool,
}

impl RowError {
    pub(crate) fn new(line: u64, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            line,
            field: field.map(str::to_owned),
            message: message.into(),
            fatal: false,
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, Some(self.line), self.field.as_deref())?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for RowError {}

impl From<RowError> for FileError {
    fn from(e: RowError) -> Self {
        Self {
            line: Some(e.line),
            field: e.field,
            message: e.message,
        }
    }
}

fn write_location(
    f: &mut fmt::Formatter<'_>,
    line: Option<u64>,
    field: Option<&str>,
) -> fmt::Result {
    match (line, field) {
        (Some(line), Some(field)) => write!(f, "line {line}, {field}: "),
        (Some(line), None) => write!(f, "line {line}: "),
        (None, Some(field)) => write!(f, "{field}: "),
        (None, None) => Ok(()),
    }
}

/// One record read from a file, with the 1-based line it starts on (the line of the CSV row,
/// or of the OFX element such as `<STMTTRN>` or `<BUYSTOCK>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedRecord {
    pub line: u64,
    pub transaction: Transaction,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_sniffed_from_the_head() {
        assert_eq!(
            detect_format(b"\n\nOFXHEADER:100\nDATA:OFXSGML\n<OFX>"),
            Some(FileFormat::Ofx)
        );
        assert_eq!(
            detect_format(b"<?xml version=\"1.0\"?>\n<?OFX OFXHEADER=\"200\"?><OFX>"),
            Some(FileFormat::Ofx)
        );
        assert_eq!(
            detect_format(b"<ofx><SIGNONMSGSRSV1>"),
            Some(FileFormat::Ofx)
        );
        assert_eq!(
            detect_format(b"\xEF\xBB\xBFdate,amount\n2024-01-01,1\n"),
            Some(FileFormat::Csv)
        );
        assert_eq!(detect_format(b"Datum;Betrag\n"), Some(FileFormat::Csv));
        assert_eq!(detect_format(b"\x00\x01\x02garbage,,"), None);
        assert_eq!(detect_format(b""), None);
        assert_eq!(detect_format(b"just some words\n"), None);
        assert_eq!(detect_format(b"<html><body>"), None);
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = FileError::at(3, "bad").with_field("columns.amount");
        assert_eq!(e.to_string(), "line 3, columns.amount: bad");
        let r = RowError::new(7, Some("date"), "not a date");
        assert_eq!(r.to_string(), "line 7, date: not a date");
        assert_eq!(FileError::from(r).line, Some(7));
    }
}
