//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::services::AppContext;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// `ok`, or `unavailable` when a dependency is down.
    pub status: String,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = HealthDto)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthDto {
        status: "ok".into(),
    })
}

/// The database is reachable.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthDto),
        (status = 503, description = "Database unreachable", body = HealthDto),
    )
)]
#[get("/readyz")]
pub async fn readyz(ctx: web::Data<AppContext>) -> HttpResponse {
    match ctx.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(HealthDto {
            status: "ok".into(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(HealthDto {
                status: "unavailable".into(),
            })
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ctx.metrics.render())
}
