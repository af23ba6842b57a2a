//! Short-lived access JWTs: HS256 only (the algorithm is pinned, `none` and others are
//! refused), `exp`, `iss` and `aud` checked.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// Signing and verification keys plus the expected issuer and audience.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl JwtKeys {
    #[must_use]
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    /// Access token lifetime in seconds.
    #[must_use]
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for a user.
    ///
    /// # Errors
    /// When signing fails.
    pub fn issue(&self, user_id: Uuid, role: &str) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            role: role.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl_secs,
            jti: Uuid::new_v4(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm, expiry, issuer and audience.
    ///
    /// # Errors
    /// Any failure; callers treat them all as "invalid token".
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_right_key_issuer_and_audience() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "tributary", "api", 60);
        let id = Uuid::new_v4();
        let token = keys.issue(id, "user").expect("issues");
        assert_eq!(keys.verify(&token).expect("valid").sub, id);
        let other = JwtKeys::new(b"another-key-another-key-another!", "tributary", "api", 60);
        assert!(other.verify(&token).is_err());
        let wrong_aud = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "tributary", "x", 60);
        assert!(wrong_aud.verify(&token).is_err());
        let expired = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "tributary", "api", -60);
        let old = expired.issue(id, "user").expect("issues");
        assert!(keys.verify(&old).is_err());
    }
}
