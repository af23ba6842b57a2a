//! The error taxonomy shared by every connector.

use std::time::Duration;

/// What went wrong talking to a provider. `is_retryable` separates transient failures (try
/// again later) from final ones (the user must fix something).
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The provider rejected the credentials; the user must re-authenticate.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The provider asked us to slow down.
    #[error("rate limited by the provider")]
    RateLimited {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The provider answered with an error status.
    #[error("provider error (status {status}): {message}")]
    Upstream {
        /// HTTP (or equivalent) status code.
        status: u16,
        /// A short description safe to show to the user.
        message: String,
    },
    /// The provider answered with something we could not understand.
    #[error("could not decode the provider response: {0}")]
    Decode(String),
    /// The network failed (connect, timeout, reset).
    #[error("transport error: {0}")]
    Transport(String),
    /// The provider does not offer this operation.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The integration configuration is invalid (field, message).
    #[error("invalid configuration field `{field}`: {message}")]
    InvalidConfig {
        /// The config field at fault.
        field: String,
        /// Why it is invalid.
        message: String,
    },
}

impl ConnectorError {
    /// Whether trying again later may succeed without the user changing anything.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Transport(_) => true,
            Self::Upstream { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Authentication(_)
            | Self::Decode(_)
            | Self::NotSupported(_)
            | Self::InvalidConfig { .. } => false,
        }
    }

    /// Whether the failure means the stored credentials no longer work.
    #[must_use]
    pub fn needs_reauth(&self) -> bool {
        matches!(self, Self::Authentication(_))
    }

    /// Shortcut for an [`ConnectorError::InvalidConfig`].
    pub fn invalid_config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retryable_and_final_ones_are_not() {
        assert!(ConnectorError::RateLimited { retry_after: None }.is_retryable());
        assert!(ConnectorError::Transport("reset".into()).is_retryable());
        assert!(
            ConnectorError::Upstream {
                status: 503,
                message: "down".into()
            }
            .is_retryable()
        );
        assert!(
            !ConnectorError::Upstream {
                status: 400,
                message: "bad".into()
            }
            .is_retryable()
        );
        assert!(!ConnectorError::Authentication("bad key".into()).is_retryable());
        assert!(ConnectorError::Authentication("bad key".into()).needs_reauth());
        assert!(!ConnectorError::Decode("eof".into()).is_retryable());
    }
}
