//! GraphQL object types, built from domain types.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    ComplexObject, Context, Enum, InputObject, Json, MaybeUndefined, SimpleObject,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::scalars::Date;
use super::{app, current_user, page_size, to_gql};
use crate::domain;

macro_rules! mirror_enum {
    ($name:ident, $domain:path, { $($variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        pub enum $name { $($variant),+ }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                match v { $(<$domain>::$variant => Self::$variant),+ }
            }
        }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => Self::$variant),+ }
            }
        }
    };
}

mirror_enum!(AccountKind, domain::AccountKind, { Brokerage, Crypto, Bank, Cash, Other });
mirror_enum!(IntegrationStatus, domain::IntegrationStatus, { Configured, Ok, Error, NeedsReauth });
mirror_enum!(TokenScope, domain::TokenScope, { Read, Write });
mirror_enum!(Role, domain::Role, { User, Admin });

/// The standard transaction types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
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

    fn from_stored(s: &str) -> Option<Self> {
        [
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
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The signed-in user.
#[derive(SimpleObject)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub base_currency: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<domain::User> for User {
    fn from(u: domain::User) -> Self {
        Self {
            id: u.id.0,
            email: u.email,
            display_name: u.display_name,
            base_currency: u.base_currency.as_str().to_string(),
            role: u.role.into(),
            created_at: u.created_at,
        }
    }
}

/// An account, with its integration, balance, holdings and transactions.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub kind: AccountKind,
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
    /// Total value as last reported by the integration.
    pub balance: Option<Decimal>,
    pub balance_currency: Option<String>,
    pub balance_updated_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The integration with secrets redacted, if any.
    pub integration: Option<Integration>,
}

impl From<domain::Account> for Account {
    fn from(a: domain::Account) -> Self {
        Self {
            id: a.id.0,
            name: a.name,
            kind: a.kind.into(),
            currency: a.currency.as_str().to_string(),
            institution: a.institution,
            notes: a.notes,
            balance: a.balance,
            balance_currency: a.balance_currency,
            balance_updated_at: a.balance_updated_at,
            last_synced_at: a.last_synced_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
            integration: a.integration.map(Into::into),
        }
    }
}

/// Filters for transaction lists.
#[derive(InputObject, Default)]
pub struct TransactionFilter {
    pub types: Option<Vec<TransactionType>>,
    /// First trade date (inclusive).
    pub from: Option<Date>,
    /// Last trade date (inclusive).
    pub to: Option<Date>,
}

#[ComplexObject]
impl Account {
    /// Current positions (batched across accounts by a DataLoader).
    #[graphql(complexity = "10 * child_complexity")]
    async fn holdings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Holding>> {
        let loader = ctx.data::<super::loaders::HoldingsDataLoader>()?;
        let holdings = loader.load_one(domain::AccountId(self.id)).await?;
        Ok(holdings
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Transactions, newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 1000) as usize * child_complexity")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<TransactionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Transaction>> {
        transactions_connection(ctx, self.id, filter, first, after).await
    }
}

pub(crate) async fn transactions_connection(
    ctx: &Context<'_>,
    account_id: Uuid,
    filter: Option<TransactionFilter>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Connection<String, Transaction>> {
    let user = current_user(ctx)?;
    let limit = page_size(ctx, first)?;
    let filter = filter.unwrap_or_default();
    let query = crate::services::accounts::TransactionQuery {
        kinds: filter
            .types
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.as_str().to_string())
            .collect(),
        from: filter.from.map(|d| d.0),
        to: filter.to.map(|d| d.0),
        cursor: after,
        limit: Some(limit),
    };
    let page = app(ctx)?
        .accounts()
        .transactions(user.id, domain::AccountId(account_id), query)
        .await
        .map_err(to_gql)?;
    let mut conn = Connection::new(false, page.next_cursor.is_some());
    conn.edges.extend(page.items.into_iter().map(|t| {
        let cursor = crate::services::accounts::encode_tx_cursor(t.trade_date, t.id);
        Edge::new(cursor, Transaction::from(t))
    }));
    Ok(conn)
}

/// An account's integration, secrets redacted (`********` plus `has_<field>`).
#[derive(SimpleObject, Clone)]
pub struct Integration {
    #[graphql(name = "type")]
    pub integration_type: String,
    pub config: Json<serde_json::Value>,
    pub status: IntegrationStatus,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<domain::IntegrationSummary> for Integration {
    fn from(s: domain::IntegrationSummary) -> Self {
        Self {
            integration_type: s.integration_type,
            config: Json(s.config),
            status: s.status.into(),
            last_synced_at: s.last_synced_at,
            last_error: s.last_error,
        }
    }
}

/// An instrument.
#[derive(SimpleObject, Clone)]
pub struct Asset {
    /// Stable id, e.g. `EQUITY:XNAS:AAPL`.
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    pub class: String,
    pub currency: String,
    pub exchange: Option<String>,
}

impl From<domain::Asset> for Asset {
    fn from(a: domain::Asset) -> Self {
        Self {
            asset_id: a.asset_id,
            symbol: a.symbol,
            name: a.name,
            class: a.class,
            currency: a.currency,
            exchange: a.exchange,
        }
    }
}

/// A position.
#[derive(SimpleObject)]
pub struct Holding {
    pub id: Uuid,
    pub asset: Asset,
    pub quantity: Decimal,
    pub cost_basis: Option<Decimal>,
    pub price: Option<Decimal>,
    /// The current market value: quantity × the latest stored quote, or the value the source
    /// reported when no quote is stored (in `marketCurrency`).
    pub market_value: Option<Decimal>,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    pub source: String,
    /// The latest stored quote, in `marketCurrency`.
    pub market_price: Option<Decimal>,
    pub market_currency: Option<String>,
    /// Provider of the price (or the holding's source for a source-reported value).
    pub price_source: Option<String>,
    pub price_as_of: Option<DateTime<Utc>>,
    /// `marketValue` in the user's base currency, converted with stored FX rates.
    pub value_in_base_currency: Option<Decimal>,
    pub base_currency: Option<String>,
}

impl From<domain::Holding> for Holding {
    fn from(h: domain::Holding) -> Self {
        Self {
            id: h.id,
            asset: h.asset.into(),
            quantity: h.quantity,
            cost_basis: h.cost_basis,
            price: h.price,
            market_value: h
                .valuation
                .as_ref()
                .and_then(|v| v.market_value)
                .or(h.market_value),
            currency: h.currency,
            as_of: h.as_of,
            source: h.source,
            market_price: h.valuation.as_ref().and_then(|v| v.market_price),
            market_currency: h.valuation.as_ref().map(|v| v.currency.clone()),
            price_source: h.valuation.as_ref().and_then(|v| v.price_source.clone()),
            price_as_of: h.valuation.as_ref().and_then(|v| v.price_as_of),
            value_in_base_currency: h.valuation.as_ref().and_then(|v| v.value_in_base_currency),
            base_currency: h.valuation.map(|v| v.base_currency),
        }
    }
}

/// A ledger entry.
#[derive(SimpleObject)]
pub struct Transaction {
    pub id: Uuid,
    #[graphql(name = "type")]
    pub kind: Option<TransactionType>,
    pub trade_date: Date,
    pub settle_date: Option<Date>,
    pub asset: Option<Asset>,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    /// Signed cash effect on the account.
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    pub currency: String,
    pub description: Option<String>,
    pub source: String,
    pub source_id: String,
    pub import_job_id: Option<Uuid>,
    pub account_id: Uuid,
    /// The earlier record of the same event from another source, when this is an alias.
    pub alias_of: Option<Uuid>,
    pub match_reason: Option<String>,
}

impl From<domain::Transaction> for Transaction {
    fn from(t: domain::Transaction) -> Self {
        Self {
            account_id: t.account_id.0,
            alias_of: t.alias_of,
            match_reason: t.match_reason,
            id: t.id,
            kind: TransactionType::from_stored(&t.kind),
            trade_date: Date(t.trade_date),
            settle_date: t.settle_date.map(Date),
            asset: t.asset.map(Into::into),
            quantity: t.quantity,
            price: t.price,
            amount: t.amount,
            fee: t.fee,
            currency: t.currency,
            description: t.description,
            source: t.source,
            source_id: t.source_id,
            import_job_id: t.import_job_id,
        }
    }
}

/// One run of a sync, refresh or import.
#[derive(SimpleObject, Clone, PartialEq)]
pub struct ImportJob {
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    pub source: String,
    pub trigger: String,
    /// queued, running, succeeded, partial, failed, cancelled.
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
    /// 0 to 100: pages for a sync; share of the file read for a CSV upload (50 once an OFX
    /// or Flex file is parsed, then per batch written); 100 once it ended.
    pub progress: i32,
    pub cursor_in: Option<String>,
    pub cursor_out: Option<String>,
    pub warnings: Json<serde_json::Value>,
    /// Record-level errors: `{line?, source_id?, field?, message}`.
    pub errors: Json<serde_json::Value>,
    pub reconciliation: Option<Json<serde_json::Value>>,
    pub anomalies: Json<serde_json::Value>,
    pub quality_score: Option<Decimal>,
    pub duration_ms: Option<i64>,
    pub format: Option<String>,
    pub dry_run: bool,
    /// Records read so far: live while a file import runs, `fetched` once it ended.
    pub processed: i32,
    /// The options an upload ran with, which a retry runs with again; null for syncs.
    pub options: Option<ImportJobOptions>,
    /// Whether `retryImportJob` would take the job back now: it ended, and an upload did not
    /// succeed and still has its file kept.
    pub retryable: bool,
}

/// The options of an upload.
#[derive(SimpleObject, Clone, PartialEq)]
pub struct ImportJobOptions {
    /// The format the file was read as: csv, ofx or ibkr_flex (detected or given).
    pub format: String,
    /// reject or skip.
    pub on_error: String,
    pub ofx_account: Option<String>,
    pub ibkr_account: Option<String>,
}

impl From<domain::ImportJob> for ImportJob {
    fn from(j: domain::ImportJob) -> Self {
        Self {
            processed: j.processed,
            options: j.options.map(|o| ImportJobOptions {
                format: o.format,
                on_error: o.on_error.as_str().to_string(),
                ofx_account: o.ofx_account,
                ibkr_account: o.ibkr_account,
            }),
            retryable: j.retryable,
            attempt: j.attempt,
            max_attempts: j.max_attempts,
            next_run_at: j.next_run_at,
            progress: j.progress,
            cursor_in: j.cursor_in,
            cursor_out: j.cursor_out,
            warnings: Json(j.warnings),
            errors: Json(j.errors),
            reconciliation: j.reconciliation.map(Json),
            anomalies: Json(j.anomalies),
            quality_score: j.quality_score,
            duration_ms: j.duration_ms,
            format: j.format,
            dry_run: j.dry_run,
            id: j.id,
            account_id: j.account_id.map(|a| a.0),
            source: j.source,
            trigger: j.trigger,
            status: j.status,
            fetched: j.fetched,
            inserted: j.inserted,
            updated: j.updated,
            duplicates: j.duplicates,
            failed: j.failed,
            error: j.error,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

/// Something that happened to the caller's data or sessions.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub id: Uuid,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub detail: Option<Json<serde_json::Value>>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::AuditEntry> for AuditEntry {
    fn from(e: domain::AuditEntry) -> Self {
        Self {
            id: e.id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            detail: e.detail.map(Json),
            ip: e.ip,
            created_at: e.created_at,
        }
    }
}

/// A personal API token (never its secret).
#[derive(SimpleObject)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub scope: TokenScope,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<domain::ApiToken> for ApiToken {
    fn from(t: domain::ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope.into(),
            prefix: t.prefix,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            created_at: t.created_at,
        }
    }
}

/// A new token and its secret, shown only this once.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
}

/// One configuration field of an integration type.
#[derive(SimpleObject)]
pub struct ConfigField {
    pub name: String,
    /// string, integer or boolean.
    #[graphql(name = "type")]
    pub kind: String,
    pub required: bool,
    pub secret: bool,
    pub description: String,
}

/// An integration type users can attach.
#[derive(SimpleObject)]
pub struct IntegrationType {
    #[graphql(name = "type")]
    pub integration_type: String,
    pub name: String,
    pub description: String,
    pub fields: Vec<ConfigField>,
    /// JSON Schema of the config.
    pub config_schema: Json<serde_json::Value>,
}

/// The result of a connection test.
#[derive(SimpleObject)]
pub struct TestResult {
    pub success: bool,
    pub message: String,
    pub status: IntegrationStatus,
}

#[derive(InputObject)]
pub struct CreateAccountInput {
    pub name: String,
    pub kind: AccountKind,
    /// ISO 4217 code.
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
}

/// Omitted fields stay; `null` clears the nullable ones.
#[derive(InputObject)]
pub struct UpdateAccountInput {
    pub name: Option<String>,
    pub kind: Option<AccountKind>,
    pub currency: Option<String>,
    pub institution: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct IntegrationInput {
    /// An available integration type (see `integrationTypes`).
    #[graphql(name = "type")]
    pub integration_type: String,
    /// Send `********` for a secret to keep the stored value.
    pub config: Json<serde_json::Value>,
}

#[derive(InputObject)]
pub struct CreateApiTokenInput {
    pub name: String,
    pub scope: TokenScope,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct UpdateMeInput {
    pub display_name: MaybeUndefined<String>,
    pub base_currency: Option<String>,
}

/// Converts `MaybeUndefined` to the services' "absent / clear / set" triple.
pub(crate) fn tri<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(x) => Some(Some(x)),
    }
}

/// A manual transaction.
#[derive(InputObject)]
pub struct TransactionInput {
    #[graphql(name = "type")]
    pub kind: TransactionType,
    pub trade_date: Date,
    pub settle_date: Option<Date>,
    /// Ticker (`AAPL`, `VOD.L`), crypto (`BTC`) or stable asset id; required for buys and sells.
    pub symbol: Option<String>,
    /// equity, etf, crypto, bond, fund, option, future, other.
    pub asset_class: Option<String>,
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    /// Signed cash effect.
    pub amount: Decimal,
    pub fee: Option<Decimal>,
    pub currency: String,
    pub description: Option<String>,
}

impl From<TransactionInput> for crate::services::transactions::ManualTransaction {
    fn from(t: TransactionInput) -> Self {
        Self {
            kind: t.kind.as_str().to_string(),
            trade_date: t.trade_date.0,
            settle_date: t.settle_date.map(|d| d.0),
            symbol: t.symbol,
            asset_class: t.asset_class,
            quantity: t.quantity,
            price: t.price,
            amount: t.amount,
            fee: t.fee,
            currency: t.currency,
            description: t.description,
        }
    }
}

/// One integrated account on the data-source dashboard.
#[derive(SimpleObject)]
pub struct DataSource {
    pub account_id: Uuid,
    pub account_name: String,
    #[graphql(name = "type")]
    pub integration_type: String,
    /// connected, error, needs_reauth or configured.
    pub status: String,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sync_frequency: String,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub quality_score: Option<Decimal>,
    pub active_job_id: Option<Uuid>,
    /// Things to act on before syncs fail, e.g. a Flex token expiring within 14 days.
    pub warnings: Vec<String>,
}

impl From<crate::services::data_sources::DataSource> for DataSource {
    fn from(d: crate::services::data_sources::DataSource) -> Self {
        Self {
            account_id: d.account_id.0,
            account_name: d.account_name,
            integration_type: d.integration_type,
            status: d.status,
            last_synced_at: d.last_synced_at,
            last_error: d.last_error,
            sync_frequency: d.sync_frequency,
            next_sync_at: d.next_sync_at,
            quality_score: d.quality_score,
            active_job_id: d.active_job_id,
            warnings: d.warnings,
        }
    }
}

/// How holdings across accounts are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum HoldingGroupBy {
    Account,
    Asset,
    AssetClass,
    Currency,
}

impl From<HoldingGroupBy> for crate::services::accounts::HoldingGroupBy {
    fn from(g: HoldingGroupBy) -> Self {
        match g {
            HoldingGroupBy::Account => Self::Account,
            HoldingGroupBy::Asset => Self::Asset,
            HoldingGroupBy::AssetClass => Self::AssetClass,
            HoldingGroupBy::Currency => Self::Currency,
        }
    }
}

/// A holding with the account it belongs to.
#[derive(SimpleObject)]
pub struct AccountHolding {
    pub account_id: Uuid,
    pub holding: Holding,
}

/// Holdings sharing an account, asset, asset class or currency.
#[derive(SimpleObject)]
pub struct HoldingGroup {
    pub key: String,
    pub label: String,
    /// Sum of the members' values in the user's base currency.
    pub value_in_base_currency: Decimal,
    /// False when a member has no stored quote or FX rate.
    pub complete: bool,
    pub holdings: Vec<AccountHolding>,
}

/// An account at the provider, as the integration's credentials see it.
#[derive(SimpleObject)]
pub struct RemoteAccount {
    /// The provider's account id (for IBKR `U1234567`); the config's `account_id`.
    pub id: String,
    pub name: String,
    /// Base currency (ISO 4217), when the provider says.
    pub currency: Option<String>,
    /// Account type as the provider names it: Individual, Joint, IRA, ...
    #[graphql(name = "type")]
    pub kind: Option<String>,
}

impl From<tributary_connectors::RemoteAccount> for RemoteAccount {
    fn from(a: tributary_connectors::RemoteAccount) -> Self {
        Self {
            id: a.id,
            name: a.name,
            currency: (!a.currency.is_empty()).then_some(a.currency),
            kind: a.kind,
        }
    }
}
