//! Opaque random tokens: refresh tokens and personal API tokens (`trb_...`). Only their
//! SHA-256 is stored, so a database leak does not leak usable tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of personal API tokens, so they are recognisable (and scannable by secret scanners).
pub const API_TOKEN_PREFIX: &str = "trb_";

/// 256 random bits, URL-safe base64.
#[must_use]
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new personal API token secret.
#[must_use]
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// The stored form of a token.
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_are_prefixed_random_and_hashed() {
        let a = new_api_token();
        let b = new_api_token();
        assert!(a.starts_with("trb_"));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
