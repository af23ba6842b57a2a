//! `/api/me`: the signed-in user's profile and password.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::double_option;
use super::extract::AppJson;
use crate::auth::CurrentUser;
use crate::domain::{Role, User};
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::users::ProfileUpdate;

/// A user's profile.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01930b7e-8f7a-7c4e-9a57-3f2e4b1c0d9e", "email": "alice@example.com", "display_name": "Alice", "base_currency": "EUR", "role": "user", "created_at": "2026-11-22T10:00:00Z"}))]
pub struct UserDto {
    pub id: uuid::Uuid,
    pub email: String,
    pub display_name: Option<String>,
    /// ISO 4217 currency totals are reported in.
    pub base_currency: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserDto {
    fn from(u: User) -> Self {
        Self {
            id: u.id.0,
            email: u.email,
            display_name: u.display_name,
            base_currency: u.base_currency.as_str().to_string(),
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// Profile changes; omitted fields stay as they are, `display_name: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Alice", "base_currency": "EUR"}))]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// ISO 4217 code.
    pub base_currency: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// The signed-in user.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Profile", body = UserDto),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn get_me(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
) -> Result<web::Json<UserDto>, ServiceError> {
    Ok(web::Json(ctx.users().get(user.id).await?.into()))
}

/// Update display name or base currency.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "Updated profile", body = UserDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/me")]
pub async fn update_me(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    body: AppJson<UpdateMeRequest>,
) -> Result<web::Json<UserDto>, ServiceError> {
    let update = ProfileUpdate {
        display_name: body.0.display_name,
        base_currency: body.0.base_currency,
    };
    Ok(web::Json(ctx.users().update(user.id, update).await?.into()))
}

/// Change the password (ends every session; sign in again).
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; all refresh tokens revoked"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/me/password")]
pub async fn change_password(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    body: AppJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ServiceError> {
    user.require_session()?;
    ctx.auth()
        .change_password(
            user.id,
            &body.0.current_password,
            &body.0.new_password,
            Some(&user.ip),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every user of this server (administrators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Users", body = Vec<UserDto>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/admin/users")]
pub async fn list_users(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
) -> Result<web::Json<Vec<UserDto>>, ServiceError> {
    let users = ctx.users().list_all(user.role).await?;
    Ok(web::Json(users.into_iter().map(Into::into).collect()))
}
