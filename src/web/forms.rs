//! Field errors collected while parsing a form, rendered next to each field.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct FormErrors(BTreeMap<&'static str, String>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl std::fmt::Display) {
        self.0.entry(field).or_insert_with(|| message.to_string());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Collects the error of a parse into `field`, returning the value when it parsed.
    pub fn take<T, E: std::fmt::Display>(&mut self, field: &'static str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// Why a text field was refused; `label` is the field as the page names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{label} is required.")]
    Missing { label: String },
    #[error("{label} must be at most {max_chars} characters.")]
    TooLong { label: String, max_chars: usize },
    #[error("{label} must not contain control characters.")]
    ControlCharacters { label: String },
}

/// A trimmed, non-empty, bounded text.
pub fn required_text(value: &str, label: &str, max_chars: usize) -> Result<String, TextError> {
    let value = value.trim();
    let label = || label.to_string();
    if value.is_empty() {
        return Err(TextError::Missing { label: label() });
    }
    if value.chars().count() > max_chars {
        return Err(TextError::TooLong { label: label(), max_chars });
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(TextError::ControlCharacters { label: label() });
    }
    Ok(value.to_string())
}

/// Why an email address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Email is required.")]
    Missing,
    #[error("Enter an email address like name@example.com.")]
    Malformed,
}

/// A plausible email address, lower-cased. Deliverability is the mail server's business.
pub fn email(value: &str) -> Result<String, EmailError> {
    let value = value.trim().to_lowercase();
    let valid = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
        && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"');
    if value.is_empty() {
        Err(EmailError::Missing)
    } else if valid && value.matches('@').count() == 1 {
        Ok(value)
    } else {
        Err(EmailError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@x.io", "a@b", "a@@b.io", "a b@c.io", "a@b..io", "<a@b.io>"] {
            assert!(email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn required_text_is_trimmed_and_bounded() {
        assert_eq!(required_text("  Ann ", "Name", 5).unwrap(), "Ann");
        assert!(required_text("   ", "Name", 5).is_err());
        assert!(required_text("abcdef", "Name", 5).is_err());
        assert!(required_text("a\u{0}b", "Name", 5).is_err());
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (declared or sent).
    TooLarge,
    /// The connection broke off or the body is malformed.
    Broken,
}

pub fn declared_length(headers: &actix_web::http::header::HeaderMap) -> Option<usize> {
    headers.get(actix_web::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// A whole request body of at most `limit` bytes, refused as soon as its declared length
/// or what arrived passes the limit.
pub async fn read_limited(mut payload: actix_web::dev::Payload, declared: Option<usize>, limit: usize) -> Result<actix_web::web::Bytes, BodyError> {
    use futures_util::StreamExt;
    if declared.is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A urlencoded form body, read within the payload limit (413 past it) and parsed with
/// `serde_html_form` so repeated keys fill a `Vec`. Unknown fields are ignored, which is
/// what keeps mass assignment out: a form type lists exactly what a user may set.
///
/// Every form goes through here, so this is the one place that refuses control characters
/// (see [`refuse_controls`]) before any handler, and the database, sees the text.
pub struct HtmlForm<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for HtmlForm<T> {
    type Error = crate::error::AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = read_form(req, payload);
        Box::pin(async move { parse_form(&body.await?).map(HtmlForm) })
    }
}

/// A form that sends or creates: [`HtmlForm`] and the submission's one-time key
/// ([`crate::web::once`]), which the handler claims in the transaction that does the work.
pub struct OnceForm<T>(pub T, pub crate::web::once::Once);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OnceForm<T> {
    type Error = crate::error::AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let body = read_form(req, payload);
        let path = req.path().to_string();
        Box::pin(async move {
            let bytes = body.await?;
            let form = parse_form(&bytes)?;
            Ok(OnceForm(form, crate::web::once::Once::of(&path, &bytes)))
        })
    }
}

/// The body, read here within this route's limit (`web::state::FormLimits`), not through the
/// app-wide payload config.
fn read_form(
    req: &actix_web::HttpRequest,
    payload: &mut actix_web::dev::Payload,
) -> impl std::future::Future<Output = Result<actix_web::web::Bytes, crate::error::AppError>> + 'static {
    let limit = crate::web::state::form_limit(req.app_data(), req.path());
    let body = read_limited(payload.take(), declared_length(req.headers()), limit);
    async move {
        use crate::error::AppError;
        body.await.map_err(|e| match e {
            BodyError::TooLarge => AppError::PayloadTooLarge(format!("The form is larger than the {} KiB limit.", limit / 1024)),
            BodyError::Broken => AppError::BadRequest(UNREADABLE_FORM.into()),
        })
    }
}

fn parse_form<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, crate::error::AppError> {
    refuse_controls(bytes, Newlines::Allowed)?;
    serde_html_form::from_bytes(bytes).map_err(|e| {
        // The deserializer's words ("duplicate field `email`") are for the log only.
        tracing::info!(error = %e, "refused a form that does not parse");
        crate::error::AppError::BadRequest(UNREADABLE_FORM.into())
    })
}

/// A query string, parsed like [`HtmlForm`] (repeated keys, empty values as `None`) and
/// refusing control characters; a query that does not parse gets the normal 400 page.
/// Handlers use this, never `actix_web::web::Query` (clippy.toml disallows it).
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Query<T> {
    type Error = crate::error::AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()))
    }
}

fn parse_query<T: serde::de::DeserializeOwned>(raw: &str) -> Result<Query<T>, crate::error::AppError> {
    refuse_controls(raw.as_bytes(), Newlines::Refused)?;
    serde_html_form::from_str(raw).map(Query).map_err(|e| {
        tracing::info!(error = %e, "refused a query string that does not parse");
        crate::error::AppError::BadRequest(UNREADABLE_QUERY.into())
    })
}

pub const UNREADABLE_FORM: &str = "The form could not be read. Reload the page and try again.";
pub const UNREADABLE_QUERY: &str = "The address has parameters this page does not understand.";

/// Whether line breaks and tabs may appear: yes in form bodies (a textarea sends its lines
/// as CR LF), no in query strings (search boxes and filters are one line).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Newlines {
    Allowed,
    Refused,
}

/// Refuses a urlencoded body or query whose keys or values, once decoded, hold a control
/// character: NUL (PostgreSQL cannot store it in text), the other C0 controls and DEL, and
/// the C1 controls. In forms, tab, line feed and a carriage return before a line feed stay.
/// Fields that must be one line (names, tags, `next`) refuse those too, where they are parsed.
pub fn refuse_controls(urlencoded: &[u8], newlines: Newlines) -> Result<(), crate::error::AppError> {
    let bad = url::form_urlencoded::parse(urlencoded).any(|(k, v)| has_control(&k, newlines) || has_control(&v, newlines));
    if bad {
        tracing::info!("refused control characters in a form or query");
        return Err(crate::error::AppError::BadRequest(
            "The request contains control characters (such as NUL) that text cannot hold. Remove them and try again.".into(),
        ));
    }
    Ok(())
}

fn has_control(text: &str, newlines: Newlines) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let allowed = newlines == Newlines::Allowed
            && match c {
                '\t' | '\n' => true,
                '\r' => chars.peek() == Some(&'\n'),
                _ => false,
            };
        if c.is_control() && !allowed {
            return true;
        }
    }
    false
}

/// The largest page number a paginated list accepts; larger ones show this page. OFFSET
/// stays far from overflow (and from scanning millions of rows for nothing).
pub const MAX_PAGE: i64 = 100_000;

/// A `?page=` number clamped to `1..=MAX_PAGE`.
pub fn page_number(page: Option<i64>) -> i64 {
    page.unwrap_or(1).clamp(1, MAX_PAGE)
}

/// A same-site path to go to after a form (`next`), or `None`. It must be a path, and it is
/// resolved by the URL parser against a stand-in origin, so what is kept is exactly what a
/// browser would follow: a tab or line break (which browsers strip), a backslash or a
/// doubled slash that would leave the site are refused, and the result is the parser's own
/// percent-encoded serialisation, always a valid `Location`.
pub fn local_path(raw: &str) -> Option<String> {
    const STAND_IN: &str = "http://switchboard.invalid/";
    if !raw.starts_with('/') || raw.len() > 500 || raw.chars().any(char::is_control) {
        return None;
    }
    let base = url::Url::parse(STAND_IN).ok()?;
    let resolved = base.join(raw).ok()?;
    if resolved.origin() != base.origin() || resolved.username() != "" || resolved.password().is_some() {
        return None;
    }
    Some(resolved[url::Position::BeforePath..].to_string())
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_text_line_breaks_are_kept_in_forms() {
        for bad in ["q=%00", "q=a%01b", "q=%7F", "q=%C2%85", "n%00ame=x", "notes=line%0Dbreak"] {
            assert!(refuse_controls(bad.as_bytes(), Newlines::Allowed).is_err(), "{bad} in a form");
            assert!(refuse_controls(bad.as_bytes(), Newlines::Refused).is_err(), "{bad} in a query");
        }
        for text_only in ["notes=a%0D%0Ab", "notes=a%0Ab", "notes=a%09b"] {
            assert!(refuse_controls(text_only.as_bytes(), Newlines::Allowed).is_ok(), "{text_only} in a form");
            assert!(refuse_controls(text_only.as_bytes(), Newlines::Refused).is_err(), "{text_only} in a query");
        }
        assert!(refuse_controls("q=%C4%B0nci+%CF%82&x=%25".as_bytes(), Newlines::Refused).is_ok());
    }

    #[test]
    fn queries_that_do_not_parse_say_nothing_of_the_deserializer() {
        #[derive(serde::Deserialize)]
        struct Q {
            #[allow(dead_code)]
            page: Option<i64>,
        }
        for raw in ["page=99999999999999999999999", "page=x", "page=1&page=2"] {
            match parse_query::<Q>(raw) {
                Err(crate::error::AppError::BadRequest(message)) => assert_eq!(message, UNREADABLE_QUERY, "{raw}"),
                _ => panic!("{raw} should be a bad request"),
            }
        }
        assert!(parse_query::<Q>("page=").is_ok(), "an empty value is no value");
    }

    #[test]
    fn page_numbers_are_clamped() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some(-5)), 1);
        assert_eq!(page_number(Some(7)), 7);
        assert_eq!(page_number(Some(i64::MAX)), MAX_PAGE);
    }

    #[test]
    fn next_paths_stay_on_this_site_after_the_parsers_normalisation() {
        let ok = [
            ("/", "/"),
            ("/audit-logs", "/audit-logs"),
            ("/follow-ups?view=overdue", "/follow-ups?view=overdue"),
            ("/clients?q=a b", "/clients?q=a%20b"),
            ("/a/../b", "/b"),
            ("/%09/evil.example/", "/%09/evil.example/"),
        ];
        for (raw, kept) in ok {
            assert_eq!(local_path(raw).as_deref(), Some(kept), "{raw:?}");
        }
        let refused = [
            "", "clients", "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\/evil.example/", "/\t/evil.example/",
            "/\n/evil.example/", "/clients\r\nSet-Cookie: a=b", "/\u{0}", "/x\u{7f}", "http:/evil.example", "/\\\\evil.example",
        ];
        for raw in refused {
            assert_eq!(local_path(raw), None, "{raw:?}");
        }
    }
}
