//! argon2id with the OWASP ASVS parameters (m=19456 KiB, t=2, p=1). Hashing is CPU work and
//! runs on the blocking pool, never on an actix worker.

use std::sync::OnceLock;

use actix_web::web;
use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
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

/// Verifies against each candidate hash (or the dummy when there is none); returns the index
/// of the first that matches.
pub async fn verify_blocking(password: SecretString, hashes: Vec<String>) -> Result<Option<usize>, AppError> {
    let span = tracing::Span::current();
    web::block(move || {
        span.in_scope(|| {
            if hashes.is_empty() {
                verify(password.expose_secret(), dummy_hash());
                return None;
            }
            hashes.iter().position(|h| verify(password.expose_secret(), h))
        })
    })
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
    fn long_passwords_work_and_short_ones_are_refused() {
        let long = "x".repeat(1000);
        assert!(check_new(&long).is_ok());
        assert!(verify(&long, &hash(&long).unwrap()));
        assert!(check_new("short").is_err());
        assert!(check_new(&"y".repeat(MAX_CHARS + 1)).is_err());
    }
}
