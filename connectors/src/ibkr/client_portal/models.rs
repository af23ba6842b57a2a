//! The Client Portal gateway's JSON, as it arrives. Every field is optional (the gateway drops
//! fields freely between versions and asset classes) and every number goes through
//! [`crate::dec`], so vendor floats become `Decimal` from their printed digits, once, here.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::dec;

/// `POST /iserver/auth/status`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthStatus {
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default)]
    pub connected: bool,
    /// Another brokerage session (TWS, the mobile app) holds the connection.
    #[serde(default)]
    pub competing: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub server_info: Option<ServerInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerInfo {
    #[serde(default)]
    pub server_name: Option<String>,
}

/// One entry of `GET /portfolio/accounts`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PortfolioAccount {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// The account holder's name.
    #[serde(default)]
    pub account_title: Option<String>,
    /// The alias the user gave the account, when any.
    #[serde(default)]
    pub account_alias: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Base currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// `INDIVIDUAL`, `JOINT`, `IRA`, `DEMO`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// One entry of `GET /portfolio/{accountId}/positions/{pageId}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Position {
    #[serde(default, deserialize_with = "loose_string")]
    pub conid: Option<String>,
    /// The local symbol; for derivatives a description with the OSI symbol in brackets
    /// (`AAPL   JAN2025 150 C [AAPL  250117C00150000 100]`).
    #[serde(default)]
    pub contract_desc: Option<String>,
    /// Signed quantity (negative for shorts).
    #[serde(default, deserialize_with = "dec::optional")]
    pub position: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub mkt_price: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub mkt_value: Option<Decimal>,
    /// Average cost per unit *times the multiplier* (per contract for derivatives).
    #[serde(default, deserialize_with = "dec::optional")]
    pub avg_cost: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    /// STK, OPT, FUT, FOP, CASH, BOND, FUND, WAR, CRYPTO, ...
    #[serde(default)]
    pub asset_class: Option<String>,
    /// The symbol (the underlying's for derivatives).
    #[serde(default)]
    pub ticker: Option<String>,
    #[serde(default)]
    pub und_sym: Option<String>,
    #[serde(default)]
    pub listing_exchange: Option<String>,
    /// Company / instrument name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    /// `YYYYMMDD` for derivatives.
    #[serde(default, deserialize_with = "loose_string")]
    pub expiry: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub last_trading_day: Option<String>,
    #[serde(default)]
    pub put_or_call: Option<String>,
    /// A number or a numeric string (`"0"` for non-options).
    #[serde(default, deserialize_with = "dec::optional")]
    pub strike: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub multiplier: Option<Decimal>,
    /// Stock type: COMMON, ETF, ADR, PREFERRED, ...
    #[serde(default, rename = "type")]
    pub stock_type: Option<String>,
    #[serde(default)]
    pub isin: Option<String>,
}

/// One currency of `GET /portfolio/{accountId}/ledger` (keyed by currency code, plus `BASE`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct LedgerEntry {
    #[serde(default, deserialize_with = "dec::optional")]
    pub cashbalance: Option<Decimal>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub netliquidationvalue: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The ledger: currency code (or `BASE`) → entry.
pub(super) type Ledger = BTreeMap<String, LedgerEntry>;

/// One value of `GET /portfolio/{accountId}/summary` (`{"netliquidation": {"amount": ..}}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SummaryValue {
    #[serde(default, deserialize_with = "dec::optional")]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub is_null: bool,
}

/// The summary: tag → value. Only `netliquidation` is read; other tags carry strings or
/// other shapes, so they are kept as raw JSON and never decoded.
pub(super) type Summary = BTreeMap<String, serde_json::Value>;

/// One execution of `GET /iserver/account/trades`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Trade {
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    /// `B` (bought) or `S` (sold).
    #[serde(default)]
    pub side: Option<String>,
    #[serde(default)]
    pub order_description: Option<String>,
    /// UTC, `YYYYMMDD-hh:mm:ss`.
    #[serde(default)]
    pub trade_time: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "loose_i64")]
    pub trade_time_r: Option<i64>,
    #[serde(default, deserialize_with = "dec::optional")]
    pub size: Option<Decimal>,
    /// A numeric string.
    #[serde(default, deserialize_with = "dec::optional")]
    pub price: Option<Decimal>,
    /// A numeric string.
    #[serde(default, deserialize_with = "dec::optional")]
    pub commission: Option<Decimal>,
    /// size × price × multiplier, unsigned, commission not included.
    #[serde(default, deserialize_with = "dec::optional")]
    pub net_amount: Option<Decimal>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default, rename = "accountCode")]
    pub account_code: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub contract_description_1: Option<String>,
    #[serde(default)]
    pub sec_type: Option<String>,
    /// Not always sent; the client falls back to the position's or the account's currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// `NASDAQ.NMS`, `NYSE`, ...
    #[serde(default)]
    pub listing_exchange: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    pub conid: Option<String>,
}

/// A string, a number (printed) or null.
fn loose_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<Loose>::deserialize(deserializer)? {
        None => None,
        Some(Loose::Text(t)) => Some(t).filter(|t| !t.trim().is_empty()),
        Some(Loose::Number(n)) => Some(n.to_string()),
    })
}

/// An integer as a number or a numeric string, or null.
fn loose_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let Some(text) = loose_string(deserializer)? else {
        return Ok(None);
    };
    let value = dec::parse_text(&text).map_err(serde::de::Error::custom)?;
    i64::try_from(value.trunc())
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("not an integer: {text}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn floats_become_decimals_from_their_printed_digits() {
        let p: Position = serde_json::from_str(
            r#"{"conid":265598,"position":614.2639,"mktPrice":197.3840027,"mktValue":121245.87,
                "avgCost":192.7477563,"strike":"0","multiplier":0.0,"expiry":null}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.conid.as_deref(), Some("265598"));
        assert_eq!(p.position, Some(dec!(614.2639)));
        assert_eq!(p.mkt_price, Some(dec!(197.3840027)));
        assert_eq!(p.mkt_value, Some(dec!(121245.87)));
        assert_eq!(p.avg_cost, Some(dec!(192.7477563)));
        assert_eq!(p.strike, Some(Decimal::ZERO));
        assert_eq!(p.expiry, None);
    }

    #[test]
    fn trades_read_string_prices_and_epoch_millis() {
        let t: Trade = serde_json::from_str(
            r#"{"execution_id":"0000e0d5.6576fd38.01.01","side":"S","size":5.0,"price":"192.26",
                "commission":"1.01","net_amount":961.3,"trade_time_r":1702317649000,"conid":"265598"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.price, Some(dec!(192.26)));
        assert_eq!(t.commission, Some(dec!(1.01)));
        assert_eq!(t.net_amount, Some(dec!(961.3)));
        assert_eq!(t.size, Some(dec!(5)));
        assert_eq!(t.trade_time_r, Some(1_702_317_649_000));
        assert_eq!(t.conid.as_deref(), Some("265598"));
    }
}
