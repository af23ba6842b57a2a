//! Describes integration types and their configuration fields, so the server can validate
//! configs, know which fields are secret, and publish a form description (JSON Schema) to SPAs.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::ConnectorError;

/// The JSON type of a config field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigFieldType {
    String,
    Integer,
    Boolean,
    /// A JSON object (for example a mapping table).
    Object,
}

impl ConfigFieldType {
    /// The JSON type name (`string`, `integer`, `boolean`, `object`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Object => "object",
        }
    }
}

/// One configuration field of an integration type.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigField {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: ConfigFieldType,
    pub required: bool,
    /// Secret fields are encrypted at rest and never returned.
    pub secret: bool,
    pub description: &'static str,
    /// Allowed values, for string enums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<&'static [&'static str]>,
    /// Default value, when the field is optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
}

/// An integration type the server knows about.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationDescriptor {
    /// `DEMO`, `IBKR`, `SCHWAB`, `EXCHANGE`, `PLUGIN`.
    pub integration_type: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub fields: Vec<ConfigField>,
}

impl IntegrationDescriptor {
    /// Names of the secret fields.
    pub fn secret_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().filter(|f| f.secret).map(|f| f.name)
    }

    /// Checks the shape of a config against the declared fields: it must be a JSON object, hold
    /// no undeclared field, and hold every required field. Types and values are checked by the
    /// integration's own typed config.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] naming `config` for a non-object, otherwise the field
    /// at fault.
    pub fn check_fields(&self, config: &Value) -> Result<(), ConnectorError> {
        let Value::Object(map) = config else {
            return Err(ConnectorError::invalid_config(
                "config",
                "must be a JSON object",
            ));
        };
        if let Some(unknown) = map
            .keys()
            .find(|key| !self.fields.iter().any(|f| f.name == key.as_str()))
        {
            return Err(ConnectorError::invalid_config(
                unknown.as_str(),
                format!(
                    "unknown field for integration type {}",
                    self.integration_type
                ),
            ));
        }
        if let Some(missing) = self
            .fields
            .iter()
            .find(|f| f.required && !map.contains_key(f.name))
        {
            return Err(ConnectorError::invalid_config(missing.name, "is required"));
        }
        Ok(())
    }

    /// The config fields as a JSON Schema object (draft 2020-12), unknown fields forbidden.
    #[must_use]
    pub fn json_schema(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in &self.fields {
            let mut prop = Map::new();
            prop.insert("type".into(), json!(field.kind.as_str()));
            prop.insert("description".into(), json!(field.description));
            if field.secret {
                prop.insert("writeOnly".into(), json!(true));
                prop.insert("x-secret".into(), json!(true));
            }
            if let Some(allowed) = field.allowed {
                prop.insert("enum".into(), json!(allowed));
            }
            if let Some(default) = field.default {
                let value = match field.kind {
                    ConfigFieldType::Integer => {
                        default.parse::<i64>().map_or(json!(default), |v| json!(v))
                    }
                    ConfigFieldType::Boolean => json!(default == "true"),
                    ConfigFieldType::String => json!(default),
                    ConfigFieldType::Object => {
                        serde_json::from_str(default).unwrap_or_else(|_| json!(default))
                    }
                };
                prop.insert("default".into(), value);
            }
            if field.required {
                required.push(json!(field.name));
            }
            properties.insert(field.name.into(), Value::Object(prop));
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }
}

/// Deserializes a typed config, naming the offending field (its JSON path) on failure.
///
/// # Errors
/// [`ConnectorError::InvalidConfig`] with the path of the field at fault, or `config` when the
/// error is about the object as a whole.
pub fn parse_config<T: DeserializeOwned>(config: &Value) -> Result<T, ConnectorError> {
    serde_path_to_error::deserialize(config).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        let field = if path == "." {
            // Errors about the object itself (missing or unknown keys) carry the key only in
            // serde's message; fall back to the whole config when it is not there.
            quoted_field(&message, "missing field `")
                .or_else(|| quoted_field(&message, "unknown field `"))
                .unwrap_or_else(|| "config".to_owned())
        } else {
            path
        };
        ConnectorError::invalid_config(field, message)
    })
}

fn quoted_field(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(field, _)| field.to_owned())
}
