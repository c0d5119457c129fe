//! Field errors collected while parsing a form, rendered next to each field.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct FormErrors(BTreeMap<&'static str, String>);

impl FormErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Collects the error of a parse into `field`, returning the value when it parsed.
    pub fn take<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
}

/// A trimmed, non-empty, bounded text.
pub fn required_text(value: &str, label: &str, max_chars: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("{label} is required."));
    }
    if value.chars().count() > max_chars {
        return Err(format!("{label} must be at most {max_chars} characters."));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("{label} must not contain control characters."));
    }
    Ok(value.to_string())
}

/// A plausible email address, lower-cased. Deliverability is the mail server's business.
pub fn email(value: &str) -> Result<String, String> {
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
        Err("Email is required.".into())
    } else if valid && value.matches('@').count() == 1 {
        Ok(value)
    } else {
        Err("Enter an email address like name@example.com.".into())
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

/// A urlencoded form body, read within the payload limit (413 past it) and parsed with
/// `serde_html_form` so repeated keys fill a `Vec`. Unknown fields are ignored, which is
/// what keeps mass assignment out: a form type lists exactly what a user may set.
pub struct HtmlForm<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for HtmlForm<T> {
    type Error = crate::error::AppError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            use crate::error::AppError;
            let bytes = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge(format!("The form is larger than the {} KiB limit.", crate::startup::MAX_FORM_BYTES / 1024))
                } else {
                    AppError::BadRequest("The form could not be read.".into())
                }
            })?;
            serde_html_form::from_bytes(&bytes)
                .map(HtmlForm)
                .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}")))
        })
    }
}
