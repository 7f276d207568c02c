//! Local passwords: Argon2id, computed on a bounded blocking pool so that hashing never
//! stalls request handling and never holds more than a few 19 MiB buffers at once.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::CoreError;

/// OWASP's minimum for Argon2id: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Longest password accepted; Argon2 would take more, but nobody types this much.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn argon2id() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords, at most `permits` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified in place of a real hash when the account does not exist, so that
    /// "no such user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Self {
        let dummy_secret = hex::encode(crate::token::random_secret::<16>());
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: hash_blocking(&dummy_secret).into(),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String, CoreError> {
        let password = password.to_owned();
        self.run(move || hash_blocking(&password)).await
    }

    /// True when `password` matches `hash`. A malformed hash never matches.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, CoreError> {
        let (hash, is_real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let password = password.to_owned();
        let matched = self.run(move || verify_blocking(&hash, &password)).await?;
        Ok(matched && is_real)
    }

    /// Burns the time of one verification, for accounts that do not exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), CoreError> {
        self.verify(None, password).await.map(|_| ())
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, CoreError> {
        let _permit = self.permits.acquire().await.map_err(|_| CoreError::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))
    }
}

/// A fresh Argon2id PHC string for `password`.
pub fn hash_blocking(password: &str) -> String {
    argon2id().hash_password(password.as_bytes()).expect("Argon2id with valid parameters cannot fail").to_string()
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    // The parameters come from the PHC string, so hashes made with stronger settings still verify.
    argon2id().verify_password(password.as_bytes(), hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_at_owasp_strength_and_verifies() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify(Some(&hash), "correct horse").await.unwrap());
        assert!(!hasher.verify(Some(&hash), "wrong horse").await.unwrap());
    }

    #[tokio::test]
    async fn garbage_hash_and_missing_hash_never_match() {
        let hasher = PasswordHasher::new(1);
        assert!(!hasher.verify(Some("not a hash"), "x").await.unwrap());
        assert!(!hasher.verify(None, "x").await.unwrap());
    }
}
