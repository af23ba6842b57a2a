//! `ibapi` values → Tributary holdings, cash, balance and transactions.
//!
//! Pure functions, so every mapping rule is unit-tested without a socket. `ibapi` hands over
//! floats (`f64`) for positions, prices, strikes and commissions; each one becomes a `Decimal`
//! here, once, through its shortest textual form, and no amount is ever computed in `f64`.
//! Account summary values arrive as strings and are parsed directly.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ibapi::accounts::{AccountSummary, Position};
use ibapi::contracts::Contract as IbContract;
use ibapi::orders::{CommissionReport, ExecutionData, ExecutionSide};
use rust_decimal::Decimal;

use crate::ConnectorError;
use crate::dec::parse_text;
use crate::ibkr::category::{CategoryMap, Contract};
use crate::types::{Balance, Holding, Transaction, TransactionType};

/// IB's "unset" sentinel for doubles is `f64::MAX`; anything this large is not a real amount.
const UNSET_THRESHOLD: f64 = 1e15;

/// A vendor float as a `Decimal`, through its shortest round-trip text (`0.1`, not
/// `0.1000000000000000055511151231257827`).
///
/// # Errors
/// `Decode` naming `field` for NaN, infinities and values beyond `Decimal`'s range.
pub(crate) fn decimal(value: f64, field: &str) -> Result<Decimal, ConnectorError> {
    if !value.is_finite() {
        return Err(ConnectorError::Decode(format!(
            "TWS sent a non-finite {field}: {value}"
        )));
    }
    parse_text(&value.to_string())
        .map(|d| d.normalize())
        .map_err(|e| ConnectorError::Decode(format!("TWS sent an invalid {field}: {e}")))
}

/// A float that IB may leave unset (0 or the `f64::MAX` sentinel) as an optional decimal.
fn optional_decimal(value: f64, field: &str) -> Result<Option<Decimal>, ConnectorError> {
    if value == 0.0 || !value.is_finite() || value.abs() >= UNSET_THRESHOLD {
        return Ok(None);
    }
    decimal(value, field).map(Some)
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `lastTradeDateOrContractMonth` (`YYYYMMDD`, or `YYYYMM` for a contract month, possibly
/// followed by a time) as the expiry date; a bare month falls back to `lastTradeDate`.
fn expiry_of(c: &IbContract) -> Option<NaiveDate> {
    let raw = c.last_trade_date_or_contract_month.trim();
    let digits: String = raw.chars().take_while(char::is_ascii_digit).collect();
    if let Some(Ok(date)) = digits
        .get(..8)
        .map(|d| NaiveDate::parse_from_str(d, "%Y%m%d"))
    {
        return Some(date);
    }
    c.last_trade_date.and_then(|d| {
        NaiveDate::from_ymd_opt(d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
    })
}

/// The instrument description the category map understands, from an IB contract.
///
/// For derivatives IB's `symbol` is the underlying and `localSymbol` the contract's own code
/// (`AAPL  250117C00150000`, `ESZ5`), matching Flex's `symbol`/`underlyingSymbol` split.
///
/// # Errors
/// `Decode` for a strike or multiplier that is not a number.
pub(crate) fn contract_of(c: &IbContract) -> Result<Contract, ConnectorError> {
    let category = c.security_type.as_str().trim().to_ascii_uppercase();
    let derivative = matches!(category.as_str(), "OPT" | "FOP" | "WAR" | "FUT");
    let symbol = c.symbol.as_str().trim().to_owned();
    let local_symbol = non_empty(&c.local_symbol);
    let (symbol, underlying) = match (derivative, local_symbol) {
        (true, Some(local)) => (local, non_empty(&symbol)),
        (true, None) => (symbol.clone(), non_empty(&symbol)),
        (false, _) => (symbol, None),
    };
    let multiplier = match non_empty(&c.multiplier) {
        Some(m) => Some(parse_text(&m).map_err(|e| {
            ConnectorError::Decode(format!("TWS sent an invalid contract multiplier: {e}"))
        })?),
        None => None,
    };
    Ok(Contract {
        category,
        sub_category: None,
        symbol,
        underlying,
        description: non_empty(&c.description),
        currency: c.currency.as_str().trim().to_ascii_uppercase(),
        exchange: non_empty(c.primary_exchange.as_str()).or_else(|| non_empty(c.exchange.as_str())),
        conid: (c.contract_id != 0).then(|| c.contract_id.to_string()),
        isin: None,
        cusip: None,
        multiplier: multiplier.map(|m| m.normalize()),
        expiry: expiry_of(c),
        strike: optional_decimal(c.strike, "strike")?.map(|s| s.normalize()),
        put_call: c.right.map(|r| r.as_str().to_owned()),
    })
}

/// One position of `account` as a holding; `None` for other accounts and for the flat (zero)
/// positions TWS keeps reporting for the rest of the session after a close.
///
/// IB's `avgCost` is per unit of quantity *including* the multiplier (an option bought at
/// 2.50 shows 250), so the total cost basis is `avgCost × position` for every asset class.
///
/// # Errors
/// `Decode` for numbers that do not convert.
pub(crate) fn holding(
    position: &Position,
    account: &str,
    map: &CategoryMap,
    as_of: DateTime<Utc>,
) -> Result<Option<Holding>, ConnectorError> {
    if position.account != account {
        return Ok(None);
    }
    let quantity = decimal(position.position, "position")?;
    if quantity.is_zero() {
        return Ok(None);
    }
    let average_cost = optional_decimal(position.average_cost, "average cost")?;
    Ok(Some(Holding {
        asset: map.asset(&contract_of(&position.contract)?),
        quantity,
        cost_basis: average_cost.map(|c| (c * quantity).normalize()),
        price: None,
        market_value: None,
        as_of,
    }))
}

/// The account summary rows of one account, folded.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    /// `AccountType` (INDIVIDUAL, JOINT, IRA, ...).
    pub account_type: Option<String>,
    /// `NetLiquidation` with the base currency it is expressed in.
    pub net_liquidation: Option<(Decimal, String)>,
    /// `TotalCashValue` in the base currency.
    pub total_cash: Option<(Decimal, String)>,
    /// `$LEDGER:ALL` `CashBalance` per real currency (the `BASE` aggregate left out).
    pub cash_by_currency: BTreeMap<String, Decimal>,
}

impl Summary {
    /// The base currency: the currency NetLiquidation (or TotalCashValue) is reported in.
    pub fn base_currency(&self) -> Option<String> {
        self.net_liquidation
            .as_ref()
            .or(self.total_cash.as_ref())
            .map(|(_, ccy)| ccy.clone())
    }
}

/// Folds the summary rows of `account` (rows of other accounts are ignored).
///
/// # Errors
/// `Decode` for a monetary value that is not a number.
pub(crate) fn summary(rows: &[AccountSummary], account: &str) -> Result<Summary, ConnectorError> {
    let mut out = Summary::default();
    for row in rows.iter().filter(|r| r.account == account) {
        let currency = row.currency.trim().to_ascii_uppercase();
        let money = || {
            parse_text(&row.value).map_err(|e| {
                ConnectorError::Decode(format!("TWS sent an invalid {} value: {e}", row.tag))
            })
        };
        match row.tag.as_str() {
            "AccountType" => out.account_type = non_empty(&row.value),
            "NetLiquidation" if !currency.is_empty() => {
                out.net_liquidation = Some((money()?, currency));
            }
            "TotalCashValue" if !currency.is_empty() => out.total_cash = Some((money()?, currency)),
            "CashBalance" if !currency.is_empty() && currency != "BASE" => {
                out.cash_by_currency.insert(currency, money()?);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One cash holding per currency from the ledger; without ledger rows, the base-currency
/// `TotalCashValue` as a single cash holding. Zero balances are left out.
pub(crate) fn cash_holdings(summary: &Summary, as_of: DateTime<Utc>) -> Vec<Holding> {
    let cash = |currency: &str, amount: Decimal| Holding {
        asset: CategoryMap::cash(currency),
        quantity: amount.normalize(),
        cost_basis: Some(amount.normalize()),
        price: Some(Decimal::ONE),
        market_value: Some(amount.normalize()),
        as_of,
    };
    if summary.cash_by_currency.is_empty() {
        return summary
            .total_cash
            .iter()
            .filter(|(amount, _)| !amount.is_zero())
            .map(|(amount, ccy)| cash(ccy, *amount))
            .collect();
    }
    summary
        .cash_by_currency
        .iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(ccy, amount)| cash(ccy, *amount))
        .collect()
}

/// NetLiquidation as the account balance.
pub(crate) fn balance(summary: &Summary, as_of: DateTime<Utc>) -> Option<Balance> {
    summary
        .net_liquidation
        .as_ref()
        .map(|(amount, currency)| Balance {
            amount: amount.normalize(),
            currency: currency.clone(),
            as_of,
        })
}

/// `since` in the form `ExecutionFilter.time` accepts for UTC: `YYYYMMDD-HH:mm:ss`.
pub(crate) fn filter_time(since: DateTime<Utc>) -> String {
    since.format("%Y%m%d-%H:%M:%S").to_string()
}

/// The execution time as TWS reports it: `YYYYMMDD-HH:mm:ss` (UTC), or `YYYYMMDD  HH:mm:ss`
/// optionally followed by the TWS time zone name. Returns the trade date (the calendar date
/// TWS reports, i.e. the exchange/TWS-local date) and, for the UTC form, the exact instant.
fn execution_time(raw: &str) -> Option<(NaiveDate, Option<DateTime<Utc>>)> {
    let raw = raw.trim();
    let date = NaiveDate::parse_from_str(raw.get(..8)?, "%Y%m%d").ok()?;
    let instant = raw
        .get(..17)
        .filter(|s| s.as_bytes().get(8) == Some(&b'-'))
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y%m%d-%H:%M:%S").ok())
        .map(|t| t.and_utc());
    Some((date, instant))
}

/// Drops superseded corrections: IB corrects a fill by re-sending it with the digits after
/// the final period of the execId incremented (`…01.01` → `…01.02`); only the latest counts.
fn latest_corrections(executions: Vec<ExecutionData>) -> Vec<ExecutionData> {
    let base = |id: &str| id.rsplit_once('.').map_or(id, |(b, _)| b).to_owned();
    let mut latest: HashMap<String, String> = HashMap::new();
    for e in &executions {
        let id = &e.execution.execution_id;
        latest
            .entry(base(id))
            .and_modify(|kept| {
                if id.as_str() > kept.as_str() {
                    kept.clone_from(id);
                }
            })
            .or_insert_with(|| id.clone());
    }
    executions
        .into_iter()
        .filter(|e| {
            let id = &e.execution.execution_id;
            latest.get(&base(id)) == Some(id)
        })
        .collect()
}

/// Executions of `account` (optionally at or after `since`) as buy/sell transactions, with
/// the fee from the commission report of the same execId when one arrived.
///
/// `amount` is the signed cash effect in the contract currency:
/// `-(shares × price × multiplier) - commission` for buys, `+(…) - commission` for sells.
/// A commission charged in another currency cannot be netted into that amount; it becomes a
/// separate `fee` transaction (`exec:<execId>:commission`) in its own currency.
///
/// # Errors
/// `Decode` for an execution whose time or numbers cannot be read.
pub(crate) fn transactions(
    executions: Vec<ExecutionData>,
    commissions: &HashMap<String, CommissionReport>,
    account: &str,
    map: &CategoryMap,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Transaction>, ConnectorError> {
    let mut out = Vec::new();
    for data in latest_corrections(executions) {
        let e = &data.execution;
        if e.account_number != account || e.execution_id.is_empty() {
            continue;
        }
        let Some((trade_date, instant)) = execution_time(&e.time) else {
            return Err(ConnectorError::Decode(format!(
                "TWS sent execution {} with an unreadable time {:?}",
                e.execution_id, e.time
            )));
        };
        if since
            .zip(instant)
            .is_some_and(|(since, instant)| instant < since)
        {
            continue;
        }
        let contract = contract_of(&data.contract)?;
        let asset = map.asset(&contract);
        let quantity = decimal(e.shares, "execution shares")?.abs();
        let price = decimal(e.price, "execution price")?;
        let multiplier = contract.multiplier.unwrap_or(Decimal::ONE);
        let gross = (quantity * price * multiplier).normalize();
        let kind = match e.side {
            ExecutionSide::Bought => TransactionType::Buy,
            ExecutionSide::Sold => TransactionType::Sell,
        };
        let currency = asset.currency.clone();
        // IB reports commissions as positive costs (a rebate would be negative); `f64::MAX`
        // marks "not computed yet".
        let commission = match commissions.get(&e.execution_id) {
            Some(r) if r.commission.is_finite() && r.commission.abs() < UNSET_THRESHOLD => {
                let ccy = r.currency.trim().to_ascii_uppercase();
                let ccy = if ccy.is_empty() {
                    currency.clone()
                } else {
                    ccy
                };
                Some((decimal(r.commission, "commission")?, ccy))
            }
            _ => None,
        };
        let (fee, separate_fee) = match commission {
            Some((c, ccy)) if ccy == currency => (Some(c), None),
            Some((c, ccy)) => (None, Some((c, ccy))),
            None => (None, None),
        };
        let signed = match kind {
            TransactionType::Buy => -gross,
            _ => gross,
        };
        let amount = (signed - fee.unwrap_or(Decimal::ZERO)).normalize();
        let description = Some(format!(
            "{} {} {} @ {}",
            e.side.as_str(),
            quantity.normalize(),
            asset.symbol,
            price
        ));
        out.push(Transaction {
            source_id: format!("exec:{}", e.execution_id),
            kind,
            trade_date,
            settle_date: None,
            asset: Some(asset.clone()),
            quantity: Some(quantity.normalize()),
            price: Some(price),
            amount,
            fee: fee.map(|f| f.normalize()),
            currency,
            description,
        });
        if let Some((c, ccy)) = separate_fee {
            out.push(Transaction {
                source_id: format!("exec:{}:commission", e.execution_id),
                kind: TransactionType::Fee,
                trade_date,
                settle_date: None,
                asset: Some(asset),
                quantity: None,
                price: None,
                amount: -c.normalize(),
                fee: Some(c.normalize()),
                currency: ccy,
                description: Some(format!("Commission for execution {}", e.execution_id)),
            });
        }
    }
    Ok(out)
}
