//! The pull loop: walks the document with quick-xml's slice reader, knows where it is in the
//! `FlexQueryResponse > FlexStatements > FlexStatement > section > row` structure, and hands
//! each data row to the statement being built.
//!
//! Rows are nearly all of a statement's bytes, and tokenizing a row tag costs quick-xml two
//! `memchr` calls per attribute before the attributes are split again. So inside a known section,
//! a run of plain `<Row .../>` elements is read by the attribute scanner directly (which finds
//! the end of the tag anyway), and a fresh quick-xml reader resumes where the run ends.
//! Everything else (the document structure, end tags, comments, rows with children, anything
//! the scanner does not recognise) goes through quick-xml. Since a resumed reader does not know
//! the open elements, end tags are matched against this module's own stack.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::{BytesStart, Event};

use super::convert::{Ctx, RowKind, StatementBuilder, merge};
use super::input::{Lines, line_col};
use super::values::{F, Layout, Row, SlashOrder, detect_slash_order, parse_date, subslice};
use super::{FlexAccount, FlexParseError, FlexStatement};
use crate::ibkr::category::CategoryMap;

/// The sections whose rows the parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Trades,
    CashTransactions,
    CorporateActions,
    Transfers,
    OpenPositions,
    CashReport,
    EquitySummary,
    /// `<AccountInformation>`/`<ChangeInNAV>` used as a wrapper around a row of the same name.
    AccountInformation,
    ChangeInNav,
    Other,
}

impl Section {
    fn of(name: &[u8]) -> Self {
        match name {
            b"Trades" => Self::Trades,
            b"CashTransactions" => Self::CashTransactions,
            b"CorporateActions" => Self::CorporateActions,
            b"Transfers" => Self::Transfers,
            b"OpenPositions" => Self::OpenPositions,
            b"CashReport" => Self::CashReport,
            b"EquitySummaryInBase" => Self::EquitySummary,
            b"AccountInformation" => Self::AccountInformation,
            b"ChangeInNAV" => Self::ChangeInNav,
            _ => Self::Other,
        }
    }

    /// The row kind of an element inside this section; `None` for rows that are skipped
    /// (`<Order>`, `<SymbolSummary>`, `<AssetSummary>`, `<Lot>` in `<Trades>`, ...).
    fn row(self, name: &[u8]) -> Option<RowKind> {
        Some(match (self, name) {
            (Self::Trades, b"Trade") => RowKind::Trade,
            (Self::CashTransactions, b"CashTransaction") => RowKind::CashTransaction,
            (Self::CorporateActions, b"CorporateAction") => RowKind::CorporateAction,
            (Self::Transfers, b"Transfer") => RowKind::Transfer,
            (Self::OpenPositions, b"OpenPosition") => RowKind::OpenPosition,
            (Self::CashReport, b"CashReportCurrency") => RowKind::CashReportCurrency,
            (Self::EquitySummary, b"EquitySummaryByReportDateInBase") => RowKind::EquitySummary,
            (Self::AccountInformation, b"AccountInformation") => RowKind::AccountInformation,
            (Self::ChangeInNav, b"ChangeInNAV") => RowKind::ChangeInNav,
            _ => return None,
        })
    }
}

/// Which document the root element says this is.
enum Doc {
    BeforeRoot,
    Flex,
    /// A `FlexStatementResponse`: the texts of its children, to report IB's error.
    Service {
        line: u64,
        field: Option<ServiceField>,
        status: String,
        code: String,
        message: String,
    },
    AfterRoot,
}

#[derive(Clone, Copy)]
enum ServiceField {
    Status,
    Code,
    Message,
}

/// The document walk.
struct Walk<'a, 'm> {
    text: &'a str,
    bytes: &'a [u8],
    lines: Lines<'a>,
    map: &'m CategoryMap,
    order: Option<SlashOrder>,
    /// Depth of the innermost open element (the root is 1).
    depth: usize,
    doc: Doc,
    /// The statement being read and the depth of its `<FlexStatement>`.
    statement: Option<(StatementBuilder, usize)>,
    section: Option<Section>,
    layouts: [Layout; RowKind::COUNT],
    accounts: Vec<FlexAccount>,
    by_id: HashMap<String, usize>,
    /// Names of the open elements (a resumed quick-xml reader does not know them).
    open_names: Vec<Box<[u8]>>,
}

fn to_usize(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

/// A quick-xml reader over `bytes` from `at` on. It does not check end tag names: readers
/// are resumed mid-document (see the module docs) and [`Walk`] checks them.
fn reader_at(bytes: &[u8], at: usize) -> Reader<&[u8]> {
    let mut reader = Reader::from_reader(bytes.get(at..).unwrap_or_default());
    let config = reader.config_mut();
    // Whitespace between elements stays a separate event, so the position before each
    // element's event is its `<` and its line is exact.
    config.trim_text(false);
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    reader
}

/// Parses a `FlexQueryResponse`.
pub(super) fn parse(text: &str, map: &CategoryMap) -> Result<FlexStatement, FlexParseError> {
    let bytes = text.as_bytes();
    // `reader` reads `bytes[base..]`.
    let mut base = 0usize;
    let mut reader = reader_at(bytes, base);
    let mut walk = Walk {
        text,
        bytes,
        lines: Lines::new(bytes),
        map,
        order: None,
        depth: 0,
        doc: Doc::BeforeRoot,
        statement: None,
        section: None,
        layouts: std::array::from_fn(|_| Layout::default()),
        accounts: Vec::new(),
        by_id: HashMap::new(),
        open_names: Vec::new(),
    };
    loop {
        let mut before = base + to_usize(reader.buffer_position());
        if walk.expects_rows() {
            let after = walk.fast_rows(before);
            if after > before {
                base = after;
                reader = reader_at(bytes, base);
                before = base;
            }
        }
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                return Err(walk.xml_error(&err, base + to_usize(reader.error_position())));
            }
        };
        match event {
            Event::Start(e) => {
                walk.depth += 1;
                walk.open_names.push(e.name().as_ref().into());
                walk.open(&e, before, false)?;
            }
            Event::Empty(e) => {
                walk.depth += 1;
                walk.open(&e, before, true)?;
                walk.close(before)?;
            }
            Event::End(e) => {
                walk.check_end(e.name().as_ref(), before)?;
                walk.close(before)?;
            }
            Event::Text(text) => walk.text(&text, before)?,
            Event::CData(text) => walk.text(&text, before)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &*reference {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    },
                };
                if let Some(c) = resolved {
                    walk.service_text(c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::DocType(doctype) => {
                if matches!(walk.doc, Doc::BeforeRoot)
                    && doctype.windows(4).any(|w| w.eq_ignore_ascii_case(b"html"))
                {
                    return Err(FlexParseError::NotFlex {
                        line: walk.lines.at(before),
                        message: "an HTML page came instead of the XML statement".into(),
                    });
                }
            }
            Event::Eof => return walk.eof(),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

impl Walk<'_, '_> {
    fn xml_error(&mut self, err: &XmlError, at: usize) -> FlexParseError {
        let (line, column) = line_col(self.bytes, at);
        let inside = !matches!(self.doc, Doc::BeforeRoot);
        match err {
            XmlError::Syntax(_) | XmlError::IllFormed(IllFormedError::MissingEndTag(_))
                if inside =>
            {
                FlexParseError::Truncated { line, column }
            }
            _ => FlexParseError::Malformed {
                line,
                column,
                message: err.to_string(),
            },
        }
    }

    fn text(&mut self, text: &[u8], at: usize) -> Result<(), FlexParseError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match self.doc {
            Doc::BeforeRoot => {
                let first_line = text
                    .split(|&b| b == b'\n')
                    .find(|l| !l.trim_ascii().is_empty())
                    .unwrap_or_default();
                let hint = if first_line.contains(&b',') || first_line.contains(&b'\t') {
                    " (it looks like a CSV Flex query: set the query's format to XML)"
                } else if first_line.trim_ascii_start().starts_with(b"{") {
                    " (it looks like JSON)"
                } else {
                    ""
                };
                let skipped = text.len() - text.trim_ascii_start().len();
                Err(FlexParseError::NotXml {
                    line: self.lines.at(at + skipped),
                    message: format!("the file starts with text instead of an element{hint}"),
                })
            }
            Doc::AfterRoot => {
                let skipped = text.len() - text.trim_ascii_start().len();
                let (line, column) = line_col(self.bytes, at + skipped);
                Err(FlexParseError::Malformed {
                    line,
                    column,
                    message: "text after the end of the FlexQueryResponse".into(),
                })
            }
            Doc::Service { .. } => {
                self.service_text(&String::from_utf8_lossy(text));
                Ok(())
            }
            Doc::Flex => Ok(()),
        }
    }

    fn service_text(&mut self, text: &str) {
        if let Doc::Service {
            field: Some(field),
            status,
            code,
            message,
            ..
        } = &mut self.doc
        {
            match field {
                ServiceField::Status => status.push_str(text),
                ServiceField::Code => code.push_str(text),
                ServiceField::Message => message.push_str(text),
            }
        }
    }

    fn service_error(&self) -> Option<FlexParseError> {
        let Doc::Service {
            line,
            status,
            code,
            message,
            ..
        } = &self.doc
        else {
            return None;
        };
        let (status, code, message) = (status.trim(), code.trim(), message.trim());
        let message = match (message.is_empty(), status.is_empty()) {
            (false, _) => message.to_owned(),
            (true, false) if status.eq_ignore_ascii_case("Success") => {
                "a SendRequest answer (a reference code to fetch the statement with), not the \
                 statement"
                    .to_owned()
            }
            (true, false) => format!("status {status}"),
            (true, true) => "no error message".to_owned(),
        };
        Some(FlexParseError::ServiceError {
            line: *line,
            code: (!code.is_empty()).then(|| code.to_owned()),
            message,
        })
    }

    fn open(&mut self, e: &BytesStart<'_>, at: usize, empty: bool) -> Result<(), FlexParseError> {
        let name = e.name();
        let name = name.as_ref();
        match &mut self.doc {
            Doc::BeforeRoot => self.root(name, at),
            Doc::AfterRoot => {
                let (line, column) = line_col(self.bytes, at);
                Err(FlexParseError::Malformed {
                    line,
                    column,
                    message: "a second root element after the FlexQueryResponse".into(),
                })
            }
            Doc::Service { field, .. } => {
                if self.depth == 2 {
                    *field = match name {
                        b"Status" => Some(ServiceField::Status),
                        b"ErrorCode" => Some(ServiceField::Code),
                        b"ErrorMessage" => Some(ServiceField::Message),
                        _ => None,
                    };
                }
                Ok(())
            }
            Doc::Flex => self.flex_open(e, name, at, empty),
        }
    }

    fn root(&mut self, name: &[u8], at: usize) -> Result<(), FlexParseError> {
        let line = self.lines.at(at);
        match name {
            b"FlexQueryResponse" => {
                self.doc = Doc::Flex;
                Ok(())
            }
            b"FlexStatementResponse" => {
                self.doc = Doc::Service {
                    line,
                    field: None,
                    status: String::new(),
                    code: String::new(),
                    message: String::new(),
                };
                Ok(())
            }
            name if name.eq_ignore_ascii_case(b"html") => Err(FlexParseError::NotFlex {
                line,
                message: "an HTML page came instead of the XML statement".into(),
            }),
            name => Err(FlexParseError::NotFlex {
                line,
                message: format!(
                    "the root element is <{}>, not <FlexQueryResponse>",
                    String::from_utf8_lossy(name)
                ),
            }),
        }
    }

    fn flex_open(
        &mut self,
        e: &BytesStart<'_>,
        name: &[u8],
        at: usize,
        empty: bool,
    ) -> Result<(), FlexParseError> {
        let Some((_, statement_depth)) = &self.statement else {
            if name == b"FlexStatement" {
                self.start_statement(e, at)?;
            }
            return Ok(());
        };
        let statement_depth = *statement_depth;
        if self.depth == statement_depth + 1 {
            let section = Section::of(name);
            if !empty {
                self.section = Some(section);
            }
            match name {
                b"AccountInformation" => self.row(RowKind::AccountInformation, e, at),
                b"ChangeInNAV" => self.row(RowKind::ChangeInNav, e, at),
                _ => {}
            }
        } else if self.depth == statement_depth + 2
            && let Some(kind) = self.section.and_then(|s| s.row(name))
        {
            self.row(kind, e, at);
        }
        Ok(())
    }

    /// Reads a data row (a tag quick-xml read) into the current statement.
    fn row(&mut self, kind: RowKind, e: &BytesStart<'_>, at: usize) {
        let line = self.lines.at(at);
        let text = self.text;
        match subslice(text, e.attributes_raw()) {
            Some(attrs) => {
                self.scanned_row(kind, line, attrs);
            }
            None => {
                if let Some((statement, _)) = self.statement.as_mut() {
                    statement.reject(line, kind.element(), "could not read the attributes");
                }
            }
        }
    }

    /// Reads the attributes at the start of `attrs` as a `kind` row.
    fn scanned_row(&mut self, kind: RowKind, line: u64, attrs: &str) {
        let Some(layout) = self.layouts.get_mut(kind as usize) else {
            return;
        };
        match Row::scan(kind.element(), line, attrs, layout) {
            Ok((row, end)) => self.dispatch(kind, &row, attrs.get(..end).unwrap_or_default()),
            Err(message) => {
                if let Some((statement, _)) = self.statement.as_mut() {
                    statement.reject(line, kind.element(), &message);
                }
            }
        }
    }

    /// Hands a row to the statement; `attrs` is the row's attribute text.
    fn dispatch(&mut self, kind: RowKind, row: &Row<'_>, attrs: &str) {
        // A `<ChangeInNAV>` wrapper has no attributes; only the row inside counts.
        if kind == RowKind::ChangeInNav && attrs.trim_ascii().is_empty() {
            return;
        }
        let ctx = Ctx {
            map: self.map,
            order: self.order.unwrap_or(SlashOrder::MonthFirst),
        };
        if let Some((statement, _)) = self.statement.as_mut() {
            statement.row(kind, row, &ctx);
        }
    }

    /// Whether the reader is where a section's rows are.
    fn expects_rows(&self) -> bool {
        self.statement
            .as_ref()
            .is_some_and(|(_, depth)| self.depth == depth + 1)
            && self.section.is_some_and(|s| s != Section::Other)
    }

    /// Reads the plain `<Row .../>` elements of the current section from `at` on, as long as
    /// there are any; returns where the first thing it leaves to quick-xml starts (`at` when it
    /// read nothing). A row it cannot read completely (unknown element, children, a malformed
    /// attribute) is left to quick-xml, so every error is reported the same way.
    fn fast_rows(&mut self, at: usize) -> usize {
        let Some(section) = self.section else {
            return at;
        };
        // Copies of the input references, so rows borrow the input and not `self`.
        let (text, bytes) = (self.text, self.bytes);
        let mut pos = at;
        loop {
            let Some(rest) = bytes.get(pos..) else {
                return pos;
            };
            let tag = pos + (rest.len() - rest.trim_ascii_start().len());
            let Some(after_lt) = bytes.get(tag..).and_then(|t| t.strip_prefix(b"<")) else {
                return pos;
            };
            let name_len = after_lt
                .iter()
                .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
                .unwrap_or(after_lt.len());
            let Some(kind) = after_lt.get(..name_len).and_then(|name| section.row(name)) else {
                return pos;
            };
            let attrs_at = tag + 1 + name_len;
            let Some(attrs) = text.get(attrs_at..) else {
                return pos;
            };
            // Only a tag that is a complete, readable empty element is taken.
            let line = self.lines.at(tag);
            let Some(layout) = self.layouts.get_mut(kind as usize) else {
                return pos;
            };
            let Ok((row, end)) = Row::scan(kind.element(), line, attrs, layout) else {
                return pos;
            };
            if !attrs
                .as_bytes()
                .get(end..)
                .is_some_and(|t| t.starts_with(b"/>"))
            {
                return pos;
            }
            self.dispatch(kind, &row, attrs.get(..end).unwrap_or_default());
            pos = attrs_at + end + 2;
        }
    }

    /// Checks that an end tag closes the innermost open element.
    fn check_end(&mut self, name: &[u8], at: usize) -> Result<(), FlexParseError> {
        match self.open_names.pop() {
            Some(open) if *open == *name => Ok(()),
            Some(open) => {
                let (line, column) = line_col(self.bytes, at);
                Err(FlexParseError::Malformed {
                    line,
                    column,
                    message: format!(
                        "expected `</{}>`, but `</{}>` found",
                        String::from_utf8_lossy(&open),
                        String::from_utf8_lossy(name)
                    ),
                })
            }
            // `close` reports an end tag without a start tag.
            None => Ok(()),
        }
    }

    fn start_statement(&mut self, e: &BytesStart<'_>, at: usize) -> Result<(), FlexParseError> {
        let line = self.lines.at(at);
        let text = self.text;
        let Some(layout) = self.layouts.get_mut(RowKind::Statement as usize) else {
            return Ok(());
        };
        let attrs = subslice(text, e.attributes_raw()).unwrap_or_default();
        let (row, _) = Row::scan(RowKind::Statement.element(), line, attrs, layout)
            .map_err(|message| FlexParseError::Invalid { line, message })?;
        let invalid = |message: String| FlexParseError::Invalid { line, message };
        let from = row.text(F::FromDate).map_err(invalid)?;
        let to = row.text(F::ToDate).map_err(invalid)?;
        let order = match self.order {
            Some(order) => order,
            None => {
                let order = self.slash_order(from.as_deref(), to.as_deref());
                self.order = Some(order);
                order
            }
        };
        let date = |attribute: F| -> Result<Option<chrono::NaiveDate>, FlexParseError> {
            let Some(text) = row.text(attribute).map_err(invalid)? else {
                return Ok(None);
            };
            parse_date(&text, order).map_err(|_| FlexParseError::BadDate {
                line,
                attribute: attribute.name().to_owned(),
                value: text.into_owned(),
            })
        };
        let statement = StatementBuilder::new(
            line,
            row.string(F::AccountId).map_err(invalid)?,
            date(F::FromDate)?,
            date(F::ToDate)?,
            date(F::WhenGenerated)?,
        );
        self.statement = Some((statement, self.depth));
        self.section = None;
        Ok(())
    }

    /// How `a/b/yyyy` dates are to be read (see the module documentation).
    fn slash_order(&self, from: Option<&str>, to: Option<&str>) -> SlashOrder {
        let slashed = |d: Option<&str>| d.is_some_and(|d| d.contains('/'));
        if !(slashed(from) || slashed(to) || (from.is_none() && to.is_none())) {
            return SlashOrder::MonthFirst;
        }
        if let Some(order) = detect_slash_order(self.bytes) {
            return order;
        }
        let consistent = |order| {
            let from = parse_date(from?, order).ok()??;
            let to = parse_date(to?, order).ok()??;
            Some(from <= to)
        };
        match (
            consistent(SlashOrder::MonthFirst),
            consistent(SlashOrder::DayFirst),
        ) {
            (Some(false) | None, Some(true)) => SlashOrder::DayFirst,
            _ => SlashOrder::MonthFirst,
        }
    }

    fn close(&mut self, at: usize) -> Result<(), FlexParseError> {
        let depth = self.depth;
        self.depth = depth.saturating_sub(1);
        match &mut self.doc {
            Doc::Service { field, .. } => {
                if depth == 2 {
                    *field = None;
                }
                if depth == 1 {
                    return Err(self
                        .service_error()
                        .unwrap_or(FlexParseError::Truncated { line: 1, column: 1 }));
                }
            }
            Doc::Flex => {
                if let Some((statement, statement_depth)) = self.statement.as_mut() {
                    if depth == *statement_depth + 1 {
                        statement.end_section();
                        self.section = None;
                    } else if depth == *statement_depth {
                        self.end_statement()?;
                    }
                }
                if depth == 1 {
                    self.doc = Doc::AfterRoot;
                }
            }
            Doc::BeforeRoot | Doc::AfterRoot => {
                let (line, column) = line_col(self.bytes, at);
                return Err(FlexParseError::Malformed {
                    line,
                    column,
                    message: "an end tag without its start tag".into(),
                });
            }
        }
        Ok(())
    }

    fn end_statement(&mut self) -> Result<(), FlexParseError> {
        let Some((statement, _)) = self.statement.take() else {
            return Ok(());
        };
        self.section = None;
        let account = statement.finish()?;
        match self.by_id.get(&account.info.id) {
            Some(&i) => {
                if let Some(existing) = self.accounts.get_mut(i) {
                    merge(existing, account);
                }
            }
            None => {
                self.by_id
                    .insert(account.info.id.clone(), self.accounts.len());
                self.accounts.push(account);
            }
        }
        Ok(())
    }

    fn eof(mut self) -> Result<FlexStatement, FlexParseError> {
        let end = self.bytes.len();
        match self.doc {
            Doc::BeforeRoot => Err(FlexParseError::NotXml {
                line: self.lines.at(end),
                message: "the file has no XML element (is it empty?)".into(),
            }),
            Doc::Service { .. } => Err(self.service_error().unwrap_or_else(|| {
                let (line, column) = line_col(self.bytes, end);
                FlexParseError::Truncated { line, column }
            })),
            Doc::Flex => {
                let (line, column) = line_col(self.bytes, end);
                Err(FlexParseError::Truncated { line, column })
            }
            Doc::AfterRoot => Ok(FlexStatement {
                accounts: self.accounts,
            }),
        }
    }
}
