//! `/api/auth`: register, login, refresh, logout.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::client_ip;
use super::extract::AppJson;
use super::me::UserDto;
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::auth::TokenPair;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub struct RegisterRequest {
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens for a session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9...", "refresh_token": "q8Z...", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenResponse {
    /// Short-lived access JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use token for `/api/auth/refresh`; each use returns a new one.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "Bearer".to_string(),
            expires_in: p.expires_in,
        }
    }
}

/// Create a user account (when registration is enabled).
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Registration is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "E-mail already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid e-mail or weak password", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/register")]
pub async fn register(
    ctx: web::Data<AppContext>,
    body: AppJson<RegisterRequest>,
) -> Result<HttpResponse, ServiceError> {
    let user = ctx.auth().register(&body.0.email, &body.0.password).await?;
    Ok(HttpResponse::Created().json(UserDto::from(user)))
}

/// Sign in with e-mail and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid e-mail or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts (see Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    body: AppJson<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ServiceError> {
    let pair = ctx
        .auth()
        .login(&body.0.email, &body.0.password, &client_ip(&req))
        .await?;
    Ok(web::Json(pair.into()))
}

/// Exchange a refresh token for new tokens (the old one stops working; reusing it ends the session).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    ctx: web::Data<AppContext>,
    body: AppJson<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ServiceError> {
    Ok(web::Json(
        ctx.auth().refresh(&body.0.refresh_token).await?.into(),
    ))
}

/// End the session the refresh token belongs to.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also for unknown tokens)"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    ctx: web::Data<AppContext>,
    body: AppJson<RefreshRequest>,
) -> Result<HttpResponse, ServiceError> {
    ctx.auth().logout(&body.0.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}
