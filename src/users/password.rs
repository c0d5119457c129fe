//! argon2id with the OWASP ASVS parameters (m=19456 KiB, t=2, p=1). Hashing is CPU work and
//! runs on the blocking pool, never on an actix worker.
//!
//! Memory (issue 18, item 13): each hash allocates 19 MiB. Run from the blocking pool
//! unbounded, ten sign-ins at once took ten blocks on as many threads, and glibc kept the
//! freed blocks in its per-thread arenas (after the first such free it raises its mmap
//! threshold, so the next blocks come from the arenas): RSS went from 40 to 765 MB after
//! 100 sign-ins and stayed. So at most one hash per core runs at a time (`hashing_slots`;
//! more would only queue for the CPU while holding memory), blocks of 1 MiB and more are
//! always mapped on their own and unmapped when freed (a fixed `M_MMAP_THRESHOLD`), and
//! after each hash `malloc_trim` hands back what the arenas hold free. Measured with
//! `benches/signin_memory.sh`: 43 MB after the same 100 sign-ins, peak 81 MB (the slots and
//! trim alone: 120-158 MB kept). See README, Benchmark.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use actix_web::web;
use anyhow::anyhow;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

pub const MIN_CHARS: usize = 8;
/// Long passphrases are welcome; the form-size limit (64 KiB) refuses absurd ones first.
pub const MAX_CHARS: usize = 4096;

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane), which is also the crate's default.
    let params = Params::new(19_456, 2, 1, None).unwrap_or(Params::DEFAULT);
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
    // Hashing a 36-character password does not fail; were it to, verify_one skips the dummy.
    DUMMY.get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

/// Why a new password was refused; the message is the one the page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Password must be at least {MIN_CHARS} characters.")]
    TooShort,
    #[error("Password must be at most {MAX_CHARS} characters.")]
    TooLong,
}

pub fn check_new(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Err(PasswordError::TooShort)
    } else if chars > MAX_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// Hashes (and verifications) running at once: one per core.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        big_blocks_mapped();
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Hands freed heap memory back to the system, from every arena (glibc keeps it otherwise).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_memory() {}

/// Blocks of 1 MiB and more (argon2's 19 MiB) get pages of their own, unmapped when freed:
/// a fixed threshold also stops glibc from raising it after the first such free, which
/// would put the next blocks in the arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn big_blocks_mapped() {
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn big_blocks_mapped() {}

/// Runs an argon2 call on the blocking pool once a hashing slot is free, then releases its
/// memory.
async fn on_hashing_slot<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, actix_web::error::BlockingError> {
    // Never closed, so acquiring only waits (were it closed, the call would run unslotted).
    let _slot = hashing_slots().acquire().await.ok();
    let span = tracing::Span::current();
    web::block(move || {
        let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(running, Ordering::SeqCst);
        let out = span.in_scope(f);
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        release_memory();
        out
    })
    .await
}

/// argon2 calls running now, and the most that ever ran at once (what the slots bound).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The most argon2 calls that ran at once in this process.
pub fn peak_concurrent_hashes() -> usize {
    PEAK.load(Ordering::SeqCst)
}

pub async fn hash_blocking(password: SecretString) -> Result<String, AppError> {
    on_hashing_slot(move || hash(password.expose_secret()))
        .await
        .map_err(|e| AppError::Unexpected(anyhow!("hashing task failed: {e}")))?
        .map_err(AppError::Unexpected)
}

pub use crate::config::VerifyCounter;

/// Runs argon2 against `hash`, or against the dummy hash when there is no usable one (no
/// account, an invited user without a password, a hash that does not parse), so that every
/// call costs exactly one verification. True only when a real hash matched.
pub fn verify_one(password: &str, hash: Option<&str>, counter: &VerifyCounter) -> bool {
    let real = hash.and_then(|h| PasswordHash::new(h).ok());
    let matched = match &real {
        Some(parsed) => hasher().verify_password(password.as_bytes(), parsed).is_ok(),
        None => {
            if let Ok(dummy) = PasswordHash::new(dummy_hash()) {
                let _ = hasher().verify_password(password.as_bytes(), &dummy);
            }
            false
        }
    };
    counter.add_one();
    matched
}

/// `verify_one` on the blocking pool.
pub async fn verify_blocking(password: SecretString, hash: Option<String>, counter: VerifyCounter) -> Result<bool, AppError> {
    on_hashing_slot(move || verify_one(password.expose_secret(), hash.as_deref(), &counter))
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

    #[actix_web::test]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hash = hash("a password").unwrap();
        let counter = VerifyCounter::default();
        let checks = (0..cores * 4).map(|_| verify_blocking(SecretString::from("a password"), Some(hash.clone()), counter.clone()));
        for ok in futures_util::future::join_all(checks).await {
            assert!(ok.unwrap());
        }
        assert_eq!(counter.get() as usize, cores * 4);
        assert!(peak_concurrent_hashes() <= cores, "{} at once on {cores} cores", peak_concurrent_hashes());
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
