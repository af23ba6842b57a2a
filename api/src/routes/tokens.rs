//! `/api/tokens`: personal API tokens.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::domain::{ApiToken, TokenScope};
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "nightly export", "scope": "read", "expires_at": "2027-01-01T00:00:00Z"}))]
pub struct CreateTokenRequest {
    pub name: String,
    pub scope: TokenScope,
    /// Optional expiry (RFC 3339, in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A personal API token (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenDto {
    pub id: Uuid,
    pub name: String,
    pub scope: TokenScope,
    /// The first characters of the secret, to tell tokens apart.
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<ApiToken> for ApiTokenDto {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope,
            prefix: t.prefix,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            created_at: t.created_at,
        }
    }
}

/// A new token with its secret, shown only this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenDto {
    #[serde(flatten)]
    pub token: ApiTokenDto,
    /// Use as `Authorization: Bearer <secret>`. Not retrievable later.
    #[schema(example = "trb_3q2+7w...")]
    pub secret: String,
}

/// Create a personal API token (requires a signed-in session).
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedTokenDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    body: AppJson<CreateTokenRequest>,
) -> Result<HttpResponse, ServiceError> {
    user.require_session()?;
    let b = body.0;
    let (token, secret) = ctx
        .tokens()
        .create(&user.actor(), &b.name, b.scope, b.expires_at)
        .await?;
    Ok(HttpResponse::Created().json(CreatedTokenDto {
        token: token.into(),
        secret,
    }))
}

/// List active personal API tokens (never their secrets).
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Tokens", body = Vec<ApiTokenDto>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
) -> Result<web::Json<Vec<ApiTokenDto>>, ServiceError> {
    let tokens = ctx.tokens().list(user.id).await?;
    Ok(web::Json(tokens.into_iter().map(Into::into).collect()))
}

/// Revoke a personal API token.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ServiceError> {
    ctx.tokens().revoke(&user.actor(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
