//! `/api/import-jobs`: the caller's sync and import runs.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
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
    /// Attempts made so far, and the most allowed.
    pub attempt: i32,
    pub max_attempts: i32,
    /// When a queued retry runs next.
    pub next_run_at: Option<DateTime<Utc>>,
    /// 0 to 100: pages for a sync; share of the file read for a CSV upload (50 once an OFX
    /// or Flex file is parsed, then per batch written); 100 once it ended.
    pub progress: i32,
    pub cursor_in: Option<String>,
    pub cursor_out: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub warnings: serde_json::Value,
    /// Record-level errors: `{line?, source_id?, field?, message}`.
    #[schema(value_type = Vec<Object>)]
    pub errors: serde_json::Value,
    /// `{compared, differences: [{asset_id, reported, derived, difference}]}`.
    #[schema(value_type = Option<Object>)]
    pub reconciliation: Option<serde_json::Value>,
    /// `[{kind, transaction_id?, message}]`.
    #[schema(value_type = Vec<Object>)]
    pub anomalies: serde_json::Value,
    /// 0 to 100.
    #[schema(value_type = Option<String>)]
    pub quality_score: Option<rust_decimal::Decimal>,
    pub duration_ms: Option<i64>,
    pub format: Option<String>,
    pub dry_run: bool,
    /// Records read so far: live while a file import runs, `fetched` once it ended.
    pub processed: i32,
    /// The options an upload ran with, which a retry runs with again; null for syncs.
    pub options: Option<ImportJobOptionsDto>,
    /// Whether `POST /api/import-jobs/{id}/retry` would take the job back now: it ended, and
    /// an upload did not succeed and still has its file kept (`jobs.upload_retention_days`).
    pub retryable: bool,
}

/// The options of an upload (see `POST /api/accounts/{id}/import`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobOptionsDto {
    /// The format the file was read as: csv, ofx or ibkr_flex (detected or given).
    pub format: String,
    /// reject or skip.
    pub on_error: String,
    pub ofx_account: Option<String>,
    pub ibkr_account: Option<String>,
}

impl From<ImportJob> for ImportJobDto {
    fn from(j: ImportJob) -> Self {
        Self {
            processed: j.processed,
            options: j.options.map(|o| ImportJobOptionsDto {
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
            warnings: j.warnings,
            errors: j.errors,
            reconciliation: j.reconciliation,
            anomalies: j.anomalies,
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

/// Filters and pagination for import jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportJobParams {
    /// Only this account's jobs.
    pub account_id: Option<Uuid>,
    /// queued, running, succeeded, partial, failed or cancelled.
    pub status: Option<String>,
    /// An integration type (`demo`) or file format (`csv`, `ofx`).
    pub source: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created at or before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
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
    let filter = crate::services::import_jobs::JobQuery {
        account: q.account_id.map(AccountId),
        status: q.status,
        source: q.source,
        from: q.from,
        to: q.to,
    };
    let page = ctx
        .import_jobs()
        .list(user.id, filter, q.cursor.as_deref(), q.limit)
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

/// Queue a finished job again with a fresh set of attempts. A sync resumes from its cursor; an
/// upload that failed, was partial or was cancelled runs its kept file again, with the options
/// it stored and the account's current CSV import profile (fix the profile, then retry).
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Queued again", body = ImportJobDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is still queued or running; an upload succeeded (nothing to retry); an upload's file is no longer kept (retention ended: upload it again); or another job of the account is active", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/import-jobs/{id}/retry")]
pub async fn retry_import_job(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<ImportJobDto>, ServiceError> {
    Ok(web::Json(
        ctx.import_jobs().retry(&user.actor(), *id).await?.into(),
    ))
}

/// Cancel a queued job, or ask a running one to stop after its current page (a sync keeps
/// what it committed; a file import rolls back everything and keeps its file for a retry).
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled (or cancellation requested)", body = ImportJobDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job already ended", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/import-jobs/{id}/cancel")]
pub async fn cancel_import_job(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<ImportJobDto>, ServiceError> {
    Ok(web::Json(
        ctx.import_jobs().cancel(&user.actor(), *id).await?.into(),
    ))
}

/// Queue a sync of every integrated account (the workers run them). Send an
/// `Idempotency-Key` header to make retries of this request safe.
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key returns the same jobs")),
    responses(
        (status = 202, description = "Jobs queued (or already active)", body = Vec<ImportJobDto>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sync")]
pub async fn sync_all(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    req: HttpRequest,
) -> Result<HttpResponse, ServiceError> {
    let key = idempotency_key(&req)?;
    let jobs = ctx
        .import_jobs()
        .sync_all(&user.actor(), key.as_deref())
        .await?;
    Ok(HttpResponse::Accepted().json(jobs.into_iter().map(ImportJobDto::from).collect::<Vec<_>>()))
}

/// Queue a sync of one account (the workers run it).
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 202, description = "Queued", body = ImportJobDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no integration", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sync is already queued or running", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts/{id}/sync")]
pub async fn sync_account(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ServiceError> {
    let job = ctx
        .import_jobs()
        .sync_account(&user.actor(), AccountId(*id))
        .await?;
    Ok(HttpResponse::Accepted().json(ImportJobDto::from(job)))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ServiceError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let key = v.to_str().map_err(|_| {
                ServiceError::validation("Idempotency-Key", "must be visible ASCII")
            })?;
            let key = key.trim();
            if key.is_empty() || key.len() > 200 {
                return Err(ServiceError::validation(
                    "Idempotency-Key",
                    "must be 1 to 200 characters",
                ));
            }
            Ok(Some(key.to_string()))
        }
    }
}

/// One integrated account on the data-source dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataSourceDto {
    pub account_id: Uuid,
    pub account_name: String,
    #[serde(rename = "type")]
    pub integration_type: String,
    /// connected, error, needs_reauth or configured.
    pub status: String,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// hourly, daily, weekly or manual.
    pub sync_frequency: String,
    pub next_sync_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub quality_score: Option<rust_decimal::Decimal>,
    pub active_job_id: Option<Uuid>,
    /// Things to act on before syncs fail, e.g. a Flex token expiring within 14 days.
    pub warnings: Vec<String>,
}

/// The data-source dashboard: integrations and market-data providers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataSourcesDto {
    pub integrations: Vec<DataSourceDto>,
    pub market_data: Vec<super::market::ProviderStatusDto>,
}

/// Every integration of the caller (status, last sync, last error, next scheduled sync,
/// health) and the market-data providers.
#[utoipa::path(
    tag = "import-jobs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard", body = DataSourcesDto),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/data-sources")]
pub async fn list_data_sources(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
) -> Result<web::Json<DataSourcesDto>, ServiceError> {
    let integrations = ctx.data_sources().list(user.id).await?;
    Ok(web::Json(DataSourcesDto {
        integrations: integrations
            .into_iter()
            .map(|d| DataSourceDto {
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
            })
            .collect(),
        market_data: ctx
            .market()
            .providers()
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}
