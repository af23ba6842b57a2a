//! Validated value types and the domain records services return. No I/O here.

mod values;

pub use values::*;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A signed-in user as services see it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub base_currency: Currency,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// An account with its integration summary (config already redacted).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub kind: AccountKind,
    pub currency: Currency,
    pub institution: Option<String>,
    pub notes: Option<String>,
    pub integration: Option<IntegrationSummary>,
    pub balance: Option<Decimal>,
    pub balance_currency: Option<String>,
    pub balance_updated_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The integration attached to an account, with secrets redacted.
#[derive(Debug, Clone)]
pub struct IntegrationSummary {
    pub integration_type: String,
    pub config: serde_json::Value,
    pub status: IntegrationStatus,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A current position.
#[derive(Debug, Clone)]
pub struct Holding {
    pub id: Uuid,
    pub asset: Asset,
    pub quantity: Decimal,
    pub cost_basis: Option<Decimal>,
    pub price: Option<Decimal>,
    pub market_value: Option<Decimal>,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    pub source: String,
    /// The position valued at the latest stored quote (set by the market service).
    pub valuation: Option<HoldingValuation>,
}

/// A holding valued from stored market data (no provider call on the read path).
#[derive(Debug, Clone)]
pub struct HoldingValuation {
    /// Latest stored quote, in `currency`.
    pub market_price: Option<Decimal>,
    /// Quantity × market price, or the source-reported value when there is no quote.
    pub market_value: Option<Decimal>,
    /// Currency of `market_price` and `market_value`.
    pub currency: String,
    /// Provider of the price (the holding's source when the value is source-reported).
    pub price_source: Option<String>,
    pub price_as_of: Option<DateTime<Utc>>,
    /// `market_value` converted with stored FX rates; `None` when no rate is stored.
    pub value_in_base_currency: Option<Decimal>,
    pub base_currency: String,
}

/// An instrument.
#[derive(Debug, Clone)]
pub struct Asset {
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub class: String,
    pub currency: String,
    pub exchange: Option<String>,
}

/// A ledger entry.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: Uuid,
    pub kind: String,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    pub asset: Option<Asset>,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    pub currency: String,
    pub description: Option<String>,
    pub source: String,
    pub source_id: String,
    pub import_job_id: Option<Uuid>,
    pub account_id: AccountId,
    /// The earlier record of the same event from another source, when this is an alias.
    pub alias_of: Option<Uuid>,
    pub match_reason: Option<String>,
}

/// A personal API token (never with its secret).
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub scope: TokenScope,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An audit-log entry.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: Uuid,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One run of a sync or import.
#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: Uuid,
    pub account_id: Option<AccountId>,
    pub source: String,
    pub trigger: String,
    pub status: String,
    pub fetched: i32,
    pub inserted: i32,
    pub updated: i32,
    pub duplicates: i32,
    pub failed: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub next_run_at: Option<DateTime<Utc>>,
    pub progress: i32,
    pub cursor_in: Option<String>,
    pub cursor_out: Option<String>,
    pub warnings: serde_json::Value,
    pub errors: serde_json::Value,
    pub reconciliation: Option<serde_json::Value>,
    pub anomalies: serde_json::Value,
    pub quality_score: Option<Decimal>,
    pub duration_ms: Option<i64>,
    pub format: Option<String>,
    pub dry_run: bool,
    /// Records read so far (a running file import reports it live).
    pub processed: i32,
    /// An upload's options, what a retry runs with (`None` for syncs).
    pub options: Option<UploadOptions>,
    /// Whether a retry would take the job back now: it ended, and for an upload its file is
    /// still kept (it did not succeed and its retention has not run out).
    pub retryable: bool,
}

/// What to do with an upload's bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// One bad row rejects the file; nothing is written.
    Reject,
    /// Good rows are imported, bad ones reported.
    Skip,
}

impl OnError {
    /// The wire name (`reject`, `skip`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reject => "reject",
            Self::Skip => "skip",
        }
    }
}

/// The options an upload ran with, stored on its job (dry runs store none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOptions {
    /// The file format the upload was read as (`csv`, `ofx`, `ibkr_flex`), detected or given.
    pub format: String,
    pub on_error: OnError,
    pub ofx_account: Option<String>,
    pub ibkr_account: Option<String>,
}

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
