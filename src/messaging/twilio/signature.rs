//! X-Twilio-Signature, checked the way Twilio's own helper libraries check it: a request
//! is genuine when ANY of them would accept it (twilio-python's `RequestValidator`,
//! twilio-node's `validateRequest` old and new, twilio-ruby's and twilio-java's). Every
//! form below is an HMAC under the workspace's auth token, so accepting several weakens
//! nothing: what the helpers disagree on is only how the signed string is spelled.
//!
//! The signed string is the URL Twilio requested, then, for a form-encoded POST, each
//! parameter name followed by its value, sorted by name, with no separators, decoded (not
//! percent-encoded). HMAC-SHA1, base64; or HMAC-SHA256, base64, when the
//! `X-Twilio-Webhooks-Signature-Settings` header (`key=<id>,algorithm=HMAC_SHA256`, sent
//! when a Webhook Setting signs the URL) names it. An HMAC-SHA1 is accepted whatever that
//! header says (the helpers that ignore it would), and a header naming any other algorithm
//! leaves only that (twilio-node refuses the algorithm). Compared in constant time.
//!
//! The spellings accepted (issue 18 item 14):
//!
//! - the URL without its port or with the scheme's default port added, both as received
//!   (twilio-python, -ruby, -java, and -node since 6.x: the string Twilio signed) and as a
//!   WHATWG URL parser normalises it (`'` in a query becomes `%27`; older twilio-node),
//!   and that with its query re-encoded as Node's legacy `querystring` module does (`+`
//!   becomes `%20`; twilio-node);
//! - a repeated parameter name: every value, sorted (this app's own form); each distinct
//!   value once, sorted (twilio-python, twilio-node since 3.83); every value in the order
//!   received (twilio-node 3.67 to 3.82); names and values sorted by UTF-16 code units as
//!   JavaScript sorts (twilio-node) or by code point (the others);
//! - a body that is not a form (JSON): the URL carries `bodySHA256`, the hex SHA-256 of the
//!   raw body; the signature is then over the URL alone and the body must hash to it
//!   (every helper's `validateRequestWithBody` / `validate(url, body, …)`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

/// The header Twilio adds when a Webhook Setting signs the request.
pub const SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The HMAC a signature is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

impl Algorithm {
    /// The algorithm `X-Twilio-Webhooks-Signature-Settings` names: its `algorithm=` part
    /// (trimmed, any case); none, or no such part, is HMAC-SHA1. `None`: an algorithm
    /// Twilio's helpers do not know.
    pub fn from_settings(header: Option<&str>) -> Option<Algorithm> {
        let named = header
            .unwrap_or("")
            .split(',')
            .filter_map(|part| part.split_once('='))
            .find(|(name, value)| name.trim() == "algorithm" && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_ascii_uppercase());
        match named.as_deref() {
            None | Some("HMAC_SHA1") => Some(Algorithm::Sha1),
            Some("HMAC_SHA256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }
}

/// What a webhook request carried, as far as its signature goes.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    /// The URL Twilio requested, as received (see `webhooks::request_url`).
    pub url: &'a str,
    /// The body's form parameters, decoded, in the order received.
    pub params: &'a [(String, String)],
    /// The raw body (for `bodySHA256`).
    pub body: &'a [u8],
    /// `X-Twilio-Webhooks-Signature-Settings`, if sent.
    pub settings: Option<&'a str>,
}

/// The HMAC-SHA1 signature of `url` with these form parameters, every value of a repeated
/// name in sorted order (what the tests' Twilio sends).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign_with(Algorithm::Sha1, auth_token, url, params)
}

/// [`sign`] with `algorithm`.
pub fn sign_with(algorithm: Algorithm, key: &str, url: &str, params: &[(String, String)]) -> String {
    hmac_base64(algorithm, key, url, &sorted_pairs(params, false, Order::CodePoint))
}

/// Whether `signature` is Twilio's for this form POST (HMAC-SHA1, no settings header).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    verify_request(auth_token, &Signed { url, params, body: b"", settings: None }, signature)
}

/// Whether `signature` is one any of Twilio's helper libraries would accept for this
/// request under `auth_token` (the spellings in the module's documentation).
pub fn verify_request(auth_token: &str, request: &Signed, signature: &str) -> bool {
    let given = signature.trim().as_bytes();
    let mut algorithms = vec![Algorithm::Sha1];
    if Algorithm::from_settings(request.settings) == Some(Algorithm::Sha256) {
        algorithms.push(Algorithm::Sha256);
    }
    let urls = url_spellings(request.url);
    let mut signed_parts = param_spellings(request.params);
    let body_matches = body_sha256(request.url).is_some_and(|expected| {
        let actual = hex::encode(Sha256::digest(request.body));
        bool::from(actual.as_bytes().ct_eq(expected.as_bytes()))
    });
    if body_matches && !signed_parts.iter().any(String::is_empty) {
        signed_parts.push(String::new());
    }
    let mut ok = false;
    // Every candidate is computed and compared, whatever an earlier one gave.
    for algorithm in &algorithms {
        for url in &urls {
            for parts in &signed_parts {
                let expected = hmac_base64(*algorithm, auth_token, url, parts);
                ok |= bool::from(expected.as_bytes().ct_eq(given));
            }
        }
    }
    ok
}

// HMAC takes a key of any length (RFC 2104: a longer one is hashed first), so the hmac
// crate's `new_from_slice` never fails for `Hmac`.
#[allow(clippy::expect_used)]
fn hmac_base64(algorithm: Algorithm, key: &str, url: &str, parts: &str) -> String {
    match algorithm {
        Algorithm::Sha1 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
            mac.update(url.as_bytes());
            mac.update(parts.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        Algorithm::Sha256 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
            mac.update(url.as_bytes());
            mac.update(parts.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
    }
}

/// The first `bodySHA256` of the URL's query, if any.
pub fn body_sha256(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "bodySHA256").map(|(_, value)| value.into_owned())
}

/// How names (and values) are ordered.
#[derive(Clone, Copy)]
enum Order {
    /// Unicode code points (= UTF-8 bytes): Python, Ruby, Java's ASCII names, Rust.
    CodePoint,
    /// UTF-16 code units: JavaScript's `Array.prototype.sort`.
    Utf16,
}

fn compare(order: Order, a: &str, b: &str) -> std::cmp::Ordering {
    match order {
        Order::CodePoint => a.cmp(b),
        Order::Utf16 => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// The pairs sorted by name then value (`unique`: a repeated identical pair once),
/// concatenated.
fn sorted_pairs(params: &[(String, String)], unique: bool, order: Order) -> String {
    let mut pairs: Vec<&(String, String)> = params.iter().collect();
    pairs.sort_by(|a, b| compare(order, &a.0, &b.0).then_with(|| compare(order, &a.1, &b.1)));
    if unique {
        pairs.dedup();
    }
    pairs.iter().flat_map(|(name, value)| [name.as_str(), value.as_str()]).collect()
}

/// The ways the helpers spell the parameters, without repeats.
fn param_spellings(params: &[(String, String)]) -> Vec<String> {
    let mut in_received_order: Vec<&(String, String)> = params.iter().collect();
    // A stable sort by name: a repeated name's values stay in the order received.
    in_received_order.sort_by(|a, b| compare(Order::Utf16, &a.0, &b.0));
    let received: String = in_received_order.iter().flat_map(|(name, value)| [name.as_str(), value.as_str()]).collect();
    let mut spellings = vec![
        sorted_pairs(params, false, Order::CodePoint),
        sorted_pairs(params, true, Order::CodePoint),
        sorted_pairs(params, true, Order::Utf16),
        received,
    ];
    dedup_keep_order(&mut spellings);
    spellings
}

/// The ways the helpers spell the URL, without repeats.
fn url_spellings(url: &str) -> Vec<String> {
    let mut spellings = vec![without_port(url), with_default_port(url)];
    if let Ok(parsed) = Url::parse(url) {
        let normalised = parsed.to_string();
        for form in [without_port(&normalised), with_default_port(&normalised)] {
            spellings.push(legacy_query(&form));
            spellings.push(form);
        }
    }
    dedup_keep_order(&mut spellings);
    spellings
}

fn dedup_keep_order(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

/// A URL cut into `scheme://`, `userinfo@`, host, `:port` and the rest, as written (no
/// normalisation); `None` without a `scheme://`.
fn split_url(url: &str) -> Option<(&str, &str, &str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let scheme = &url[..scheme_end - 3];
    let mut chars = scheme.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return None;
    }
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let after_bracket = host_port.rfind(']').map_or(0, |i| i + 1);
    let port_start = host_port[after_bracket..].find(':').map(|i| after_bracket + i);
    let (host, port) = match port_start {
        Some(i) => (&host_port[..i], &host_port[i..]),
        None => (host_port, ""),
    };
    Some((&url[..scheme_end], &authority[..host_start], host, port, &url[authority_end..]))
}

/// The URL without any port, the rest as written.
fn without_port(url: &str) -> String {
    match split_url(url) {
        Some((scheme, userinfo, host, _, rest)) => format!("{scheme}{userinfo}{host}{rest}"),
        None => url.to_string(),
    }
}

/// The URL with the scheme's default port (443 for https, else 80) when it names none.
fn with_default_port(url: &str) -> String {
    match split_url(url) {
        Some((scheme, userinfo, host, "", rest)) => {
            let port = if scheme.eq_ignore_ascii_case("https://") { 443 } else { 80 };
            format!("{scheme}{userinfo}{host}:{port}{rest}")
        }
        _ => url.to_string(),
    }
}

/// The URL with its query decoded and encoded again as Node's legacy `querystring` module
/// does (`parse` then `stringify`): a repeated name's values gathered at its first place,
/// integer-like names first in numeric order (a JavaScript object's key order), a name
/// without `=` given an empty value, and every byte but `A-Z a-z 0-9 - . _ ~ ! ' ( ) *`
/// percent-encoded (a space as `%20`).
fn legacy_query(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else { return url.to_string() };
    if query.is_empty() {
        return url.to_string();
    }
    let mut names: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => names.push((name.into_owned(), vec![value.into_owned()])),
        }
    }
    let index = |name: &str| name.parse::<u32>().ok().filter(|n| *n < u32::MAX && n.to_string() == name);
    names.sort_by(|a, b| match (index(&a.0), index(&b.0)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let pairs: Vec<String> = names.iter().flat_map(|(name, values)| values.iter().map(move |v| format!("{}={}", node_escape(name), node_escape(v)))).collect();
    format!("{head}?{}", pairs.join("&"))
}

/// Node's `querystring.escape`.
fn node_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!'()*".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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

    // Vectors made by the helper libraries themselves (twilio 9.13.0 from PyPI, twilio 6.3.1
    // and 3.80.0 from npm; token 12345), not by this module.

    fn signed<'a>(url: &'a str, params: &'a [(String, String)]) -> Signed<'a> {
        Signed { url, params, body: b"", settings: None }
    }

    #[test]
    fn a_repeated_identical_parameter_verifies_signed_once_or_twice() {
        let url = "https://example.com/hook";
        let form = params(&[("Body", "hi"), ("MediaUrl0", "https://x/1"), ("Tag", "a"), ("Tag", "a")]);
        // twilio-python's RequestValidator.compute_signature over a MultiDict, and
        // twilio-node 6.3.1's getExpectedTwilioSignature with Tag: ["a", "a"]: "Taga" once.
        assert!(verify("12345", url, &form, "r+59DEhswmNJIJ+7VrEKszHJR0Y="));
        // twilio-node 3.80.0 (and this app before): "TagaTaga".
        assert!(verify("12345", url, &form, "MVYqynK0H2L24JLEeewcl767qTE="));
        assert!(!verify("12346", url, &form, "r+59DEhswmNJIJ+7VrEKszHJR0Y="), "another token");
        let once = params(&[("Body", "hi"), ("MediaUrl0", "https://x/1"), ("Tag", "a")]);
        assert!(verify("12345", url, &once, "r+59DEhswmNJIJ+7VrEKszHJR0Y="));
        assert!(!verify("12345", url, &once, "MVYqynK0H2L24JLEeewcl767qTE="), "signed twice, sent once");
    }

    #[test]
    fn a_repeated_parameter_with_different_values_verifies_in_each_helpers_order() {
        let url = "https://example.com/hook";
        let form = params(&[("Body", "hi"), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")]);
        // twilio-python: each distinct value once, sorted ("TagaTagb").
        assert!(verify("12345", url, &form, "FxGBNQ7wuG7Xy9aA8hdaPt63DiA="));
        // twilio-node 3.80.0: every value as received ("TagbTagaTagb").
        assert!(verify("12345", url, &form, "tZdrTHs2Pn9AQw0wv6nnVeQSd8M="));
        let reordered = params(&[("Body", "hi"), ("Tag", "a"), ("Tag", "b"), ("Tag", "b")]);
        assert!(!verify("12345", url, &reordered, "tZdrTHs2Pn9AQw0wv6nnVeQSd8M="), "received order is signed");
    }

    #[test]
    fn the_default_port_may_be_signed_or_not_whichever_way_the_url_came() {
        let form = params(&[("Body", "hi")]);
        // twilio-python: computed over the URL with :443, validated for the URL without.
        assert!(verify("12345", "https://example.com/hook?x=1", &form, "oAWzNb4HVDYvW6Te+VPtnhhlYPE="));
        assert!(verify("12345", "https://example.com:443/hook?x=1", &form, "oAWzNb4HVDYvW6Te+VPtnhhlYPE="));
        // Computed without :80, validated for the URL with it.
        assert!(verify("12345", "http://example.com:80/hook", &form, "e9OcICFCalk2900vb00OfdbKaI4="));
        assert!(verify("12345", "http://example.com/hook", &form, "e9OcICFCalk2900vb00OfdbKaI4="));
        assert!(!verify("12345", "https://example.com/hook", &form, "e9OcICFCalk2900vb00OfdbKaI4="), "the scheme is signed");
    }

    #[test]
    fn a_query_verifies_as_received_as_normalised_and_as_nodes_legacy_querystring() {
        let url = "https://example.com/hook?name=O'Brien&q=a+b&r=c%20d&s=%E2%9C%93&t=(x)*~!";
        let form = params(&[("Body", "hi")]);
        // twilio-node 6.3.1 accepts all three for this URL.
        for (what, signature) in [
            ("as received", "wlLovxTKsY1nAFjN3Qn9VTmYmNc="),
            ("normalised: O%27Brien", "foK0pTQwa1Qlvb4/nBHfeE/rWEE="),
            ("legacy querystring: a%20b", "b+h/zR8njoTpcRkUfDciVJ60SUI="),
        ] {
            assert!(verify("12345", url, &form, signature), "{what}");
        }
        assert_eq!(legacy_query("https://example.com/hook?name=O%27Brien&q=a+b&r=c%20d&s=%E2%9C%93&t=(x)*~!"), "https://example.com/hook?name=O'Brien&q=a%20b&r=c%20d&s=%E2%9C%93&t=(x)*~!");
        // Node's querystring: repeated names gathered, integer-like names first, `e` as `e=`.
        let url = "https://example.com/hook?b=1&a=2&b=3&10=x&2=y&e&f=";
        assert_eq!(legacy_query(url), "https://example.com/hook?2=y&10=x&b=1&b=3&a=2&e=&f=");
        assert!(verify("12345", url, &form, "4Fob6PZejf288qVfi3B4zv6msVs="));
        assert!(!verify("12345", "https://example.com/hook?b=1&a=2&b=3&10=x&2=y&e&f=1", &form, "4Fob6PZejf288qVfi3B4zv6msVs="));
    }

    #[test]
    fn non_ascii_values_verify() {
        let form = params(&[("Body", "Olá ✓ 😀"), ("ProfileName", "Zoë"), ("From", "whatsapp:+14155550123")]);
        // twilio-python.
        assert!(verify("12345", "https://example.com/hook", &form, "7/fl4YGKczJlZoA7pFiBAYMaZ34="));
        let changed = params(&[("Body", "Ola ✓ 😀"), ("ProfileName", "Zoë"), ("From", "whatsapp:+14155550123")]);
        assert!(!verify("12345", "https://example.com/hook", &changed, "7/fl4YGKczJlZoA7pFiBAYMaZ34="));
    }

    #[test]
    fn hmac_sha256_verifies_when_the_settings_header_names_it() {
        let url = "https://example.com/webhooks/twilio/k/status";
        let form = params(&[("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("Body", "Olá ✓")]);
        let header = Some("key=webhooks_sharedkey_01abc,algorithm=HMAC_SHA256");
        let with = |settings| Signed { url, params: &form, body: b"", settings };
        // twilio-node 6.3.1: getExpectedTwilioSignature(token, url, params, "HMAC_SHA256"),
        // over the URL as is and with :443.
        for signature in ["lbhUFkza/6j2UtVttE9o/3XxUqcbmfwGmTsShvII7iE=", "2Ll2TCEDwyRH7bEB4zqyDVIoHKAkWCSQoXc2i+HS6EI="] {
            assert!(verify_request("12345", &with(header), signature));
            assert!(verify_request("12345", &with(Some(" algorithm = hmac_sha256 ")), signature), "spacing and case");
            assert!(!verify_request("12345", &with(None), signature), "no header: HMAC-SHA1 only");
            assert!(!verify_request("12345", &with(Some("key=x,algorithm=HMAC_SHA512")), signature), "an unknown algorithm");
            assert!(!verify_request("12346", &with(header), signature), "another key");
        }
        // An HMAC-SHA1 is what the helpers that ignore the header check.
        let sha1 = sign("12345", url, &form);
        assert!(verify_request("12345", &with(header), &sha1));
        assert!(verify_request("12345", &with(Some("key=x,algorithm=HMAC_SHA512")), &sha1));
        assert_eq!(sign_with(Algorithm::Sha256, "12345", url, &form), "lbhUFkza/6j2UtVttE9o/3XxUqcbmfwGmTsShvII7iE=");
        assert_eq!(Algorithm::from_settings(Some("key=a,algorithm=")), Some(Algorithm::Sha1));
        assert_eq!(Algorithm::from_settings(Some("Algorithm=HMAC_SHA256")), Some(Algorithm::Sha1), "the part's name is exact, as twilio-node reads it");
    }

    #[test]
    fn a_json_body_verifies_by_its_body_sha256_and_a_url_only_signature() {
        let body = br#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#;
        let url = "https://example.com/hook?bodySHA256=ce8c3c8da52a17f7dd3e526b3b67d41402b438513f6b2faf55189573f2873f02";
        // twilio-python: compute_signature(url, {}), validate(url, body, signature).
        let signature = "h26BEK24AGp+IE5lw0LH04g0O8A=";
        let junk = params(&[(r#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#, "")]);
        assert!(verify_request("12345", &Signed { url, params: &junk, body, settings: None }, signature));
        let tampered = br#"{"MessageSid":"SM1","MessageStatus":"read"}"#;
        assert!(!verify_request("12345", &Signed { url, params: &junk, body: tampered, settings: None }, signature), "the body is hashed");
        assert!(!verify_request("12345", &signed(url, &junk), signature), "an empty body does not hash to it");
        assert!(!verify_request("12346", &Signed { url, params: &junk, body, settings: None }, signature));
    }
}
