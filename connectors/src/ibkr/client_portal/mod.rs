//! The Interactive Brokers Client Portal gateway: the REST API (`/v1/api`) the user's own
//! gateway process serves once they have logged in to it in a browser. This module owns the
//! HTTP side (pacing, the session's "accounts first" rule, status → [`ConnectorError`]) and
//! turns the portfolio endpoints into the same [`AccountData`] the Flex and TWS modes return.
//!
//! The gateway serves a self-signed certificate, so [`GatewaySettings::verify_tls`] is off by
//! default; it can only be logged in interactively, so every "not logged in" answer becomes
//! `Authentication` with instructions for the user instead of a retry.

mod convert;
mod models;
mod pacing;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use self::models::{AuthStatus, Ledger, PortfolioAccount, Position, Summary, Trade};
use self::pacing::Pacer;
use crate::ConnectorError;
use crate::http::{parse_retry_after, status_error};
use crate::ibkr::category::{CategoryMap, Contract};
use crate::ibkr::{AccountData, IbAccount};
use crate::types::Balance;

/// How the client names the gateway in errors.
const GATEWAY: &str = "Client Portal gateway";

/// The trades endpoint looks back at most this many days (today included).
const MAX_TRADE_DAYS: i64 = 7;

/// A safety stop for a gateway that never answers an empty positions page.
const MAX_POSITION_PAGES: u32 = 200;

/// The endpoints the gateway limits to one request per five seconds (IBKR's pacing table);
/// `/tickle` is limited to one per second.
const SLOW_ENDPOINTS: [&str; 2] = ["/portfolio/accounts", "/iserver/account/trades"];
const TICKLE: &str = "/tickle";

/// Where the gateway is and how to pace it.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Scheme, host and port of the gateway, e.g. `https://localhost:5000`; the client
    /// appends `/v1/api`.
    pub base_url: String,
    /// Verify the gateway's TLS certificate. The gateway ships a self-signed one, so this is
    /// off by default; turn it on after installing a trusted certificate in the gateway.
    pub verify_tls: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Requests per second over all endpoints (the gateway allows 10).
    pub requests_per_second: u32,
    /// Minimum spacing of `/portfolio/accounts` and `/iserver/account/trades` requests
    /// (documented limit: one per 5 s).
    pub slow_endpoint_spacing: Duration,
    /// Minimum spacing of `/tickle` requests (documented limit: one per second).
    pub tickle_spacing: Duration,
}

impl GatewaySettings {
    /// The documented limits for a gateway at `base_url`, certificate not verified.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            ..Self::default()
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            base_url: "https://localhost:5000".to_owned(),
            verify_tls: false,
            timeout: Duration::from_secs(30),
            requests_per_second: 10,
            slow_endpoint_spacing: Duration::from_secs(5),
            tickle_spacing: Duration::from_secs(1),
        }
    }
}

/// A client of one gateway. Cheap to share by reference; every method takes `&self`.
#[derive(Debug)]
pub struct GatewayClient {
    http: reqwest::Client,
    /// `<base_url>/v1/api`.
    api: String,
    /// `https://host:port`, where the user logs in.
    console: String,
    global_spacing: Duration,
    slow_endpoint_spacing: Duration,
    tickle_spacing: Duration,
    pacer: Pacer,
    /// Whether `/portfolio/accounts` was called in the gateway's current session: the other
    /// portfolio endpoints fail until it has been.
    primed: AtomicBool,
    /// Base currency of each account, from `/portfolio/accounts`.
    base_currencies: Mutex<HashMap<String, String>>,
}

impl GatewayClient {
    /// A client for the gateway in `settings`.
    ///
    /// # Errors
    /// `InvalidConfig` on `base_url` (not an absolute http(s) URL) or `requests_per_second`
    /// (zero); `Transport` when the HTTP client cannot be built.
    pub fn new(settings: GatewaySettings) -> Result<Self, ConnectorError> {
        let url = Url::parse(settings.base_url.trim())
            .map_err(|e| ConnectorError::invalid_config("base_url", format!("not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if !matches!(url.scheme(), "http" | "https") || host.is_empty() || url.query().is_some() {
            return Err(ConnectorError::invalid_config(
                "base_url",
                "must be the gateway's https://host:port, without a query",
            ));
        }
        if settings.requests_per_second == 0 {
            return Err(ConnectorError::invalid_config(
                "requests_per_second",
                "must be at least 1",
            ));
        }
        let console = match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        let base = settings.base_url.trim().trim_end_matches('/');
        let api = if base.ends_with("/v1/api") {
            base.to_owned()
        } else {
            format!("{base}/v1/api")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .timeout(settings.timeout)
            // The gateway may refuse requests that carry no user agent.
            .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(!settings.verify_tls)
            .build()
            .map_err(|e| ConnectorError::Transport(format!("{GATEWAY}: {}", e.without_url())))?;
        Ok(Self {
            http,
            api,
            console,
            global_spacing: Duration::from_secs(1) / settings.requests_per_second,
            slow_endpoint_spacing: settings.slow_endpoint_spacing,
            tickle_spacing: settings.tickle_spacing,
            pacer: Pacer::default(),
            primed: AtomicBool::new(false),
            base_currencies: Mutex::new(HashMap::new()),
        })
    }

    /// Checks that the gateway answers and is logged in: `POST /tickle` (which also keeps the
    /// session alive), then `POST /iserver/auth/status`. Returns a line for the user.
    ///
    /// # Errors
    /// `Authentication` with login instructions when the gateway is not logged in; `Upstream`
    /// (retryable) when it is logged in but not connected to IBKR; `Transport` when it cannot
    /// be reached or its certificate is refused.
    #[tracing::instrument(skip_all, fields(gateway = %self.console), err(level = "debug"))]
    pub async fn check(&self) -> Result<String, ConnectorError> {
        self.send(Method::POST, TICKLE, &[]).await?;
        let status: AuthStatus = self
            .request(Method::POST, "/iserver/auth/status", &[])
            .await?;
        if !status.authenticated {
            self.primed.store(false, Ordering::Relaxed);
            return Err(ConnectorError::Authentication(self.login_hint()));
        }
        if !status.connected {
            return Err(ConnectorError::Upstream {
                status: 503,
                message: format!(
                    "the {GATEWAY} is logged in but not connected to IBKR{}",
                    status
                        .message
                        .as_deref()
                        .filter(|m| !m.trim().is_empty())
                        .map(|m| format!(" ({})", m.trim()))
                        .unwrap_or_default()
                ),
            });
        }
        let mut line = format!("The {GATEWAY} at {} is logged in", self.console);
        if let Some(server) = status
            .server_info
            .and_then(|s| s.server_name)
            .filter(|s| !s.trim().is_empty())
        {
            line.push_str(&format!(" (server {})", server.trim()));
        }
        if status.competing {
            line.push_str(
                "; another session (TWS or the mobile app) holds the brokerage connection, so \
                 recent trades may be unavailable",
            );
        }
        Ok(line)
    }

    /// The accounts the logged-in user can see (`GET /portfolio/accounts`). This also opens
    /// the gateway session's portfolio side, which the other portfolio endpoints require.
    ///
    /// # Errors
    /// As [`GatewayClient::check`]; `Decode` for an unexpected response.
    #[tracing::instrument(skip_all, fields(gateway = %self.console), err(level = "debug"))]
    pub async fn accounts(&self) -> Result<Vec<IbAccount>, ConnectorError> {
        let raw: Vec<PortfolioAccount> = self
            .request(Method::GET, "/portfolio/accounts", &[])
            .await?;
        self.primed.store(true, Ordering::Relaxed);
        let accounts: Vec<IbAccount> = raw.into_iter().filter_map(convert::account).collect();
        let mut currencies = self
            .base_currencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for account in &accounts {
            if let Some(currency) = &account.base_currency {
                currencies.insert(account.id.clone(), currency.clone());
            }
        }
        Ok(accounts)
    }

    /// Positions, cash, balance and recent trades of one account:
    ///
    /// - positions page by page (`/portfolio/{id}/positions/{page}` from 0 until an empty
    ///   page), as holdings; `CASH` (forex) positions are left out because the ledger already
    ///   reports each currency's cash;
    /// - the ledger (`/portfolio/{id}/ledger`): one cash holding per currency, and the `BASE`
    ///   net liquidation value as the balance; the summary (`/portfolio/{id}/summary`) only
    ///   when the ledger lacks it;
    /// - executions (`/iserver/account/trades`, at most the last 7 days) of this account at
    ///   or after `since`, as buys and sells with source id `exec:<execution_id>`.
    ///
    /// # Errors
    /// `InvalidConfig` on `account_id` for an id that is not alphanumeric; otherwise as
    /// [`GatewayClient::check`], and `Decode` for an unexpected response (naming the endpoint).
    #[tracing::instrument(skip_all, fields(gateway = %self.console, account = %account_id), err(level = "debug"))]
    pub async fn account_data(
        &self,
        account_id: &str,
        map: &CategoryMap,
        since: Option<DateTime<Utc>>,
    ) -> Result<AccountData, ConnectorError> {
        let account_id = account_id.trim();
        if account_id.is_empty() || !account_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConnectorError::invalid_config(
                "account_id",
                "an IB account id such as U1234567",
            ));
        }
        let fresh_session = !self.primed.load(Ordering::Relaxed);
        if fresh_session {
            self.accounts().await?;
        }
        match self.collect(account_id, map, since).await {
            // The gateway restarted its session since we opened it (it does nightly) and
            // refuses portfolio calls until the account list is read again.
            Err(ConnectorError::Upstream { status, .. })
                if !fresh_session && (400..500).contains(&status) && status != 404 =>
            {
                tracing::debug!(status, "portfolio call refused; opening the session again");
                self.accounts().await?;
                self.collect(account_id, map, since).await
            }
            other => other,
        }
    }

    async fn collect(
        &self,
        account_id: &str,
        map: &CategoryMap,
        since: Option<DateTime<Utc>>,
    ) -> Result<AccountData, ConnectorError> {
        let now = Utc::now();
        let positions = self.positions(account_id).await?;
        let ledger: Ledger = self
            .request(Method::GET, &format!("/portfolio/{account_id}/ledger"), &[])
            .await?;
        let mut currency = self.base_currency(account_id);
        let mut net_liquidation = convert::ledger_net_liquidation(&ledger);
        if net_liquidation.is_none() || currency.is_none() {
            let path = format!("/portfolio/{account_id}/summary");
            let summary: Summary = self.request(Method::GET, &path, &[]).await?;
            if let Some((amount, summary_currency)) = convert::summary_net_liquidation(&summary)
                .map_err(|e| ConnectorError::Decode(format!("{GATEWAY}: GET {path}: {e}")))?
            {
                net_liquidation = net_liquidation.or(Some(amount));
                currency = currency.or(summary_currency);
            }
        }

        let mut holdings: Vec<_> = positions
            .iter()
            .filter_map(|p| convert::holding(p, map, now))
            .collect();
        holdings.extend(convert::cash_holdings(&ledger, now));

        let contracts: HashMap<String, Contract> = positions
            .iter()
            .filter(|p| !convert::is_currency_position(p))
            .filter_map(|p| Some((p.conid.clone()?, convert::contract(p)?)))
            .collect();
        let trades: Vec<Trade> = self
            .request(
                Method::GET,
                "/iserver/account/trades",
                &[("days", trade_days(since, now).to_string())],
            )
            .await?;
        let ctx = convert::TradeContext {
            account_id,
            base_currency: currency.as_deref(),
            contracts: &contracts,
            map,
            since,
        };
        let mut transactions: Vec<_> = trades
            .iter()
            .filter_map(|t| convert::transaction(t, &ctx))
            .collect();
        transactions
            .sort_by(|a, b| (a.trade_date, &a.source_id).cmp(&(b.trade_date, &b.source_id)));

        Ok(AccountData {
            holdings,
            transactions,
            balance: net_liquidation
                .zip(currency)
                .map(|(amount, currency)| Balance {
                    amount,
                    currency,
                    as_of: now,
                }),
        })
    }

    /// Every page of positions. Stops at the first empty page, or at a page that only
    /// repeats positions already seen (a gateway ignoring the page number).
    async fn positions(&self, account_id: &str) -> Result<Vec<Position>, ConnectorError> {
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        for page in 0..MAX_POSITION_PAGES {
            let path = format!("/portfolio/{account_id}/positions/{page}");
            let batch: Vec<Position> = self.request(Method::GET, &path, &[]).await?;
            if batch.is_empty() {
                return Ok(all);
            }
            let mut fresh = false;
            for position in batch {
                let new = match &position.conid {
                    Some(conid) => seen.insert(conid.clone()),
                    None => true,
                };
                if new {
                    fresh = true;
                    all.push(position);
                }
            }
            if !fresh {
                return Ok(all);
            }
        }
        tracing::warn!(
            account = account_id,
            pages = MAX_POSITION_PAGES,
            "the gateway never answered an empty positions page; stopped"
        );
        Ok(all)
    }

    fn base_currency(&self, account_id: &str) -> Option<String> {
        self.base_currencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account_id)
            .cloned()
    }

    /// Sends a request and decodes its JSON body.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ConnectorError> {
        let endpoint = format!("{method} {path}");
        let body = self.send(method, path, query).await?;
        let mut de = serde_json::Deserializer::from_slice(&body);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de)
            .map_err(|e| {
                ConnectorError::Decode(format!(
                    "{GATEWAY}: unexpected response from {endpoint} at `{}`: {}",
                    e.path(),
                    e.inner()
                ))
            })
            .and_then(|value| {
                de.end().map(|()| value).map_err(|e| {
                    ConnectorError::Decode(format!(
                        "{GATEWAY}: unexpected response from {endpoint}: {e}"
                    ))
                })
            });
        if value.is_err() {
            self.forget_session_if_portfolio(path);
        }
        value
    }

    /// Paces, sends and maps the status; returns the body of a success.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<u8>, ConnectorError> {
        let mut limits = vec![("*", self.global_spacing)];
        if let Some(spacing) = self.endpoint_spacing(path) {
            limits.push((endpoint_key(path), spacing));
        }
        self.pacer.wait(&limits).await;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api));
        if !query.is_empty() {
            request = request.query(query);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()));
            self.forget_session_if_portfolio(path);
            return Err(self.status_error(status, retry_after, &format!("{method} {path}")));
        }
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        Ok(body.to_vec())
    }

    fn endpoint_spacing(&self, path: &str) -> Option<Duration> {
        if SLOW_ENDPOINTS.contains(&path) {
            Some(self.slow_endpoint_spacing)
        } else if path == TICKLE {
            Some(self.tickle_spacing)
        } else {
            None
        }
    }

    /// After a failed portfolio call the gateway may have restarted its session (it does
    /// nightly), which drops the "accounts first" priming: prime again on the next call.
    fn forget_session_if_portfolio(&self, path: &str) {
        if path.starts_with("/portfolio/") {
            self.primed.store(false, Ordering::Relaxed);
        }
    }

    fn status_error(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        endpoint: &str,
    ) -> ConnectorError {
        match status {
            StatusCode::UNAUTHORIZED => {
                self.primed.store(false, Ordering::Relaxed);
                ConnectorError::Authentication(self.login_hint())
            }
            StatusCode::FORBIDDEN => ConnectorError::Authentication(format!(
                "The {GATEWAY} at {} refused the request (HTTP 403): allow this server's IP \
                 address in the gateway's conf.yaml (ips.allow), or run the gateway on this \
                 machine",
                self.console
            )),
            _ => match status_error(GATEWAY, status, retry_after) {
                ConnectorError::Upstream { status, message } => ConnectorError::Upstream {
                    status,
                    message: format!("{message} to {endpoint}"),
                },
                other => other,
            },
        }
    }

    fn login_hint(&self) -> String {
        format!(
            "The {GATEWAY} is not logged in: open {} in a browser on the gateway machine and \
             log in, then sync again",
            self.console
        )
    }

    fn transport(&self, err: reqwest::Error) -> ConnectorError {
        let err = err.without_url();
        let mut causes = Vec::new();
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            causes.push(e.to_string());
            source = e.source();
        }
        if let Some(cause) = causes
            .iter()
            .rev()
            .find(|c| c.to_ascii_lowercase().contains("certificate"))
        {
            // Retrying cannot help: the user has to change `verify_tls` or the certificate.
            return ConnectorError::invalid_config(
                "verify_tls",
                format!(
                    "the {GATEWAY} at {}: its TLS certificate is not trusted ({cause}). The \
                     gateway ships a self-signed certificate: set verify_tls to false, or \
                     install a certificate this server trusts",
                    self.console
                ),
            );
        }
        if err.is_timeout() {
            ConnectorError::Transport(format!("{GATEWAY} at {}: request timed out", self.console))
        } else if err.is_connect() {
            ConnectorError::Transport(format!(
                "could not connect to the {GATEWAY} at {} (is it running?)",
                self.console
            ))
        } else if err.is_decode() || err.is_body() {
            ConnectorError::Transport(format!(
                "{GATEWAY} at {}: the response was cut off",
                self.console
            ))
        } else {
            ConnectorError::Transport(format!("{GATEWAY} at {}: {err}", self.console))
        }
    }
}

/// The pacing key of an endpoint with its own limit.
fn endpoint_key(path: &str) -> &'static str {
    SLOW_ENDPOINTS
        .iter()
        .chain(std::iter::once(&TICKLE))
        .find(|p| **p == path)
        .copied()
        .unwrap_or("*")
}

/// How many days of executions to ask for: enough to reach `since` (today counts as one, plus
/// a day for time zones), at most the endpoint's 7.
fn trade_days(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i64 {
    since.map_or(MAX_TRADE_DAYS, |since| {
        ((now - since).num_days() + 2).clamp(1, MAX_TRADE_DAYS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn settings_default_to_the_documented_limits() {
        let s = GatewaySettings::new("https://gw.local:5000");
        assert_eq!(s.base_url, "https://gw.local:5000");
        assert!(!s.verify_tls);
        assert_eq!(s.requests_per_second, 10);
        assert_eq!(s.slow_endpoint_spacing, Duration::from_secs(5));
        assert_eq!(s.tickle_spacing, Duration::from_secs(1));
    }

    #[test]
    fn the_base_url_and_rate_are_validated() {
        for bad in ["not a url", "ftp://h:1", "https://h:1/?q=1"] {
            assert!(
                matches!(
                    GatewayClient::new(GatewaySettings::new(bad)),
                    Err(ConnectorError::InvalidConfig { ref field, .. }) if field == "base_url"
                ),
                "{bad}"
            );
        }
        let zero = GatewaySettings {
            requests_per_second: 0,
            ..GatewaySettings::default()
        };
        assert!(matches!(
            GatewayClient::new(zero),
            Err(ConnectorError::InvalidConfig { ref field, .. }) if field == "requests_per_second"
        ));
        let Ok(client) = GatewayClient::new(GatewaySettings::new("https://localhost:5000/")) else {
            panic!("a valid URL is refused");
        };
        assert_eq!(client.api, "https://localhost:5000/v1/api");
        assert_eq!(client.console, "https://localhost:5000");
        assert!(
            client
                .login_hint()
                .contains("open https://localhost:5000 in a browser")
        );
        assert_eq!(client.global_spacing, Duration::from_millis(100));
        let Ok(client) = GatewayClient::new(GatewaySettings::new("https://gw:5000/v1/api")) else {
            panic!("a URL with the API prefix is refused");
        };
        assert_eq!(client.api, "https://gw:5000/v1/api");
    }

    #[test]
    fn statuses_map_into_the_taxonomy() {
        let Ok(client) = GatewayClient::new(GatewaySettings::default()) else {
            panic!("client");
        };
        client.primed.store(true, Ordering::Relaxed);
        let err = client.status_error(StatusCode::UNAUTHORIZED, None, "GET /x");
        assert!(err.needs_reauth());
        assert!(
            !client.primed.load(Ordering::Relaxed),
            "a 401 ends the session"
        );
        assert!(matches!(
            client.status_error(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(2)), "GET /x"),
            ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2)
        ));
        let err = client.status_error(StatusCode::INTERNAL_SERVER_ERROR, None, "GET /x");
        assert!(err.is_retryable());
        assert!(err.to_string().contains("GET /x"), "{err}");
        assert!(
            client
                .status_error(StatusCode::FORBIDDEN, None, "GET /x")
                .to_string()
                .contains("ips.allow")
        );
    }

    #[test]
    fn the_trade_window_reaches_since_and_is_capped_at_seven_days() {
        let now = Utc::now();
        assert_eq!(trade_days(None, now), 7);
        assert_eq!(trade_days(Some(now - TimeDelta::hours(3)), now), 2);
        assert_eq!(trade_days(Some(now - TimeDelta::days(3)), now), 5);
        assert_eq!(trade_days(Some(now - TimeDelta::days(30)), now), 7);
        assert_eq!(trade_days(Some(now + TimeDelta::days(1)), now), 1);
    }

    #[test]
    fn only_documented_endpoints_have_their_own_spacing() {
        assert_eq!(endpoint_key("/portfolio/accounts"), "/portfolio/accounts");
        assert_eq!(
            endpoint_key("/iserver/account/trades"),
            "/iserver/account/trades"
        );
        assert_eq!(endpoint_key("/tickle"), "/tickle");
        assert_eq!(endpoint_key("/portfolio/U1/ledger"), "*");
    }
}
