//! The integration types the product knows, which of them have a connector, and the one place
//! that turns a stored config into a validated config or a live connector.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::demo::{self, DemoConfig, DemoConnector};
use crate::ibkr::{self, IbkrConfig, IbkrConnector, IbkrEnv};
use crate::{AccountConnector, ConnectorError, IntegrationDescriptor};

/// Operator settings every connector is bound by (base URLs, host allowlists, timeouts).
#[derive(Debug, Clone, Default)]
pub struct ConnectorEnv {
    pub ibkr: IbkrEnv,
}

/// How many days before a credential expires a warning shows.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// Every integration type name the product knows (DEMO, IBKR, SCHWAB, EXCHANGE, PLUGIN).
pub const KNOWN_TYPES: [&str; 5] = ["DEMO", "IBKR", "SCHWAB", "EXCHANGE", "PLUGIN"];

/// The integration types whose connector exists. Type names are matched exactly (upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Available {
    Demo,
    Ibkr,
}

impl Available {
    const ALL: [Self; 2] = [Self::Demo, Self::Ibkr];

    fn parse(integration_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.descriptor().integration_type == integration_type)
    }

    fn descriptor(self) -> IntegrationDescriptor {
        match self {
            Self::Demo => demo::descriptor(),
            Self::Ibkr => ibkr::config::descriptor(),
        }
    }
}

fn not_available(integration_type: &str) -> ConnectorError {
    let message = if KNOWN_TYPES.contains(&integration_type) {
        format!("integration type {integration_type} is not available yet")
    } else {
        format!(
            "unknown integration type {integration_type:?} (known: {})",
            KNOWN_TYPES.join(", ")
        )
    };
    ConnectorError::invalid_config("type", message)
}

fn available_type(integration_type: &str) -> Result<Available, ConnectorError> {
    Available::parse(integration_type).ok_or_else(|| not_available(integration_type))
}

/// Descriptors of the types whose connector exists.
#[must_use]
pub fn available() -> Vec<IntegrationDescriptor> {
    Available::ALL
        .into_iter()
        .map(Available::descriptor)
        .collect()
}

/// The descriptor of an available type; `None` if the type is unknown or not available.
#[must_use]
pub fn descriptor(integration_type: &str) -> Option<IntegrationDescriptor> {
    Available::parse(integration_type).map(Available::descriptor)
}

/// Validates a config for a type and returns it normalized (defaults filled in, canonical JSON
/// object).
///
/// # Errors
/// [`ConnectorError::InvalidConfig`] naming the field at fault: `type` for an unknown or
/// unavailable type, `config` for a non-object, otherwise the config field (missing, unknown,
/// wrong type or bad value).
pub fn validate_config(
    env: &ConnectorEnv,
    integration_type: &str,
    config: &Value,
) -> Result<Value, ConnectorError> {
    match available_type(integration_type)? {
        Available::Demo => DemoConfig::from_json(config)?.to_json(),
        Available::Ibkr => Ok(IbkrConfig::from_json(config, &env.ibkr)?.to_json()),
    }
}

/// Warnings about a stored config the user should act on (a credential about to expire), as
/// of `today`. Never fails: a config that no longer validates has no warnings here (syncing it
/// reports the problem).
#[must_use]
pub fn config_warnings(
    env: &ConnectorEnv,
    integration_type: &str,
    config: &Value,
    today: chrono::NaiveDate,
) -> Vec<String> {
    match Available::parse(integration_type) {
        Some(Available::Ibkr) => IbkrConfig::from_json(config, &env.ibkr)
            .ok()
            .and_then(|c| c.token_warning(today, EXPIRY_WARNING_DAYS))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// Builds the connector from a validated (decrypted) config, as the account stands at `now`.
///
/// # Errors
/// As [`validate_config`].
pub fn connect(
    env: &ConnectorEnv,
    integration_type: &str,
    config: &Value,
    now: DateTime<Utc>,
) -> Result<Arc<dyn AccountConnector>, ConnectorError> {
    match available_type(integration_type)? {
        Available::Demo => Ok(Arc::new(DemoConnector::new(
            DemoConfig::from_json(config)?,
            now,
        ))),
        Available::Ibkr => Ok(Arc::new(IbkrConnector::new(
            IbkrConfig::from_json(config, &env.ibkr)?,
            &env.ibkr,
            now,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn env() -> ConnectorEnv {
        ConnectorEnv::default()
    }

    fn field_of(result: Result<Value, ConnectorError>) -> String {
        match result {
            Err(ConnectorError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn demo_and_ibkr_are_available_and_every_available_type_is_known() {
        let types: Vec<&str> = available().iter().map(|d| d.integration_type).collect();
        assert_eq!(types, ["DEMO", "IBKR"]);
        for t in types {
            assert!(KNOWN_TYPES.contains(&t));
        }
        assert!(descriptor("DEMO").is_some());
        assert!(descriptor("IBKR").is_some());
        assert!(descriptor("SCHWAB").is_none());
        assert!(descriptor("NOPE").is_none());
    }

    #[test]
    fn defaults_are_filled_in() {
        let normalized = validate_config(&env(), "DEMO", &json!({"seed": 42})).ok();
        assert_eq!(
            normalized,
            Some(json!({"seed": 42, "profile": "balanced", "fail_mode": "none"}))
        );
    }

    #[test]
    fn explicit_values_and_the_password_are_kept() {
        let config =
            json!({"seed": 7, "profile": "income", "password": "demo", "fail_mode": "rate_limit"});
        assert_eq!(validate_config(&env(), "DEMO", &config).ok(), Some(config));
    }

    #[test]
    fn a_null_password_is_dropped() {
        let normalized =
            validate_config(&env(), "DEMO", &json!({"seed": 1, "password": null})).ok();
        assert_eq!(
            normalized,
            Some(json!({"seed": 1, "profile": "balanced", "fail_mode": "none"}))
        );
    }

    #[test]
    fn a_missing_seed_names_seed() {
        assert_eq!(
            field_of(validate_config(&env(), "DEMO", &json!({}))),
            "seed"
        );
        assert_eq!(
            field_of(validate_config(
                &env(),
                "DEMO",
                &json!({"profile": "crypto"})
            )),
            "seed"
        );
    }

    #[test]
    fn a_wrongly_typed_or_out_of_range_seed_names_seed() {
        for seed in [
            json!("42"),
            json!(-1),
            json!(1.5),
            json!(null),
            json!(MAX_SEED_PLUS_ONE),
        ] {
            assert_eq!(
                field_of(validate_config(&env(), "DEMO", &json!({"seed": seed}))),
                "seed",
                "seed {seed}"
            );
        }
        assert!(validate_config(&env(), "DEMO", &json!({"seed": demo::MAX_SEED})).is_ok());
        assert!(validate_config(&env(), "DEMO", &json!({"seed": 0})).is_ok());
    }

    const MAX_SEED_PLUS_ONE: u64 = demo::MAX_SEED + 1;

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(
            field_of(validate_config(
                &env(),
                "DEMO",
                &json!({"seed": 1, "api_key": "x"})
            )),
            "api_key"
        );
    }

    #[test]
    fn a_bad_enum_value_names_its_field() {
        assert_eq!(
            field_of(validate_config(
                &env(),
                "DEMO",
                &json!({"seed": 1, "profile": "yolo"})
            )),
            "profile"
        );
        assert_eq!(
            field_of(validate_config(
                &env(),
                "DEMO",
                &json!({"seed": 1, "fail_mode": 3})
            )),
            "fail_mode"
        );
        assert_eq!(
            field_of(validate_config(
                &env(),
                "DEMO",
                &json!({"seed": 1, "password": 1234})
            )),
            "password"
        );
    }

    #[test]
    fn a_non_object_config_names_config() {
        for config in [json!(null), json!([1]), json!("seed=1"), json!(42)] {
            assert_eq!(field_of(validate_config(&env(), "DEMO", &config)), "config");
        }
    }

    #[test]
    fn unknown_and_unavailable_types_name_type() {
        let config = json!({"seed": 1});
        assert_eq!(field_of(validate_config(&env(), "NOPE", &config)), "type");
        assert_eq!(field_of(validate_config(&env(), "IBKR", &config)), "mode");
        assert_eq!(field_of(validate_config(&env(), "demo", &config)), "type");
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
        let now = now.unwrap_or_default();
        assert!(matches!(
            connect(&env(), "SCHWAB", &config, now),
            Err(ConnectorError::InvalidConfig { field, message })
                if field == "type" && message.contains("not available")
        ));
        assert!(matches!(
            connect(&env(), "NOPE", &config, now),
            Err(ConnectorError::InvalidConfig { field, message })
                if field == "type" && message.contains("unknown")
        ));
    }

    #[tokio::test]
    async fn connect_builds_a_working_demo_connector() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let connector = connect(
            &env(),
            "DEMO",
            &json!({"seed": 42, "profile": "crypto"}),
            now,
        );
        let Ok(connector) = connector else {
            panic!("connect failed");
        };
        let check = connector.health_check().await.ok().map(|c| c.message);
        assert_eq!(
            check.as_deref(),
            Some("Connected to the demo broker (profile crypto, seed 42)")
        );
        assert!(matches!(
            connect(&env(), "DEMO", &json!({"seed": "x"}), now),
            Err(ConnectorError::InvalidConfig { field, .. }) if field == "seed"
        ));
    }
}
