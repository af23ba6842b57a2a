//! Gateway DTOs → [`IbAccount`], [`Holding`], [`Transaction`] and the balance. Instruments go
//! through [`Contract`] and [`CategoryMap`], so a position seen here gets the same asset id
//! as in a Flex statement or over TWS.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;

use super::models::{Ledger, PortfolioAccount, Position, Summary, SummaryValue, Trade};
use crate::ibkr::IbAccount;
use crate::ibkr::category::{CategoryMap, Contract, mic_of};
use crate::types::{Holding, Transaction, TransactionType};

/// The ledger's key for the base-currency totals.
const BASE: &str = "BASE";

/// An account of `/portfolio/accounts`, or `None` without an id.
pub(super) fn account(a: PortfolioAccount) -> Option<IbAccount> {
    let id = non_empty(a.account_id.or(a.id))?;
    let name = non_empty(a.account_alias)
        .or_else(|| non_empty(a.account_title))
        .or_else(|| non_empty(a.display_name).filter(|d| *d != id));
    Some(IbAccount {
        kind: non_empty(a.kind).map(|k| account_kind(&k)),
        base_currency: non_empty(a.currency).map(|c| c.to_ascii_uppercase()),
        name,
        opened: None,
        id,
    })
}

/// `INDIVIDUAL` → `Individual`, as Flex spells account types; acronyms of three letters or
/// fewer (`IRA`, `LLC`) stay upper case.
pub(super) fn account_kind(raw: &str) -> String {
    raw.split(|c: char| c == '_' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(|word| {
            if word.len() <= 3 || word.chars().any(|c| c.is_ascii_lowercase()) {
                word.to_owned()
            } else {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_string() + &chars.as_str().to_ascii_lowercase()
                })
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The contract of a position, or `None` when it names no asset class or symbol.
pub(super) fn contract(p: &Position) -> Option<Contract> {
    let category = non_empty(p.asset_class.clone())?.to_ascii_uppercase();
    let derivative = matches!(category.as_str(), "OPT" | "FOP" | "FUT" | "WAR");
    let ticker = non_empty(p.ticker.clone());
    let desc = non_empty(p.contract_desc.clone());
    let symbol = if derivative {
        desc.as_deref()
            .and_then(bracketed_local_symbol)
            .or_else(|| desc.clone())
            .or_else(|| ticker.clone())?
    } else {
        ticker.clone().or_else(|| desc.clone())?
    };
    let underlying = if derivative {
        non_empty(p.und_sym.clone()).or(ticker)
    } else {
        None
    };
    Some(Contract {
        category,
        sub_category: non_empty(p.stock_type.clone()),
        symbol,
        underlying,
        description: non_empty(p.name.clone())
            .or_else(|| non_empty(p.full_name.clone()))
            .or(desc),
        currency: non_empty(p.currency.clone())
            .unwrap_or_default()
            .to_ascii_uppercase(),
        exchange: non_empty(p.listing_exchange.clone()),
        conid: p.conid.clone(),
        isin: non_empty(p.isin.clone()),
        cusip: None,
        multiplier: p.multiplier.filter(|m| !m.is_zero()),
        expiry: p
            .expiry
            .as_deref()
            .and_then(parse_ymd)
            .or_else(|| p.last_trading_day.as_deref().and_then(parse_ymd)),
        strike: p.strike.filter(|s| !s.is_zero()),
        put_call: non_empty(p.put_or_call.clone())
            .and_then(|pc| pc.trim().chars().next())
            .map(|c| c.to_ascii_uppercase().to_string())
            .filter(|pc| pc == "C" || pc == "P"),
    })
}

/// `AAPL  250117C00150000` out of `AAPL JAN2025 150 C [AAPL  250117C00150000 100]` (the
/// trailing token is the multiplier), as Flex reports the symbol.
fn bracketed_local_symbol(desc: &str) -> Option<String> {
    let inner = desc.split_once('[')?.1.split_once(']')?.0.trim_end();
    let inner = match inner.rsplit_once(' ') {
        Some((head, last)) if last.parse::<Decimal>().is_ok() => head.trim_end(),
        _ => inner,
    };
    Some(inner.to_owned()).filter(|s| !s.trim().is_empty())
}

/// Whether a position is a currency balance. The gateway lists forex balances as `CASH`
/// positions (`EUR.USD`) when it tracks a virtual FX portfolio; the ledger already reports
/// every currency's cash, so these would count it twice.
pub(super) fn is_currency_position(p: &Position) -> bool {
    p.asset_class
        .as_deref()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("CASH"))
}

/// A position as a holding: quantity signed, price and value as the gateway marks them, cost
/// basis `avgCost × position` (avgCost already includes the multiplier). `None` for closed
/// (zero) positions, currency positions and positions without a contract.
pub(super) fn holding(p: &Position, map: &CategoryMap, now: DateTime<Utc>) -> Option<Holding> {
    if is_currency_position(p) {
        return None;
    }
    let quantity = p.position.filter(|q| !q.is_zero())?;
    let contract = contract(p)?;
    Some(Holding {
        asset: map.asset(&contract),
        quantity,
        cost_basis: p
            .avg_cost
            .and_then(|c| c.checked_mul(quantity))
            .map(|c| c.normalize()),
        price: p.mkt_price,
        market_value: p.mkt_value,
        as_of: now,
    })
}

/// One cash holding per ledger currency with a non-zero balance (`BASE` is a total, not a
/// currency).
pub(super) fn cash_holdings(ledger: &Ledger, now: DateTime<Utc>) -> Vec<Holding> {
    ledger
        .iter()
        .filter(|(key, _)| !key.eq_ignore_ascii_case(BASE))
        .filter_map(|(key, entry)| {
            let amount = entry.cashbalance.filter(|a| !a.is_zero())?;
            let currency = non_empty(entry.currency.clone())
                .filter(|c| !c.eq_ignore_ascii_case(BASE))
                .unwrap_or_else(|| key.clone());
            Some(Holding {
                asset: CategoryMap::cash(&currency),
                quantity: amount,
                cost_basis: Some(amount),
                price: Some(Decimal::ONE),
                market_value: Some(amount),
                as_of: now,
            })
        })
        .collect()
}

/// The ledger's net liquidation value in the base currency.
pub(super) fn ledger_net_liquidation(ledger: &Ledger) -> Option<Decimal> {
    ledger
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(BASE))
        .and_then(|(_, entry)| entry.netliquidationvalue)
}

/// The summary's `netliquidation` amount and currency.
///
/// # Errors
/// A message naming the tag when `netliquidation` has an unexpected shape.
pub(super) fn summary_net_liquidation(
    summary: &Summary,
) -> Result<Option<(Decimal, Option<String>)>, String> {
    let Some(raw) = summary.get("netliquidation") else {
        return Ok(None);
    };
    let value: SummaryValue = serde_json::from_value(raw.clone())
        .map_err(|e| format!("unexpected `netliquidation`: {e}"))?;
    if value.is_null {
        return Ok(None);
    }
    Ok(value.amount.map(|amount| {
        (
            amount,
            non_empty(value.currency).map(|c| c.to_ascii_uppercase()),
        )
    }))
}

/// What the trade mapping needs to know about the account.
pub(super) struct TradeContext<'a> {
    pub account_id: &'a str,
    pub base_currency: Option<&'a str>,
    /// The contracts of the account's positions by conid, so an execution gets the same
    /// asset as the position it opened or closed (the trade rows lack expiry and strike).
    pub contracts: &'a HashMap<String, Contract>,
    pub map: &'a CategoryMap,
    pub since: Option<DateTime<Utc>>,
}

/// An execution as a Buy/Sell transaction, or `None` when it belongs to another account, is
/// older than `since`, or is not a buy or sell (`X`: an expired option) or lacks an id.
pub(super) fn transaction(t: &Trade, ctx: &TradeContext<'_>) -> Option<Transaction> {
    let named = [t.account.as_deref(), t.account_code.as_deref()];
    if named.iter().flatten().next().is_some()
        && !named.iter().flatten().any(|a| a.trim() == ctx.account_id)
    {
        return None;
    }
    let kind = match t.side.as_deref().map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("B") || s.eq_ignore_ascii_case("BUY") => {
            TransactionType::Buy
        }
        Some(s) if s.eq_ignore_ascii_case("S") || s.eq_ignore_ascii_case("SELL") => {
            TransactionType::Sell
        }
        _ => return None,
    };
    let execution_id = non_empty(t.execution_id.clone())?;
    let executed_at = executed_at(t)?;
    if ctx.since.is_some_and(|since| executed_at < since) {
        return None;
    }
    let known = t.conid.as_ref().and_then(|c| ctx.contracts.get(c));
    let currency = non_empty(t.currency.clone())
        .or_else(|| known.map(|c| c.currency.clone()).filter(|c| !c.is_empty()))
        .or_else(|| ctx.base_currency.map(str::to_owned))
        .unwrap_or_default()
        .to_ascii_uppercase();
    let contract = match known {
        Some(c) => c.clone(),
        None => Contract {
            category: non_empty(t.sec_type.clone())
                .unwrap_or_else(|| "STK".to_owned())
                .to_ascii_uppercase(),
            symbol: non_empty(t.symbol.clone())
                .or_else(|| non_empty(t.contract_description_1.clone()))?,
            description: non_empty(t.company_name.clone()),
            currency: currency.clone(),
            exchange: t.listing_exchange.as_deref().and_then(exchange_code),
            conid: t.conid.clone(),
            ..Contract::default()
        },
    };
    let fee = t.commission.map(|c| c.abs()).filter(|c| !c.is_zero());
    let gross = t.net_amount.map(|n| n.abs()).unwrap_or_else(|| {
        let size = t.size.unwrap_or_default().abs();
        let multiplier = contract.multiplier.unwrap_or(Decimal::ONE);
        size * t.price.unwrap_or_default() * multiplier
    });
    let amount = match kind {
        TransactionType::Buy => -(gross + fee.unwrap_or_default()),
        _ => gross - fee.unwrap_or_default(),
    };
    Some(Transaction {
        source_id: format!("exec:{execution_id}"),
        kind,
        trade_date: executed_at.date_naive(),
        settle_date: None,
        asset: Some(ctx.map.asset(&contract)),
        quantity: t.size.map(|s| s.abs()),
        price: t.price,
        amount: amount.normalize(),
        fee,
        currency,
        description: non_empty(t.order_description.clone()),
    })
}

/// When the execution happened: `trade_time_r` (epoch milliseconds), else `trade_time` (UTC).
fn executed_at(t: &Trade) -> Option<DateTime<Utc>> {
    if let Some(at) = t
        .trade_time_r
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
    {
        return Some(at);
    }
    let text = t.trade_time.as_deref()?.trim();
    [
        "%Y%m%d-%H:%M:%S",
        "%Y%m%d-%H%M%S",
        "%y%m%d %H:%M:%S",
        "%Y%m%d %H:%M:%S",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| naive.and_utc())
}

/// `NASDAQ.NMS` → `NASDAQ` (the trades endpoint adds the market tier), unless the whole code
/// is one [`mic_of`] knows (`TSE.CA`).
fn exchange_code(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if mic_of(raw).is_some() {
        return Some(raw.to_owned());
    }
    raw.split('.').next().map(str::to_owned)
}

fn parse_ymd(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y%m%d").ok()
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AssetClass;
    use rust_decimal_macros::dec;

    fn position(json: &str) -> Position {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_702_400_000_000)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn a_stock_position_keeps_the_gateway_marks_and_derives_the_cost_basis() {
        let p = position(
            r#"{"acctId":"U1234567","conid":265598,"contractDesc":"AAPL","position":614.2639,
                "mktPrice":197.3840027,"mktValue":121245.87,"currency":"USD","avgCost":192.7477563,
                "assetClass":"STK","listingExchange":"NASDAQ","ticker":"AAPL","name":"APPLE INC",
                "type":"COMMON","multiplier":0.0,"strike":"0","expiry":null,"putOrCall":null}"#,
        );
        let Some(h) = holding(&p, &CategoryMap::default(), now()) else {
            panic!("no holding");
        };
        assert_eq!(h.asset.asset_id, "EQUITY:XNAS:AAPL");
        assert_eq!(h.asset.class, AssetClass::Equity);
        assert_eq!(h.asset.name, "APPLE INC");
        assert_eq!(h.quantity, dec!(614.2639));
        assert_eq!(h.price, Some(dec!(197.3840027)));
        assert_eq!(h.market_value, Some(dec!(121245.87)));
        assert_eq!(h.cost_basis, Some(dec!(192.7477563) * dec!(614.2639)));
        assert_eq!(h.as_of, now());
    }

    #[test]
    fn an_option_gets_its_terms_and_a_per_contract_cost_basis() {
        let p = position(
            r#"{"conid":731234567,"contractDesc":"AAPL  JAN2025 150 C [AAPL  250117C00150000 100]",
                "position":-2.0,"mktPrice":5.35,"mktValue":-1070.0,"currency":"USD","avgCost":412.5,
                "assetClass":"OPT","ticker":"AAPL","expiry":"20250117","putOrCall":"C",
                "strike":150,"multiplier":100.0,"listingExchange":"CBOE"}"#,
        );
        let Some(c) = contract(&p) else {
            panic!("no contract");
        };
        assert_eq!(c.symbol, "AAPL  250117C00150000");
        assert_eq!(c.underlying.as_deref(), Some("AAPL"));
        assert_eq!(c.multiplier, Some(dec!(100)));
        let Some(h) = holding(&p, &CategoryMap::default(), now()) else {
            panic!("no holding");
        };
        assert_eq!(h.asset.asset_id, "OPTION:AAPL:20250117:C:150");
        assert_eq!(h.asset.class, AssetClass::Option);
        assert_eq!(h.quantity, dec!(-2));
        assert_eq!(h.cost_basis, Some(dec!(-825)));
        assert_eq!(h.market_value, Some(dec!(-1070)));
    }

    #[test]
    fn a_future_and_an_etf_and_an_override() {
        let fut = position(
            r#"{"conid":495512563,"contractDesc":"ES DEC2025","position":1,"mktPrice":6050.25,
                "mktValue":302512.5,"currency":"USD","avgCost":297000.0,"assetClass":"FUT",
                "ticker":"ES","expiry":"20251219","multiplier":50,"listingExchange":"CME"}"#,
        );
        let Some(h) = holding(&fut, &CategoryMap::default(), now()) else {
            panic!("no holding");
        };
        assert_eq!(h.asset.asset_id, "FUTURE:ES:20251219");
        assert_eq!(h.asset.symbol, "ES DEC2025");
        let etf = position(
            r#"{"conid":756733,"contractDesc":"SPY","position":10,"assetClass":"STK","ticker":"SPY",
                "type":"ETF","listingExchange":"ARCA","currency":"USD"}"#,
        );
        let Some(h) = holding(&etf, &CategoryMap::default(), now()) else {
            panic!("no holding");
        };
        assert_eq!(h.asset.asset_id, "EQUITY:ARCX:SPY");
        assert_eq!(h.asset.class, AssetClass::Etf);
        assert_eq!(h.cost_basis, None);
        let fund = position(
            r#"{"conid":1,"contractDesc":"VFIAX","position":3,"assetClass":"FUND","currency":"USD"}"#,
        );
        let Ok(map) = CategoryMap::from_config(Some(&serde_json::json!({"FUND": "etf"}))) else {
            panic!("map");
        };
        let Some(h) = holding(&fund, &map, now()) else {
            panic!("no holding");
        };
        assert_eq!(h.asset.class, AssetClass::Etf);
    }

    #[test]
    fn currency_and_closed_positions_are_not_holdings() {
        let fx = position(
            r#"{"conid":12087792,"contractDesc":"EUR.USD","position":3150.5,"assetClass":"CASH",
                "currency":"USD","mktPrice":1.0852,"mktValue":3418.92}"#,
        );
        assert!(is_currency_position(&fx));
        assert!(holding(&fx, &CategoryMap::default(), now()).is_none());
        let closed = position(r#"{"conid":1,"ticker":"MSFT","position":0,"assetClass":"STK"}"#);
        assert!(holding(&closed, &CategoryMap::default(), now()).is_none());
        let anonymous = position(r#"{"conid":1,"position":4}"#);
        assert!(holding(&anonymous, &CategoryMap::default(), now()).is_none());
    }

    #[test]
    fn the_ledger_gives_cash_per_currency_and_the_base_net_liquidation() {
        let ledger: Ledger = serde_json::from_str(
            r#"{"USD":{"cashbalance":25432.17,"currency":"USD","netliquidationvalue":1.0},
                "EUR":{"cashbalance":3150.5,"currency":"EUR"},
                "JPY":{"cashbalance":0.0,"currency":"JPY"},
                "BASE":{"cashbalance":28851.09,"currency":"BASE","netliquidationvalue":1287345.61}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cash = cash_holdings(&ledger, now());
        let ids: Vec<_> = cash.iter().map(|h| h.asset.asset_id.as_str()).collect();
        assert_eq!(ids, ["CASH:EUR", "CASH:USD"]);
        assert_eq!(cash[1].quantity, dec!(25432.17));
        assert_eq!(cash[1].market_value, Some(dec!(25432.17)));
        assert_eq!(cash[1].price, Some(Decimal::ONE));
        assert_eq!(ledger_net_liquidation(&ledger), Some(dec!(1287345.61)));
    }

    #[test]
    fn the_summary_net_liquidation_is_read_and_nulls_are_skipped() {
        let summary: Summary = serde_json::from_str(
            r#"{"accountcode":{"amount":0.0,"value":"U1","isNull":false},
                "netliquidation":{"amount":98765.43,"currency":"EUR","isNull":false}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            summary_net_liquidation(&summary),
            Ok(Some((dec!(98765.43), Some("EUR".to_owned()))))
        );
        let null: Summary =
            serde_json::from_str(r#"{"netliquidation":{"amount":0.0,"isNull":true}}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary_net_liquidation(&null), Ok(None));
        let bad: Summary = serde_json::from_str(r#"{"netliquidation":{"amount":"lots"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(summary_net_liquidation(&bad).is_err());
    }

    fn trade(json: &str) -> Trade {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn executions_become_signed_buys_and_sells_with_their_fees() {
        let contracts = HashMap::new();
        let map = CategoryMap::default();
        let ctx = TradeContext {
            account_id: "U1234567",
            base_currency: Some("USD"),
            contracts: &contracts,
            map: &map,
            since: None,
        };
        let sell = trade(
            r#"{"execution_id":"0000e0d5.6576fd38.01.01","symbol":"AAPL","side":"S",
                "order_description":"Sold 5 @ 192.26 on ISLAND","trade_time":"20231211-18:00:49",
                "trade_time_r":1702317649000,"size":5.0,"price":"192.26","commission":"1.01",
                "net_amount":961.3,"account":"U1234567","accountCode":"U1234567",
                "company_name":"APPLE INC","sec_type":"STK","listing_exchange":"NASDAQ.NMS",
                "conid":265598}"#,
        );
        let Some(tx) = transaction(&sell, &ctx) else {
            panic!("no transaction");
        };
        assert_eq!(tx.source_id, "exec:0000e0d5.6576fd38.01.01");
        assert_eq!(tx.kind, TransactionType::Sell);
        assert_eq!(
            tx.trade_date,
            NaiveDate::from_ymd_opt(2023, 12, 11).unwrap_or_default()
        );
        assert_eq!(tx.quantity, Some(dec!(5)));
        assert_eq!(tx.price, Some(dec!(192.26)));
        assert_eq!(tx.fee, Some(dec!(1.01)));
        assert_eq!(tx.amount, dec!(960.29));
        assert_eq!(tx.currency, "USD");
        let Some(asset) = &tx.asset else {
            panic!("no asset");
        };
        assert_eq!(asset.asset_id, "EQUITY:XNAS:AAPL");
        let buy = trade(
            r#"{"execution_id":"e2","symbol":"MSFT","side":"B","trade_time":"20231211-15:00:00",
                "size":3,"price":"420.55","commission":"0.35","net_amount":1261.65,
                "account":"U1234567","sec_type":"STK","currency":"USD"}"#,
        );
        let Some(tx) = transaction(&buy, &ctx) else {
            panic!("no transaction");
        };
        assert_eq!(tx.kind, TransactionType::Buy);
        assert_eq!(tx.amount, dec!(-1262.00));
        assert_eq!(tx.fee, Some(dec!(0.35)));
        assert_eq!(
            tx.trade_date,
            NaiveDate::from_ymd_opt(2023, 12, 11).unwrap_or_default()
        );
    }

    #[test]
    fn executions_of_other_accounts_older_than_since_or_expiries_are_skipped() {
        let contracts = HashMap::new();
        let map = CategoryMap::default();
        let since = Utc.timestamp_millis_opt(1_702_317_649_000).single();
        let ctx = TradeContext {
            account_id: "U1234567",
            base_currency: Some("USD"),
            contracts: &contracts,
            map: &map,
            since,
        };
        let base = r#""symbol":"AAPL","size":1,"price":"1","net_amount":1,"sec_type":"STK""#;
        let other = trade(&format!(
            r#"{{"execution_id":"a","side":"B","trade_time_r":1702317649000,"account":"U7654321",{base}}}"#
        ));
        assert!(transaction(&other, &ctx).is_none());
        let older = trade(&format!(
            r#"{{"execution_id":"b","side":"B","trade_time_r":1702317648999,"account":"U1234567",{base}}}"#
        ));
        assert!(transaction(&older, &ctx).is_none());
        let at_since = trade(&format!(
            r#"{{"execution_id":"c","side":"B","trade_time_r":1702317649000,"account":"U1234567",{base}}}"#
        ));
        assert!(transaction(&at_since, &ctx).is_some());
        let expired = trade(&format!(
            r#"{{"execution_id":"d","side":"X","trade_time_r":1702317649000,"account":"U1234567",{base}}}"#
        ));
        assert!(transaction(&expired, &ctx).is_none());
    }

    #[test]
    fn an_execution_takes_the_contract_and_currency_of_its_position() {
        let option = position(
            r#"{"conid":731234567,"contractDesc":"AAPL  JAN2025 150 C [AAPL  250117C00150000 100]",
                "position":-2.0,"currency":"USD","assetClass":"OPT","ticker":"AAPL",
                "expiry":"20250117","putOrCall":"C","strike":150,"multiplier":100.0}"#,
        );
        let Some(c) = contract(&option) else {
            panic!("no contract");
        };
        let contracts = HashMap::from([("731234567".to_owned(), c)]);
        let map = CategoryMap::default();
        let ctx = TradeContext {
            account_id: "U1234567",
            base_currency: Some("EUR"),
            contracts: &contracts,
            map: &map,
            since: None,
        };
        let sell = trade(
            r#"{"execution_id":"opt1","symbol":"AAPL","side":"S","trade_time_r":1702317649000,
                "size":1,"price":"5.35","commission":"0.65","net_amount":535.0,
                "account":"U1234567","sec_type":"OPT","conid":731234567}"#,
        );
        let Some(tx) = transaction(&sell, &ctx) else {
            panic!("no transaction");
        };
        let Some(asset) = &tx.asset else {
            panic!("no asset");
        };
        assert_eq!(asset.asset_id, "OPTION:AAPL:20250117:C:150");
        assert_eq!(tx.currency, "USD");
        assert_eq!(tx.amount, dec!(534.35));
    }

    #[test]
    fn account_types_are_spelled_as_flex_spells_them() {
        assert_eq!(account_kind("INDIVIDUAL"), "Individual");
        assert_eq!(account_kind("JOINT"), "Joint");
        assert_eq!(account_kind("IRA"), "IRA");
        assert_eq!(account_kind("Trust"), "Trust");
        let Some(a) = account(PortfolioAccount {
            id: Some("U1234567".into()),
            account_id: Some("U1234567".into()),
            account_title: Some("Jane Doe".into()),
            display_name: Some("U1234567".into()),
            currency: Some("usd".into()),
            kind: Some("INDIVIDUAL".into()),
            ..PortfolioAccount::default()
        }) else {
            panic!("no account");
        };
        assert_eq!(a.id, "U1234567");
        assert_eq!(a.kind.as_deref(), Some("Individual"));
        assert_eq!(a.base_currency.as_deref(), Some("USD"));
        assert_eq!(a.name.as_deref(), Some("Jane Doe"));
        assert!(account(PortfolioAccount::default()).is_none());
    }
}
