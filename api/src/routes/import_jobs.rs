//! `/api/import-jobs`: the caller's sync and import runs.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ListResponse;
use super::extract::AppQuery;
use crate::auth::CurrentUser;
use crate::domain::{AccountId, ImportJob};
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;

/// One run of a sync, refresh or import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobDto {
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    /// The integration type (lower case) or file format.
    pub source: String,
    /// manual, scheduled, upload, api.
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
}

impl From<ImportJob> for ImportJobDto {
    fn from(j: ImportJob) -> Self {
        Self {
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

/// Filters and pagination for import jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportJobParams {
    /// Only this account's jobs.
    pub account_id: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's import jobs, newest first.
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(ImportJobParams),
    responses(
        (status = 200, description = "A page of jobs", body = ListResponse<ImportJobDto>),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/import-jobs")]
pub async fn list_import_jobs(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    q: AppQuery<ImportJobParams>,
) -> Result<web::Json<ListResponse<ImportJobDto>>, ServiceError> {
    let q = q.0;
    let page = ctx
        .import_jobs()
        .list(
            user.id,
            q.account_id.map(AccountId),
            q.cursor.as_deref(),
            q.limit,
        )
        .await?;
    Ok(web::Json(ListResponse::from_page(page, ImportJobDto::from)))
}

/// One import job.
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = ImportJobDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/import-jobs/{id}")]
pub async fn get_import_job(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<ImportJobDto>, ServiceError> {
    Ok(web::Json(ctx.import_jobs().get(user.id, *id).await?.into()))
}
