//! The Flex `FlexQueryResponse` XML parser: one [`FlexAccount`] per account, with its
//! positions, cash, net liquidation value and ledger in the normalized types.
//!
//! It is a pull parser over the byte slice (quick-xml's `Reader`, no DOM, no serde per row):
//! attribute values stay slices of the input until a converter reads them, numbers go from their
//! text straight to `Decimal`, line numbers are counted once as the reader moves forward, and an
//! instrument's asset is built once per statement. Runs of plain `<Row .../>` elements inside a
//! known section are split by the attribute scanner without quick-xml tokenizing them first
//! (see `reader`); on a 2-core machine that reads over 300,000 records a second
//! (`examples/flex_bench.rs`).
//!
//! # Structure
//! `<FlexQueryResponse><FlexStatements><FlexStatement accountId fromDate toDate ...>` holds
//! sections (`<Trades>`, `<CashTransactions>`, ...) of data rows, plus `<AccountInformation>` and
//! `<ChangeInNAV>` as direct children. Unknown sections and unknown attributes are skipped. A
//! statement's date format (IB lets each query choose one) is the same for the whole document:
//! `a/b/yyyy` dates are read month-first or day-first after the first unambiguous slash date in
//! the file (a number above 12), else the order under which the statement's `fromDate` is not
//! after its `toDate`, else month-first (IB's US format).
//!
//! # Mapping
//! - `<Trade>` rows (`levelOfDetail` `EXECUTION` or absent; the `<Order>`, `<SymbolSummary>`,
//!   `<AssetSummary>`, `<Lot>` rows of the section and other levels are skipped so nothing is
//!   counted twice) are buys and sells: `quantity` is `abs(quantity)` (contracts for derivatives,
//!   face value for bonds, base currency for forex pairs), `price` is `tradePrice`, `amount` is
//!   `netCash` as IB signs it (negative for buys) or, without it, `proceeds + ibCommission +
//!   taxes`; `fee` is `abs(ibCommission)` when non-zero and in the trade currency (a commission
//!   charged in another currency is named in the description instead). A cancellation
//!   (`buySell` `BUY (Ca.)`/`SELL (Ca.)`) is imported as the reversing trade (a cancelled buy is a
//!   sell of the same quantity with IB's signed `netCash`, id suffixed `:cancel`), so the
//!   ledger is right whether or not the cancelled trade was imported earlier. `source_id` is
//!   `trade:<tradeID>`, else `trade:tx:<transactionID>`, else `trade:h:<hash of the row>`.
//! - `<CashTransaction>` rows keep IB's signed `amount`. Types: `Dividends` and `Payment In Lieu
//!   Of Dividends` are dividends; `Withholding Tax` (and other `...Tax`/`Withholding...` types)
//!   taxes; `Broker Interest Received/Paid` and `Bond Interest Received/Paid` interest (paid
//!   interest is negative interest, not a fee); `Other Fees`, `Commission Adjustments` and other
//!   `...Fee...` types fees; `Deposits/Withdrawals` and `Deposits & Withdrawals` a deposit when
//!   the amount is positive, else a withdrawal. Other types are rejected records, so they are
//!   seen rather than guessed. Rows with a `symbol` or `conid` carry the asset. `SUMMARY` rows
//!   are dropped when the section has detail rows. `source_id` is `cash:<transactionID>`, else
//!   `cash:h:<hash of type, date, amount, currency, symbol, description>`.
//! - `<CorporateAction>` rows (one per asset leg, signed `quantity`): `FS` and `RS` (forward and
//!   reverse splits) are splits, every other type (`TC` merger, `SO` spin-off, `TO` tender,
//!   `IC` identifier change, `BM` bond maturity, ...) a merger; `amount` is `proceeds` (cash
//!   received; `0` when absent), a merger's `price` is `|value / quantity|` when both are
//!   non-zero. `source_id` `ca:<transactionID>` (else `ca:h:<hash>`).
//! - `<Transfer>` rows: positions are transfers with the quantity signed by `direction` (`OUT`
//!   negative), priced at `transferPrice`, else `|positionAmount / quantity|`; cash (no symbol, or
//!   category `CASH`) is a deposit or withdrawal of `cashTransfer` (else `quantity`). `source_id`
//!   `transfer:<transactionID>` (else `transfer:h:<hash>`).
//! - `<OpenPosition>` rows are holdings: signed `position` (shorts negative), `markPrice`,
//!   `positionValue`, `costBasisMoney`, as of the end of `reportDate` (UTC), else of the
//!   statement's `toDate`. `SUMMARY` rows are used when there are any; otherwise `LOT` rows are
//!   summed per asset. Rows in category `CASH` are skipped: cash comes from the cash report.
//! - `<CashReportCurrency>` rows (except `BASE_SUMMARY`) with a non-zero `endingCash` are one
//!   cash holding each (`CASH:<CCY>`, price 1, cost basis and value = `endingCash`).
//! - The balance, in base currency, is the `total` of the latest
//!   `<EquitySummaryByReportDateInBase>` row; else `<ChangeInNAV endingValue>`; else the cash
//!   report's `BASE_SUMMARY` `endingCash` plus every position's `positionValue × fxRateToBase`.
//!   The base currency is `<AccountInformation currency>`, else the `currency` of those rows.
//! - Several `<FlexStatement>`s for one account are merged: dates widen, transactions are
//!   appended unless their `source_id` is already there, holdings and balance come from the
//!   statement that ends last.
//!
//! Dates are the calendar day IB wrote (`tradeDate`, else the date of `dateTime`, else
//! `reportDate`). No value goes through `f64`.
//!
//! # Errors
//! A file that cannot be read as a whole is a [`FlexParseError`] naming the line; a row that
//! cannot be turned into a record is a [`FlexRecordError`] in [`FlexAccount::rejected`] and the
//! others still come through. Nothing panics on any input.

mod convert;
mod input;
mod reader;
mod values;

use std::fmt;

use chrono::NaiveDate;

use crate::ibkr::category::CategoryMap;
use crate::ibkr::{AccountData, IbAccount};

pub use input::looks_like_flex;

/// A parsed `FlexQueryResponse`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexStatement {
    /// One per account, in the order the accounts first appear.
    pub accounts: Vec<FlexAccount>,
}

/// One account's statement.
#[derive(Debug, Clone, PartialEq)]
pub struct FlexAccount {
    /// From `<FlexStatement accountId>` and `<AccountInformation>` (`accountType`, `currency`,
    /// `acctAlias` or else `name`, `dateOpened`).
    pub info: IbAccount,
    /// The statement period (`fromDate`, `toDate`).
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// Holdings (positions and one cash holding per currency), transactions, balance.
    pub data: AccountData,
    /// The 1-based line in the XML of each of `data.transactions`, in the same order.
    pub lines: Vec<u64>,
    /// Rows that could not be turned into a record (a bad number, a missing field, an unknown
    /// cash transaction type).
    pub rejected: Vec<FlexRecordError>,
}

/// A row that could not be read, with the line of its element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexRecordError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for FlexRecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FlexRecordError {}

/// Why a file cannot be read as a Flex statement at all. Every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlexParseError {
    /// The input is not XML (CSV, JSON, plain text, an empty file).
    #[error("line {line}: not XML: {message}")]
    NotXml { line: u64, message: String },
    /// The XML is not well-formed.
    #[error("line {line}, column {column}: malformed XML: {message}")]
    Malformed {
        line: u64,
        column: u64,
        message: String,
    },
    /// The file ends inside the statement: an interrupted download or a cut copy.
    #[error(
        "line {line}, column {column}: the file ends in the middle of the statement \
         (truncated download?)"
    )]
    Truncated { line: u64, column: u64 },
    /// XML, but not a `FlexQueryResponse` (another root element, an HTML page).
    #[error("line {line}: not a Flex statement: {message}")]
    NotFlex { line: u64, message: String },
    /// A `FlexStatementResponse`: the Flex Web Service's answer when there is no statement
    /// (`1019` statement generation in progress, `1012` token expired, ...).
    #[error(
        "line {line}: not a Flex statement but an IB Flex Web Service error{}: {message}",
        .code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
    )]
    ServiceError {
        line: u64,
        /// IB's `ErrorCode`.
        code: Option<String>,
        /// IB's `ErrorMessage` (or the `Status` when there is none).
        message: String,
    },
    /// Binary data: an archive, a PDF, NUL bytes.
    #[error("line {line}: {message}")]
    Binary { line: u64, message: String },
    /// Text that cannot be decoded (not valid UTF-8, an unknown declared encoding).
    #[error("line {line}, column {column}: {message}")]
    Encoding {
        line: u64,
        column: u64,
        message: String,
    },
    /// A `<FlexStatement>` date that is in no Flex date format.
    #[error("line {line}: FlexStatement {attribute}={value:?} is not a date in a Flex date format")]
    BadDate {
        line: u64,
        attribute: String,
        value: String,
    },
    /// A statement-level problem that is none of the above (a statement without an account id,
    /// a malformed `<FlexStatement>` tag).
    #[error("line {line}: {message}")]
    Invalid { line: u64, message: String },
}

impl FlexParseError {
    /// The 1-based line the problem is on.
    #[must_use]
    pub fn line(&self) -> Option<u64> {
        Some(match self {
            Self::NotXml { line, .. }
            | Self::Malformed { line, .. }
            | Self::Truncated { line, .. }
            | Self::NotFlex { line, .. }
            | Self::ServiceError { line, .. }
            | Self::Binary { line, .. }
            | Self::Encoding { line, .. }
            | Self::BadDate { line, .. }
            | Self::Invalid { line, .. } => *line,
        })
    }
}

/// Parses a `FlexQueryResponse` document (an Activity Flex query in XML format), building
/// every asset through `map`. Sections this parser does not read, such as the Trade
/// Confirmation query's `<TradeConfirms>`, are skipped.
///
/// # Errors
/// [`FlexParseError`] when the file as a whole cannot be read: not XML, malformed or truncated
/// XML, another document (an HTML page, a `FlexStatementResponse` error with IB's code and
/// message), binary or undecodable data, a statement date in no Flex format. Rows that cannot be
/// read are reported in [`FlexAccount::rejected`] instead.
pub fn parse_statement(xml: &[u8], map: &CategoryMap) -> Result<FlexStatement, FlexParseError> {
    let text = input::prepare(xml)?;
    reader::parse(&text, map)
}
