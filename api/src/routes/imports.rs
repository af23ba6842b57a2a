//! `POST /api/accounts/{id}/import` (multipart file upload) and the account's CSV import
//! profile.

use actix_multipart::Multipart;
use actix_web::{HttpResponse, get, post, put, web};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tributary_connectors::files::{CsvProfile, FileFormat};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{AppJson, AppQuery};
use super::import_jobs::ImportJobDto;
use crate::auth::CurrentUser;
use crate::domain::AccountId;
use crate::error::{Problem, ServiceError};
use crate::services::AppContext;
use crate::services::imports::{ImportOptions, ImportResult, OnError};

/// Upload options (query parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// auto (default), csv, ofx, qfx or ibkr_flex (an Interactive Brokers Flex Query XML
    /// statement).
    pub format: Option<String>,
    /// Report what would be imported and write nothing (default false).
    pub dry_run: Option<bool>,
    /// reject (default): one bad row rejects the file; skip: import the good rows.
    pub on_error: Option<String>,
    /// The OFX account to import when the file holds several.
    pub ofx_account: Option<String>,
    /// The IB account (`U1234567`) to import when a Flex statement holds several (default:
    /// the integration's `account_id`, else the only account in the file).
    pub ibkr_account: Option<String>,
}

/// The upload body: `multipart/form-data` with the file in the field `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Import a CSV, OFX/QFX or IBKR Flex statement file into the account (the fallback for sources without an API).
#[utoipa::path(
    tag = "imports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id"), ImportParams),
    request_body(content = ImportUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Imported: the import job (a dry run answers 200 with the preview)", body = ImportJobDto),
        (status = 400, description = "Malformed id, query or multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sync of the account is running, or the upload was cancelled while it ran (nothing written; its job, named by `instance`, keeps the file for a retry)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File larger than jobs.upload_limit_bytes", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unreadable file or bad rows (line named); nothing written. When a job was created it is failed, named by `instance`, and keeps the file for a retry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/accounts/{id}/import")]
pub async fn import_file(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    q: AppQuery<ImportParams>,
    mut payload: Multipart,
) -> Result<HttpResponse, ServiceError> {
    let q = q.0;
    let format = match q.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") => None,
        Some("csv") => Some(FileFormat::Csv),
        Some("ofx" | "qfx") => Some(FileFormat::Ofx),
        Some("ibkr_flex") => Some(FileFormat::IbkrFlex),
        Some(_) => {
            return Err(ServiceError::validation(
                "format",
                "must be auto, csv, ofx, qfx or ibkr_flex",
            ));
        }
    };
    let on_error = match q.on_error.as_deref() {
        None | Some("reject") => OnError::Reject,
        Some("skip") => OnError::Skip,
        Some(_) => {
            return Err(ServiceError::validation(
                "on_error",
                "must be reject or skip",
            ));
        }
    };
    // The account must be the caller's before anything is read.
    ctx.accounts().owned(user.id, AccountId(*id)).await?;
    let limit = ctx.settings.jobs.upload_limit_bytes;
    let dir = ctx.settings.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        ServiceError::Unexpected(anyhow::anyhow!("creating {}: {e}", dir.display()))
    })?;
    let path = dir.join(format!("upload-{}", Uuid::new_v4()));
    let started = std::time::Instant::now();
    let spooled = spool(&mut payload, &path, limit).await;
    tracing::debug!(spool_ms = started.elapsed().as_millis(), "upload spooled");
    let result = match spooled {
        Ok(()) => {
            ctx.imports()
                .import(
                    &user.actor(),
                    AccountId(*id),
                    &path,
                    ImportOptions {
                        format,
                        dry_run: q.dry_run.unwrap_or(false),
                        on_error,
                        ofx_account: q.ofx_account,
                        ibkr_account: q.ibkr_account,
                    },
                )
                .await
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&path).await;
    match result? {
        ImportResult::Job(job) => Ok(HttpResponse::Created().json(ImportJobDto::from(*job))),
        ImportResult::DryRun(dry) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "dry_run": true,
            "format": dry.format,
            "fetched": dry.counts.fetched,
            "would_insert": dry.counts.preview.iter().filter(|p| p.outcome == "new").count(),
            "duplicates": dry.counts.duplicates,
            "aliases": dry.counts.preview.iter().filter(|p| p.outcome == "alias").count(),
            "deleted_before": dry.counts.deleted_before,
            "failed": dry.counts.failed,
            "errors": dry.counts.errors,
            "records": dry.counts.preview.iter().take(1000).collect::<Vec<_>>(),
        }))),
    }
}

/// Streams the multipart field `file` to disk, refusing more than `limit` bytes.
async fn spool(
    payload: &mut Multipart,
    path: &std::path::Path,
    limit: usize,
) -> Result<(), ServiceError> {
    let bad = |m: &str| ServiceError::bad_request("file", m.to_string());
    let mut found = false;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| bad(&format!("malformed multipart body: {e}")))?;
        if field.name() != Some("file") {
            // Drain and ignore other fields.
            while let Some(chunk) = field.next().await {
                chunk.map_err(|e| bad(&format!("malformed multipart body: {e}")))?;
            }
            continue;
        }
        if found {
            return Err(bad("send exactly one `file` field"));
        }
        found = true;
        let mut out = tokio::fs::File::create(path)
            .await
            .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("spooling the upload: {e}")))?;
        let mut size = 0usize;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad(&format!("the upload was interrupted: {e}")))?;
            size += chunk.len();
            if size > limit {
                return Err(ServiceError::PayloadTooLarge { limit });
            }
            out.write_all(&chunk).await.map_err(|e| {
                ServiceError::Unexpected(anyhow::anyhow!("spooling the upload: {e}"))
            })?;
        }
        out.flush()
            .await
            .map_err(|e| ServiceError::Unexpected(anyhow::anyhow!("spooling the upload: {e}")))?;
    }
    if found {
        Ok(())
    } else {
        Err(bad("a multipart field named `file` is required"))
    }
}

/// The CSV import profile: delimiter, header, encoding, date format, separators, column
/// mapping, type mapping, sign convention, rows to skip.
#[derive(ToSchema)]
#[schema(value_type = Object, example = json!({"delimiter": ";", "encoding": "windows-1252", "date_format": "%d.%m.%Y", "decimal_separator": ",", "thousands_separator": ".", "columns": {"date": "Buchungstag", "amount": "Betrag", "description": "Verwendungszweck"}, "default_currency": "EUR", "skip_rows": 4, "skip_footer_matching": ["Summe"]}))]
#[allow(dead_code)]
pub struct ImportProfileDto(serde_json::Value);

/// The account's CSV import profile.
#[utoipa::path(
    tag = "imports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The profile", body = ImportProfileDto),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or no profile yet", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/accounts/{id}/import-profile")]
pub async fn get_import_profile(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
) -> Result<web::Json<CsvProfile>, ServiceError> {
    Ok(web::Json(
        ctx.imports().profile(user.id, AccountId(*id)).await?,
    ))
}

/// Save the account's CSV import profile.
#[utoipa::path(
    tag = "imports",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Account id")),
    request_body = ImportProfileDto,
    responses(
        (status = 200, description = "Saved", body = ImportProfileDto),
        (status = 400, description = "Malformed JSON or id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Read-only API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid profile field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/accounts/{id}/import-profile")]
pub async fn set_import_profile(
    ctx: web::Data<AppContext>,
    user: CurrentUser,
    id: web::Path<Uuid>,
    body: AppJson<CsvProfile>,
) -> Result<web::Json<CsvProfile>, ServiceError> {
    Ok(web::Json(
        ctx.imports()
            .set_profile(&user.actor(), AccountId(*id), body.0)
            .await?,
    ))
}
