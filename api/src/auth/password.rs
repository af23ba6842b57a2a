//! Argon2id password hashing with OWASP parameters (19 MiB, 2 iterations, 1 lane), run on the
//! blocking pool so hashing never stalls the async workers. At most `cores - 1` hashes run at
//! once (at least one), so a burst of logins cannot take every core from request handling and
//! memory stays bounded (19 MiB per hash).

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

fn hasher() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, verified against when the e-mail is unknown so that unknown
/// e-mails and wrong passwords take the same time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("tributary-dummy-password-for-timing").unwrap_or_default());

static HASH_SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
});

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// Hashes a password (PHC string) off the async threads.
///
/// # Errors
/// When the blocking task fails.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    let _slot = HASH_SLOTS.acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret())).await?
}

/// Verifies a password against a stored PHC hash, or against the dummy hash when `stored` is
/// `None` (always false then, but with the same cost).
///
/// # Errors
/// When the blocking task fails.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    let _slot = HASH_SLOTS.acquire().await?;
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return Ok(false);
        };
        let ok = hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(ok && known)
    })
    .await?
}

/// Computes the dummy hash ahead of the first login, so the first unknown-e-mail login is not
/// slower than the rest.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| DUMMY_HASH.len()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id() {
        let h = hash(SecretString::from("correct horse battery"))
            .await
            .expect("hashes");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify(SecretString::from("correct horse battery"), Some(h.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !verify(SecretString::from("wrong"), Some(h))
                .await
                .expect("ok")
        );
        assert!(
            !verify(
                SecretString::from("tributary-dummy-password-for-timing"),
                None
            )
            .await
            .expect("ok")
        );
    }
}
