//! Flex rows to the normalized types, and one `<FlexStatement>`'s account assembled from them.
//! The mapping rules are listed in the parent module's documentation.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::values::{F, Row, SlashOrder};
use super::{FlexAccount, FlexParseError, FlexRecordError};
use crate::ibkr::category::{CategoryMap, Contract};
use crate::ibkr::{AccountData, IbAccount};
use crate::types::{AssetRef, Balance, Holding, Transaction, TransactionType};

/// What every converter needs.
pub(super) struct Ctx<'m> {
    pub(super) map: &'m CategoryMap,
    pub(super) order: SlashOrder,
}

/// The data elements the parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowKind {
    Statement,
    AccountInformation,
    ChangeInNav,
    Trade,
    CashTransaction,
    CorporateAction,
    Transfer,
    OpenPosition,
    CashReportCurrency,
    EquitySummary,
}

impl RowKind {
    pub(super) const COUNT: usize = 10;

    /// The XML element name.
    pub(super) fn element(self) -> &'static str {
        match self {
            Self::Statement => "FlexStatement",
            Self::AccountInformation => "AccountInformation",
            Self::ChangeInNav => "ChangeInNAV",
            Self::Trade => "Trade",
            Self::CashTransaction => "CashTransaction",
            Self::CorporateAction => "CorporateAction",
            Self::Transfer => "Transfer",
            Self::OpenPosition => "OpenPosition",
            Self::CashReportCurrency => "CashReportCurrency",
            Self::EquitySummary => "EquitySummaryByReportDateInBase",
        }
    }
}

/// The end of a calendar day in UTC: what "as of `reportDate`" means for a snapshot.
fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN))
        .and_utc()
}

/// Content-hash ids for rows without an IB id, unique within the statement: a second row with
/// the same content gets `:2`, and so on, so identical rows are not merged away.
#[derive(Default)]
struct HashIds {
    seen: HashMap<String, u32>,
}

impl HashIds {
    fn id<'v>(
        &mut self,
        prefix: &str,
        element: &str,
        parts: impl Iterator<Item = (F, &'v [u8])>,
    ) -> String {
        let mut hasher = Sha256::new();
        hasher.update(element.as_bytes());
        for (field, value) in parts {
            hasher.update(field.name().as_bytes());
            hasher.update(b"=");
            hasher.update(value);
            hasher.update(b"\x1F");
        }
        let digest = hasher.finalize();
        let mut id = format!("{prefix}:h:");
        for byte in digest.iter().take(8) {
            let _ = write!(id, "{byte:02x}");
        }
        let count = self.seen.entry(id.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            let _ = write!(id, ":{count}");
        }
        id
    }
}

/// The instrument of a row. `default_category` is used when the row has no `assetCategory`
/// (cash transactions about a stock sometimes leave it empty).
fn contract(
    row: &Row<'_>,
    ctx: &Ctx<'_>,
    default_category: Option<&str>,
) -> Result<Contract, String> {
    let category = match row.code(F::AssetCategory)? {
        Some(c) => c.to_ascii_uppercase(),
        None => default_category
            .ok_or("assetCategory is missing")?
            .to_owned(),
    };
    let conid = row.code(F::Conid)?.map(|c| c.into_owned());
    let symbol = match row.code(F::Symbol)? {
        Some(s) => s.into_owned(),
        None => conid.clone().ok_or("symbol is missing")?,
    };
    let currency = row
        .code(F::Currency)?
        .ok_or("currency is missing")?
        .to_ascii_uppercase();
    Ok(Contract {
        category,
        sub_category: row.code(F::SubCategory)?.map(|s| s.into_owned()),
        symbol,
        underlying: row.code(F::UnderlyingSymbol)?.map(|s| s.into_owned()),
        description: row.string(F::Description)?,
        currency,
        exchange: row.code(F::ListingExchange)?.map(|s| s.into_owned()),
        conid,
        isin: row.code(F::Isin)?.map(|s| s.into_owned()),
        cusip: row.code(F::Cusip)?.map(|s| s.into_owned()),
        multiplier: row.decimal(F::Multiplier)?,
        expiry: row.date(F::Expiry, ctx.order)?,
        strike: row.decimal(F::Strike)?,
        put_call: row.code(F::PutCall)?.map(|s| s.to_ascii_uppercase()),
    })
}

/// The attributes [`contract`] reads.
const CONTRACT_FIELDS: [F; 13] = [
    F::AssetCategory,
    F::SubCategory,
    F::Symbol,
    F::UnderlyingSymbol,
    F::Description,
    F::Currency,
    F::ListingExchange,
    F::Conid,
    F::Isin,
    F::Cusip,
    F::Expiry,
    F::Strike,
    F::PutCall,
];

/// More distinct instruments than this in one statement are built every time.
const MAX_CACHED_ASSETS: usize = 100_000;

/// Assets already built in this statement, by the raw text of the contract attributes: a
/// statement trades few instruments many times, and building an asset allocates a dozen
/// strings. Equal raw text means an equal asset and equal validation, so a hit skips both.
#[derive(Default)]
struct Assets {
    cache: HashMap<Vec<u8>, AssetRef>,
    key: Vec<u8>,
}

impl Assets {
    /// The asset of a row; see [`contract`] for `default_category`.
    fn get(
        &mut self,
        row: &Row<'_>,
        ctx: &Ctx<'_>,
        default_category: Option<&str>,
    ) -> Result<AssetRef, String> {
        self.key.clear();
        for (_, value) in row.raw_values(&CONTRACT_FIELDS) {
            self.key.extend_from_slice(value);
            self.key.push(0x1F);
        }
        self.key
            .extend_from_slice(default_category.unwrap_or_default().as_bytes());
        if let Some(asset) = self.cache.get(self.key.as_slice()) {
            return Ok(asset.clone());
        }
        let asset = ctx.map.asset(&contract(row, ctx, default_category)?);
        if self.cache.len() < MAX_CACHED_ASSETS {
            self.cache.insert(self.key.clone(), asset.clone());
        }
        Ok(asset)
    }
}

fn required_currency(row: &Row<'_>) -> Result<String, String> {
    Ok(row
        .code(F::Currency)?
        .ok_or("currency is missing")?
        .to_ascii_uppercase())
}

fn is_summary(row: &Row<'_>) -> Result<bool, String> {
    Ok(row
        .code(F::LevelOfDetail)?
        .is_some_and(|l| l.eq_ignore_ascii_case("SUMMARY")))
}

/// A `<Trade>` execution as a buy or sell; `None` for rows at another level of detail.
fn trade(
    row: &Row<'_>,
    ctx: &Ctx<'_>,
    ids: &mut HashIds,
    assets: &mut Assets,
) -> Result<Option<Transaction>, String> {
    if let Some(level) = row.code(F::LevelOfDetail)?
        && !level.eq_ignore_ascii_case("EXECUTION")
    {
        return Ok(None);
    }
    let quantity = row.decimal(F::Quantity)?.ok_or("quantity is missing")?;
    let (side, cancel) = match row.code(F::BuySell)? {
        Some(text) => {
            let cancel = text.contains("(Ca.)");
            let side = match text.split_whitespace().next().unwrap_or_default() {
                s if s.eq_ignore_ascii_case("BUY") => TransactionType::Buy,
                s if s.eq_ignore_ascii_case("SELL") => TransactionType::Sell,
                _ => return Err(format!("buySell={text:?} is neither BUY nor SELL")),
            };
            (side, cancel)
        }
        None if quantity > Decimal::ZERO => (TransactionType::Buy, false),
        None if quantity < Decimal::ZERO => (TransactionType::Sell, false),
        None => return Err("buySell is missing and quantity is zero".into()),
    };
    if quantity.is_zero() {
        return Err("quantity is zero".into());
    }
    let kind = match (side, cancel) {
        (TransactionType::Buy, true) => TransactionType::Sell,
        (TransactionType::Sell, true) => TransactionType::Buy,
        (side, false) => side,
        (other, true) => other,
    };
    let asset = assets.get(row, ctx, None)?;
    let currency = asset.currency.clone();
    let commission = row.decimal(F::IbCommission)?;
    let commission_currency = row
        .code(F::IbCommissionCurrency)?
        .map(|c| c.to_ascii_uppercase());
    let commission_in_trade_currency = commission_currency.as_deref().is_none_or(|c| c == currency);
    let amount = match row.decimal(F::NetCash)? {
        Some(net) => net,
        None => {
            let proceeds = row
                .decimal(F::Proceeds)?
                .ok_or("neither netCash nor proceeds is given")?;
            let commission = commission
                .filter(|_| commission_in_trade_currency)
                .unwrap_or_default();
            proceeds + commission + row.decimal(F::Taxes)?.unwrap_or_default()
        }
    };
    let trade_date = row
        .first_date(&[F::TradeDate, F::DateTime, F::ReportDate], ctx.order)?
        .ok_or("tradeDate is missing")?;
    let settle_date = row.date(F::SettleDateTarget, ctx.order)?;
    // IB's execution id is the one id the Flex, Client Portal and TWS APIs share, so a trade
    // is the same record whichever way it arrived (`exec:<id>`, as the live modes name it).
    let mut source_id = match (
        row.code(F::IbExecId)?,
        row.code(F::TradeId)?,
        row.code(F::TransactionId)?,
    ) {
        (Some(exec), _, _) => format!("exec:{exec}"),
        (None, Some(id), _) => format!("trade:{id}"),
        (None, None, Some(id)) => format!("trade:tx:{id}"),
        (None, None, None) => ids.id("trade", row.element, row.raw_values(&HASHED_TRADE_FIELDS)),
    };
    let mut description = match row.string(F::Description)? {
        Some(d) => d,
        None => asset.symbol.clone(),
    };
    if cancel {
        source_id.push_str(":cancel");
        description.insert_str(0, "Cancellation: ");
    }
    if let Some(m) = row.decimal(F::Multiplier)?
        && !m.is_zero()
        && m != Decimal::ONE
    {
        let _ = write!(description, " (multiplier {})", m.normalize());
    }
    let mut fee = None;
    if let Some(c) = commission.filter(|c| !c.is_zero()) {
        if commission_in_trade_currency {
            fee = Some(c.abs());
        } else {
            let _ = write!(
                description,
                " (commission {} {})",
                c.abs(),
                commission_currency.unwrap_or_default()
            );
        }
    }
    Ok(Some(Transaction {
        source_id,
        kind,
        trade_date,
        settle_date,
        asset: Some(asset),
        quantity: Some(quantity.abs()),
        price: row.decimal(F::TradePrice)?,
        amount,
        fee,
        currency,
        description: Some(description),
    }))
}

/// Every attribute the parser reads from a trade, for the content hash of a trade without ids.
const HASHED_TRADE_FIELDS: [F; 16] = [
    F::AccountId,
    F::AssetCategory,
    F::Symbol,
    F::Conid,
    F::Currency,
    F::Expiry,
    F::Strike,
    F::PutCall,
    F::TradeDate,
    F::DateTime,
    F::BuySell,
    F::Quantity,
    F::TradePrice,
    F::Proceeds,
    F::NetCash,
    F::IbCommission,
];

/// The transaction type of a `CashTransaction` `type`, `None` for types this parser does not
/// know.
fn cash_kind(kind: &str, amount: Decimal) -> Option<TransactionType> {
    let by_sign = if amount < Decimal::ZERO {
        TransactionType::Withdrawal
    } else {
        TransactionType::Deposit
    };
    let lower = kind.to_ascii_lowercase();
    Some(match lower.as_str() {
        "dividends" | "payment in lieu of dividends" => TransactionType::Dividend,
        "withholding tax" => TransactionType::Tax,
        "broker interest received"
        | "broker interest paid"
        | "bond interest received"
        | "bond interest paid" => TransactionType::Interest,
        "other fees" | "commission adjustments" => TransactionType::Fee,
        "deposits/withdrawals" | "deposits & withdrawals" => by_sign,
        s if s.contains("dividend") => TransactionType::Dividend,
        s if s.contains("withholding") || s.contains("tax") => TransactionType::Tax,
        s if s.contains("interest") => TransactionType::Interest,
        s if s.contains("fee") || s.contains("commission") => TransactionType::Fee,
        s if s.contains("deposit") || s.contains("withdraw") => by_sign,
        _ => return None,
    })
}

/// A `<CashTransaction>`; the flag says it is a `SUMMARY` row.
fn cash_transaction(
    row: &Row<'_>,
    ctx: &Ctx<'_>,
    ids: &mut HashIds,
    assets: &mut Assets,
    statement_day: Option<NaiveDate>,
) -> Result<(Transaction, bool), String> {
    let summary = is_summary(row)?;
    let kind_text = row.text(F::Type)?.ok_or("type is missing")?;
    let amount = row.decimal(F::Amount)?.ok_or("amount is missing")?;
    let kind = cash_kind(&kind_text, amount).ok_or_else(|| {
        format!("type={kind_text:?} is not a cash transaction type this parser knows")
    })?;
    let currency = required_currency(row)?;
    let trade_date = row
        .first_date(
            &[F::DateTime, F::Date, F::ReportDate, F::SettleDate],
            ctx.order,
        )?
        // Summary rows are totals over the period and may carry no date.
        .or(statement_day.filter(|_| summary))
        .ok_or("dateTime is missing")?;
    let has_instrument = row.code(F::Symbol)?.is_some() || row.code(F::Conid)?.is_some();
    let asset = if has_instrument {
        Some(assets.get(row, ctx, Some("STK"))?)
    } else {
        None
    };
    let source_id = match row.code(F::TransactionId)? {
        Some(id) => format!("cash:{id}"),
        None => ids.id(
            "cash",
            row.element,
            row.raw_values(&[
                F::Type,
                F::DateTime,
                F::Date,
                F::ReportDate,
                F::Amount,
                F::Currency,
                F::Symbol,
                F::Description,
            ]),
        ),
    };
    let description = row.string(F::Description)?.or(Some(kind_text.into_owned()));
    Ok((
        Transaction {
            source_id,
            kind,
            trade_date,
            settle_date: row.date(F::SettleDate, ctx.order)?,
            asset,
            quantity: None,
            price: None,
            amount,
            fee: None,
            currency,
            description,
        },
        summary,
    ))
}

/// A `<CorporateAction>` leg; the flag says it is a `SUMMARY` row.
fn corporate_action(
    row: &Row<'_>,
    ctx: &Ctx<'_>,
    ids: &mut HashIds,
    assets: &mut Assets,
) -> Result<(Transaction, bool), String> {
    let summary = is_summary(row)?;
    let code = row.code(F::Type)?.map(|t| t.to_ascii_uppercase());
    let is_split = match code.as_deref() {
        Some(code) => matches!(code, "FS" | "RS"),
        // Statements from before IB added `type` say it in the description.
        None => row
            .text(F::Description)?
            .is_some_and(|d| d.to_ascii_uppercase().contains("SPLIT")),
    };
    let quantity = row.decimal(F::Quantity)?;
    let asset = assets.get(row, ctx, None)?;
    let currency = asset.currency.clone();
    let (kind, price) = if is_split {
        if quantity.is_none_or(|q| q.is_zero()) {
            return Err("a split without a quantity".into());
        }
        (TransactionType::Split, None)
    } else {
        let value = row.decimal(F::Value)?;
        let price = match (value, quantity) {
            (Some(v), Some(q)) if !v.is_zero() && !q.is_zero() => {
                Some((v / q).abs()).filter(|p| !p.is_zero())
            }
            _ => None,
        };
        (TransactionType::Merger, price)
    };
    let trade_date = row
        .first_date(&[F::DateTime, F::ReportDate, F::Date], ctx.order)?
        .ok_or("dateTime is missing")?;
    let source_id = match row.code(F::TransactionId)? {
        Some(id) => format!("ca:{id}"),
        None => ids.id(
            "ca",
            row.element,
            row.raw_values(&[
                F::Type,
                F::DateTime,
                F::ReportDate,
                F::Symbol,
                F::Conid,
                F::Quantity,
                F::Proceeds,
                F::Value,
                F::Description,
            ]),
        ),
    };
    let description = match row.string(F::ActionDescription)? {
        Some(d) => Some(d),
        None => row.string(F::Description)?,
    };
    Ok((
        Transaction {
            source_id,
            kind,
            trade_date,
            settle_date: None,
            asset: Some(asset),
            quantity,
            price,
            amount: row.decimal(F::Proceeds)?.unwrap_or_default(),
            fee: None,
            currency,
            description,
        },
        summary,
    ))
}

/// A `<Transfer>` of a position or of cash; the flag says it is a `SUMMARY` row.
fn transfer(
    row: &Row<'_>,
    ctx: &Ctx<'_>,
    ids: &mut HashIds,
    assets: &mut Assets,
) -> Result<(Transaction, bool), String> {
    let summary = is_summary(row)?;
    let outgoing = row
        .code(F::Direction)?
        .is_some_and(|d| d.eq_ignore_ascii_case("OUT"));
    let signed = |q: Decimal| if outgoing && q > Decimal::ZERO { -q } else { q };
    let category = row.code(F::AssetCategory)?.map(|c| c.to_ascii_uppercase());
    let is_cash = category.as_deref() == Some("CASH") || row.code(F::Symbol)?.is_none();
    let quantity = row.decimal(F::Quantity)?;
    let cash_transfer = row.decimal(F::CashTransfer)?;
    let trade_date = row
        .first_date(&[F::Date, F::DateTime, F::ReportDate], ctx.order)?
        .ok_or("date is missing")?;
    let source_id = match row.code(F::TransactionId)? {
        Some(id) => format!("transfer:{id}"),
        None => ids.id(
            "transfer",
            row.element,
            row.raw_values(&[
                F::Type,
                F::Direction,
                F::Date,
                F::DateTime,
                F::Symbol,
                F::Conid,
                F::Quantity,
                F::CashTransfer,
                F::Account,
            ]),
        ),
    };
    let mut description = row.string(F::Description)?.unwrap_or_default();
    let details = [F::Type, F::Direction, F::Account, F::DeliveringBroker]
        .iter()
        .map(|&f| row.code(f))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !details.is_empty() {
        if description.is_empty() {
            description = details;
        } else {
            let _ = write!(description, " ({details})");
        }
    }
    let description = (!description.is_empty()).then_some(description);
    let tx = if is_cash {
        let amount = cash_transfer
            .filter(|c| !c.is_zero())
            .or(quantity)
            .map(signed)
            .ok_or("a cash transfer without cashTransfer or quantity")?;
        Transaction {
            source_id,
            kind: if amount < Decimal::ZERO {
                TransactionType::Withdrawal
            } else {
                TransactionType::Deposit
            },
            trade_date,
            settle_date: None,
            asset: None,
            quantity: None,
            price: None,
            amount,
            fee: None,
            currency: required_currency(row)?,
            description,
        }
    } else {
        let quantity = signed(
            quantity
                .filter(|q| !q.is_zero())
                .ok_or("a position transfer without a quantity")?,
        );
        let asset = assets.get(row, ctx, None)?;
        let price = match row.decimal(F::TransferPrice)?.filter(|p| !p.is_zero()) {
            Some(p) => Some(p.abs()),
            None => row
                .decimal(F::PositionAmount)?
                .filter(|a| !a.is_zero())
                .map(|a| (a / quantity).abs()),
        };
        Transaction {
            source_id,
            kind: TransactionType::Transfer,
            trade_date,
            settle_date: None,
            quantity: Some(quantity),
            price,
            amount: cash_transfer.unwrap_or_default(),
            fee: None,
            currency: asset.currency.clone(),
            asset: Some(asset),
            description,
        }
    };
    Ok((tx, summary))
}

/// A position row and what the balance fallback needs from it.
struct Position {
    holding: Holding,
    /// A `SUMMARY` row (or a row without `levelOfDetail`), as opposed to a `LOT`.
    summary: bool,
    fx_rate_to_base: Option<Decimal>,
}

/// A net asset value row.
struct Nav {
    amount: Decimal,
    date: Option<NaiveDate>,
    currency: Option<String>,
}

/// One `<FlexStatement>` as it is read.
pub(super) struct StatementBuilder {
    line: u64,
    account_id: Option<String>,
    from_date: Option<NaiveDate>,
    to_date: Option<NaiveDate>,
    generated: Option<NaiveDate>,
    kind: Option<String>,
    base_currency: Option<String>,
    name: Option<String>,
    opened: Option<NaiveDate>,
    transactions: Vec<Transaction>,
    lines: Vec<u64>,
    /// Transactions of the current section, detail and summary rows apart until the section
    /// ends.
    detail: Vec<(Transaction, u64)>,
    summary: Vec<(Transaction, u64)>,
    positions: Vec<Position>,
    cash: Vec<Holding>,
    base_summary_cash: Option<Decimal>,
    equity: Option<Nav>,
    nav: Option<Nav>,
    rejected: Vec<FlexRecordError>,
    /// Errors of the current section's summary rows, until the section ends.
    summary_rejected: Vec<FlexRecordError>,
    ids: HashIds,
    assets: Assets,
}

impl StatementBuilder {
    /// Starts a statement from its `<FlexStatement>` attributes.
    pub(super) fn new(
        line: u64,
        account_id: Option<String>,
        from_date: Option<NaiveDate>,
        to_date: Option<NaiveDate>,
        generated: Option<NaiveDate>,
    ) -> Self {
        Self {
            line,
            account_id,
            from_date,
            to_date,
            generated,
            kind: None,
            base_currency: None,
            name: None,
            opened: None,
            transactions: Vec::new(),
            lines: Vec::new(),
            detail: Vec::new(),
            summary: Vec::new(),
            positions: Vec::new(),
            cash: Vec::new(),
            base_summary_cash: None,
            equity: None,
            nav: None,
            rejected: Vec::new(),
            summary_rejected: Vec::new(),
            ids: HashIds::default(),
            assets: Assets::default(),
        }
    }

    /// Records a row that could not be read.
    pub(super) fn reject(&mut self, line: u64, element: &str, message: &str) {
        self.rejected.push(FlexRecordError {
            line,
            message: format!("{element}: {message}"),
        });
    }

    /// Reads one data row; a row that cannot be read becomes a rejected record (for a
    /// `SUMMARY` row, only when its section turns out to have no detail rows).
    pub(super) fn row(&mut self, kind: RowKind, row: &Row<'_>, ctx: &Ctx<'_>) {
        let statement_day = self.statement_day();
        let result = match kind {
            RowKind::Statement => Ok(()),
            RowKind::AccountInformation => {
                self.account_information(row, ctx);
                Ok(())
            }
            RowKind::ChangeInNav => self.change_in_nav(row, ctx),
            RowKind::Trade => trade(row, ctx, &mut self.ids, &mut self.assets).map(|tx| {
                if let Some(tx) = tx {
                    self.detail.push((tx, row.line));
                }
            }),
            RowKind::CashTransaction => {
                cash_transaction(row, ctx, &mut self.ids, &mut self.assets, statement_day)
                    .map(|tx| self.push(tx, row.line))
            }
            RowKind::CorporateAction => corporate_action(row, ctx, &mut self.ids, &mut self.assets)
                .map(|tx| self.push(tx, row.line)),
            RowKind::Transfer => transfer(row, ctx, &mut self.ids, &mut self.assets)
                .map(|tx| self.push(tx, row.line)),
            RowKind::OpenPosition => self.open_position(row, ctx),
            RowKind::CashReportCurrency => self.cash_report(row, ctx),
            RowKind::EquitySummary => self.equity_summary(row, ctx),
        };
        if let Err(message) = result {
            let summary_row = matches!(
                kind,
                RowKind::CashTransaction | RowKind::CorporateAction | RowKind::Transfer
            ) && is_summary(row).unwrap_or(false);
            let error = FlexRecordError {
                line: row.line,
                message: format!("{}: {message}", row.element),
            };
            if summary_row {
                self.summary_rejected.push(error);
            } else {
                self.rejected.push(error);
            }
        }
    }

    fn push(&mut self, (tx, summary): (Transaction, bool), line: u64) {
        if summary {
            self.summary.push((tx, line));
        } else {
            self.detail.push((tx, line));
        }
    }

    /// Ends a section: its summary rows (and their errors) count only when it has no detail
    /// rows.
    pub(super) fn end_section(&mut self) {
        let rows = if self.detail.is_empty() {
            self.rejected.append(&mut self.summary_rejected);
            std::mem::take(&mut self.summary)
        } else {
            self.summary.clear();
            self.summary_rejected.clear();
            std::mem::take(&mut self.detail)
        };
        self.transactions.reserve(rows.len());
        self.lines.reserve(rows.len());
        for (tx, line) in rows {
            self.transactions.push(tx);
            self.lines.push(line);
        }
    }

    /// When a snapshot without its own date is as of.
    fn statement_day(&self) -> Option<NaiveDate> {
        self.to_date.or(self.generated)
    }

    fn account_information(&mut self, row: &Row<'_>, ctx: &Ctx<'_>) {
        let mut problems = Vec::new();
        let mut keep = |r: Result<Option<String>, String>| {
            r.unwrap_or_else(|e| {
                problems.push(e);
                None
            })
        };
        let account_id = keep(row.string(F::AccountId));
        let kind = keep(row.string(F::AccountType));
        let currency = keep(
            row.code(F::Currency)
                .map(|c| c.map(|c| c.to_ascii_uppercase())),
        );
        let alias = keep(row.string(F::AcctAlias));
        let name = keep(row.string(F::Name));
        let opened = row.date(F::DateOpened, ctx.order).unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        if self.account_id.is_none() {
            self.account_id = account_id;
        }
        self.kind = kind.or(self.kind.take());
        self.base_currency = currency.or(self.base_currency.take());
        self.name = alias.or(name).or(self.name.take());
        self.opened = opened.or(self.opened);
        for problem in problems {
            self.reject(row.line, row.element, &problem);
        }
    }

    fn change_in_nav(&mut self, row: &Row<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
        if let Some(amount) = row.decimal(F::EndingValue)? {
            self.nav = Some(Nav {
                amount,
                date: row.date(F::ToDate, ctx.order)?,
                currency: row.code(F::Currency)?.map(|c| c.to_ascii_uppercase()),
            });
        }
        Ok(())
    }

    fn equity_summary(&mut self, row: &Row<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
        let amount = row.decimal(F::Total)?.ok_or("total is missing")?;
        let date = row.date(F::ReportDate, ctx.order)?;
        if self.equity.as_ref().is_none_or(|e| date >= e.date) {
            self.equity = Some(Nav {
                amount,
                date,
                currency: row.code(F::Currency)?.map(|c| c.to_ascii_uppercase()),
            });
        }
        Ok(())
    }

    fn open_position(&mut self, row: &Row<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
        if row
            .code(F::AssetCategory)?
            .is_some_and(|c| c.eq_ignore_ascii_case("CASH"))
        {
            return Ok(());
        }
        let asset = self.assets.get(row, ctx, None)?;
        let summary = !row
            .code(F::LevelOfDetail)?
            .is_some_and(|l| l.eq_ignore_ascii_case("LOT"));
        let mut quantity = row.decimal(F::Position)?.ok_or("position is missing")?;
        if quantity > Decimal::ZERO
            && row
                .code(F::Side)?
                .is_some_and(|s| s.eq_ignore_ascii_case("Short"))
        {
            quantity = -quantity;
        }
        let day = row
            .date(F::ReportDate, ctx.order)?
            .or(self.statement_day())
            .ok_or("reportDate is missing and the statement has no toDate")?;
        let holding = Holding {
            asset,
            quantity,
            cost_basis: row.decimal(F::CostBasisMoney)?,
            price: row.decimal(F::MarkPrice)?,
            market_value: row.decimal(F::PositionValue)?,
            as_of: end_of_day(day),
        };
        self.positions.push(Position {
            holding,
            summary,
            fx_rate_to_base: row.decimal(F::FxRateToBase)?,
        });
        Ok(())
    }

    fn cash_report(&mut self, row: &Row<'_>, ctx: &Ctx<'_>) -> Result<(), String> {
        let currency = required_currency(row)?;
        let ending = row.decimal(F::EndingCash)?;
        if currency == "BASE_SUMMARY" {
            self.base_summary_cash = ending;
            return Ok(());
        }
        let ending = ending.ok_or("endingCash is missing")?;
        if ending.is_zero() {
            return Ok(());
        }
        let day = row
            .date(F::ToDate, ctx.order)?
            .or(self.statement_day())
            .ok_or("toDate is missing, in the row and the statement")?;
        let holding = Holding {
            asset: CategoryMap::cash(&currency),
            quantity: ending,
            cost_basis: Some(ending),
            price: Some(Decimal::ONE),
            market_value: Some(ending),
            as_of: end_of_day(day),
        };
        match self
            .cash
            .iter_mut()
            .find(|h| h.asset.asset_id == holding.asset.asset_id)
        {
            Some(existing) => *existing = holding,
            None => self.cash.push(holding),
        }
        Ok(())
    }

    /// The positions to report: summary rows when there are any, else the lots summed per
    /// asset.
    fn holdings(positions: Vec<Position>) -> Vec<(Holding, Option<Decimal>)> {
        if positions.iter().any(|p| p.summary) {
            return positions
                .into_iter()
                .filter(|p| p.summary)
                .map(|p| (p.holding, p.fx_rate_to_base))
                .collect();
        }
        let mut out: Vec<(Holding, Option<Decimal>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for p in positions {
            let Some(&i) = index.get(&p.holding.asset.asset_id) else {
                index.insert(p.holding.asset.asset_id.clone(), out.len());
                out.push((p.holding, p.fx_rate_to_base));
                continue;
            };
            let Some((sum, _)) = out.get_mut(i) else {
                continue;
            };
            let add = |a: Option<Decimal>, b: Option<Decimal>| Some(a? + b?);
            sum.quantity += p.holding.quantity;
            sum.cost_basis = add(sum.cost_basis, p.holding.cost_basis);
            sum.market_value = add(sum.market_value, p.holding.market_value);
            sum.price = p.holding.price.or(sum.price);
            sum.as_of = sum.as_of.max(p.holding.as_of);
        }
        out
    }

    /// Ends the statement.
    ///
    /// # Errors
    /// `Invalid` when neither `<FlexStatement>` nor `<AccountInformation>` names the account.
    pub(super) fn finish(mut self) -> Result<FlexAccount, FlexParseError> {
        self.end_section();
        let Some(id) = self.account_id.clone() else {
            return Err(FlexParseError::Invalid {
                line: self.line,
                message: "the FlexStatement has no accountId".into(),
            });
        };
        let base = self
            .base_currency
            .clone()
            .or_else(|| self.equity.as_ref().and_then(|e| e.currency.clone()))
            .or_else(|| self.nav.as_ref().and_then(|n| n.currency.clone()));
        let positions = Self::holdings(std::mem::take(&mut self.positions));
        let balance = base
            .as_ref()
            .and_then(|base| self.balance(base, &positions));
        let mut holdings: Vec<Holding> = positions.into_iter().map(|(h, _)| h).collect();
        holdings.append(&mut self.cash);
        Ok(FlexAccount {
            info: IbAccount {
                id,
                kind: self.kind,
                base_currency: base,
                name: self.name,
                opened: self.opened,
            },
            from_date: self.from_date,
            to_date: self.to_date,
            data: AccountData {
                holdings,
                transactions: self.transactions,
                balance,
            },
            lines: self.lines,
            rejected: self.rejected,
        })
    }

    /// Net liquidation value in `base`, in the order documented on the module.
    fn balance(&self, base: &str, positions: &[(Holding, Option<Decimal>)]) -> Option<Balance> {
        let at = |date: Option<NaiveDate>| date.or(self.statement_day()).map(end_of_day);
        if let Some(nav) = self.equity.as_ref().or(self.nav.as_ref()) {
            return Some(Balance {
                amount: nav.amount,
                currency: base.to_owned(),
                as_of: at(nav.date)?,
            });
        }
        let mut amount = self.base_summary_cash?;
        for (holding, rate) in positions {
            let rate = match rate {
                Some(rate) => *rate,
                None if holding.asset.currency == base => Decimal::ONE,
                None => return None,
            };
            amount += holding.market_value? * rate;
        }
        Some(Balance {
            amount,
            currency: base.to_owned(),
            as_of: at(None)?,
        })
    }
}

/// Folds a second statement of the same account into the first (see the module docs).
pub(super) fn merge(into: &mut FlexAccount, next: FlexAccount) {
    let info = &mut into.info;
    info.kind = info.kind.take().or(next.info.kind);
    info.base_currency = info.base_currency.take().or(next.info.base_currency);
    info.name = info.name.take().or(next.info.name);
    info.opened = info.opened.or(next.info.opened);
    let later = next.to_date >= into.to_date;
    into.from_date = match (into.from_date, next.from_date) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.to_date = into.to_date.max(next.to_date);
    let known: HashSet<String> = into
        .data
        .transactions
        .iter()
        .map(|t| t.source_id.clone())
        .collect();
    for (tx, line) in next.data.transactions.into_iter().zip(next.lines) {
        if !known.contains(&tx.source_id) {
            into.data.transactions.push(tx);
            into.lines.push(line);
        }
    }
    if later {
        if !next.data.holdings.is_empty() {
            into.data.holdings = next.data.holdings;
        }
        if next.data.balance.is_some() {
            into.data.balance = next.data.balance;
        }
    }
    into.rejected.extend(next.rejected);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cash_types_map_to_kinds_and_deposits_follow_the_sign() {
        let plus = Decimal::ONE;
        let minus = -Decimal::ONE;
        for (text, amount, kind) in [
            ("Dividends", plus, TransactionType::Dividend),
            (
                "Payment In Lieu Of Dividends",
                plus,
                TransactionType::Dividend,
            ),
            ("Withholding Tax", minus, TransactionType::Tax),
            ("871(m) Withholding", minus, TransactionType::Tax),
            ("Broker Interest Received", plus, TransactionType::Interest),
            ("Broker Interest Paid", minus, TransactionType::Interest),
            ("Bond Interest Paid", minus, TransactionType::Interest),
            ("Other Fees", minus, TransactionType::Fee),
            ("Commission Adjustments", plus, TransactionType::Fee),
            ("Deposits/Withdrawals", plus, TransactionType::Deposit),
            ("Deposits & Withdrawals", minus, TransactionType::Withdrawal),
            (
                "DEPOSITS/WITHDRAWALS",
                Decimal::ZERO,
                TransactionType::Deposit,
            ),
        ] {
            assert_eq!(cash_kind(text, amount), Some(kind), "{text}");
        }
        assert_eq!(cash_kind("Price Adjustments", plus), None);
    }
}
