//! From the parsed OFX tree to normalized statements. The mapping rules are documented on the
//! parent module.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::OfxStatement;
use super::date::{self, OfxDateTime};
use super::sgml::Element;
use crate::files::number::parse_ofx_decimal;
use crate::files::{FileError, ParsedRecord, RowError};
use crate::normalize::asset_id;
use crate::types::{AssetClass, AssetRef, Balance, Holding, Transaction, TransactionType};

/// A `SECINFO` from the security list.
#[derive(Debug, Clone)]
struct SecInfo {
    id_type: String,
    id: String,
    ticker: Option<String>,
    name: Option<String>,
    class: AssetClass,
    currency: Option<String>,
}

impl SecInfo {
    fn asset(&self, fallback_currency: &str) -> AssetRef {
        let ticker = self.ticker.as_ref().map(|t| t.trim().to_uppercase());
        let asset_id = match (&ticker, self.class) {
            (Some(t), AssetClass::Option) => format!("OPTION:{}", t.replace(' ', "")),
            (Some(t), class) if class != AssetClass::Bond => asset_id::equity(None, t),
            _ => format!("{}:{}", self.id_type, self.id.to_uppercase()),
        };
        let symbol = ticker.unwrap_or_else(|| self.id.clone());
        AssetRef {
            asset_id,
            name: self.name.clone().unwrap_or_else(|| symbol.clone()),
            symbol,
            class: self.class,
            currency: self
                .currency
                .clone()
                .unwrap_or_else(|| fallback_currency.to_owned()),
            exchange: None,
        }
    }
}

type SecKey = (String, String);

fn class_of_info(name: &str) -> Option<AssetClass> {
    Some(match name {
        "STOCKINFO" => AssetClass::Equity,
        "MFINFO" => AssetClass::Fund,
        "OPTINFO" => AssetClass::Option,
        "DEBTINFO" => AssetClass::Bond,
        "OTHERINFO" => AssetClass::Other,
        _ => return None,
    })
}

/// The asset class a record or position type implies, for securities missing from `SECLIST`.
fn class_hint(name: &str) -> AssetClass {
    if name.ends_with("MF") {
        AssetClass::Fund
    } else if name.ends_with("OPT") {
        AssetClass::Option
    } else if name.ends_with("DEBT") {
        AssetClass::Bond
    } else if name.ends_with("OTHER") {
        AssetClass::Other
    } else {
        AssetClass::Equity
    }
}

fn sec_key(secid: &Element) -> Option<SecKey> {
    let id = secid.value("UNIQUEID")?.trim().to_owned();
    let id_type = secid
        .value("UNIQUEIDTYPE")
        .map_or_else(|| "ID".to_owned(), |t| t.trim().to_ascii_uppercase());
    Some((id_type, id))
}

fn currency_code(el: &Element) -> Option<String> {
    let code = el.value("CURSYM")?.trim().to_ascii_uppercase();
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic())).then_some(code)
}

fn security_list(ofx: &Element) -> (HashMap<SecKey, SecInfo>, Vec<SecInfo>) {
    let mut by_key = HashMap::new();
    let mut ordered = Vec::new();
    for list in ofx.find_all("SECLIST") {
        for info in &list.children {
            let (Some(class), Some(secinfo)) = (class_of_info(&info.name), info.child("SECINFO"))
            else {
                continue;
            };
            let Some((id_type, id)) = secinfo.child("SECID").and_then(sec_key) else {
                continue;
            };
            let sec = SecInfo {
                id_type: id_type.clone(),
                id: id.clone(),
                ticker: secinfo.value("TICKER").map(str::to_owned),
                name: secinfo.value("SECNAME").map(str::to_owned),
                class,
                currency: secinfo.child("CURRENCY").and_then(currency_code),
            };
            if by_key.insert((id_type, id), sec.clone()).is_none() {
                ordered.push(sec);
            }
        }
    }
    (by_key, ordered)
}

/// All statements and the file's securities.
pub(super) fn build(ofx: &Element) -> Result<(Vec<OfxStatement>, Vec<AssetRef>), FileError> {
    let (secs, ordered) = security_list(ofx);
    let mut statements = Vec::new();
    let mut stack: Vec<&Element> = ofx.children.iter().rev().collect();
    while let Some(el) = stack.pop() {
        match el.name.as_str() {
            "STMTRS" => statements.push(bank_statement(el, false, &secs)?),
            "CCSTMTRS" => statements.push(bank_statement(el, true, &secs)?),
            "INVSTMTRS" => statements.push(investment_statement(el, &secs)?),
            _ => stack.extend(el.children.iter().rev()),
        }
    }
    if statements.is_empty() {
        let failed = ofx
            .find_all("STATUS")
            .into_iter()
            .find(|s| s.value("CODE").is_some_and(|c| c.trim() != "0"));
        return Err(match failed {
            Some(status) => FileError::at(
                status.line,
                format!(
                    "the institution reported error {}{}",
                    status.value("CODE").unwrap_or_default(),
                    status
                        .value("MESSAGE")
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            )
            .with_field("STATUS"),
            None => FileError::at(
                ofx.line,
                "the file holds no statement (STMTRS, CCSTMTRS or INVSTMTRS)",
            ),
        });
    }
    let fallback = statements
        .first()
        .map_or_else(|| "USD".to_owned(), |s| s.currency.clone());
    let securities = ordered.iter().map(|s| s.asset(&fallback)).collect();
    Ok((statements, securities))
}

// ---- field helpers -------------------------------------------------------------------------

fn missing(el: &Element, name: &str) -> RowError {
    RowError::new(
        el.line,
        Some(name),
        format!("<{}> has no <{name}>", el.name),
    )
}

fn child_line(el: &Element, name: &str) -> u64 {
    el.child(name).map_or(el.line, |c| c.line)
}

fn decimal(el: &Element, name: &str) -> Result<Option<Decimal>, RowError> {
    el.value(name)
        .map(|text| {
            parse_ofx_decimal(text).map_err(|m| RowError::new(child_line(el, name), Some(name), m))
        })
        .transpose()
}

fn required_decimal(el: &Element, name: &str) -> Result<Decimal, RowError> {
    decimal(el, name)?.ok_or_else(|| missing(el, name))
}

fn datetime(el: &Element, name: &str) -> Result<Option<OfxDateTime>, RowError> {
    el.value(name)
        .map(|text| {
            date::parse(text).map_err(|m| RowError::new(child_line(el, name), Some(name), m))
        })
        .transpose()
}

fn required_datetime(el: &Element, name: &str) -> Result<OfxDateTime, RowError> {
    datetime(el, name)?.ok_or_else(|| missing(el, name))
}

fn overflow(el: &Element) -> RowError {
    RowError::new(
        el.line,
        None,
        format!("the amounts of <{}> overflow", el.name),
    )
}

/// The sum of the cost fields of an `INVBUY`/`INVSELL`/`REINVEST`.
fn fees(el: &Element) -> Result<Option<Decimal>, RowError> {
    let mut total = Decimal::ZERO;
    for name in ["COMMISSION", "FEES", "LOAD", "TAXES"] {
        if let Some(v) = decimal(el, name)? {
            total = total.checked_add(v.abs()).ok_or_else(|| overflow(el))?;
        }
    }
    Ok((!total.is_zero()).then_some(total))
}

fn derived_id(fitid: &str, suffix: &str) -> String {
    if fitid.is_empty() {
        String::new()
    } else {
        format!("{fitid}:{suffix}")
    }
}

/// The statement currency: `CURDEF`, else the first `CURSYM` in the statement.
fn statement_currency(stmt: &Element) -> Result<String, FileError> {
    if let Some(code) = stmt.value("CURDEF") {
        let code = code.trim().to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(code);
        }
        return Err(FileError::at(
            child_line(stmt, "CURDEF"),
            format!("{code:?} is not a currency code"),
        )
        .with_field("CURDEF"));
    }
    stmt.find_all("CURRENCY")
        .into_iter()
        .find_map(currency_code)
        .ok_or_else(|| {
            FileError::at(stmt.line, format!("<{}> has no <CURDEF>", stmt.name))
                .with_field("CURDEF")
        })
}

// ---- statements ----------------------------------------------------------------------------

struct Builder<'a> {
    currency: String,
    secs: &'a HashMap<SecKey, SecInfo>,
    securities: Vec<AssetRef>,
    records: Vec<ParsedRecord>,
    errors: Vec<RowError>,
    warnings: Vec<RowError>,
}

impl<'a> Builder<'a> {
    fn new(currency: String, secs: &'a HashMap<SecKey, SecInfo>) -> Self {
        Self {
            currency,
            secs,
            securities: Vec::new(),
            records: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn currency_of(&self, el: &Element) -> String {
        // <CURRENCY>: amounts are in that currency; <ORIGCURRENCY>: already converted to CURDEF.
        el.child("CURRENCY")
            .and_then(currency_code)
            .unwrap_or_else(|| self.currency.clone())
    }

    fn security(&mut self, parent: &Element, hint: AssetClass) -> Result<AssetRef, RowError> {
        let secid = parent
            .child("SECID")
            .ok_or_else(|| missing(parent, "SECID"))?;
        let (id_type, id) = sec_key(secid).ok_or_else(|| missing(secid, "UNIQUEID"))?;
        let asset = match self.secs.get(&(id_type.clone(), id.clone())) {
            Some(info) => info.asset(&self.currency),
            None => SecInfo {
                id_type,
                id,
                ticker: None,
                name: None,
                class: hint,
                currency: None,
            }
            .asset(&self.currency),
        };
        if !self.securities.iter().any(|a| a.asset_id == asset.asset_id) {
            self.securities.push(asset.clone());
        }
        Ok(asset)
    }

    fn push(&mut self, line: u64, result: Result<Vec<Transaction>, RowError>) {
        match result {
            Ok(transactions) => self.records.extend(
                transactions
                    .into_iter()
                    .map(|transaction| ParsedRecord { line, transaction }),
            ),
            Err(e) => self.errors.push(e),
        }
    }

    fn warn(&mut self, el: &Element, message: String) {
        self.warnings
            .push(RowError::new(el.line, Some(el.name.as_str()), message));
    }

    fn optional_date(&mut self, el: &Element, name: &str) -> Option<OfxDateTime> {
        match datetime(el, name) {
            Ok(d) => d,
            Err(e) => {
                self.warnings.push(e);
                None
            }
        }
    }

    /// `LEDGERBAL`/`AVAILBAL`: `None` when the amount is absent.
    fn balance(
        &mut self,
        stmt: &Element,
        name: &str,
        fallback: Option<DateTime<Utc>>,
    ) -> Option<Balance> {
        let el = stmt.child(name)?;
        let amount = match decimal(el, "BALAMT") {
            Ok(Some(amount)) => amount,
            Ok(None) => return None,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        let Some(as_of) = self.optional_date(el, "DTASOF").map(|d| d.utc).or(fallback) else {
            self.warn(
                el,
                format!("<{name}> has no <DTASOF>; the balance is not imported"),
            );
            return None;
        };
        Some(Balance {
            amount,
            currency: self.currency_of(el),
            as_of,
        })
    }
}

fn map_trntype(trntype: &str, amount: Decimal) -> TransactionType {
    let negative = amount < Decimal::ZERO;
    match trntype {
        "INT" if negative => TransactionType::Fee,
        "INT" => TransactionType::Interest,
        "DIV" => TransactionType::Dividend,
        "FEE" | "SRVCHG" if negative => TransactionType::Fee,
        "XFER" => TransactionType::Transfer,
        _ if negative => TransactionType::Withdrawal,
        _ => TransactionType::Deposit,
    }
}

fn bank_description(trn: &Element) -> Option<String> {
    let name = trn
        .value("NAME")
        .or_else(|| trn.child("PAYEE").and_then(|p| p.value("NAME")));
    let memo = trn.value("MEMO").filter(|m| Some(*m) != name);
    let check = trn
        .value("CHECKNUM")
        .map(|n| format!("check {n}"))
        .filter(|c| !name.is_some_and(|n| n.contains(c.as_str())));
    let parts: Vec<&str> = [name, memo, check.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" / "))
}

fn bank_transaction(b: &Builder<'_>, trn: &Element) -> Result<Vec<Transaction>, RowError> {
    let amount = required_decimal(trn, "TRNAMT")?;
    let posted = required_datetime(trn, "DTPOSTED")?;
    let trntype = trn
        .value("TRNTYPE")
        .map_or_else(|| "OTHER".to_owned(), |t| t.trim().to_ascii_uppercase());
    Ok(vec![Transaction {
        source_id: trn.value("FITID").unwrap_or_default().trim().to_owned(),
        kind: map_trntype(&trntype, amount),
        trade_date: posted.date,
        settle_date: None,
        asset: None,
        quantity: None,
        price: None,
        amount,
        fee: None,
        currency: b.currency_of(trn),
        description: bank_description(trn),
    }])
}

fn bank_statement(
    stmt: &Element,
    credit_card: bool,
    secs: &HashMap<SecKey, SecInfo>,
) -> Result<OfxStatement, FileError> {
    let account_tag = if credit_card {
        "CCACCTFROM"
    } else {
        "BANKACCTFROM"
    };
    let account = stmt.child(account_tag).ok_or_else(|| {
        FileError::at(stmt.line, format!("<{}> has no <{account_tag}>", stmt.name))
            .with_field(account_tag)
    })?;
    let account_id = account
        .value("ACCTID")
        .ok_or_else(|| FileError::from(missing(account, "ACCTID")))?
        .trim()
        .to_owned();
    let account_type = if credit_card {
        "CREDITCARD".to_owned()
    } else {
        account
            .value("ACCTTYPE")
            .map_or_else(|| "UNKNOWN".to_owned(), |t| t.trim().to_ascii_uppercase())
    };
    let mut b = Builder::new(statement_currency(stmt)?, secs);
    let list = stmt.child("BANKTRANLIST");
    let start = list.and_then(|l| b.optional_date(l, "DTSTART"));
    let end = list.and_then(|l| b.optional_date(l, "DTEND"));
    for trn in list.map(|l| l.children.as_slice()).unwrap_or_default() {
        if trn.name == "STMTTRN" {
            let result = bank_transaction(&b, trn);
            b.push(trn.line, result);
        }
    }
    let fallback = end.map(|d| d.utc);
    let balance = b.balance(stmt, "LEDGERBAL", fallback);
    let available_balance = b.balance(stmt, "AVAILBAL", fallback);
    Ok(OfxStatement {
        account_id,
        account_type,
        institution_id: account.value("BANKID").map(|s| s.trim().to_owned()),
        currency: b.currency,
        start_date: start.map(|d| d.date),
        end_date: end.map(|d| d.date),
        transactions: b.records,
        holdings: Vec::new(),
        balance,
        available_balance,
        cash: None,
        securities: b.securities,
        errors: b.errors,
        warnings: b.warnings,
        line: stmt.line,
    })
}

// ---- investment statements -----------------------------------------------------------------

/// `INVTRAN`: id, dates and memo shared by every investment record.
struct InvTran {
    fitid: String,
    trade: NaiveDate,
    settle: Option<NaiveDate>,
    memo: Option<String>,
}

fn invtran(parent: &Element) -> Result<InvTran, RowError> {
    let t = parent
        .child("INVTRAN")
        .ok_or_else(|| missing(parent, "INVTRAN"))?;
    Ok(InvTran {
        fitid: t.value("FITID").unwrap_or_default().trim().to_owned(),
        trade: required_datetime(t, "DTTRADE")?.date,
        settle: datetime(t, "DTSETTLE")?.map(|d| d.date),
        memo: t.value("MEMO").map(str::to_owned),
    })
}

fn trade(b: &mut Builder<'_>, record: &Element, buy: bool) -> Result<Vec<Transaction>, RowError> {
    let inner_tag = if buy { "INVBUY" } else { "INVSELL" };
    let inv = record
        .child(inner_tag)
        .ok_or_else(|| missing(record, inner_tag))?;
    let tran = invtran(inv)?;
    let asset = b.security(inv, class_hint(&record.name))?;
    let units = required_decimal(inv, "UNITS")?.abs();
    let price = decimal(inv, "UNITPRICE")?;
    let fee = fees(inv)?;
    let amount = match decimal(inv, "TOTAL")? {
        Some(total) if buy => -total.abs(),
        Some(total) => total.abs(),
        None => {
            let multiplier = decimal(record, "SHPERCTRCT")?.unwrap_or(Decimal::ONE);
            let gross = units
                .checked_mul(price.ok_or_else(|| missing(inv, "TOTAL"))?.abs())
                .and_then(|g| g.checked_mul(multiplier.abs()))
                .ok_or_else(|| overflow(record))?;
            let fee = fee.unwrap_or_default();
            if buy {
                -gross.checked_add(fee).ok_or_else(|| overflow(record))?
            } else {
                gross.checked_sub(fee).ok_or_else(|| overflow(record))?
            }
        }
    };
    let verb = if buy { "Buy" } else { "Sell" };
    Ok(vec![Transaction {
        source_id: tran.fitid,
        kind: if buy {
            TransactionType::Buy
        } else {
            TransactionType::Sell
        },
        trade_date: tran.trade,
        settle_date: tran.settle,
        description: Some(
            tran.memo
                .unwrap_or_else(|| format!("{verb} {units} {}", asset.symbol)),
        ),
        asset: Some(asset),
        quantity: Some(units),
        price: price.map(|p| p.abs()),
        amount,
        fee,
        currency: b.currency_of(inv),
    }])
}

fn income_kind(el: &Element) -> (TransactionType, &'static str) {
    match el
        .value("INCOMETYPE")
        .map(|t| t.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("INTEREST") => (TransactionType::Interest, "Interest"),
        Some("CGLONG") => (
            TransactionType::Dividend,
            "Long-term capital gain distribution",
        ),
        Some("CGSHORT") => (
            TransactionType::Dividend,
            "Short-term capital gain distribution",
        ),
        Some("MISC") => (TransactionType::Dividend, "Miscellaneous income"),
        _ => (TransactionType::Dividend, "Dividend"),
    }
}

fn income(b: &mut Builder<'_>, record: &Element) -> Result<Vec<Transaction>, RowError> {
    let tran = invtran(record)?;
    let asset = b.security(record, AssetClass::Equity)?;
    let total = required_decimal(record, "TOTAL")?;
    let (kind, label) = income_kind(record);
    let currency = b.currency_of(record);
    let description = tran
        .memo
        .clone()
        .unwrap_or_else(|| format!("{label} {}", asset.symbol));
    let mut out = vec![Transaction {
        source_id: tran.fitid.clone(),
        kind,
        trade_date: tran.trade,
        settle_date: tran.settle,
        asset: Some(asset.clone()),
        quantity: None,
        price: None,
        amount: total,
        fee: None,
        currency: currency.clone(),
        description: Some(description),
    }];
    if let Some(withheld) = decimal(record, "WITHHOLDING")?.filter(|w| !w.is_zero()) {
        out.push(Transaction {
            source_id: derived_id(&tran.fitid, "withholding"),
            kind: TransactionType::Tax,
            trade_date: tran.trade,
            settle_date: tran.settle,
            description: Some(format!("Withholding tax {}", asset.symbol)),
            asset: Some(asset),
            quantity: None,
            price: None,
            amount: -withheld.abs(),
            fee: None,
            currency,
        });
    }
    Ok(out)
}

fn reinvest(b: &mut Builder<'_>, record: &Element) -> Result<Vec<Transaction>, RowError> {
    let tran = invtran(record)?;
    let asset = b.security(record, AssetClass::Fund)?;
    let total = required_decimal(record, "TOTAL")?.abs();
    let units = required_decimal(record, "UNITS")?.abs();
    let price = decimal(record, "UNITPRICE")?.map(|p| p.abs());
    let (kind, label) = income_kind(record);
    let currency = b.currency_of(record);
    let memo = tran.memo.clone();
    Ok(vec![
        Transaction {
            source_id: tran.fitid.clone(),
            kind,
            trade_date: tran.trade,
            settle_date: tran.settle,
            asset: Some(asset.clone()),
            quantity: None,
            price: None,
            amount: total,
            fee: None,
            currency: currency.clone(),
            description: Some(
                memo.clone()
                    .unwrap_or_else(|| format!("{label} {}", asset.symbol)),
            ),
        },
        Transaction {
            source_id: derived_id(&tran.fitid, "reinvest"),
            kind: TransactionType::Buy,
            trade_date: tran.trade,
            settle_date: tran.settle,
            description: Some(format!(
                "Reinvest {label} {}{}",
                asset.symbol,
                memo.map(|m| format!(" ({m})")).unwrap_or_default()
            )),
            asset: Some(asset),
            quantity: Some(units),
            price,
            amount: -total,
            fee: fees(record)?,
            currency,
        },
    ])
}

fn transfer(b: &mut Builder<'_>, record: &Element) -> Result<Vec<Transaction>, RowError> {
    let tran = invtran(record)?;
    let asset = b.security(record, AssetClass::Equity)?;
    let units = required_decimal(record, "UNITS")?;
    let quantity = match record
        .value("TFERACTION")
        .map(|a| a.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("OUT") => -units.abs(),
        Some("IN") => units.abs(),
        _ => units,
    };
    let direction = if quantity < Decimal::ZERO {
        "out"
    } else {
        "in"
    };
    Ok(vec![Transaction {
        source_id: tran.fitid,
        kind: TransactionType::Transfer,
        trade_date: tran.trade,
        settle_date: tran.settle,
        description: Some(tran.memo.unwrap_or_else(|| {
            format!("Transfer {direction} {} {}", quantity.abs(), asset.symbol)
        })),
        asset: Some(asset),
        quantity: Some(quantity),
        price: decimal(record, "UNITPRICE")?.map(|p| p.abs()),
        amount: Decimal::ZERO,
        fee: None,
        currency: b.currency_of(record),
    }])
}

fn split(b: &mut Builder<'_>, record: &Element) -> Result<Vec<Transaction>, RowError> {
    let tran = invtran(record)?;
    let asset = b.security(record, AssetClass::Equity)?;
    let old = required_decimal(record, "OLDUNITS")?;
    let new = required_decimal(record, "NEWUNITS")?;
    let added = new.checked_sub(old).ok_or_else(|| overflow(record))?;
    let ratio = match (
        decimal(record, "NUMERATOR")?,
        decimal(record, "DENOMINATOR")?,
    ) {
        (Some(n), Some(d)) => format!("{}-for-{} ", n.normalize(), d.normalize()),
        _ => String::new(),
    };
    Ok(vec![Transaction {
        source_id: tran.fitid,
        kind: TransactionType::Split,
        trade_date: tran.trade,
        settle_date: tran.settle,
        description: Some(
            tran.memo
                .unwrap_or_else(|| format!("{ratio}split of {}", asset.symbol)),
        ),
        asset: Some(asset),
        quantity: Some(added),
        price: None,
        amount: decimal(record, "FRACCASH")?.unwrap_or_default(),
        fee: None,
        currency: b.currency_of(record),
    }])
}

fn expense(
    b: &mut Builder<'_>,
    record: &Element,
    with_security: bool,
    label: &str,
) -> Result<Vec<Transaction>, RowError> {
    let tran = invtran(record)?;
    let asset = if with_security && record.child("SECID").is_some() {
        Some(b.security(record, AssetClass::Equity)?)
    } else {
        None
    };
    Ok(vec![Transaction {
        source_id: tran.fitid,
        kind: TransactionType::Fee,
        trade_date: tran.trade,
        settle_date: tran.settle,
        asset,
        quantity: None,
        price: None,
        amount: -required_decimal(record, "TOTAL")?.abs(),
        fee: None,
        currency: b.currency_of(record),
        description: Some(tran.memo.unwrap_or_else(|| label.to_owned())),
    }])
}

fn investment_record(b: &mut Builder<'_>, record: &Element) {
    let name = record.name.as_str();
    let result = match name {
        "DTSTART" | "DTEND" => return,
        _ if name.starts_with("BUY") => trade(b, record, true),
        _ if name.starts_with("SELL") => trade(b, record, false),
        "INCOME" => income(b, record),
        "REINVEST" => reinvest(b, record),
        "TRANSFER" => transfer(b, record),
        "SPLIT" => split(b, record),
        "MARGININTEREST" => expense(b, record, false, "Margin interest"),
        "INVEXPENSE" => expense(b, record, true, "Investment expense"),
        "INVBANKTRAN" => match record.child("STMTTRN") {
            Some(trn) => {
                let result = bank_transaction(b, trn);
                b.push(trn.line, result);
                return;
            }
            None => Err(missing(record, "STMTTRN")),
        },
        _ => {
            b.warn(record, format!("<{name}> records are not imported"));
            return;
        }
    };
    b.push(record.line, result);
}

fn position(
    b: &mut Builder<'_>,
    pos: &Element,
    as_of: Option<DateTime<Utc>>,
) -> Result<Holding, RowError> {
    let invpos = pos.child("INVPOS").ok_or_else(|| missing(pos, "INVPOS"))?;
    let asset = b.security(invpos, class_hint(&pos.name))?;
    let units = required_decimal(invpos, "UNITS")?;
    let quantity = match invpos
        .value("POSTYPE")
        .map(|t| t.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("SHORT") => -units.abs(),
        _ => units,
    };
    let as_of = datetime(invpos, "DTPRICEASOF")?
        .map(|d| d.utc)
        .or(as_of)
        .ok_or_else(|| missing(invpos, "DTPRICEASOF"))?;
    Ok(Holding {
        asset,
        quantity,
        cost_basis: None,
        price: decimal(invpos, "UNITPRICE")?,
        market_value: decimal(invpos, "MKTVAL")?,
        as_of,
    })
}

fn investment_statement(
    stmt: &Element,
    secs: &HashMap<SecKey, SecInfo>,
) -> Result<OfxStatement, FileError> {
    let account = stmt.child("INVACCTFROM").ok_or_else(|| {
        FileError::at(stmt.line, "<INVSTMTRS> has no <INVACCTFROM>").with_field("INVACCTFROM")
    })?;
    let account_id = account
        .value("ACCTID")
        .ok_or_else(|| FileError::from(missing(account, "ACCTID")))?
        .trim()
        .to_owned();
    let mut b = Builder::new(statement_currency(stmt)?, secs);
    let as_of = b.optional_date(stmt, "DTASOF").map(|d| d.utc);
    let list = stmt.child("INVTRANLIST");
    let start = list.and_then(|l| b.optional_date(l, "DTSTART"));
    let end = list.and_then(|l| b.optional_date(l, "DTEND"));
    for record in list.map(|l| l.children.as_slice()).unwrap_or_default() {
        investment_record(&mut b, record);
    }
    let mut holdings = Vec::new();
    for pos in stmt
        .child("INVPOSLIST")
        .map(|l| l.children.as_slice())
        .unwrap_or_default()
    {
        if !pos.name.starts_with("POS") {
            continue;
        }
        match position(&mut b, pos, as_of) {
            Ok(h) => holdings.push(h),
            Err(e) => b.errors.push(e),
        }
    }
    let mut cash = None;
    if let Some(invbal) = stmt.child("INVBAL") {
        match (decimal(invbal, "AVAILCASH"), as_of) {
            (Ok(Some(amount)), Some(as_of)) => {
                cash = Some(Balance {
                    amount,
                    currency: b.currency.clone(),
                    as_of,
                });
            }
            (Ok(Some(_)), None) => b.warn(
                invbal,
                "no <DTASOF>: the cash balance is not imported".to_owned(),
            ),
            (Ok(None), _) => {}
            (Err(e), _) => b.errors.push(e),
        }
    }
    let balance = as_of.and_then(|as_of| {
        if cash.is_none() && holdings.is_empty() {
            return None;
        }
        let mut total = cash.as_ref().map_or(Decimal::ZERO, |c| c.amount);
        for h in &holdings {
            total = total.checked_add(h.market_value.unwrap_or_default())?;
        }
        Some(Balance {
            amount: total,
            currency: b.currency.clone(),
            as_of,
        })
    });
    Ok(OfxStatement {
        account_id,
        account_type: "INVESTMENT".to_owned(),
        institution_id: account.value("BROKERID").map(|s| s.trim().to_owned()),
        currency: b.currency,
        start_date: start.map(|d| d.date),
        end_date: end.map(|d| d.date),
        transactions: b.records,
        holdings,
        balance,
        available_balance: None,
        cash,
        securities: b.securities,
        errors: b.errors,
        warnings: b.warnings,
        line: stmt.line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn trntypes_map_by_type_and_sign() {
        assert_eq!(map_trntype("CHECK", dec!(-10)), TransactionType::Withdrawal);
        assert_eq!(map_trntype("PAYMENT", dec!(500)), TransactionType::Deposit);
        assert_eq!(map_trntype("INT", dec!(1.2)), TransactionType::Interest);
        assert_eq!(map_trntype("INT", dec!(-12)), TransactionType::Fee);
        assert_eq!(map_trntype("SRVCHG", dec!(-3)), TransactionType::Fee);
        assert_eq!(map_trntype("FEE", dec!(3)), TransactionType::Deposit);
        assert_eq!(map_trntype("XFER", dec!(-3)), TransactionType::Transfer);
        assert_eq!(map_trntype("DIV", dec!(3)), TransactionType::Dividend);
        assert_eq!(map_trntype("HOLD", dec!(-3)), TransactionType::Withdrawal);
    }
}
