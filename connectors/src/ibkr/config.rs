//! The IBKR integration's configuration (validated per mode), its catalogue entry, and the
//! operator settings every IBKR connection is bound by.

use std::time::Duration;

use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::category::CategoryMap;
use super::flex::client::DEFAULT_BASE_URL;
use crate::ConnectorError;
use crate::catalogue::{ConfigField, ConfigFieldType, IntegrationDescriptor};

/// The integration type name.
pub const INTEGRATION_TYPE: &str = "IBKR";

/// The three ways to reach IB.
pub const MODES: [&str; 3] = ["flex", "client_portal", "tws"];

/// Hosts a user may point `client_portal` / `tws` at unless the operator says otherwise.
pub const DEFAULT_ALLOWED_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Operator settings (`TRIBUTARY__PROVIDERS__IBKR__*`, `TRIBUTARY__PROVIDERS__IBKR_FLEX__*`).
#[derive(Debug, Clone)]
pub struct IbkrEnv {
    /// Flex Web Service base URL; `/SendRequest` is appended.
    pub flex_base_url: String,
    /// Hosts (names or IP literals, compared case-insensitively) users may connect to.
    pub allowed_hosts: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Flex statement polling: first wait, longest wait, and when to give up.
    pub flex_poll_initial: Duration,
    pub flex_poll_max: Duration,
    pub flex_max_wait: Duration,
    /// Minimum spacing of the Client Portal endpoints IB limits to one call per few seconds.
    pub gateway_slow_spacing: Duration,
}

impl Default for IbkrEnv {
    fn default() -> Self {
        Self {
            flex_base_url: DEFAULT_BASE_URL.to_owned(),
            allowed_hosts: DEFAULT_ALLOWED_HOSTS.map(str::to_owned).to_vec(),
            timeout: Duration::from_secs(30),
            flex_poll_initial: Duration::from_secs(2),
            flex_poll_max: Duration::from_secs(30),
            flex_max_wait: Duration::from_secs(600),
            gateway_slow_spacing: Duration::from_secs(5),
        }
    }
}

impl IbkrEnv {
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        self.allowed_hosts
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(host))
    }
}

/// How this account reaches IB.
#[derive(Clone)]
pub enum Mode {
    Flex {
        token: SecretString,
        query_id: String,
        token_expires_on: Option<NaiveDate>,
    },
    ClientPortal {
        host: String,
        port: u16,
        verify_tls: bool,
    },
    Tws {
        host: String,
        port: u16,
        client_id: i32,
    },
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flex {
                query_id,
                token_expires_on,
                ..
            } => f
                .debug_struct("Flex")
                .field("token", &"********")
                .field("query_id", query_id)
                .field("token_expires_on", token_expires_on)
                .finish(),
            Self::ClientPortal {
                host,
                port,
                verify_tls,
            } => f
                .debug_struct("ClientPortal")
                .field("host", host)
                .field("port", port)
                .field("verify_tls", verify_tls)
                .finish(),
            Self::Tws {
                host,
                port,
                client_id,
            } => f
                .debug_struct("Tws")
                .field("host", host)
                .field("port", port)
                .field("client_id", client_id)
                .finish(),
        }
    }
}

/// A validated IBKR configuration.
#[derive(Debug, Clone)]
pub struct IbkrConfig {
    pub mode: Mode,
    /// The IB account this Tributary account mirrors; `None` when the credentials see one.
    pub account_id: Option<String>,
    pub categories: CategoryMap,
    /// Flex only: how far back the first sync reaches when IB does not say when the account
    /// was opened.
    pub backfill_from: Option<NaiveDate>,
}

const FLEX_FIELDS: [&str; 4] = [
    "flex_token",
    "query_id",
    "token_expires_on",
    "backfill_from",
];
const PORTAL_FIELDS: [&str; 3] = ["host", "port", "verify_tls"];
const TWS_FIELDS: [&str; 3] = ["host", "port", "client_id"];
const COMMON_FIELDS: [&str; 3] = ["mode", "account_id", "position_type_map"];

fn bad(field: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::invalid_config(field, message)
}

fn string_field(map: &Map<String, Value>, field: &str) -> Result<Option<String>, ConnectorError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(bad(field, "must not be empty")),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

fn date_field(map: &Map<String, Value>, field: &str) -> Result<Option<NaiveDate>, ConnectorError> {
    string_field(map, field)?
        .map(|s| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| bad(field, "must be a date as YYYY-MM-DD"))
        })
        .transpose()
}

fn int_field(
    map: &Map<String, Value>,
    field: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ConnectorError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(bad(
                field,
                format!("must be an integer from {min} to {max}"),
            )),
        },
        Some(_) => Err(bad(field, "must be an integer")),
    }
}

fn bool_field(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, ConnectorError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(field, "must be true or false")),
    }
}

impl IbkrConfig {
    /// Validates a stored or submitted config against the operator settings.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field: `mode` (missing or unknown), a field that belongs to
    /// another mode, a missing required field, a wrongly typed value, or `host` outside the
    /// operator's allowlist.
    pub fn from_json(config: &Value, env: &IbkrEnv) -> Result<Self, ConnectorError> {
        let Value::Object(map) = config else {
            return Err(bad("config", "must be a JSON object"));
        };
        let mode = string_field(map, "mode")?
            .ok_or_else(|| bad("mode", "is required: one of flex, client_portal, tws"))?;
        let own: &[&str] = match mode.as_str() {
            "flex" => &FLEX_FIELDS,
            "client_portal" => &PORTAL_FIELDS,
            "tws" => &TWS_FIELDS,
            other => {
                return Err(bad(
                    "mode",
                    format!("unknown mode {other:?}: one of flex, client_portal, tws"),
                ));
            }
        };
        if let Some(stray) = map
            .keys()
            .find(|k| !own.contains(&k.as_str()) && !COMMON_FIELDS.contains(&k.as_str()))
        {
            let known = FLEX_FIELDS
                .iter()
                .chain(&PORTAL_FIELDS)
                .chain(&TWS_FIELDS)
                .any(|f| f == stray);
            return Err(bad(
                stray,
                if known {
                    format!("does not apply to mode {mode}")
                } else {
                    "unknown field for integration type IBKR".to_owned()
                },
            ));
        }
        let account_id = string_field(map, "account_id")?;
        if let Some(id) = &account_id
            && (id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(bad(
                "account_id",
                "must be an IB account id such as U1234567",
            ));
        }
        let categories = CategoryMap::from_config(map.get("position_type_map"))?;
        let backfill_from = date_field(map, "backfill_from")?;
        let host_of = |default_port: u16| -> Result<(String, u16), ConnectorError> {
            let host = string_field(map, "host")?.unwrap_or_else(|| "localhost".to_owned());
            if !env.host_allowed(&host) {
                return Err(bad(
                    "host",
                    format!(
                        "{host} is not in the operator's allowlist \
                         (TRIBUTARY__PROVIDERS__IBKR__ALLOWED_HOSTS: {})",
                        env.allowed_hosts.join(", ")
                    ),
                ));
            }
            let port = int_field(map, "port", 1, 65_535)?.unwrap_or(i64::from(default_port));
            Ok((host, u16::try_from(port).unwrap_or(default_port)))
        };
        let mode = match mode.as_str() {
            "flex" => {
                let token = string_field(map, "flex_token")?
                    .ok_or_else(|| bad("flex_token", "is required in mode flex"))?;
                let query_id = string_field(map, "query_id")?
                    .ok_or_else(|| bad("query_id", "is required in mode flex"))?;
                if !query_id.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad("query_id", "must be the numeric Flex query id"));
                }
                Mode::Flex {
                    token: SecretString::from(token),
                    query_id,
                    token_expires_on: date_field(map, "token_expires_on")?,
                }
            }
            "client_portal" => {
                let (host, port) = host_of(5000)?;
                Mode::ClientPortal {
                    host,
                    port,
                    verify_tls: bool_field(map, "verify_tls")?.unwrap_or(false),
                }
            }
            _ => {
                let (host, port) = host_of(4001)?;
                let client_id = int_field(map, "client_id", 0, i64::from(i32::MAX))?.unwrap_or(1);
                Mode::Tws {
                    host,
                    port,
                    client_id: i32::try_from(client_id).unwrap_or(1),
                }
            }
        };
        Ok(Self {
            mode,
            account_id,
            categories,
            backfill_from,
        })
    }

    /// The normalized config (defaults filled in), as stored.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        match &self.mode {
            Mode::Flex {
                token,
                query_id,
                token_expires_on,
            } => {
                map.insert("mode".into(), "flex".into());
                map.insert("flex_token".into(), token.expose_secret().into());
                map.insert("query_id".into(), query_id.as_str().into());
                if let Some(d) = token_expires_on {
                    map.insert("token_expires_on".into(), d.to_string().into());
                }
            }
            Mode::ClientPortal {
                host,
                port,
                verify_tls,
            } => {
                map.insert("mode".into(), "client_portal".into());
                map.insert("host".into(), host.as_str().into());
                map.insert("port".into(), (*port).into());
                map.insert("verify_tls".into(), (*verify_tls).into());
            }
            Mode::Tws {
                host,
                port,
                client_id,
            } => {
                map.insert("mode".into(), "tws".into());
                map.insert("host".into(), host.as_str().into());
                map.insert("port".into(), (*port).into());
                map.insert("client_id".into(), (*client_id).into());
            }
        }
        if let Some(id) = &self.account_id {
            map.insert("account_id".into(), id.as_str().into());
        }
        if let Some(m) = self.categories.to_config() {
            map.insert("position_type_map".into(), m);
        }
        if let Some(d) = self.backfill_from {
            map.insert("backfill_from".into(), d.to_string().into());
        }
        Value::Object(map)
    }

    /// A warning when the Flex token expires within `days` of `today` (or has expired).
    #[must_use]
    pub fn token_warning(&self, today: NaiveDate, days: i64) -> Option<String> {
        let Mode::Flex {
            token_expires_on: Some(expires),
            ..
        } = &self.mode
        else {
            return None;
        };
        let left = (*expires - today).num_days();
        if left < 0 {
            Some(format!(
                "The Flex token expired on {expires}: create a new token in Client Portal \
                 (Settings → Flex Web Service) and update the integration"
            ))
        } else if left <= days {
            Some(format!(
                "The Flex token expires on {expires} (in {left} days): create a new token in \
                 Client Portal (Settings → Flex Web Service) and update the integration"
            ))
        } else {
            None
        }
    }
}

/// The catalogue entry.
#[must_use]
pub fn descriptor() -> IntegrationDescriptor {
    let field = |name, kind, secret, description, allowed, default| ConfigField {
        name,
        kind,
        required: false,
        secret,
        description,
        allowed,
        default,
    };
    IntegrationDescriptor {
        integration_type: INTEGRATION_TYPE,
        name: "Interactive Brokers",
        description: "Positions, full history (trades of every security type, dividends, \
                      withholding tax, interest, fees, deposits, corporate actions) and balance \
                      from Interactive Brokers, through the Flex Web Service (recommended: \
                      hands-off, full history), a Client Portal gateway, or TWS / IB Gateway.",
        fields: vec![
            ConfigField {
                required: true,
                ..field(
                    "mode",
                    ConfigFieldType::String,
                    false,
                    "flex (Flex Web Service token + query), client_portal (a logged-in Client \
                     Portal gateway) or tws (TWS or IB Gateway with the API enabled).",
                    Some(&MODES),
                    None,
                )
            },
            field(
                "flex_token",
                ConfigFieldType::String,
                true,
                "flex: the Flex Web Service token (Client Portal → Settings → Flex Web Service).",
                None,
                None,
            ),
            field(
                "query_id",
                ConfigFieldType::String,
                false,
                "flex: the id of an Activity Flex Query with the sections Account Information, \
                 Open Positions, Trades, Cash Transactions, Corporate Actions, Transfers, Cash \
                 Report and Net Asset Value.",
                None,
                None,
            ),
            field(
                "token_expires_on",
                ConfigFieldType::String,
                false,
                "flex: the token's expiry date (YYYY-MM-DD); a warning shows 14 days before.",
                None,
                None,
            ),
            field(
                "host",
                ConfigFieldType::String,
                false,
                "client_portal / tws: the gateway or TWS host; must be in the operator's \
                 allowlist (loopback by default).",
                None,
                Some("localhost"),
            ),
            field(
                "port",
                ConfigFieldType::Integer,
                false,
                "client_portal / tws: port (gateway 5000; IB Gateway 4001 live, 4002 paper; \
                 TWS 7496 live, 7497 paper).",
                None,
                None,
            ),
            field(
                "verify_tls",
                ConfigFieldType::Boolean,
                false,
                "client_portal: verify the gateway's TLS certificate (it ships a self-signed one).",
                None,
                Some("false"),
            ),
            field(
                "client_id",
                ConfigFieldType::Integer,
                false,
                "tws: the API client id (unique per connection to TWS).",
                None,
                Some("1"),
            ),
            field(
                "account_id",
                ConfigFieldType::String,
                false,
                "The IB account this account mirrors (U1234567). Optional when the credentials \
                 see a single account; see GET /api/accounts/{id}/integration/remote-accounts.",
                None,
                None,
            ),
            field(
                "position_type_map",
                ConfigFieldType::Object,
                false,
                "Overrides of the asset class per IB asset category, e.g. {\"FUND\": \"etf\", \
                 \"CFD\": \"equity\"}.",
                None,
                None,
            ),
            field(
                "backfill_from",
                ConfigFieldType::String,
                false,
                "flex: the first day of history to fetch (YYYY-MM-DD) when the statement does \
                 not say when the account was opened.",
                None,
                None,
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(result: Result<IbkrConfig, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn each_mode_validates_its_own_fields() {
        let env = IbkrEnv::default();
        let flex = json!({"mode": "flex", "flex_token": "t0k", "query_id": "123456"});
        let Ok(c) = IbkrConfig::from_json(&flex, &env) else {
            panic!("flex rejected");
        };
        assert_eq!(c.to_json(), flex);
        let portal = json!({"mode": "client_portal", "host": "localhost", "port": 5000});
        let Ok(c) = IbkrConfig::from_json(&portal, &env) else {
            panic!("portal rejected");
        };
        assert_eq!(c.to_json()["verify_tls"], json!(false));
        let tws = json!({"mode": "tws", "host": "127.0.0.1", "port": 4001, "client_id": 7,
                         "account_id": "U1234567"});
        assert!(IbkrConfig::from_json(&tws, &env).is_ok());

        assert_eq!(field_of(IbkrConfig::from_json(&json!({}), &env)), "mode");
        assert_eq!(
            field_of(IbkrConfig::from_json(&json!({"mode": "fax"}), &env)),
            "mode"
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "flex", "query_id": "1"}),
                &env
            )),
            "flex_token"
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "flex", "flex_token": "t", "query_id": "1", "port": 1}),
                &env
            )),
            "port"
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "tws", "backfill_from": "2020-01-01"}),
                &env
            )),
            "backfill_from"
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "tws", "client_id": "seven"}),
                &env
            )),
            "client_id"
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "tws", "port": 70000}),
                &env
            )),
            "port"
        );
    }

    #[test]
    fn hosts_outside_the_allowlist_are_refused() {
        let env = IbkrEnv::default();
        for host in ["169.254.169.254", "gateway.internal", "10.0.0.5"] {
            assert_eq!(
                field_of(IbkrConfig::from_json(
                    &json!({"mode": "client_portal", "host": host}),
                    &env
                )),
                "host"
            );
        }
        let env = IbkrEnv {
            allowed_hosts: vec!["gateway.internal".into()],
            ..IbkrEnv::default()
        };
        assert!(
            IbkrConfig::from_json(&json!({"mode": "tws", "host": "Gateway.Internal"}), &env)
                .is_ok()
        );
        assert_eq!(
            field_of(IbkrConfig::from_json(
                &json!({"mode": "tws", "host": "localhost"}),
                &env
            )),
            "host"
        );
    }

    #[test]
    fn a_token_near_expiry_warns() {
        let env = IbkrEnv::default();
        let c = IbkrConfig::from_json(
            &json!({"mode": "flex", "flex_token": "t", "query_id": "1",
                    "token_expires_on": "2026-12-01"}),
            &env,
        );
        let Ok(c) = c else { panic!("rejected") };
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
        assert!(c.token_warning(day(1), 14).is_none());
        assert!(
            c.token_warning(day(20), 14)
                .is_some_and(|w| w.contains("in 11 days"))
        );
        let late = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
        assert!(
            c.token_warning(late, 14)
                .is_some_and(|w| w.contains("expired"))
        );
    }
}
