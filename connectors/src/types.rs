//! Normalized types every connector produces, and the account-connector trait.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ConnectorError;

/// The standard transaction types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    Buy,
    Sell,
    Dividend,
    Interest,
    Deposit,
    Withdrawal,
    Transfer,
    Fee,
    Split,
    Merger,
    Tax,
}

impl TransactionType {
    /// Every type, in a stable order.
    pub const ALL: [Self; 11] = [
        Self::Buy,
        Self::Sell,
        Self::Dividend,
        Self::Interest,
        Self::Deposit,
        Self::Withdrawal,
        Self::Transfer,
        Self::Fee,
        Self::Split,
        Self::Merger,
        Self::Tax,
    ];

    /// The wire and storage name (`buy`, `sell`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
            Self::Dividend => "dividend",
            Self::Interest => "interest",
            Self::Deposit => "deposit",
            Self::Withdrawal => "withdrawal",
            Self::Transfer => "transfer",
            Self::Fee => "fee",
            Self::Split => "split",
            Self::Merger => "merger",
            Self::Tax => "tax",
        }
    }

    /// Parses the wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Broad asset classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    Equity,
    Etf,
    Crypto,
    Cash,
    Bond,
    Option,
    Future,
    Fund,
    Other,
}

impl AssetClass {
    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equity => "equity",
            Self::Etf => "etf",
            Self::Crypto => "crypto",
            Self::Cash => "cash",
            Self::Bond => "bond",
            Self::Option => "option",
            Self::Future => "future",
            Self::Fund => "fund",
            Self::Other => "other",
        }
    }
}

/// Identifies an instrument. `asset_id` is stable across providers, for example
/// `EQUITY:XNAS:AAPL`, `CRYPTO:BTC` or `CASH:EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRef {
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub class: AssetClass,
    /// ISO 4217 currency the instrument is quoted in.
    pub currency: String,
    /// MIC of the listing exchange, when known.
    pub exchange: Option<String>,
}

/// A position as reported by the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    pub asset: AssetRef,
    pub quantity: Decimal,
    /// Total cost basis in the asset currency, when the source knows it.
    pub cost_basis: Option<Decimal>,
    /// Latest unit price in the asset currency.
    pub price: Option<Decimal>,
    /// quantity × price, in the asset currency.
    pub market_value: Option<Decimal>,
    pub as_of: DateTime<Utc>,
}

/// A ledger entry as reported by the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The provider's own id for this record; unique per account and source.
    pub source_id: String,
    pub kind: TransactionType,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    /// The instrument, absent for pure cash movements.
    pub asset: Option<AssetRef>,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    /// Signed cash effect on the account (negative for buys, fees, withdrawals, taxes).
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    /// ISO 4217 currency of `amount`.
    pub currency: String,
    pub description: Option<String>,
}

/// The account's total value as the source reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    pub as_of: DateTime<Utc>,
}

/// An account the credentials can see at the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteAccount {
    pub id: String,
    pub name: String,
    pub currency: String,
    /// Account type as the provider names it (Individual, Joint, IRA, ...), when known.
    pub kind: Option<String>,
}

/// The result of a connection test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    pub message: String,
}

/// Everything one sync returns: positions, the ledger since the cursor, the balance, and the
/// cursor to pass next time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncBatch {
    pub holdings: Vec<Holding>,
    pub transactions: Vec<Transaction>,
    pub balance: Option<Balance>,
    pub cursor: Option<String>,
}

/// A connection to one account at a broker, exchange or bank. Built from a validated,
/// decrypted configuration; object-safe so the server holds it as `Arc<dyn AccountConnector>`.
#[async_trait]
pub trait AccountConnector: Send + Sync {
    /// Checks that the credentials work and the provider answers.
    ///
    /// # Errors
    /// `Authentication` for bad credentials, `RateLimited`/`Upstream`/`Transport` otherwise.
    async fn health_check(&self) -> Result<ConnectionCheck, ConnectorError>;

    /// The accounts the credentials can see.
    ///
    /// # Errors
    /// As [`AccountConnector::health_check`].
    async fn accounts(&self) -> Result<Vec<RemoteAccount>, ConnectorError>;

    /// Current positions.
    ///
    /// # Errors
    /// As [`AccountConnector::health_check`].
    async fn holdings(&self) -> Result<Vec<Holding>, ConnectorError>;

    /// Current total value.
    ///
    /// # Errors
    /// As [`AccountConnector::health_check`].
    async fn balance(&self) -> Result<Balance, ConnectorError>;

    /// Transactions after `cursor` (all of them when `None`), and the next cursor.
    ///
    /// # Errors
    /// As [`AccountConnector::health_check`].
    async fn transactions(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<Transaction>, Option<String>), ConnectorError>;
}
