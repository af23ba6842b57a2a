//! IB asset categories → Tributary asset classes, and stable asset ids from IB contract fields.
//!
//! Every mode (Flex, Client Portal, TWS) describes an instrument with the same handful of
//! fields; they fill a [`Contract`] and call [`CategoryMap::asset`], so one instrument gets one
//! asset id whichever way it arrived. The per-account `position_type_map` config overrides the
//! class of a category (for example `{"FUND": "etf"}`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::ConnectorError;
use crate::normalize::asset_id;
use crate::types::{AssetClass, AssetRef};

/// The IB asset categories this module knows (others map to `other`).
pub const CATEGORIES: [&str; 13] = [
    "STK", "OPT", "FUT", "FOP", "CASH", "BOND", "FUND", "WAR", "CRYPTO", "CFD", "IND", "CMDTY",
    "BILL",
];

/// An instrument as IB describes it (the union of what the three APIs report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contract {
    /// `assetCategory` / `secType` / `assetClass`: STK, OPT, FUT, CASH, ...
    pub category: String,
    /// `subCategory` (Flex): COMMON, ETF, ADR, PREFERRED, ...
    pub sub_category: Option<String>,
    pub symbol: String,
    /// Underlying symbol for derivatives.
    pub underlying: Option<String>,
    pub description: Option<String>,
    /// ISO 4217 currency the instrument trades in.
    pub currency: String,
    /// `listingExchange` / `primaryExchange` (IB exchange code such as NASDAQ, NYSE, LSE).
    pub exchange: Option<String>,
    pub conid: Option<String>,
    pub isin: Option<String>,
    pub cusip: Option<String>,
    pub multiplier: Option<Decimal>,
    pub expiry: Option<NaiveDate>,
    pub strike: Option<Decimal>,
    /// `C` or `P`.
    pub put_call: Option<String>,
}

/// The class of each category, with the account's overrides applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryMap {
    overrides: BTreeMap<String, AssetClass>,
}

impl CategoryMap {
    /// Builds the map from the `position_type_map` config object (`{"CATEGORY": "class"}`).
    ///
    /// # Errors
    /// `InvalidConfig` on field `position_type_map` for a non-object, a non-string value or an
    /// unknown class name.
    pub fn from_config(value: Option<&serde_json::Value>) -> Result<Self, ConnectorError> {
        let mut overrides = BTreeMap::new();
        let Some(value) = value else {
            return Ok(Self { overrides });
        };
        if value.is_null() {
            return Ok(Self { overrides });
        }
        let Some(object) = value.as_object() else {
            return Err(ConnectorError::invalid_config(
                "position_type_map",
                "must be an object mapping IB asset categories (STK, OPT, ...) to asset classes",
            ));
        };
        for (category, class) in object {
            let class = class.as_str().and_then(parse_class).ok_or_else(|| {
                ConnectorError::invalid_config(
                    "position_type_map",
                    format!(
                        "{category}: expected one of equity, etf, crypto, cash, bond, option, \
                         future, fund, other"
                    ),
                )
            })?;
            overrides.insert(category.to_ascii_uppercase(), class);
        }
        Ok(Self { overrides })
    }

    /// The overrides as a config value (for the normalized config).
    #[must_use]
    pub fn to_config(&self) -> Option<serde_json::Value> {
        if self.overrides.is_empty() {
            return None;
        }
        Some(serde_json::Value::Object(
            self.overrides
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect(),
        ))
    }

    /// The asset class of a category (with its sub-category: `STK`/`ETF` is an ETF).
    #[must_use]
    pub fn class_of(&self, category: &str, sub_category: Option<&str>) -> AssetClass {
        let category = category.trim().to_ascii_uppercase();
        if let Some(class) = self.overrides.get(&category) {
            return *class;
        }
        match category.as_str() {
            "STK" => match sub_category.map(|s| s.trim().to_ascii_uppercase()) {
                Some(s) if s == "ETF" || s == "ETN" => AssetClass::Etf,
                _ => AssetClass::Equity,
            },
            "OPT" | "FOP" | "WAR" => AssetClass::Option,
            "FUT" => AssetClass::Future,
            "CASH" => AssetClass::Cash,
            "BOND" | "BILL" => AssetClass::Bond,
            "FUND" => AssetClass::Fund,
            "CRYPTO" => AssetClass::Crypto,
            _ => AssetClass::Other,
        }
    }

    /// The normalized instrument for an IB contract.
    #[must_use]
    pub fn asset(&self, c: &Contract) -> AssetRef {
        let class = self.class_of(&c.category, c.sub_category.as_deref());
        let category = c.category.trim().to_ascii_uppercase();
        let symbol = c.symbol.trim().to_owned();
        let asset_id = match category.as_str() {
            "STK" | "FUND" if class != AssetClass::Cash => {
                asset_id::equity(c.exchange.as_deref().and_then(mic_of), &symbol)
            }
            "OPT" | "FOP" | "WAR" => derivative_id("OPTION", c),
            "FUT" => derivative_id("FUTURE", c),
            "CASH" => asset_id::fx(symbol.split('.').next().unwrap_or(&symbol)),
            "CRYPTO" => asset_id::crypto(&symbol),
            "BOND" | "BILL" => format!(
                "BOND:{}",
                c.isin
                    .as_deref()
                    .or(c.cusip.as_deref())
                    .or(c.conid.as_deref())
                    .unwrap_or(&symbol)
                    .to_ascii_uppercase()
            ),
            _ => match &c.conid {
                Some(conid) => format!("IBKR:{conid}"),
                None => format!("IBKR:{}:{}", category, symbol.to_ascii_uppercase()),
            },
        };
        AssetRef {
            asset_id,
            name: c
                .description
                .clone()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| symbol.clone()),
            symbol,
            class,
            currency: c.currency.trim().to_ascii_uppercase(),
            exchange: c.exchange.as_deref().and_then(mic_of).map(str::to_owned),
        }
    }

    /// The cash holding asset of a currency (`CASH:EUR`).
    #[must_use]
    pub fn cash(currency: &str) -> AssetRef {
        let code = currency.trim().to_ascii_uppercase();
        AssetRef {
            asset_id: format!("CASH:{code}"),
            symbol: code.clone(),
            name: format!("Cash ({code})"),
            class: AssetClass::Cash,
            currency: code,
            exchange: None,
        }
    }
}

/// `OPTION:AAPL:20250117:C:150` / `FUTURE:ES:20251219`.
fn derivative_id(prefix: &str, c: &Contract) -> String {
    let underlying = c
        .underlying
        .as_deref()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or(c.symbol.split_whitespace().next().unwrap_or(&c.symbol))
        .trim()
        .to_ascii_uppercase();
    let mut id = format!("{prefix}:{underlying}");
    if let Some(expiry) = c.expiry {
        id.push(':');
        id.push_str(&expiry.format("%Y%m%d").to_string());
    }
    if let Some(pc) = &c.put_call {
        id.push(':');
        id.push_str(&pc.trim().to_ascii_uppercase());
    }
    if let Some(strike) = c.strike {
        id.push(':');
        id.push_str(&strike.normalize().to_string());
    }
    if c.expiry.is_none()
        && c.strike.is_none()
        && let Some(conid) = &c.conid
    {
        id.push(':');
        id.push_str(conid);
    }
    id
}

fn parse_class(s: &str) -> Option<AssetClass> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "equity" => AssetClass::Equity,
        "etf" => AssetClass::Etf,
        "crypto" => AssetClass::Crypto,
        "cash" => AssetClass::Cash,
        "bond" => AssetClass::Bond,
        "option" => AssetClass::Option,
        "future" => AssetClass::Future,
        "fund" => AssetClass::Fund,
        "other" => AssetClass::Other,
        _ => return None,
    })
}

/// The MIC of an IB exchange code, for the exchanges users hold most.
#[must_use]
pub fn mic_of(exchange: &str) -> Option<&'static str> {
    Some(match exchange.trim().to_ascii_uppercase().as_str() {
        "NASDAQ" | "ISLAND" => "XNAS",
        "NYSE" => "XNYS",
        "ARCA" | "NYSEARCA" => "ARCX",
        "AMEX" | "NYSEAMERICAN" => "XASE",
        "BATS" | "BYX" => "BATS",
        "LSE" | "LSEETF" => "XLON",
        "IBIS" | "IBIS2" | "XETRA" => "XETR",
        "FWB" | "FWB2" => "XFRA",
        "SBF" => "XPAR",
        "AEB" => "XAMS",
        "EBS" | "SWX" => "XSWX",
        "BVME" => "XMIL",
        "BM" => "XMAD",
        "TSE" => "XTKS",
        "SEHK" => "XHKG",
        "TSX" | "TSE.CA" => "XTSE",
        "ASX" => "XASX",
        "SGX" => "XSES",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn stk(symbol: &str, sub: Option<&str>, exchange: &str) -> Contract {
        Contract {
            category: "STK".into(),
            sub_category: sub.map(str::to_owned),
            symbol: symbol.into(),
            currency: "USD".into(),
            exchange: Some(exchange.into()),
            ..Contract::default()
        }
    }

    #[test]
    fn stocks_and_etfs_get_equity_ids_on_their_mic() {
        let map = CategoryMap::default();
        let aapl = map.asset(&stk("AAPL", Some("COMMON"), "NASDAQ"));
        assert_eq!(aapl.asset_id, "EQUITY:XNAS:AAPL");
        assert_eq!(aapl.class, AssetClass::Equity);
        let spy = map.asset(&stk("SPY", Some("ETF"), "ARCA"));
        assert_eq!(spy.asset_id, "EQUITY:ARCX:SPY");
        assert_eq!(spy.class, AssetClass::Etf);
        let unknown = map.asset(&stk("XYZ", None, "PINK"));
        assert_eq!(unknown.asset_id, "EQUITY:XYZ");
    }

    #[test]
    fn derivatives_get_ids_from_their_terms() {
        let map = CategoryMap::default();
        let opt = Contract {
            category: "OPT".into(),
            symbol: "AAPL  250117C00150000".into(),
            underlying: Some("AAPL".into()),
            currency: "USD".into(),
            expiry: NaiveDate::from_ymd_opt(2025, 1, 17),
            strike: Some(dec!(150.000)),
            put_call: Some("C".into()),
            multiplier: Some(dec!(100)),
            ..Contract::default()
        };
        let asset = map.asset(&opt);
        assert_eq!(asset.asset_id, "OPTION:AAPL:20250117:C:150");
        assert_eq!(asset.class, AssetClass::Option);
        let fut = Contract {
            category: "FUT".into(),
            symbol: "ESZ5".into(),
            underlying: Some("ES".into()),
            currency: "USD".into(),
            expiry: NaiveDate::from_ymd_opt(2025, 12, 19),
            ..Contract::default()
        };
        assert_eq!(map.asset(&fut).asset_id, "FUTURE:ES:20251219");
    }

    #[test]
    fn overrides_change_the_class_and_bad_ones_name_the_field() {
        let map = CategoryMap::from_config(Some(&json!({"fund": "etf", "CFD": "equity"})));
        let Ok(map) = map else {
            panic!("valid map rejected");
        };
        assert_eq!(map.class_of("FUND", None), AssetClass::Etf);
        assert_eq!(map.class_of("cfd", None), AssetClass::Equity);
        assert_eq!(map.class_of("BOND", None), AssetClass::Bond);
        for bad in [json!({"STK": "stocks"}), json!({"STK": 1}), json!([1])] {
            assert!(matches!(
                CategoryMap::from_config(Some(&bad)),
                Err(ConnectorError::InvalidConfig { field, .. }) if field == "position_type_map"
            ));
        }
    }

    #[test]
    fn cash_and_forex_pairs() {
        let map = CategoryMap::default();
        assert_eq!(CategoryMap::cash("eur").asset_id, "CASH:EUR");
        let pair = Contract {
            category: "CASH".into(),
            symbol: "EUR.USD".into(),
            currency: "USD".into(),
            ..Contract::default()
        };
        assert_eq!(map.asset(&pair).asset_id, "FX:EUR");
        assert_eq!(map.asset(&pair).class, AssetClass::Cash);
    }
}
