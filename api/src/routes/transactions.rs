//! `/api/transactions` across accounts, and manual transactions of one account.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ListResponse;
use super::accounts::TransactionDto;
use super::extract::{AppJson, AppQuery};
use crate::auth::CurrentUser;
use crate::domain::AccountId;
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::transactions::{AllTransactionsQuery, ManualTransaction};

/// A manual transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "buy", "trade_date": "2026-03-02", "symbol": "AAPL", "quantity": "10", "price": "185.20", "amount": "-1852.00", "currency": "USD"}))]
pub struct ManualTransactionRequest {
    /// buy, sell, dividend, interest, deposit, withdrawal, transfer, fee, split, merger, tax.
    #[serde(rename = "type")]
    pub kind: String,
    pub trade_date: NaiveDate,
    pub settle_date: Option<NaiveDate>,
    /// Ticker (`AAPL`, `VOD.L`), crypto (`BTC`) or stable asset id; required for buys and sells.
    pub symbol: Option<String>,
    /// equity, etf, crypto, bond, fund, option, future, other.
    pub asset_class: Option<String>,
    #[schema(value_type = Option<String>)]
    pub quantity: Option<Decimal>,
    #[schema(value_type = Option<String>)]
    pub price: Option<Decimal>,
    /// Signed cash effect (negative for buys, fees, withdrawals, taxes).
    #[schema(value_type = String)]
    pub amount: Decimal,
    #[schema(value_type = Option<String>)]
    pub fee: Option<Decimal>,
    /// ISO 4217.
    pub currency: String,
    pub description: Option<String>,
}

impl From<ManualTransactionRequest> for ManualTransaction {
    fn from(r: ManualTransactionRequest) -> Self {
        Self {
            kind: r.kind,
            trade_date: r.trade_date,
            settle_date: r.settle_date,
            symbol: r.symbol,
            asset_class: r.asset_class,
            quantity: r.quantity,
            price: r.price,
            amount: r.amount,
            fee: r.fee,
            currency: r.currency,
            description: r.description,
        }
    }
}

/// Filters for the cross-account list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllTransactionsParams {
    pub account_id: Option<Uuid>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// A stable asset id such as `EQUITY:XNAS:AAPL`.
    pub asset: Option<String>,
    /// `demo`, `manual`, `csv`, `ofx`, ...
    pub source: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Also list records matched as aliases of another source's record (default false).
    pub include_aliases: Option<bool>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The caller's transactions across accounts, newest first.
#[utoipa::path(
    tag = "transactions",
    security(("bearer" = [])),
    params(AllTransactionsParams),
    responses(
        (status = 200, description = "A page of transactions", body = ListResponse<TransactionDto>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown type, bad range or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/transactions")]
pub async fn list_all_transactions(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<AllTransactionsParams>,
) -> Result<web::Json<ListResponse<TransactionDto>>, ServiceError> {
    let q = q.0;
    let query = AllTransactionsQuery {
        account: q.account_id.map(AccountId),
        kinds: q
            .kind
            .map(|k| {
                k.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        asset: q.asset,
        source: q.source,
        from: q.from,
        to: q.to,
        include_aliases: q.include_aliases.unwrap_or(false),
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = ctx.transactions().list(user.id, query).await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        TransactionDto::from,
    )))
}

/// Add a manual transaction (validated and deduplicated like imports).
#[utoipa::path(
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = ManualTransactionRequest,
    responses(
        (status = 201, description = "Created", body = TransactionDto),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Identical to an existing or deleted transaction", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts/{id}/transactions")]
pub async fn create_transaction(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    body: AppJson<ManualTransactionRequest>,
) -> Result<HttpResponse, ServiceError> {
    let t = ctx
        .transactions()
        .create(&user.actor(), AccountId(*id), body.0.into())
        .await?;
    Ok(HttpResponse::Created().json(TransactionDto::from(t)))
}

/// Correct a transaction.
#[utoipa::path(
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id"), ("tx_id" = Uuid, Path, description = "Transaction id")),
    request_body = ManualTransactionRequest,
    responses(
        (status = 200, description = "Updated", body = TransactionDto),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or transaction", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/accounts/{id}/transactions/{tx_id}")]
pub async fn update_transaction(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
    body: AppJson<ManualTransactionRequest>,
) -> Result<web::Json<TransactionDto>, ServiceError> {
    let (account, tx) = path.into_inner();
    let t = ctx
        .transactions()
        .update(&user.actor(), AccountId(account), tx, body.0.into())
        .await?;
    Ok(web::Json(t.into()))
}

/// Delete a transaction; the next sync or re-import will not bring it back.
#[utoipa::path(
    tag = "transactions",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id"), ("tx_id" = Uuid, Path, description = "Transaction id")),
    responses(
        (status = 204, description = "Deleted (tombstone kept)"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account or transaction", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/accounts/{id}/transactions/{tx_id}")]
pub async fn delete_transaction(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ServiceError> {
    let (account, tx) = path.into_inner();
    ctx.transactions()
        .delete(&user.actor(), AccountId(account), tx)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
