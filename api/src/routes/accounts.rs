//! `/api/accounts`: accounts, their holdings and transactions.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{AppJson, AppQuery};
use super::integrations::IntegrationDto;
use super::{ListResponse, PageParams, double_option};
use crate::auth::CurrentUser;
use crate::domain::{
    Account, AccountId, AccountKind, Asset, Holding, IntegrationStatus, Transaction,
};
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::accounts::{AccountUpdate, NewAccount, TransactionQuery};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "IBKR main", "kind": "brokerage", "currency": "USD", "institution": "Interactive Brokers"}))]
pub struct CreateAccountRequest {
    pub name: String,
    pub kind: AccountKind,
    /// ISO 4217 code.
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
}

/// Changes to an account; omitted fields stay as they are. `integration_type` with
/// `integration_config` sets the integration (as `PUT /integration`); `integration_type: null`
/// removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "IBKR (joint)", "notes": "household account"}))]
pub struct UpdateAccountRequest {
    pub name: Option<String>,
    pub kind: Option<AccountKind>,
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub institution: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub integration_type: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub integration_config: Option<serde_json::Value>,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01930b7e-8f7a-7c4e-9a57-3f2e4b1c0d9e", "name": "Demo brokerage", "kind": "brokerage", "currency": "USD",
    "institution": null, "notes": null, "integration_type": "DEMO",
    "integration_config": {"seed": 42, "profile": "balanced", "fail_mode": "none", "password": "********", "has_password": true},
    "integration_status": "ok", "last_synced_at": "2026-11-22T10:00:00Z", "last_error": null,
    "balance": "104523.17", "balance_currency": "USD", "balance_updated_at": "2026-11-22T10:00:00Z",
    "created_at": "2026-11-22T09:00:00Z", "updated_at": "2026-11-22T10:00:00Z"
}))]
pub struct AccountDto {
    pub id: Uuid,
    pub name: String,
    pub kind: AccountKind,
    pub currency: String,
    pub institution: Option<String>,
    pub notes: Option<String>,
    pub integration_type: Option<String>,
    /// The integration config with secrets replaced by `********` and `has_<field>` hints.
    #[schema(value_type = Option<Object>)]
    pub integration_config: Option<serde_json::Value>,
    pub integration_status: Option<IntegrationStatus>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Total value as last reported by the integration (decimal string).
    #[schema(value_type = Option<String>, example = "104523.17")]
    pub balance: Option<Decimal>,
    pub balance_currency: Option<String>,
    pub balance_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Account> for AccountDto {
    fn from(a: Account) -> Self {
        let integration = a.integration.map(IntegrationDto::from);
        Self {
            id: a.id.0,
            name: a.name,
            kind: a.kind,
            currency: a.currency.as_str().to_string(),
            institution: a.institution,
            notes: a.notes,
            integration_type: integration.as_ref().map(|i| i.integration_type.clone()),
            integration_status: integration.as_ref().map(|i| i.status),
            last_error: integration.as_ref().and_then(|i| i.last_error.clone()),
            integration_config: integration.map(|i| i.config),
            last_synced_at: a.last_synced_at,
            balance: a.balance,
            balance_currency: a.balance_currency,
            balance_updated_at: a.balance_updated_at,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// An instrument.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetDto {
    /// Stable id, e.g. `EQUITY:XNAS:AAPL`, `CRYPTO:BTC`, `CASH:USD`.
    pub asset_id: String,
    pub symbol: String,
    pub name: String,
    /// equity, etf, crypto, cash, bond, option, future, fund, other.
    pub class: String,
    pub currency: String,
    pub exchange: Option<String>,
}

impl From<Asset> for AssetDto {
    fn from(a: Asset) -> Self {
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01930b7e-9000-7c4e-9a57-3f2e4b1c0d9e", "asset": {"asset_id": "EQUITY:XNAS:AAPL", "symbol": "AAPL", "name": "Apple Inc.", "class": "equity", "currency": "USD", "exchange": "XNAS"}, "quantity": "25", "cost_basis": "4312.50", "price": "231.04", "market_value": "5776.00", "currency": "USD", "as_of": "2026-11-22T10:00:00Z", "source": "demo"}))]
pub struct HoldingDto {
    pub id: Uuid,
    pub asset: AssetDto,
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[schema(value_type = Option<String>)]
    pub cost_basis: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// The current market value: quantity × the latest stored quote, or the value the source
    /// reported when no quote is stored (in `market_currency`).
    #[schema(value_type = Option<String>)]
    pub market_value: Option<Decimal>,
    pub currency: String,
    pub as_of: DateTime<Utc>,
    pub source: String,
    /// The latest stored quote (decimal string), in `market_currency`.
    #[schema(value_type = Option<String>)]
    pub market_price: Option<Decimal>,
    /// Currency of `market_price` and `market_value`.
    pub market_currency: Option<String>,
    /// Provider of the price (or the holding's source for a source-reported value).
    pub price_source: Option<String>,
    pub price_as_of: Option<DateTime<Utc>>,
    /// `market_value` in the user's base currency, converted with stored FX rates.
    #[schema(value_type = Option<String>)]
    pub value_in_base_currency: Option<Decimal>,
    pub base_currency: Option<String>,
}

impl From<Holding> for HoldingDto {
    fn from(h: Holding) -> Self {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionDto {
    pub id: Uuid,
    /// buy, sell, dividend, interest, deposit, withdrawal, transfer, fee, split, merger, tax.
    #[serde(rename = "type")]
    pub kind: String,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    pub asset: Option<AssetDto>,
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// Signed cash effect on the account.
    #[schema(value_type = String)]
    pub amount: Decimal,
    #[schema(value_type = Option<String>)]
    pub fee: Option<Decimal>,
    pub currency: String,
    pub description: Option<String>,
    pub source: String,
    pub source_id: String,
    pub import_job_id: Option<Uuid>,
    pub account_id: Uuid,
    /// The earlier record of the same event from another source, when this is an alias.
    pub alias_of: Option<Uuid>,
    /// Why it was matched as an alias.
    pub match_reason: Option<String>,
}

impl From<Transaction> for TransactionDto {
    fn from(t: Transaction) -> Self {
        Self {
            account_id: t.account_id.0,
            alias_of: t.alias_of,
            match_reason: t.match_reason,
            id: t.id,
            kind: t.kind,
            trade_date: t.trade_date,
            settle_date: t.settle_date,
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

/// Transaction filters and pagination.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransactionParams {
    /// Comma-separated types, e.g. `buy,sell`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// First trade date (inclusive), YYYY-MM-DD.
    pub from: Option<NaiveDate>,
    /// Last trade date (inclusive), YYYY-MM-DD.
    pub to: Option<NaiveDate>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Create an account.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "Created", body = AccountDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts")]
pub async fn create_account(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    body: AppJson<CreateAccountRequest>,
) -> Result<HttpResponse, ServiceError> {
    let b = body.0;
    let input = NewAccount {
        name: b.name,
        kind: b.kind,
        currency: b.currency,
        institution: b.institution,
        notes: b.notes,
    };
    let account = ctx.accounts().create(&user.actor(), input).await?;
    Ok(HttpResponse::Created().json(AccountDto::from(account)))
}

/// List the caller's accounts.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of accounts", body = ListResponse<AccountDto>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts")]
pub async fn list_accounts(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<PageParams>,
) -> Result<HttpResponse, ServiceError> {
    let cached = ctx
        .accounts()
        .list_shared(user.id, q.0.cursor.as_deref(), q.0.limit)
        .await?;
    let body = cached.rendered.get_or_init(|| {
        let dto = ListResponse::from_page(cached.page.clone(), AccountDto::from);
        serde_json::to_vec(&dto).unwrap_or_default().into()
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(web::Bytes::from_owner(body.clone())))
}

/// One account, with its integration (secrets redacted) and balance.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = AccountDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}")]
pub async fn get_account(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<AccountDto>, ServiceError> {
    Ok(web::Json(
        ctx.accounts().get(user.id, AccountId(*id)).await?.into(),
    ))
}

/// Update an account (and optionally its integration).
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "Updated", body = AccountDto),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/accounts/{id}")]
pub async fn update_account(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    body: AppJson<UpdateAccountRequest>,
) -> Result<web::Json<AccountDto>, ServiceError> {
    let b = body.0;
    let integration = match (b.integration_type, b.integration_config) {
        (Some(Some(kind)), Some(config)) => Some(Some((kind, config))),
        (Some(Some(_)), None) => {
            return Err(ServiceError::validation(
                "integration_config",
                "is required with integration_type",
            ));
        }
        (Some(None), _) => Some(None),
        (None, Some(_)) => {
            return Err(ServiceError::validation(
                "integration_type",
                "is required with integration_config",
            ));
        }
        (None, None) => None,
    };
    let update = AccountUpdate {
        name: b.name,
        kind: b.kind,
        currency: b.currency,
        institution: b.institution,
        notes: b.notes,
        integration,
    };
    Ok(web::Json(
        ctx.accounts()
            .update(&user.actor(), AccountId(*id), update)
            .await?
            .into(),
    ))
}

/// Delete an account with its holdings and transactions.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/accounts/{id}")]
pub async fn delete_account(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ServiceError> {
    ctx.accounts().delete(&user.actor(), AccountId(*id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Current positions of an account.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Holdings", body = Vec<HoldingDto>),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}/holdings")]
pub async fn list_holdings(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<HoldingDto>>, ServiceError> {
    let holdings = ctx.accounts().holdings(user.id, AccountId(*id)).await?;
    Ok(web::Json(holdings.into_iter().map(Into::into).collect()))
}

/// Transactions of an account, newest first, filtered by type and trade-date range.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id"), TransactionParams),
    responses(
        (status = 200, description = "A page of transactions", body = ListResponse<TransactionDto>),
        (status = 400, description = "Malformed id or query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown type, bad range or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}/transactions")]
pub async fn list_transactions(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    q: AppQuery<TransactionParams>,
) -> Result<web::Json<ListResponse<TransactionDto>>, ServiceError> {
    let q = q.0;
    let query = TransactionQuery {
        kinds: q
            .kind
            .map(|k| {
                k.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        from: q.from,
        to: q.to,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = ctx
        .accounts()
        .transactions(user.id, AccountId(*id), query)
        .await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        TransactionDto::from,
    )))
}

/// A holding with the account it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountHoldingDto {
    pub account_id: Uuid,
    #[serde(flatten)]
    pub holding: HoldingDto,
}

/// Holdings sharing an account, asset, asset class or currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingGroupDto {
    /// The account id, asset id, asset class or currency.
    pub key: String,
    pub label: String,
    /// Sum of the members' values in the user's base currency.
    #[schema(value_type = String)]
    pub value_in_base_currency: Decimal,
    /// False when a member has no stored quote or FX rate (its value is left out).
    pub complete: bool,
    pub holdings: Vec<AccountHoldingDto>,
}

/// Grouping for the cross-account holdings list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldingsParams {
    /// account (default), asset, asset_class or currency.
    pub group_by: Option<String>,
}

/// Every holding across the caller's accounts, grouped, largest group first.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    params(HoldingsParams),
    responses(
        (status = 200, description = "Groups of holdings", body = Vec<HoldingGroupDto>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown group_by", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/holdings")]
pub async fn list_all_holdings(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<HoldingsParams>,
) -> Result<web::Json<Vec<HoldingGroupDto>>, ServiceError> {
    let group_by = crate::services::accounts::HoldingGroupBy::parse(
        q.0.group_by.as_deref().unwrap_or("account"),
    )?;
    let groups = ctx.accounts().holdings_grouped(user.id, group_by).await?;
    Ok(web::Json(
        groups
            .into_iter()
            .map(|g| HoldingGroupDto {
                key: g.key,
                label: g.label,
                value_in_base_currency: g.value_in_base_currency,
                complete: g.complete,
                holdings: g
                    .holdings
                    .into_iter()
                    .map(|(account, h)| AccountHoldingDto {
                        account_id: account.0,
                        holding: h.into(),
                    })
                    .collect(),
            })
            .collect(),
    ))
}
