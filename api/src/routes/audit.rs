//! `/api/audit-log`: the caller's own audit entries.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::AppQuery;
use super::{ListResponse, PageParams};
use crate::auth::CurrentUser;
use crate::domain::AuditEntry;
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;

/// Something that happened to the caller's data or sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01930b7e-aaaa-7c4e-9a57-3f2e4b1c0d9e", "action": "integration.set", "target_type": "account", "target_id": "01930b7e-8f7a-7c4e-9a57-3f2e4b1c0d9e", "detail": {"type": "DEMO", "fields": ["seed", "profile", "password"], "kept_secrets": []}, "ip": "127.0.0.1", "created_at": "2026-11-22T10:00:00Z"}))]
pub struct AuditEntryDto {
    pub id: Uuid,
    /// e.g. auth.login, auth.login_failed, integration.set, integration.removed, api_token.created.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Non-secret details.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            detail: e.detail,
            ip: e.ip,
            created_at: e.created_at,
        }
    }
}

/// The caller's audit log, newest first.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "A page of entries", body = ListResponse<AuditEntryDto>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-log")]
pub async fn list_audit_log(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<PageParams>,
) -> Result<web::Json<ListResponse<AuditEntryDto>>, ServiceError> {
    let page = ctx
        .audit()
        .list(user.id, q.0.cursor.as_deref(), q.0.limit)
        .await?;
    Ok(web::Json(ListResponse::from_page(
        page,
        AuditEntryDto::from,
    )))
}
