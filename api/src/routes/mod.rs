//! REST handlers. Each is a few lines: extract, call the service, map to a DTO. Every handler
//! carries `#[utoipa::path]` and is registered through `utoipa-actix-web`, so the served
//! routes and the OpenAPI document are one list.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod extract;
pub mod health;
pub mod import_jobs;
pub mod imports;
pub mod integrations;
pub mod market;
pub mod me;
pub mod tokens;
pub mod transactions;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::Problem;

/// Mounts every `/api` route (relative to the `/api` scope).
pub fn configure_api(cfg: &mut ServiceConfig) {
    cfg.service(auth::register)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(me::get_me)
        .service(me::update_me)
        .service(me::change_password)
        .service(me::list_users)
        .service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::revoke_token)
        .service(accounts::create_account)
        .service(accounts::list_accounts)
        .service(accounts::get_account)
        .service(accounts::update_account)
        .service(accounts::delete_account)
        .service(accounts::list_holdings)
        .service(accounts::list_all_holdings)
        .service(accounts::list_transactions)
        .service(integrations::list_integration_types)
        .service(integrations::get_integration)
        .service(integrations::set_integration)
        .service(integrations::remove_integration)
        .service(integrations::test_integration)
        .service(integrations::list_remote_accounts)
        .service(integrations::refresh_integration)
        .service(import_jobs::list_import_jobs)
        .service(import_jobs::get_import_job)
        .service(import_jobs::retry_import_job)
        .service(import_jobs::cancel_import_job)
        .service(import_jobs::sync_all)
        .service(import_jobs::sync_account)
        .service(import_jobs::list_data_sources)
        .service(transactions::list_all_transactions)
        .service(imports::import_file)
        .service(imports::get_import_profile)
        .service(imports::set_import_profile)
        .service(transactions::create_transaction)
        .service(transactions::update_transaction)
        .service(transactions::delete_transaction)
        .service(audit::list_audit_log)
        .service(market::get_quotes)
        .service(market::get_prices)
        .service(market::get_fx)
        // Before `/assets/{asset_id}`, which would otherwise take `search` as an id.
        .service(market::search_assets)
        .service(market::get_asset)
        .service(market::list_market_data_providers)
        .service(market::get_portfolio_summary);
}

/// Mounts the operational routes at the root.
pub fn configure_ops(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tributary API",
        description = "Self-hosted, multi-user portfolio data server: accounts with per-account broker integrations, holdings, transactions and balances.\n\nAuthenticate with `Authorization: Bearer <token>`: an access JWT from `/api/auth/login` or a personal API token (`trb_...`). Errors are RFC 9457 `application/problem+json` with a stable `code`. Decimal values are JSON strings.",
        license(name = "AGPL-3.0-or-later")
    ),
    components(schemas(Problem)),
    modifiers(&SecurityAddon),
    tags(
        (name = "auth", description = "Registration, login, token refresh"),
        (name = "me", description = "The signed-in user"),
        (name = "tokens", description = "Personal API tokens for scripts"),
        (name = "accounts", description = "Accounts, holdings and transactions"),
        (name = "integrations", description = "Per-account broker/exchange integrations"),
        (name = "import-jobs", description = "Sync and import runs"),
        (name = "transactions", description = "Transactions across accounts, manual entries"),
        (name = "imports", description = "CSV and OFX/QFX file import"),
        (name = "audit", description = "The caller's audit log"),
        (name = "market-data", description = "Quotes, daily prices, FX rates, instruments, provider status and the portfolio summary"),
        (name = "admin", description = "Server administration (role admin)"),
        (name = "operations", description = "Health and metrics")
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access JWT from /api/auth/login, or a personal API token (trb_...).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Cursor pagination parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of items.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListResponse<T> {
    pub fn from_page<D>(page: crate::domain::Page<D>, f: impl Fn(D) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The client address used for rate limiting and the audit log (the TCP peer; forwarding
/// headers are not trusted because clients can forge them).
pub fn client_ip(req: &actix_web::HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string())
}
