//! The GraphQL front door: the same services as REST, with Relay connections, DataLoaders,
//! depth/complexity limits and import-job subscriptions. Types here are built from domain
//! types, never from entities.

mod loaders;
mod market;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod types;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::{ErrorExtensions, Schema, ServerError};

use crate::auth::{CurrentUser, authenticate};
use crate::error::ServiceError;
use crate::routes::extract::AppJson;
use crate::services::AppContext;

pub use market::Query;
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

/// The schema type.
pub type TributarySchema = Schema<Query, MutationRoot, SubscriptionRoot>;

/// The authentication outcome of a GraphQL request, available to every resolver.
#[derive(Clone)]
pub(crate) struct Auth(pub Result<CurrentUser, Arc<ServiceError>>);

/// Builds the schema with the configured limits. `ctx` is attached as schema data.
#[must_use]
pub fn build_schema(
    ctx: Option<web::Data<AppContext>>,
    settings: &crate::config::GraphqlSettings,
) -> TributarySchema {
    let mut builder = Schema::build(
        Query(QueryRoot, market::MarketQuery),
        MutationRoot,
        SubscriptionRoot,
    )
    .limit_depth(settings.max_depth)
    .limit_complexity(settings.max_complexity)
    .data(Limits {
        max_page_size: settings.max_page_size,
    })
    .extension(ErrorCodes);
    if let Some(ctx) = ctx {
        builder = builder.data(ctx);
    }
    builder.finish()
}

/// The SDL of the schema (committed as `openapi/schema.graphql`).
#[must_use]
pub fn sdl() -> String {
    let settings = crate::config::Settings::load_from(None, &[])
        .map(|s| s.graphql)
        .unwrap_or(crate::config::GraphqlSettings {
            graphiql: false,
            max_depth: 12,
            max_complexity: 5000,
            max_page_size: 100,
        });
    build_schema(None, &settings).sdl()
}

#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub max_page_size: usize,
}

/// Turns a service error into a GraphQL error carrying the same stable code as REST.
pub(crate) fn to_gql(e: ServiceError) -> async_graphql::Error {
    let public = e.public();
    let code = e.code();
    async_graphql::Error::new(public.detail).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &public.field {
            ext.set("field", field.as_str());
        }
        if let Some(secs) = public.retry_after {
            ext.set("retryAfter", secs);
        }
        if let Some(instance) = &public.instance {
            ext.set("instance", instance.as_str());
        }
    })
}

/// Errors the engine produced itself (parse errors, unknown fields, bad scalars or enum values,
/// limits) carry no code: they are all the client's input, so they get `VALIDATION`.
fn add_default_codes(errors: &mut [ServerError]) {
    for e in errors {
        let has_code = e
            .extensions
            .as_ref()
            .is_some_and(|x| x.get("code").is_some());
        if !has_code {
            let ext = e.extensions.get_or_insert_with(Default::default);
            ext.set("code", "VALIDATION");
        }
    }
}

/// Adds the default `VALIDATION` code to engine errors on every path (HTTP and WebSocket).
struct ErrorCodes;

impl async_graphql::extensions::ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ErrorCodesExtension {
    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx).await;
        add_default_codes(&mut response.errors);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, async_graphql::Response> {
        use futures_util::StreamExt;
        next.run(ctx, stream)
            .map(|mut response| {
                add_default_codes(&mut response.errors);
                response
            })
            .boxed()
    }
}

/// `POST /graphql`: authenticate like REST, run the operation, return the GraphQL response.
pub async fn graphql_post(
    ctx: web::Data<AppContext>,
    schema: web::Data<TributarySchema>,
    req: HttpRequest,
    body: AppJson<async_graphql::Request>,
) -> HttpResponse {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
    let ip = crate::routes::client_ip(&req);
    let auth = match header {
        None => Err(Arc::new(ServiceError::Unauthenticated(
            "an Authorization: Bearer token is required",
        ))),
        Some(h) => authenticate(&ctx, Some(h), ip).await.map_err(Arc::new),
    };
    if let Ok(user) = &auth {
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
    }
    let mut request = body.0;
    if let Ok(user) = &auth {
        // Cached for the request, so the accounts resolver can prefetch a whole page's
        // holdings in one batch and every `Account.holdings` then reads from the cache.
        request = request.data(async_graphql::dataloader::DataLoader::with_cache(
            loaders::HoldingsLoader {
                ctx: ctx.clone(),
                user: user.id,
            },
            tokio::spawn,
            async_graphql::dataloader::HashMapCache::default(),
        ));
    }
    let response = schema.execute(request.data(Auth(auth))).await;
    HttpResponse::Ok().json(response)
}

/// `GET /graphql`: GraphiQL (when enabled), or the WebSocket endpoint for subscriptions.
pub async fn graphql_get(
    ctx: web::Data<AppContext>,
    schema: web::Data<TributarySchema>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_ws {
        return subscription::start(ctx, schema.as_ref().clone(), &req, payload);
    }
    if !ctx.settings.graphql.graphiql {
        return Err(ServiceError::NotFound.into());
    }
    let page = async_graphql::http::GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql")
        .title("Tributary GraphQL")
        .finish();
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

/// The acting user, or an `UNAUTHENTICATED` error.
pub(crate) fn current_user(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<CurrentUser> {
    match ctx.data::<Auth>() {
        Ok(Auth(Ok(user))) => Ok(user.clone()),
        Ok(Auth(Err(e))) => Err(to_gql(match e.as_ref() {
            ServiceError::Unauthenticated(why) => ServiceError::Unauthenticated(why),
            _ => ServiceError::Unauthenticated("authentication failed"),
        })),
        Err(_) => Err(to_gql(ServiceError::Unauthenticated(
            "an Authorization: Bearer token is required",
        ))),
    }
}

/// The acting user for a mutation: read-only tokens are refused with `FORBIDDEN`.
pub(crate) fn writer(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<CurrentUser> {
    let user = current_user(ctx)?;
    if user.is_read_only() {
        return Err(to_gql(ServiceError::Forbidden(
            "this API token is read-only",
        )));
    }
    Ok(user)
}

/// The shared application context.
pub(crate) fn app<'a>(ctx: &async_graphql::Context<'a>) -> async_graphql::Result<&'a AppContext> {
    ctx.data::<web::Data<AppContext>>()
        .map(|d| d.get_ref())
        .map_err(|_| {
            to_gql(ServiceError::Unexpected(anyhow::anyhow!(
                "AppContext missing from schema data"
            )))
        })
}

/// Checks a requested page size against the limit.
pub(crate) fn page_size(
    ctx: &async_graphql::Context<'_>,
    first: Option<i32>,
) -> async_graphql::Result<u64> {
    let max = ctx.data::<Limits>().map_or(100, |l| l.max_page_size);
    match first {
        None => Ok(20.min(max as u64)),
        Some(n) if n < 1 => Err(to_gql(ServiceError::validation(
            "first",
            "must be at least 1",
        ))),
        Some(n) if n as usize > max => Err(to_gql(ServiceError::validation(
            "first",
            format!("must be at most {max}"),
        ))),
        Some(n) => Ok(n as u64),
    }
}
