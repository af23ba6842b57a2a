//! Encryption of integration secrets at rest: AES-256-GCM under the master key, with the key
//! id in every ciphertext so keys can be rotated, and the owning row's id as associated data so
//! a ciphertext cannot be moved to another account.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::SecretKeyMaterial;

const VERSION: &str = "v1";

/// The master key and its id.
#[derive(Clone)]
pub struct MasterKey {
    key: SecretKeyMaterial,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id={})", self.id)
    }
}

/// Why a ciphertext could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was made with key {0}, which is not the current key")]
    UnknownKey(String),
    #[error("ciphertext failed authentication")]
    Tampered,
}

impl MasterKey {
    /// Wraps key material.
    #[must_use]
    pub fn new(key: SecretKeyMaterial) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tributary-key-id");
        hasher.update(key.bytes());
        let id = hex::encode(&hasher.finalize()[..4]);
        Self { key, id }
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::new(SecretKeyMaterial(std::sync::Arc::new(
            secrecy::SecretBox::new(Box::new(bytes)),
        )))
    }

    /// The key id carried in ciphertexts.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64, for printing once to an operator.
    #[must_use]
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.bytes())
    }

    /// A subkey for another purpose (e.g. signing JWTs), derived one-way from the master key.
    #[must_use]
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"tributary-derive\0");
        hasher.update(purpose.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.key.bytes());
        hasher.finalize().into()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.bytes().into())
    }

    /// Encrypts `plaintext`, bound to `aad` (the owning row's id).
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // AES-GCM encryption only fails for inputs beyond 64 GiB.
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("{VERSION}.{}.{}", self.id, B64.encode(blob))
    }

    /// The key id a ciphertext was sealed with.
    ///
    /// # Errors
    /// `Malformed` when it is not a Tributary ciphertext.
    pub fn key_id_of(sealed: &str) -> Result<&str, SecretError> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(kid), Some(_)) => Ok(kid),
            _ => Err(SecretError::Malformed),
        }
    }

    /// Decrypts a ciphertext made by [`MasterKey::seal`] with the same `aad`.
    ///
    /// # Errors
    /// `UnknownKey` for another key's ciphertext, `Malformed`/`Tampered` otherwise.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, SecretError> {
        let kid = Self::key_id_of(sealed)?;
        if kid != self.id {
            return Err(SecretError::UnknownKey(kid.to_string()));
        }
        let body = sealed
            .rsplit_once('.')
            .map(|(_, b)| b)
            .ok_or(SecretError::Malformed)?;
        let blob = B64.decode(body).map_err(|_| SecretError::Malformed)?;
        if blob.len() < 12 + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ct) = blob.split_at(12);
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| SecretError::Tampered)
    }
}

/// Reads the key file, or creates it with mode 0600 when it does not exist.
///
/// # Errors
/// I/O errors, or a file that does not hold base64 of 32 bytes.
pub fn load_or_create_key_file(path: &Path) -> anyhow::Result<(MasterKey, bool)> {
    if path.exists() {
        let text = std::fs::read_to_string(path)?;
        let key = SecretKeyMaterial::from_base64(&text)
            .map_err(|m| anyhow::anyhow!("key file {} {m}", path.display()))?;
        return Ok((MasterKey::new(key), false));
    }
    let key = MasterKey::generate();
    write_key_file(path, &key)?;
    Ok((key, true))
}

/// Writes a key file with mode 0600 (created exclusively).
///
/// # Errors
/// I/O errors, including an existing file.
pub fn write_key_file(path: &Path, key: &MasterKey) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.to_base64().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_owner() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"hunter2", b"account-1");
        assert!(!sealed.contains("hunter2"));
        assert!(sealed.starts_with(&format!("v1.{}.", key.id())));
        assert_eq!(key.open(&sealed, b"account-1").expect("opens"), b"hunter2");
        assert!(matches!(
            key.open(&sealed, b"account-2"),
            Err(SecretError::Tampered)
        ));
        let other = MasterKey::generate();
        assert!(matches!(
            other.open(&sealed, b"account-1"),
            Err(SecretError::UnknownKey(_))
        ));
        let mut flipped = sealed.clone();
        flipped.pop();
        flipped.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open(&flipped, b"account-1").is_err());
        assert!(matches!(key.open("nope", b""), Err(SecretError::Malformed)));
    }

    #[test]
    fn two_seals_of_the_same_value_differ() {
        let key = MasterKey::generate();
        assert_ne!(key.seal(b"x", b"a"), key.seal(b"x", b"a"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_with_owner_only_permissions_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("trb-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("master.key");
        let (created, was_new) = load_or_create_key_file(&path).expect("creates");
        assert!(was_new);
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (loaded, was_new) = load_or_create_key_file(&path).expect("loads");
        assert!(!was_new);
        assert_eq!(created.id(), loaded.id());
        std::fs::remove_dir_all(dir).ok();
    }
}
