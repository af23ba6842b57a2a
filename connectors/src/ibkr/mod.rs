//! Interactive Brokers, in three modes that all produce the same [`AccountData`]:
//!
//! - [`flex`]: the Flex Web Service (SendRequest → GetStatement) and the `FlexQueryResponse`
//!   XML parser, which also serves file uploads (`format=ibkr_flex`);
//! - [`client_portal`]: the Client Portal gateway REST API (`/v1/api`);
//! - [`tws`]: the TWS / IB Gateway socket API through the `ibapi` crate.
//!
//! [`category`] maps IB asset categories (STK, OPT, FUT, CASH, ...) to Tributary asset classes
//! and builds stable asset ids from IB contract fields, the same way in every mode.

pub mod category;
pub mod client_portal;
pub mod config;
mod connector;
pub mod flex;
pub mod tws;

use chrono::NaiveDate;

pub use config::{IbkrConfig, IbkrEnv};
pub use connector::IbkrConnector;

use crate::types::{Balance, Holding, Transaction};

/// An IB account the credentials can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IbAccount {
    /// The IB account id (`U1234567`, `DU...` for paper accounts).
    pub id: String,
    /// Account type as IB names it: Individual, Joint, IRA, Trust, Organization, ...
    pub kind: Option<String>,
    /// Base currency (ISO 4217).
    pub base_currency: Option<String>,
    /// Account title / alias, when known.
    pub name: Option<String>,
    /// The day the account was opened, when known (Flex `AccountInformation dateOpened`).
    pub opened: Option<NaiveDate>,
}

/// Everything one mode returns for one IB account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountData {
    /// Positions as reported, plus one cash holding per currency (`CASH:<CCY>`, class Cash).
    pub holdings: Vec<Holding>,
    /// Ledger entries, each with a stable `source_id` (IB trade/transaction/execution id).
    pub transactions: Vec<Transaction>,
    /// Net liquidation value in the account's base currency.
    pub balance: Option<Balance>,
}
