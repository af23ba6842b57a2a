//! `/api/accounts/{id}/integration` and the `/api/integrations` catalogue.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::domain::{AccountId, IntegrationStatus, IntegrationSummary};
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "DEMO", "config": {"seed": 42, "profile": "balanced", "password": "demo"}}))]
pub struct SetIntegrationRequest {
    /// An available integration type (see `GET /api/integrations`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Fields as the type's JSON Schema describes. Send `********` for a secret to keep the
    /// stored value.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

/// An account's integration, secrets redacted.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"type": "DEMO", "config": {"seed": 42, "profile": "balanced", "fail_mode": "none", "password": "********", "has_password": true}, "status": "ok", "last_synced_at": "2026-11-22T10:00:00Z", "last_error": null}))]
pub struct IntegrationDto {
    #[serde(rename = "type")]
    pub integration_type: String,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub status: IntegrationStatus,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<IntegrationSummary> for IntegrationDto {
    fn from(s: IntegrationSummary) -> Self {
        Self {
            integration_type: s.integration_type,
            config: s.config,
            status: s.status,
            last_synced_at: s.last_synced_at,
            last_error: s.last_error,
        }
    }
}

/// The result of a connection test.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"success": true, "message": "Connected to the demo broker (profile balanced, seed 42)", "status": "ok"}))]
pub struct TestResultDto {
    pub success: bool,
    pub message: String,
    pub status: IntegrationStatus,
}

/// The result of a refresh.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"balance": "104523.17", "currency": "USD", "updated_at": "2026-11-22T10:00:00Z", "import_job_id": "01930b7e-9999-7c4e-9a57-3f2e4b1c0d9e", "fetched": 180, "inserted": 180, "duplicates": 0, "holdings": 9}))]
pub struct RefreshResultDto {
    #[schema(value_type = Option<String>)]
    pub balance: Option<Decimal>,
    pub currency: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub import_job_id: Uuid,
    /// Transactions the provider returned.
    pub fetched: i32,
    /// New transactions stored.
    pub inserted: i32,
    /// Transactions already stored (skipped).
    pub duplicates: i32,
    /// Positions now held.
    pub holdings: i32,
}

/// One configuration field of an integration type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigFieldDto {
    pub name: String,
    /// string, integer or boolean.
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    /// Encrypted at rest, never returned.
    pub secret: bool,
    pub description: String,
}

/// An integration type users can attach to an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationTypeDto {
    #[serde(rename = "type")]
    pub integration_type: String,
    pub name: String,
    pub description: String,
    pub fields: Vec<ConfigFieldDto>,
    /// JSON Schema (2020-12) of `config`, for rendering a form.
    #[schema(value_type = Object)]
    pub config_schema: serde_json::Value,
}

/// The integration types available on this server, with their config fields.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Catalogue", body = Vec<IntegrationTypeDto>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/integrations")]
pub async fn list_integration_types(
    ctx: web::Data<AppContext>,
    _user: CurrentUser,
) -> web::Json<Vec<IntegrationTypeDto>> {
    let items = ctx
        .integrations()
        .catalogue()
        .into_iter()
        .map(|d| IntegrationTypeDto {
            config_schema: d.json_schema(),
            integration_type: d.integration_type.to_string(),
            name: d.name.to_string(),
            description: d.description.to_string(),
            fields: d
                .fields
                .iter()
                .map(|f| ConfigFieldDto {
                    name: f.name.to_string(),
                    kind: f.kind.as_str().to_string(),
                    required: f.required,
                    secret: f.secret,
                    description: f.description.to_string(),
                })
                .collect(),
        })
        .collect();
    web::Json(items)
}

/// The account's integration (secrets redacted).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The integration", body = IntegrationDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}/integration")]
pub async fn get_integration(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<IntegrationDto>, ServiceError> {
    Ok(web::Json(
        ctx.integrations()
            .get(user.id, AccountId(*id))
            .await?
            .into(),
    ))
}

/// Attach or replace the account's integration.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = SetIntegrationRequest,
    responses(
        (status = 200, description = "Stored (secrets encrypted)", body = IntegrationDto),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown/unavailable type or invalid config field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/accounts/{id}/integration")]
pub async fn set_integration(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    body: AppJson<SetIntegrationRequest>,
) -> Result<web::Json<IntegrationDto>, ServiceError> {
    let b = body.0;
    let summary = ctx
        .integrations()
        .set(&user.actor(), AccountId(*id), &b.kind, b.config)
        .await?;
    Ok(web::Json(summary.into()))
}

/// Detach the integration (holdings and transactions stay).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/accounts/{id}/integration")]
pub async fn remove_integration(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ServiceError> {
    ctx.integrations()
        .remove(&user.actor(), AccountId(*id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An account at the provider, as the integration's credentials see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteAccountDto {
    /// The provider's account id (for IBKR `U1234567`); put it in the config as `account_id`.
    pub id: String,
    pub name: String,
    /// Base currency (ISO 4217), when the provider says.
    pub currency: Option<String>,
    /// Account type as the provider names it: Individual, Joint, IRA, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl From<tributary_connectors::RemoteAccount> for RemoteAccountDto {
    fn from(a: tributary_connectors::RemoteAccount) -> Self {
        Self {
            id: a.id,
            name: a.name,
            currency: (!a.currency.is_empty()).then_some(a.currency),
            kind: a.kind,
        }
    }
}

/// The accounts the integration's credentials can see at the provider, to choose which one
/// this account mirrors (config `account_id`).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Remote accounts", body = Vec<RemoteAccountDto>),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The stored config no longer validates (field named)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The provider is rate limiting", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider failed or refused the credentials", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}/integration/remote-accounts")]
pub async fn list_remote_accounts(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<RemoteAccountDto>>, ServiceError> {
    let accounts = ctx
        .integrations()
        .remote_accounts(user.id, AccountId(*id))
        .await?;
    Ok(web::Json(accounts.into_iter().map(Into::into).collect()))
}

/// Test the credentials against the provider; the result is also stored as the status.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Test result (success false with a message when the provider refuses)", body = TestResultDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts/{id}/integration/test")]
pub async fn test_integration(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<TestResultDto>, ServiceError> {
    let outcome = ctx
        .integrations()
        .test(&user.actor(), AccountId(*id))
        .await?;
    Ok(web::Json(TestResultDto {
        success: outcome.success,
        message: outcome.message,
        status: outcome.status,
    }))
}

/// Sync now: fetch holdings, new transactions and balance through an import job.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Synced", body = RefreshResultDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A refresh is already running", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider failed (credentials, rate limit, outage); see the account's status", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts/{id}/integration/refresh")]
pub async fn refresh_integration(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<RefreshResultDto>, ServiceError> {
    let o = ctx
        .integrations()
        .refresh(&user.actor(), AccountId(*id), "manual")
        .await?;
    Ok(web::Json(RefreshResultDto {
        balance: o.balance,
        currency: o.currency,
        updated_at: o.updated_at,
        import_job_id: o.import_job_id,
        fetched: o.fetched,
        inserted: o.inserted,
        duplicates: o.duplicates,
        holdings: o.holdings,
    }))
}
