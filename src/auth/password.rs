//! argon2id with the OWASP ASVS parameters (m=19456 KiB, t=2, p=1). Hashing is CPU work and
//! runs on the blocking pool, never on an actix worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::web;
use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

pub const MIN_CHARS: usize = 8;
/// Long passphrases are welcome; the form-size limit (64 KiB) refuses absurd ones first.
pub const MAX_CHARS: usize = 4096;

fn hasher() -> Argon2<'static> {
    // The parameters are constants known to be valid.
    let params = Params::new(19_456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    hasher().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| anyhow!("argon2 hashing failed: {e}"))
}

pub fn verify(password: &str, hash: &str) -> bool {
    hasher().verify_password(password.as_bytes(), hash).is_ok()
}

/// A real hash of a random password, verified against when the email is unknown so that
/// unknown and known emails cost the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).expect("hashing a fixed-size password"))
}

pub fn check_new(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Err(format!("Password must be at least {MIN_CHARS} characters."))
    } else if chars > MAX_CHARS {
        Err(format!("Password must be at most {MAX_CHARS} characters."))
    } else {
        Ok(())
    }
}

pub async fn hash_blocking(password: SecretString) -> Result<String, AppError> {
    let span = tracing::Span::current();
    web::block(move || span.in_scope(|| hash(password.expose_secret())))
        .await
        .map_err(|e| AppError::Unexpected(anyhow!("hashing task failed: {e}")))?
        .map_err(AppError::Unexpected)
}

/// How many argon2 verifications ran (a test hook: every sign-in attempt must cost exactly
/// one, whether the account exists, has no password yet or shares its email with another).
#[derive(Clone, Debug, Default)]
pub struct VerifyCounter(Arc<AtomicU64>);

impl VerifyCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs argon2 against `hash`, or against the dummy hash when there is no usable one (no
/// account, an invited user without a password, a hash that does not parse), so that every
/// call costs exactly one verification. True only when a real hash matched.
pub fn verify_one(password: &str, hash: Option<&str>, counter: &VerifyCounter) -> bool {
    let real = hash.and_then(|h| PasswordHash::new(h).ok());
    let matched = match &real {
        Some(parsed) => hasher().verify_password(password.as_bytes(), parsed).is_ok(),
        None => {
            let dummy = PasswordHash::new(dummy_hash()).expect("the dummy hash parses");
            let _ = hasher().verify_password(password.as_bytes(), &dummy);
            false
        }
    };
    counter.0.fetch_add(1, Ordering::Relaxed);
    matched
}

/// `verify_one` on the blocking pool.
pub async fn verify_blocking(password: SecretString, hash: Option<String>, counter: VerifyCounter) -> Result<bool, AppError> {
    let span = tracing::Span::current();
    web::block(move || span.in_scope(|| verify_one(password.expose_secret(), hash.as_deref(), &counter)))
        .await
        .map_err(|e| AppError::Unexpected(anyhow!("verification task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_asvs_parameters() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("wrong", &h));
    }

    #[test]
    fn every_check_runs_argon2_once_even_without_a_usable_hash() {
        let counter = VerifyCounter::default();
        let real = hash("right password").unwrap();
        assert!(verify_one("right password", Some(&real), &counter));
        assert!(!verify_one("wrong", Some(&real), &counter));
        assert!(!verify_one("anything", None, &counter));
        assert!(!verify_one("!invited", Some("!invited"), &counter), "an unusable hash never matches");
        assert_eq!(counter.get(), 4);
    }

    #[test]
    fn long_passwords_work_and_short_ones_are_refused() {
        let long = "x".repeat(1000);
        assert!(check_new(&long).is_ok());
        assert!(verify(&long, &hash(&long).unwrap()));
        assert!(check_new("short").is_err());
        assert!(check_new(&"y".repeat(MAX_CHARS + 1)).is_err());
    }
}
