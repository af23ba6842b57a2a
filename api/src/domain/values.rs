use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ServiceError;

macro_rules! typed_id {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(UserId);
typed_id!(AccountId);

/// An ISO 4217 currency code (three upper-case letters, from the list of active codes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

/// Active ISO 4217 codes plus a few widely used crypto units are *not* accepted here: account
/// and base currencies are fiat.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    /// Parses an ISO 4217 code; lower case is accepted and normalized.
    ///
    /// # Errors
    /// `Validation` on `field` when the code is not an active ISO 4217 currency.
    pub fn parse(field: &str, code: &str) -> Result<Self, ServiceError> {
        let upper = code.trim().to_ascii_uppercase();
        if ISO_4217.binary_search(&upper.as_str()).is_ok() {
            Ok(Self(upper))
        } else {
            Err(ServiceError::validation(
                field,
                "must be an ISO 4217 currency code such as USD or EUR",
            ))
        }
    }

    /// The code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a code read back from storage (already validated when written).
    #[must_use]
    pub fn from_stored(code: String) -> Self {
        Self(code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of account this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Brokerage,
    Crypto,
    Bank,
    Cash,
    Other,
}

impl AccountKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brokerage => "brokerage",
            Self::Crypto => "crypto",
            Self::Bank => "bank",
            Self::Cash => "cash",
            Self::Other => "other",
        }
    }

    /// Reads a stored value; unknown values read as `Other`.
    #[must_use]
    pub fn from_stored(s: &str) -> Self {
        match s {
            "brokerage" => Self::Brokerage,
            "crypto" => Self::Crypto,
            "bank" => Self::Bank,
            "cash" => Self::Cash,
            _ => Self::Other,
        }
    }
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    #[must_use]
    pub fn from_stored(s: &str) -> Self {
        if s == "admin" {
            Self::Admin
        } else {
            Self::User
        }
    }
}

/// What a personal API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// GET only.
    Read,
    /// Everything the user can do except managing API tokens and the password.
    Write,
}

impl TokenScope {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    #[must_use]
    pub fn from_stored(s: &str) -> Self {
        if s == "write" {
            Self::Write
        } else {
            Self::Read
        }
    }
}

/// The health of an account's integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    /// Configured, not yet tested or synced.
    Configured,
    /// The last test or sync worked.
    Ok,
    /// The last test or sync failed for a reason other than credentials.
    Error,
    /// The provider rejected the credentials; the user must update them.
    NeedsReauth,
}

impl IntegrationStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Ok => "ok",
            Self::Error => "error",
            Self::NeedsReauth => "needs_reauth",
        }
    }

    #[must_use]
    pub fn from_stored(s: &str) -> Self {
        match s {
            "ok" => Self::Ok,
            "error" => Self::Error,
            "needs_reauth" => Self::NeedsReauth,
            _ => Self::Configured,
        }
    }
}

/// A normalized e-mail address (trimmed, lower-cased, shape-checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// `Validation` on `email` when it does not look like an address.
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                    && email.matches('@').count() == 1
            });
        if valid {
            Ok(Self(email))
        } else {
            Err(ServiceError::validation(
                "email",
                "must be an e-mail address",
            ))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy (12 to 1024 characters).
pub struct NewPassword(secrecy::SecretString);

impl NewPassword {
    /// # Errors
    /// `Validation` on `field` when too short or too long.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ServiceError> {
        let len = raw.chars().count();
        if len < 12 {
            return Err(ServiceError::validation(
                field,
                "must be at least 12 characters",
            ));
        }
        if len > 1024 {
            return Err(ServiceError::validation(
                field,
                "must be at most 1024 characters",
            ));
        }
        Ok(Self(secrecy::SecretString::from(raw.to_string())))
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

/// Trims a free-text field and checks its length; empty becomes `None` when allowed.
///
/// # Errors
/// `Validation` on `field` when empty (if required) or longer than `max` characters.
pub fn clean_text(field: &str, raw: &str, max: usize) -> Result<String, ServiceError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(ServiceError::validation(field, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(ServiceError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ServiceError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_list_is_sorted_for_binary_search() {
        let mut sorted = ISO_4217.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, ISO_4217);
    }

    #[test]
    fn currencies_are_validated_and_normalized() {
        assert_eq!(Currency::parse("c", "eur").expect("valid").as_str(), "EUR");
        assert!(Currency::parse("c", "EURO").is_err());
        assert!(Currency::parse("c", "XYZ").is_err());
        assert!(Currency::parse("c", "").is_err());
    }

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").expect("valid").as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "a@b",
            "a@@b.c",
            "@b.com",
            "a b@c.com",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_policy_is_enforced() {
        assert!(NewPassword::parse("password", "short").is_err());
        assert!(NewPassword::parse("password", "correct horse battery").is_ok());
    }
}
