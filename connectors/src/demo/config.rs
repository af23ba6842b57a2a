//! The DEMO integration's typed configuration and its catalogue entry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ConnectorError;
use crate::catalogue::{ConfigField, ConfigFieldType, IntegrationDescriptor, parse_config};

/// The integration type name.
pub const INTEGRATION_TYPE: &str = "DEMO";

/// The only password the demo broker accepts, when a password is configured at all.
pub const DEMO_PASSWORD: &str = "demo";

/// The largest accepted seed: 2^53, so the seed survives a round trip through a JSON number in
/// any client (JavaScript's safe integer range).
pub const MAX_SEED: u64 = 1 << 53;

/// Which kind of portfolio the demo broker simulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Stocks and ETFs across asset classes, one crypto position.
    #[default]
    Balanced,
    /// Mostly crypto, a little in ETFs.
    Crypto,
    /// Dividend stocks and bond ETFs.
    Income,
}

impl Profile {
    /// Every profile, in a stable order.
    pub const ALL: [Self; 3] = [Self::Balanced, Self::Crypto, Self::Income];

    /// The config and wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Balanced => "balanced",
            Self::Crypto => "crypto",
            Self::Income => "income",
        }
    }
}

/// A failure the demo broker simulates on every call, so error handling can be exercised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Answer normally.
    #[default]
    None,
    /// Reject the credentials.
    Auth,
    /// Ask the caller to slow down (retry after 60 s).
    RateLimit,
    /// Answer 503.
    ServerError,
}

impl FailMode {
    /// Every mode, in a stable order.
    pub const ALL: [Self; 4] = [Self::None, Self::Auth, Self::RateLimit, Self::ServerError];

    /// The config and wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Auth => "auth",
            Self::RateLimit => "rate_limit",
            Self::ServerError => "server_error",
        }
    }
}

/// The DEMO integration's configuration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Everything the broker produces is a function of the seed, the profile and the date.
    pub seed: u64,
    #[serde(default)]
    pub profile: Profile,
    /// When set, it must be [`DEMO_PASSWORD`]; lets users try the secret-field flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub fail_mode: FailMode,
}

impl std::fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoConfig")
            .field("seed", &self.seed)
            .field("profile", &self.profile)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("fail_mode", &self.fail_mode)
            .finish()
    }
}

impl DemoConfig {
    /// A config with the given seed and every other field at its default.
    #[must_use]
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            profile: Profile::default(),
            password: None,
            fail_mode: FailMode::default(),
        }
    }

    /// Parses and checks a JSON config.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] naming the field at fault.
    pub fn from_json(config: &Value) -> Result<Self, ConnectorError> {
        descriptor().check_fields(config)?;
        let parsed: Self = parse_config(config)?;
        parsed.check()?;
        Ok(parsed)
    }

    /// The canonical JSON form: every field present except an unset password.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] if serialization fails, which it does not for this type.
    pub fn to_json(&self) -> Result<Value, ConnectorError> {
        serde_json::to_value(self)
            .map_err(|err| ConnectorError::invalid_config("config", err.to_string()))
    }

    /// Checks value ranges serde cannot express.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] naming the field at fault.
    pub fn check(&self) -> Result<(), ConnectorError> {
        if self.seed > MAX_SEED {
            return Err(ConnectorError::invalid_config(
                "seed",
                format!("must be an integer between 0 and {MAX_SEED}"),
            ));
        }
        Ok(())
    }
}

/// The catalogue entry for the DEMO integration.
#[must_use]
pub fn descriptor() -> IntegrationDescriptor {
    const PROFILES: &[&str] = &["balanced", "crypto", "income"];
    const FAIL_MODES: &[&str] = &["none", "auth", "rate_limit", "server_error"];
    IntegrationDescriptor {
        integration_type: INTEGRATION_TYPE,
        name: "Demo broker",
        description: "A simulated broker with a realistic, deterministic portfolio: about a year of \
                      trades, dividends, interest and fees. No credentials needed.",
        fields: vec![
            ConfigField {
                name: "seed",
                kind: ConfigFieldType::Integer,
                required: true,
                secret: false,
                description: "Any integer from 0 to 2^53; the same seed always produces the same \
                              portfolio.",
                allowed: None,
                default: None,
            },
            ConfigField {
                name: "profile",
                kind: ConfigFieldType::String,
                required: false,
                secret: false,
                description: "The kind of portfolio: balanced (stocks, ETFs, a little crypto), \
                              crypto (mostly crypto) or income (dividend stocks and bond ETFs).",
                allowed: Some(PROFILES),
                default: Some("balanced"),
            },
            ConfigField {
                name: "password",
                kind: ConfigFieldType::String,
                required: false,
                secret: true,
                description: "Optional. When set it must be \"demo\"; any other value is rejected \
                              like a wrong broker password.",
                allowed: None,
                default: None,
            },
            ConfigField {
                name: "fail_mode",
                kind: ConfigFieldType::String,
                required: false,
                secret: false,
                description: "Simulate a failure on every call: none, auth (bad credentials), \
                              rate_limit (retry after 60 s) or server_error (HTTP 503).",
                allowed: Some(FAIL_MODES),
                default: Some("none"),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_enums_match_the_typed_config() {
        let descriptor = descriptor();
        let allowed = |name: &str| {
            descriptor
                .fields
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.allowed)
                .map(<[&str]>::to_vec)
        };
        let profiles: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
        let modes: Vec<&str> = FailMode::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(allowed("profile"), Some(profiles));
        assert_eq!(allowed("fail_mode"), Some(modes));
        assert_eq!(descriptor.secret_fields().collect::<Vec<_>>(), ["password"]);
    }

    #[test]
    fn debug_output_redacts_the_password() {
        let config = DemoConfig {
            password: Some("hunter2".into()),
            ..DemoConfig::with_seed(1)
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn serde_names_match_as_str() {
        for profile in Profile::ALL {
            assert_eq!(
                serde_json::to_value(profile).ok(),
                Some(Value::from(profile.as_str()))
            );
        }
        for mode in FailMode::ALL {
            assert_eq!(
                serde_json::to_value(mode).ok(),
                Some(Value::from(mode.as_str()))
            );
        }
    }
}
