//! Shared HTTP plumbing for provider connectors: one `reqwest::Client` per provider with
//! connect and request timeouts and an injectable base URL, retries with backoff and jitter
//! (honouring `Retry-After`), a client-side rate limiter, a TTL response cache that also
//! coalesces identical concurrent requests, and a circuit breaker. Statuses map into the
//! [`ConnectorError`] taxonomy here, once, for every provider.
//!
//! Keys never reach logs: header keys are marked sensitive, query keys are added only to the
//! outgoing request (not to cache keys, spans or errors), and `reqwest` errors are stripped
//! of their URL before they are turned into messages.

pub mod circuit;
pub mod clock;
pub mod rate_limit;
pub mod retry;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::future::Cache;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

pub use circuit::{CircuitBreaker, CircuitConfig, CircuitState};
pub use clock::{Clock, ManualClock, SystemClock};
pub use rate_limit::{Admission, RateLimiter, RateLimits, WindowUsage};
pub use retry::RetryPolicy;

use crate::ConnectorError;

/// The longest a provider-reported block (a `Retry-After` beyond what we wait for) stops
/// further calls.
const MAX_BLOCK: Duration = Duration::from_secs(24 * 3600);

/// Transport settings of one provider.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Scheme, host and optional path prefix, e.g. `https://api.tiingo.com`.
    pub base_url: String,
    /// TCP/TLS connect timeout (default 5 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included (default 15 s).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub rate_limits: RateLimits,
    pub circuit: CircuitConfig,
    /// Response cache size in entries (default 10 000).
    pub cache_capacity: u64,
}

impl HttpSettings {
    /// Defaults for `base_url`.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            retry: RetryPolicy::default(),
            rate_limits: RateLimits::default(),
            circuit: CircuitConfig::default(),
            cache_capacity: 10_000,
        }
    }
}

/// How a provider wants its key.
#[derive(Clone, Default)]
pub enum Auth {
    /// No key.
    #[default]
    None,
    /// A header on every request (`Authorization: Token <key>`, `x-cg-demo-api-key: <key>`).
    Header {
        name: &'static str,
        value: SecretString,
    },
    /// A query parameter on every request (`apikey=<key>`).
    Query {
        name: &'static str,
        value: SecretString,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Header { name, .. } => write!(f, "Header({name}: [REDACTED])"),
            Self::Query { name, .. } => write!(f, "Query({name}=[REDACTED])"),
        }
    }
}

/// A GET request relative to the provider's base URL.
#[derive(Debug, Clone)]
pub struct Get {
    path: String,
    query: Vec<(String, String)>,
    ttl: Duration,
}

impl Get {
    /// A request for `path` (starting with `/`), not cached.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            query: Vec::new(),
            ttl: Duration::ZERO,
        }
    }

    /// Adds a query parameter.
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Caches a successful response for `ttl` (zero: not cached).
    #[must_use]
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    fn cache_key(&self) -> String {
        let mut key = self.path.clone();
        for (i, (name, value)) in self.query.iter().enumerate() {
            key.push(if i == 0 { '?' } else { '&' });
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
        key
    }
}

/// Inspects a successful body before it is accepted (and cached): for vendors that report
/// errors with HTTP 200 (Alpha Vantage).
pub type BodyCheck = Arc<dyn Fn(&[u8]) -> Result<(), ConnectorError> + Send + Sync>;

/// Whether a provider can take a call right now, as far as the plumbing knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// The circuit is open; the next trial is in this long.
    CircuitOpen {
        retry_in: Duration,
    },
    /// A request budget is spent (or the provider told us to stop) for this long.
    BudgetExhausted {
        retry_after: Duration,
    },
}

#[derive(Clone)]
struct CachedBody {
    body: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, CachedBody> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &CachedBody,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Debug, Default)]
struct Health {
    last_error: Option<(DateTime<Utc>, String)>,
    failing: bool,
}

/// The HTTP side of one provider. Shared by reference; every method takes `&self`.
pub struct ProviderHttp {
    name: &'static str,
    client: reqwest::Client,
    base_url: String,
    query_auth: Option<(&'static str, SecretString)>,
    retry: RetryPolicy,
    limiter: RateLimiter,
    breaker: CircuitBreaker,
    cache: Cache<String, CachedBody>,
    body_check: Option<BodyCheck>,
    health: Mutex<Health>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ProviderHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderHttp")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("circuit", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl ProviderHttp {
    /// Builds the client for provider `name`.
    ///
    /// # Errors
    /// `InvalidConfig` (field `base_url` or `api_key`) for a base URL that is not an absolute
    /// http(s) URL or a key that cannot be sent as a header.
    pub fn new(
        name: &'static str,
        settings: &HttpSettings,
        auth: Auth,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let base = Url::parse(&settings.base_url).map_err(|e| {
            ConnectorError::invalid_config("base_url", format!("{name}: not a URL: {e}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(ConnectorError::invalid_config(
                "base_url",
                format!("{name}: must be an http(s) URL without a query"),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let mut query_auth = None;
        match auth {
            Auth::None => {}
            Auth::Header {
                name: header,
                value,
            } => {
                let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                    ConnectorError::invalid_config("api_key", format!("{name}: not a valid key"))
                })?;
                value.set_sensitive(true);
                headers.insert(HeaderName::from_static(header), value);
            }
            Auth::Query { name: param, value } => query_auth = Some((param, value)),
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| ConnectorError::Transport(format!("{name}: {}", e.without_url())))?;
        let cache = Cache::builder()
            .max_capacity(settings.cache_capacity)
            .expire_after(PerEntryTtl)
            .build();
        Ok(Self {
            name,
            client,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            query_auth,
            retry: settings.retry.clone(),
            limiter: RateLimiter::new(&settings.rate_limits, clock.clone()),
            breaker: CircuitBreaker::new(settings.circuit.clone(), clock.clone()),
            cache,
            body_check: None,
            health: Mutex::new(Health::default()),
            clock,
        })
    }

    /// Adds a check every successful body must pass before it is accepted.
    #[must_use]
    pub fn with_body_check(mut self, check: BodyCheck) -> Self {
        self.body_check = Some(check);
        self
    }

    /// The provider name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The rate limiter.
    #[must_use]
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The circuit breaker.
    #[must_use]
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether a call would be refused without touching the network.
    #[must_use]
    pub fn availability(&self) -> Availability {
        if let Some(retry_in) = self.breaker.refusing_for() {
            return Availability::CircuitOpen { retry_in };
        }
        if let Some(retry_after) = self.limiter.exhausted_for() {
            return Availability::BudgetExhausted { retry_after };
        }
        Availability::Ready
    }

    /// The last error and when it happened.
    #[must_use]
    pub fn last_error(&self) -> Option<(DateTime<Utc>, String)> {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error
            .clone()
    }

    /// Closed circuit and the last call did not fail for a provider-side reason.
    #[must_use]
    pub fn healthy(&self) -> bool {
        let failing = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failing;
        !failing && self.breaker.state() == CircuitState::Closed
    }

    /// GETs and decodes a JSON body, through the cache when the request has a TTL.
    ///
    /// # Errors
    /// The [`ConnectorError`] taxonomy: `Authentication` (401/403), `RateLimited` (429,
    /// spent budgets, vendor notices), `Upstream` (other statuses; 404 for unknown
    /// instruments), `Decode` (malformed or truncated bodies, unexpected shapes),
    /// `Transport` (timeouts, connection failures, an open circuit).
    #[tracing::instrument(skip_all, fields(provider = self.name, path = %req.path), err(level = "debug"))]
    pub async fn get_json<T: DeserializeOwned>(&self, req: &Get) -> Result<T, ConnectorError> {
        let body = self.get_body(req).await?;
        let mut de = serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => Ok(value),
            Err(e) => {
                if !req.ttl.is_zero() {
                    self.cache.invalidate(&req.cache_key()).await;
                }
                let err = ConnectorError::Decode(format!(
                    "{}: unexpected response at `{}`: {}",
                    self.name,
                    e.path(),
                    e.inner()
                ));
                self.record(&err);
                Err(err)
            }
        }
    }

    /// GETs a JSON body (checked to be syntactically valid JSON), through the cache when the
    /// request has a TTL. Identical concurrent requests share one upstream call.
    ///
    /// # Errors
    /// As [`ProviderHttp::get_json`].
    pub async fn get_body(&self, req: &Get) -> Result<Arc<[u8]>, ConnectorError> {
        if req.ttl.is_zero() {
            return self.fetch(req).await;
        }
        let ttl = req.ttl;
        self.cache
            .try_get_with(req.cache_key(), async move {
                self.fetch(req).await.map(|body| CachedBody { body, ttl })
            })
            .await
            .map(|cached| cached.body)
            .map_err(|e| clone_error(&e))
    }

    /// Drops every cached response.
    pub fn clear_cache(&self) {
        self.cache.invalidate_all();
    }

    async fn fetch(&self, req: &Get) -> Result<Arc<[u8]>, ConnectorError> {
        let mut failed = 0_u32;
        loop {
            match self.attempt(req).await {
                Ok(body) => return Ok(body),
                Err(Attempt::Refused(err)) => return Err(err),
                Err(Attempt::Failed(err)) => {
                    failed += 1;
                    if let ConnectorError::RateLimited {
                        retry_after: Some(wait),
                    } = &err
                        && *wait > self.retry.max_retry_after
                    {
                        self.limiter.block_for((*wait).min(MAX_BLOCK));
                    }
                    match self.retry.delay_after(failed, &err) {
                        Some(delay) => {
                            tracing::debug!(
                                provider = self.name,
                                attempt = failed,
                                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                                error = %err,
                                "retrying"
                            );
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(err),
                    }
                }
            }
        }
    }

    async fn attempt(&self, req: &Get) -> Result<Arc<[u8]>, Attempt> {
        if let Some(retry_in) = self.breaker.refusing_for() {
            return Err(Attempt::Refused(self.circuit_open(retry_in)));
        }
        self.limiter.acquire().await.map_err(Attempt::Refused)?;
        self.breaker
            .admit()
            .map_err(|retry_in| Attempt::Refused(self.circuit_open(retry_in)))?;
        let result = self.send(req).await;
        match &result {
            Ok(_) => self.record_ok(),
            Err(err) => self.record(err),
        }
        result.map_err(Attempt::Failed)
    }

    fn circuit_open(&self, retry_in: Duration) -> ConnectorError {
        ConnectorError::Transport(format!(
            "{}: circuit breaker open (next trial in {} s)",
            self.name,
            retry_in.as_secs()
        ))
    }

    async fn send(&self, req: &Get) -> Result<Arc<[u8]>, ConnectorError> {
        let url = format!("{}{}", self.base_url, req.path);
        let mut builder = self.client.get(url).query(&req.query);
        if let Some((name, value)) = &self.query_auth {
            builder = builder.query(&[(name, value.expose_secret())]);
        }
        let response = builder.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, self.clock.now()));
            return Err(status_error(self.name, status, retry_after));
        }
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| {
            ConnectorError::Decode(format!("{}: the body is not valid JSON: {e}", self.name))
        })?;
        if let Some(check) = &self.body_check {
            check(&body)?;
        }
        Ok(Arc::from(body.as_ref()))
    }

    fn transport(&self, err: reqwest::Error) -> ConnectorError {
        let err = err.without_url();
        if err.is_timeout() {
            ConnectorError::Transport(format!("{}: request timed out", self.name))
        } else if err.is_connect() {
            ConnectorError::Transport(format!("{}: could not connect", self.name))
        } else if err.is_decode() {
            ConnectorError::Decode(format!("{}: {err}", self.name))
        } else {
            ConnectorError::Transport(format!("{}: {err}", self.name))
        }
    }

    fn record_ok(&self) {
        self.breaker.record_success();
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failing = false;
    }

    fn record(&self, err: &ConnectorError) {
        let provider_fault = matches!(
            err,
            ConnectorError::Transport(_) | ConnectorError::Decode(_)
        ) || matches!(err, ConnectorError::Upstream { status, .. } if *status >= 500);
        if provider_fault {
            self.breaker.record_failure();
        } else {
            // The provider answered: it is up, whatever it thought of the request.
            self.breaker.record_success();
        }
        let not_found = matches!(err, ConnectorError::Upstream { status: 404, .. });
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        health.failing = provider_fault || matches!(err, ConnectorError::Authentication(_));
        if !not_found {
            health.last_error = Some((self.clock.now(), err.to_string()));
        }
    }
}

enum Attempt {
    /// Refused before the network (open circuit, spent budget): never retried here.
    Refused(ConnectorError),
    /// The call was made and failed.
    Failed(ConnectorError),
}

/// The taxonomy for a non-success status.
#[must_use]
pub fn status_error(
    provider: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
) -> ConnectorError {
    match status.as_u16() {
        401 | 403 => ConnectorError::Authentication(format!(
            "{provider} rejected the credentials (HTTP {})",
            status.as_u16()
        )),
        429 => ConnectorError::RateLimited { retry_after },
        code => ConnectorError::Upstream {
            status: code,
            message: format!(
                "{provider} answered {} {}",
                code,
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
        },
    }
}

/// Parses `Retry-After`: delay seconds (fractions accepted, for tests) or an HTTP date.
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

/// `ConnectorError` is not `Clone`; the cache hands one error to several waiters.
pub(crate) fn clone_error(err: &ConnectorError) -> ConnectorError {
    match err {
        ConnectorError::Authentication(m) => ConnectorError::Authentication(m.clone()),
        ConnectorError::RateLimited { retry_after } => ConnectorError::RateLimited {
            retry_after: *retry_after,
        },
        ConnectorError::Upstream { status, message } => ConnectorError::Upstream {
            status: *status,
            message: message.clone(),
        },
        ConnectorError::Decode(m) => ConnectorError::Decode(m.clone()),
        ConnectorError::Transport(m) => ConnectorError::Transport(m.clone()),
        ConnectorError::NotSupported(m) => ConnectorError::NotSupported(m.clone()),
        ConnectorError::InvalidConfig { field, message } => ConnectorError::InvalidConfig {
            field: field.clone(),
            message: message.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn statuses_map_into_the_taxonomy() {
        assert!(matches!(
            status_error("x", StatusCode::UNAUTHORIZED, None),
            ConnectorError::Authentication(_)
        ));
        assert!(matches!(
            status_error("x", StatusCode::FORBIDDEN, None),
            ConnectorError::Authentication(_)
        ));
        assert!(matches!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(3))),
            ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)
        ));
        let err = status_error("x", StatusCode::BAD_GATEWAY, None);
        assert!(matches!(err, ConnectorError::Upstream { status: 502, .. }));
        assert!(err.is_retryable());
        assert!(!status_error("x", StatusCode::NOT_FOUND, None).is_retryable());
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = Utc
            .with_ymd_and_hms(2015, 10, 21, 7, 27, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("0.05", now),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn a_base_url_must_be_absolute_http() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        for bad in ["ftp://example.com", "not a url", "http://h/?q=1"] {
            let err = ProviderHttp::new("x", &HttpSettings::new(bad), Auth::None, clock.clone());
            assert!(
                matches!(err, Err(ConnectorError::InvalidConfig { ref field, .. }) if field == "base_url"),
                "{bad}"
            );
        }
        assert!(
            ProviderHttp::new(
                "x",
                &HttpSettings::new("http://127.0.0.1:1/prefix/"),
                Auth::None,
                clock
            )
            .is_ok()
        );
    }

    #[test]
    fn auth_debug_never_shows_the_key() {
        let auth = Auth::Header {
            name: "authorization",
            value: SecretString::from("Token s3cret"),
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
