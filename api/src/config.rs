//! Typed settings: defaults in code, then an optional TOML file, then environment variables
//! (`TRIBUTARY__SECTION__KEY`). This is the only module that reads the environment.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;

mod market;
pub use market::{
    MarketDataSettings, PriceSettings, PrioritySettings, ProviderSettings, ProvidersSettings,
};

/// All settings of one server process.
#[derive(Clone, Deserialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub graphql: GraphqlSettings,
    pub jobs: JobSettings,
    /// Market-data providers (`[providers.<name>]`).
    #[serde(default)]
    pub providers: ProvidersSettings,
    /// The fallback chain and the quote endpoints (`[market_data]`).
    #[serde(default)]
    pub market_data: MarketDataSettings,
    /// The price-update scheduler (`[prices]`).
    #[serde(default)]
    pub prices: PriceSettings,
    /// Where the generated master key lives when `TRIBUTARY_SECRET_KEY` is not set.
    pub secret_key_file: Option<PathBuf>,
    /// The master key from `TRIBUTARY_SECRET_KEY` (base64 of 32 bytes).
    #[serde(skip)]
    pub secret_key: Option<SecretKeyMaterial>,
}

/// 32 bytes of key material that never shows up in `Debug` output.
#[derive(Clone)]
pub struct SecretKeyMaterial(pub std::sync::Arc<SecretBox<[u8; 32]>>);

impl SecretKeyMaterial {
    /// Parses base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// A message naming what is wrong (not the value).
    pub fn from_base64(encoded: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "is not valid base64".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("must decode to 32 bytes, got {}", v.len()))?;
        Ok(Self(std::sync::Arc::new(SecretBox::new(Box::new(key)))))
    }

    /// The raw key bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SecretKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeyMaterial(********)")
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub workers: Option<usize>,
    pub body_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// In-process cache of account lists (see `services::cache`).
    pub read_cache: ReadCacheMode,
}

/// When the in-process read cache is used.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReadCacheMode {
    /// On for SQLite (a single server process), off for PostgreSQL (several nodes may write).
    Auto,
    On,
    Off,
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; defaults to SQLite under `data_dir`.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    /// SQLite page cache of a file import's connection while it writes, in MiB (large files write
    /// random-order index pages).
    pub sqlite_cache_mib: u32,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_ref().map(|_| "********"))
            .field("max_connections", &self.max_connections)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("sqlite_cache_mib", &self.sqlite_cache_mib)
            .finish()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuthSettings {
    pub allow_registration: bool,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub issuer: String,
    pub audience: String,
    pub login_max_failures: u32,
    pub login_window_secs: u64,
}

/// The import pipeline: workers, leases, retries, dedup window and scheduler.
#[derive(Clone, Debug, Deserialize)]
pub struct JobSettings {
    /// Job workers per process (0 = this node only serves HTTP).
    pub workers: usize,
    pub poll_interval_ms: u64,
    /// A running job's lease; renewed every third of it. A crashed node's jobs are picked up
    /// again once their lease expires.
    pub lease_secs: i64,
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt (with jitter) up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Cross-source match window for dedup.
    pub match_window_days: u64,
    pub scheduler_enabled: bool,
    pub scheduler_interval_secs: u64,
    /// Scheduled jobs are spread over this window so many accounts do not hit one provider
    /// at once.
    pub schedule_spread_secs: u64,
    /// Largest file accepted by the import endpoint.
    pub upload_limit_bytes: usize,
    /// Days the file of an upload that did not succeed (failed, partial, cancelled) is kept in
    /// the database for a retry; 0 keeps none.
    pub upload_retention_days: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GraphqlSettings {
    /// Serve GraphiQL on `GET /graphql`.
    pub graphiql: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// Largest `first` a connection accepts.
    pub max_page_size: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("server", &self.server)
            .field("database", &self.database)
            .field("auth", &self.auth)
            .field("log", &self.log)
            .field("graphql", &self.graphql)
            .field("jobs", &self.jobs)
            .field("providers", &self.providers)
            .field("market_data", &self.market_data)
            .field("prices", &self.prices)
            .field("secret_key_file", &self.secret_key_file)
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

/// A setting that could not be loaded, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads settings from defaults, the optional TOML file and the process environment.
    ///
    /// # Errors
    /// A message naming the setting that is missing or malformed.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(config_file, &env)
    }

    /// Loads settings from defaults, the optional TOML file and the given environment
    /// (testable without touching the process environment).
    ///
    /// # Errors
    /// A message naming the setting that is missing or malformed.
    pub fn load_from(
        config_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut builder = config::Config::builder()
            .set_default("data_dir", "./data")
            .and_then(|b| b.set_default("server.host", "127.0.0.1"))
            .and_then(|b| b.set_default("server.port", 8080))
            .and_then(|b| b.set_default("server.body_limit_bytes", 1_048_576))
            .and_then(|b| b.set_default("server.shutdown_timeout_secs", 30))
            .and_then(|b| b.set_default("server.read_cache", "auto"))
            .and_then(|b| b.set_default("database.max_connections", 10))
            .and_then(|b| b.set_default("database.busy_timeout_ms", 5000))
            .and_then(|b| b.set_default("database.sqlite_cache_mib", 64))
            .and_then(|b| b.set_default("auth.allow_registration", true))
            .and_then(|b| b.set_default("auth.access_token_ttl_secs", 900))
            .and_then(|b| b.set_default("auth.refresh_token_ttl_secs", 2_592_000))
            .and_then(|b| b.set_default("auth.issuer", "tributary"))
            .and_then(|b| b.set_default("auth.audience", "tributary-api"))
            .and_then(|b| b.set_default("auth.login_max_failures", 5))
            .and_then(|b| b.set_default("auth.login_window_secs", 900))
            .and_then(|b| b.set_default("log.level", "info"))
            .and_then(|b| b.set_default("log.format", "auto"))
            .and_then(|b| b.set_default("graphql.graphiql", true))
            .and_then(|b| b.set_default("jobs.workers", 2))
            .and_then(|b| b.set_default("jobs.poll_interval_ms", 1000))
            .and_then(|b| b.set_default("jobs.lease_secs", 60))
            .and_then(|b| b.set_default("jobs.max_attempts", 5))
            .and_then(|b| b.set_default("jobs.retry_base_secs", 30))
            .and_then(|b| b.set_default("jobs.retry_max_secs", 3600))
            .and_then(|b| b.set_default("jobs.match_window_days", 3))
            .and_then(|b| b.set_default("jobs.scheduler_enabled", true))
            .and_then(|b| b.set_default("jobs.scheduler_interval_secs", 60))
            .and_then(|b| b.set_default("jobs.schedule_spread_secs", 300))
            .and_then(|b| b.set_default("jobs.upload_limit_bytes", 20 * 1024 * 1024))
            .and_then(|b| b.set_default("jobs.upload_retention_days", 7))
            .and_then(|b| b.set_default("graphql.max_depth", 12))
            .and_then(|b| b.set_default("graphql.max_complexity", 5000))
            .and_then(|b| b.set_default("graphql.max_page_size", 100))
            .map_err(|e| ConfigError(e.to_string()))?;

        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| lookup("TRIBUTARY_CONFIG").map(PathBuf::from));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None => {
                builder =
                    builder.add_source(config::File::with_name("tributary.toml").required(false));
            }
        }

        let env_map: std::collections::HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("TRIBUTARY__"))
            .cloned()
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("TRIBUTARY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_map)),
        );
        if let Some(url) = lookup("DATABASE_URL").filter(|v| !v.is_empty()) {
            builder = builder
                .set_override("database.url", url)
                .map_err(|e| ConfigError(e.to_string()))?;
        }
        if let Some(level) = lookup("RUST_LOG").filter(|v| !v.is_empty())
            && lookup("TRIBUTARY__LOG__LEVEL").is_none()
        {
            builder = builder
                .set_override("log.level", level)
                .map_err(|e| ConfigError(e.to_string()))?;
        }

        let raw = builder.build().map_err(|e| ConfigError(e.to_string()))?;
        let mut settings: Settings = raw
            .try_deserialize()
            .map_err(|e| ConfigError(e.to_string()))?;

        if let Some(key) = lookup("TRIBUTARY_SECRET_KEY").filter(|v| !v.trim().is_empty()) {
            settings.secret_key = Some(
                SecretKeyMaterial::from_base64(&key)
                    .map_err(|m| ConfigError(format!("TRIBUTARY_SECRET_KEY {m}")))?,
            );
        }
        settings.providers.apply_plan_env_keys(&lookup);
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: &str| Err(ConfigError(m.to_string()));
        if self.auth.access_token_ttl_secs <= 0 {
            return fail("auth.access_token_ttl_secs must be positive");
        }
        if self.auth.refresh_token_ttl_secs <= 0 {
            return fail("auth.refresh_token_ttl_secs must be positive");
        }
        if self.auth.login_max_failures == 0 {
            return fail("auth.login_max_failures must be at least 1");
        }
        if self.server.body_limit_bytes < 1024 {
            return fail("server.body_limit_bytes must be at least 1024");
        }
        if self.database.max_connections == 0 {
            return fail("database.max_connections must be at least 1");
        }
        if self.graphql.max_depth == 0
            || self.graphql.max_complexity == 0
            || self.graphql.max_page_size == 0
        {
            return fail(
                "graphql.max_depth, graphql.max_complexity and graphql.max_page_size must be at least 1",
            );
        }
        if self.jobs.lease_secs < 3 {
            return fail("jobs.lease_secs must be at least 3");
        }
        if self.jobs.max_attempts < 1 {
            return fail("jobs.max_attempts must be at least 1");
        }
        if self.jobs.poll_interval_ms == 0 || self.jobs.scheduler_interval_secs == 0 {
            return fail(
                "jobs.poll_interval_ms and jobs.scheduler_interval_secs must be at least 1",
            );
        }
        if self.server.workers == Some(0) {
            return fail("server.workers must be at least 1");
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return fail("database.url (DATABASE_URL) must start with sqlite: or postgres://");
            }
        }
        self.market_data.validate()?;
        self.prices.validate()?;
        tributary_connectors::market::MarketData::new(self.market_data_config())
            .map_err(|e| ConfigError(format!("market data: {e}")))?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError(format!("log.level is not a valid filter: {e}")))?;
        Ok(())
    }

    /// The database URL, defaulting to SQLite under `data_dir`.
    #[must_use]
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_string(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tributary.db").display()
            ),
        }
    }

    /// Where the master key file lives.
    #[must_use]
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_any_configuration() {
        let s = Settings::load_from(None, &[]).expect("defaults load");
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.host.to_string(), "127.0.0.1");
        assert!(s.auth.allow_registration);
        assert!(s.database_url().starts_with("sqlite://"));
        assert_eq!(s.jobs.upload_retention_days, 7);
    }

    #[test]
    fn environment_overrides_nested_and_top_level_keys() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("TRIBUTARY__SERVER__PORT", "9999"),
                ("TRIBUTARY__DATA_DIR", "/tmp/x"),
                ("TRIBUTARY__AUTH__ALLOW_REGISTRATION", "false"),
                ("DATABASE_URL", "postgres://u@localhost/db"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.server.port, 9999);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert!(!s.auth.allow_registration);
        assert_eq!(s.database_url(), "postgres://u@localhost/db");
    }

    #[test]
    fn a_bad_setting_fails_naming_it() {
        let err = Settings::load_from(None, &env(&[("TRIBUTARY__SERVER__PORT", "eighty")]))
            .expect_err("fails");
        assert!(err.to_string().contains("port"), "{err}");
        let err = Settings::load_from(None, &env(&[("TRIBUTARY_SECRET_KEY", "c2hvcnQ=")]))
            .expect_err("fails");
        assert!(err.to_string().contains("TRIBUTARY_SECRET_KEY"), "{err}");
        let err = Settings::load_from(None, &env(&[("TRIBUTARY__LOG__FORMAT", "xml")]))
            .expect_err("fails");
        assert!(err.to_string().contains("format"), "{err}");
    }
}
