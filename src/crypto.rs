//! Secrets at rest (SMTP passwords, later Twilio tokens): ChaCha20-Poly1305 with a key
//! derived from the secret key; a random 96-bit nonce is stored in front of the ciphertext.
//! Also the random tokens and the hashes they are stored as.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` random bytes as hex: CSRF tokens, reset/invite tokens, generated secret keys.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 as hex: how session keys and emailed tokens are stored (never the raw value).
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The at-rest key for a secret key (domain-separated from the cookie key).
pub fn derive(secret: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"switchboard at-rest key v1\0");
    hasher.update(secret);
    hasher.finalize().into()
}

pub fn seal(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    // Encrypting into a Vec cannot fail.
    out.extend(cipher.encrypt(Nonce::from_slice(&nonce), plaintext).unwrap_or_default());
    out
}

/// `None` when the data was sealed with another key or changed.
pub fn open(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher.decrypt(Nonce::from_slice(&sealed[..12]), &sealed[12..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = derive(b"a secret key of at least thirty-two characters");
        let sealed = seal(&key, b"hunter2");
        assert_ne!(&sealed[12..], b"hunter2");
        assert_eq!(open(&key, &sealed).as_deref(), Some(&b"hunter2"[..]));
        assert_eq!(open(&derive(b"another key entirely, also long enough"), &sealed), None);
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, &tampered), None);
        assert_ne!(seal(&key, b"hunter2"), sealed, "a fresh nonce each time");
    }
}
