//! Use cases. Each method takes the acting user first, validates its input into domain
//! values, owns its database transaction, and returns domain types. No actix here.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod data_sources;
pub mod import_jobs;
pub mod imports;
pub mod integrations;
pub mod keys;
pub mod ledger;
pub mod market;
pub mod progress;
pub mod tokens;
pub mod transactions;
pub mod users;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::auth::limiter::LoginLimiter;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::secrets::MasterKey;

/// Everything services need, shared by all requests.
pub struct AppContext {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub master_key: MasterKey,
    pub jwt: JwtKeys,
    pub login_limiter: LoginLimiter,
    pub metrics: Metrics,
    pub read_cache: cache::ReadCache,
    /// This process's identity as a job-lease holder.
    pub node_id: String,
    /// The market-data provider chain (quotes, bars, FX, search), shared by all requests.
    pub market: Arc<tributary_connectors::market::MarketData>,
    /// Operator settings account connectors are bound by (base URLs, host allowlists).
    pub connectors: tributary_connectors::registry::ConnectorEnv,
    /// Live progress (and cancel requests) of the file imports running in this process.
    pub live_jobs: progress::LiveJobs,
}

impl AppContext {
    /// Builds the context from settings, an open database and the master key, with the
    /// market-data chain built from `settings` (checked by `Settings::validate`).
    ///
    /// # Panics
    /// When the market-data settings are invalid, which `Settings::load_from` rejects first.
    #[must_use]
    pub fn new(settings: Arc<Settings>, db: DatabaseConnection, master_key: MasterKey) -> Self {
        #[allow(clippy::expect_used)]
        let market = tributary_connectors::market::MarketData::new(settings.market_data_config())
            .expect("market-data settings are validated when settings load");
        Self::with_market(settings, db, master_key, Arc::new(market))
    }

    /// Builds the context around an existing market-data chain (tests inject fakes or a
    /// manual clock through it).
    #[must_use]
    pub fn with_market(
        settings: Arc<Settings>,
        mut db: DatabaseConnection,
        master_key: MasterKey,
        market: Arc<tributary_connectors::market::MarketData>,
    ) -> Self {
        let metrics = Metrics::default();
        let statements = metrics.db_statement_counter();
        db.set_metric_callback(move |_| {
            statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let jwt = JwtKeys::new(
            &master_key.derive("jwt-hs256"),
            &settings.auth.issuer,
            &settings.auth.audience,
            settings.auth.access_token_ttl_secs,
        );
        let login_limiter = LoginLimiter::new(
            settings.auth.login_max_failures,
            std::time::Duration::from_secs(settings.auth.login_window_secs),
        );
        let cache_on = match settings.server.read_cache {
            crate::config::ReadCacheMode::On => true,
            crate::config::ReadCacheMode::Off => false,
            crate::config::ReadCacheMode::Auto => settings.database_url().starts_with("sqlite:"),
        };
        Self {
            read_cache: cache::ReadCache::new(cache_on),
            connectors: settings.providers.connector_env(),
            live_jobs: progress::LiveJobs::default(),
            node_id: format!(
                "node-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            db,
            settings,
            master_key,
            jwt,
            login_limiter,
            metrics,
            market,
        }
    }

    pub fn auth(&self) -> auth::AuthService<'_> {
        auth::AuthService { ctx: self }
    }
    pub fn users(&self) -> users::UserService<'_> {
        users::UserService { ctx: self }
    }
    pub fn tokens(&self) -> tokens::TokenService<'_> {
        tokens::TokenService { ctx: self }
    }
    pub fn accounts(&self) -> accounts::AccountService<'_> {
        accounts::AccountService { ctx: self }
    }
    pub fn integrations(&self) -> integrations::IntegrationService<'_> {
        integrations::IntegrationService { ctx: self }
    }
    pub fn import_jobs(&self) -> import_jobs::ImportJobService<'_> {
        import_jobs::ImportJobService { ctx: self }
    }
    pub fn transactions(&self) -> transactions::TransactionService<'_> {
        transactions::TransactionService { ctx: self }
    }
    pub fn imports(&self) -> imports::ImportService<'_> {
        imports::ImportService { ctx: self }
    }
    pub fn data_sources(&self) -> data_sources::DataSourceService<'_> {
        data_sources::DataSourceService { ctx: self }
    }
    pub fn audit(&self) -> audit::AuditService<'_> {
        audit::AuditService { ctx: self }
    }
    pub fn market(&self) -> market::MarketService<'_> {
        market::MarketService { ctx: self }
    }
}

/// Who is acting: the user and where the request came from (for the audit log).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: crate::domain::UserId,
    pub ip: Option<String>,
}

/// Clamps a requested page size to 1..=200 (default 50).
#[must_use]
pub fn page_limit(limit: Option<u64>) -> u64 {
    limit.unwrap_or(50).clamp(1, 200)
}
