//! X-Twilio-Signature, computed the way Twilio's own helper libraries check it
//! (twilio-python's `RequestValidator`, twilio-node's `validateRequest`):
//!
//! - the full URL Twilio requested (scheme, host, port if any, path, query string as sent),
//! - then, for a form-encoded POST, each parameter name in sorted order followed by its
//!   value (several values of one name: each, sorted), with no separators, decoded (not
//!   percent-encoded),
//! - HMAC-SHA1 with the account's auth token, base64.
//!
//! A request is genuine when the signature matches the URL either without its port or
//! with the scheme's default port added (Twilio's signing is inconsistent about ports, and
//! the helpers accept both). Compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use url::{Position, Url};

/// The signature of `url` with these form parameters (what Twilio sends).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name, then by value: byte order of UTF-8 is code point order, as Python's sort.
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this request, with or without the default port.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(parsed) = Url::parse(url) else { return false };
    let candidates = [without_port(&parsed), with_port(&parsed)];
    let mut ok = false;
    for candidate in candidates.iter().flatten() {
        let expected = sign(auth_token, candidate, params);
        // Both compared, whatever the first gave: the time taken says nothing.
        ok |= bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes()));
    }
    ok
}

/// The URL without any port.
fn without_port(url: &Url) -> Option<String> {
    Some(format!("{}{}", &url[..Position::AfterHost], &url[Position::BeforePath..]))
}

/// The URL with its port written out (the scheme's default when none is given; `Url`
/// itself never writes a default port).
fn with_port(url: &Url) -> Option<String> {
    let port = url.port_or_known_default()?;
    Some(format!("{}:{port}{}", &url[..Position::AfterHost], &url[Position::BeforePath..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The example in Twilio's security documentation ("Validating requests"), which every
    /// helper library's tests use: token 12345, this URL and these parameters.
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    fn doc_params() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn twilios_documented_example_verifies() {
        assert_eq!(sign("12345", DOC_URL, &doc_params()), DOC_SIGNATURE);
        assert!(verify("12345", DOC_URL, &doc_params(), DOC_SIGNATURE));
    }

    #[test]
    fn parameter_order_does_not_matter_but_every_byte_does() {
        let mut shuffled = doc_params();
        shuffled.reverse();
        assert!(verify("12345", DOC_URL, &shuffled, DOC_SIGNATURE));
        let mut changed = doc_params();
        changed[2].1 = "1235".into();
        assert!(!verify("12345", DOC_URL, &changed, DOC_SIGNATURE));
        assert!(!verify("12346", DOC_URL, &doc_params(), DOC_SIGNATURE), "another token");
        assert!(!verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &doc_params(), DOC_SIGNATURE), "the query is signed");
        assert!(!verify("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", &doc_params(), DOC_SIGNATURE), "the scheme is signed");
        assert!(!verify("12345", DOC_URL, &doc_params(), ""), "empty");
        assert!(!verify("12345", DOC_URL, &doc_params(), "0/KCTR6DLpKmkAf8muzZqo1nDg"), "truncated");
    }

    #[test]
    fn a_signature_over_the_url_with_or_without_the_default_port_verifies() {
        let with = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed_with_port = sign("12345", with, &doc_params());
        assert!(verify("12345", DOC_URL, &doc_params(), &signed_with_port));
        assert!(verify("12345", with, &doc_params(), DOC_SIGNATURE));
        // A non-default port: Twilio may sign with it or without it.
        let custom = "https://mycompany.com:8443/hook";
        assert!(verify("12345", custom, &[], &sign("12345", custom, &[])));
        assert!(verify("12345", custom, &[], &sign("12345", "https://mycompany.com/hook", &[])));
        assert!(!verify("12345", custom, &[], &sign("12345", "https://mycompany.com:9443/hook", &[])));
        let plain = "http://example.com/hook";
        assert!(verify("12345", plain, &[], &sign("12345", "http://example.com:80/hook", &[])));
    }

    #[test]
    fn repeated_names_are_signed_value_by_value_in_sorted_order() {
        // twilio-python sorts the values of a repeated name (MediaUrl0… are distinct names,
        // but a form may repeat one).
        let url = "https://example.com/hook";
        let a = params(&[("Tag", "b"), ("Tag", "a"), ("Body", "hi")]);
        let b = params(&[("Body", "hi"), ("Tag", "a"), ("Tag", "b")]);
        assert_eq!(sign("t", url, &a), sign("t", url, &b));
        let mut mac = Hmac::<Sha1>::new_from_slice(b"t").unwrap();
        mac.update(b"https://example.com/hookBodyhiTagaTagb");
        assert_eq!(sign("t", url, &a), STANDARD.encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn values_are_signed_decoded_and_unicode_sorts_by_code_point() {
        let url = "https://example.com/hook";
        let form = params(&[("Body", "Olá, 1+1=2 & ✓"), ("Zeta", "z"), ("Äpfel", "1")]);
        let mut mac = Hmac::<Sha1>::new_from_slice(b"t").unwrap();
        // "Äpfel" (U+00C4) sorts after "Zeta" (U+005A), as in Python.
        mac.update("https://example.com/hookBodyOlá, 1+1=2 & ✓ZetazÄpfel1".as_bytes());
        assert_eq!(sign("t", url, &form), STANDARD.encode(mac.finalize().into_bytes()));
    }
}
