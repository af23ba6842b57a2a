//! The one service error type and its mapping to RFC 9457 `application/problem+json`.
//! Internal causes are logged here and never sent to clients.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tributary_connectors::ConnectorError;
use utoipa::ToSchema;

/// Everything a service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthenticated(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid `{field}`: {message}")]
    Validation { field: String, message: String },
    /// The request could not be read at all (malformed JSON, bad path or query syntax).
    #[error("bad request `{field}`: {message}")]
    BadRequest { field: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("upstream provider error: {0}")]
    Upstream(#[from] ConnectorError),
    #[error("unexpected error")]
    Unexpected(#[from] anyhow::Error),
    /// `error`, which concerns the resource at `instance` (a failed upload: its import job,
    /// which keeps the file for a retry).
    #[error("{error}")]
    At {
        instance: String,
        error: Box<ServiceError>,
    },
}

impl ServiceError {
    /// A validation error on `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A malformed-request error on `field`.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::Validation { .. } | Self::BadRequest { .. } => "VALIDATION",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::Upstream(_) => "UPSTREAM",
            Self::Unexpected(_) => "INTERNAL",
            Self::At { error, .. } => error.code(),
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Unexpected(anyhow::Error::new(e))
    }
}

impl From<sea_orm::TransactionError<ServiceError>> for ServiceError {
    fn from(e: sea_orm::TransactionError<ServiceError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(inner) => inner,
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://tributary.dev/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "invalid `currency`: must be a 3-letter ISO 4217 code",
    "code": "VALIDATION",
    "field": "currency"
}))]
pub struct Problem {
    /// A URI identifying the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable code: NOT_FOUND, UNAUTHENTICATED, FORBIDDEN, VALIDATION, CONFLICT,
    /// RATE_LIMITED, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, UPSTREAM, INTERNAL.
    pub code: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait, for rate-limited requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The resource this occurrence concerns, where there is one: a failed upload's import
    /// job (`/api/import-jobs/{id}`), which keeps the file for a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl ResponseError for ServiceError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::At { error, .. } => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let public = self.public();
        let code = self.code();
        let problem = Problem {
            kind: format!(
                "https://tributary.dev/problems/{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: public.title.to_string(),
            status: status.as_u16(),
            detail: public.detail,
            code: code.to_string(),
            field: public.field,
            retry_after: public.retry_after,
            instance: public.instance,
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(secs) = public.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.insert_header((header::RETRY_AFTER, v));
        }
        if matches!(self, Self::Unauthenticated(_)) {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        resp.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

/// What clients may learn of an error (internal causes are logged here, never returned).
pub struct PublicError {
    pub title: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
    pub instance: Option<String>,
}

impl ServiceError {
    /// The client-facing view of this error, for every transport.
    #[must_use]
    pub fn public(&self) -> PublicError {
        if let Self::At { instance, error } = self {
            return PublicError {
                instance: Some(instance.clone()),
                ..error.public()
            };
        }
        let (title, detail, field) = match self {
            Self::NotFound => (
                "Not found",
                "The resource does not exist.".to_string(),
                None,
            ),
            Self::Unauthenticated(why) => ("Unauthenticated", (*why).to_string(), None),
            Self::Forbidden(why) => ("Forbidden", (*why).to_string(), None),
            Self::Validation { field, message } => (
                "Validation failed",
                format!("invalid `{field}`: {message}"),
                Some(field.clone()),
            ),
            Self::BadRequest { field, message } => (
                "Bad request",
                format!("invalid `{field}`: {message}"),
                Some(field.clone()),
            ),
            Self::Conflict(why) => ("Conflict", why.clone(), None),
            Self::RateLimited { .. } => (
                "Too many requests",
                "Too many attempts; try again later.".to_string(),
                None,
            ),
            Self::PayloadTooLarge { limit } => (
                "Payload too large",
                format!("The request body exceeds the limit of {limit} bytes."),
                None,
            ),
            Self::UnsupportedMediaType => (
                "Unsupported media type",
                "Send the body as application/json.".to_string(),
                None,
            ),
            Self::Upstream(e) => ("Provider error", upstream_detail(e), None),
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                (
                    "Internal error",
                    "Something went wrong on our side.".to_string(),
                    None,
                )
            }
            Self::At { error, .. } => return error.public(),
        };
        let retry_after = match self {
            Self::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            Self::Upstream(ConnectorError::RateLimited { retry_after }) => {
                retry_after.map(|d| d.as_secs().max(1))
            }
            _ => None,
        };
        PublicError {
            title,
            detail,
            field,
            retry_after,
            instance: None,
        }
    }
}

/// What a user may learn of a provider failure: the category, never raw provider bodies.
fn upstream_detail(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Authentication(_) => {
            "The provider rejected the credentials; update the integration.".to_string()
        }
        ConnectorError::RateLimited { .. } => {
            "The provider is rate limiting requests; try again later.".to_string()
        }
        ConnectorError::Upstream { status, .. } => {
            format!("The provider answered with an error (status {status}).")
        }
        ConnectorError::Decode(_) => "The provider sent a response we could not read.".to_string(),
        ConnectorError::Transport(_) => "The provider could not be reached.".to_string(),
        ConnectorError::NotSupported(what) => format!("Not supported by this provider: {what}"),
        ConnectorError::InvalidConfig { field, message } => {
            format!("invalid integration config `{field}`: {message}")
        }
    }
}

/// Result alias for services.
pub type ServiceResult<T> = Result<T, ServiceError>;
