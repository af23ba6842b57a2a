//! Building and running the HTTP server: binds (reporting the real port), opens the database,
//! loads the master key, and mounts the REST routes, OpenAPI document and Swagger UI.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::error::ServiceError;
use crate::routes::{self, ApiDoc};
use crate::secrets::{MasterKey, load_or_create_key_file};
use crate::services::AppContext;

/// The application context as handlers receive it.
pub type SharedContext = web::Data<AppContext>;

/// A built, bound server ready to run.
pub struct Application {
    port: u16,
    server: Server,
    ctx: web::Data<AppContext>,
    /// Job workers and the scheduler; stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Loads the master key: `TRIBUTARY_SECRET_KEY` when set, else the key file (created with
/// 0600 permissions on first start).
///
/// # Errors
/// An unreadable or malformed key file.
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.secret_key {
        return Ok(MasterKey::new(key.clone()));
    }
    let path = settings.secret_key_path();
    let (key, created) = load_or_create_key_file(&path)?;
    if created {
        tracing::warn!(path = %path.display(), key_id = key.id(), "generated a new master key; back it up: without it stored integration secrets cannot be read");
    }
    Ok(key)
}

/// The OpenAPI document of every route, as served at `/api/openapi.json`.
#[must_use]
pub fn openapi_spec() -> utoipa::openapi::OpenApi {
    let (_, spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/api").configure(routes::configure_api))
        .configure(routes::configure_ops)
        .split_for_parts();
    spec
}

/// Records user id on the root span of each request.
struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, user_id = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

async fn not_found() -> Result<HttpResponse, ServiceError> {
    Err(ServiceError::NotFound)
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/api/docs/"))
        .finish()
}

impl Application {
    /// Opens the database (running migrations), loads the key and binds the listener.
    ///
    /// # Errors
    /// Database, key or bind failures, each with a message saying which.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let master_key = load_master_key(&settings)?;
        let db = crate::db::connect(&settings).await?;
        crate::db::migrate(&db).await?;
        let ctx = web::Data::new(AppContext::new(settings.clone(), db, master_key));
        crate::auth::password::warm_up().await;
        Self::build_with_context(ctx).await
    }

    /// Binds a server around an existing context (tests share one context with the caller).
    ///
    /// # Errors
    /// Bind failures.
    pub async fn build_with_context(ctx: web::Data<AppContext>) -> anyhow::Result<Self> {
        let settings = ctx.settings.clone();
        let listener =
            TcpListener::bind((settings.server.host, settings.server.port)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}:{} (server.host/server.port): {e}",
                    settings.server.host,
                    settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let spec = openapi_spec();
        let app_ctx = ctx.clone();
        let schema = web::Data::new(crate::graphql::build_schema(
            Some(ctx.clone()),
            &settings.graphql,
        ));
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(app_ctx.clone())
                .app_data(schema.clone())
                .app_data(web::PathConfig::default().error_handler(routes::extract::path_error))
                // Before the `/api` scope: a scope answers every path under its prefix.
                .map(|app| {
                    app.route("/api/docs", web::get().to(docs_redirect))
                        .service(
                            SwaggerUi::new("/api/docs/{_:.*}")
                                .url("/api/openapi.json", spec.clone()),
                        )
                })
                .service(
                    utoipa_actix_web::scope("/api")
                        .configure(routes::configure_api)
                        .default_service(web::to(not_found)),
                )
                .configure(routes::configure_ops)
                .split_for_parts();
            app.route("/graphql", web::post().to(crate::graphql::graphql_post))
                .route("/graphql", web::get().to(crate::graphql::graphql_get))
                .default_service(web::to(not_found))
                .wrap_fn(|req, srv| {
                    let start = Instant::now();
                    let ctx = req.app_data::<web::Data<AppContext>>().cloned();
                    let method = req.method().to_string();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let status = res.status().as_u16();
                        let route = res
                            .request()
                            .match_pattern()
                            .unwrap_or_else(|| "unmatched".to_string());
                        let elapsed = start.elapsed();
                        if let Some(ctx) = ctx {
                            ctx.metrics
                                .observe_request(&method, &route, status, elapsed);
                        }
                        tracing::info!(
                            http.method = %method,
                            http.route = %route,
                            http.status = status,
                            latency_ms = elapsed.as_secs_f64() * 1000.0,
                            "request completed"
                        );
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::<RootSpan>::new())
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = server.run();
        let shared = ctx.clone().into_inner();
        let mut background = crate::jobs::worker::spawn(shared.clone(), settings.jobs.workers);
        if settings.prices.scheduler_enabled {
            background.push(crate::jobs::prices::spawn(shared.clone()));
        }
        // Always: with the scheduler off it still purges expired upload files.
        background.push(crate::jobs::scheduler::spawn(shared));
        background.extend(crate::db::spawn_checkpointer(&settings));
        Ok(Self {
            port,
            server,
            ctx,
            background,
        })
    }

    /// The port actually bound (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared context.
    #[must_use]
    pub fn context(&self) -> web::Data<AppContext> {
        self.ctx.clone()
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests.
    ///
    /// # Errors
    /// Server I/O errors.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        result
    }
}

/// The database URL with any password masked, for log lines.
#[must_use]
pub fn redacted_database_url(settings: &Settings) -> String {
    let url = settings.database_url();
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url,
    }
}
