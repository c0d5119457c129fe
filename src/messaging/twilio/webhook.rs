//! Twilio's webhook parameters read into the shared types. Verifying the signature comes
//! first ([`super::signature::verify`]); these only read.
//!
//! Control characters never get past here (issue 18 item 10): a NUL cannot be stored in a
//! PostgreSQL text column, and the others are nothing a person typed. A message's text
//! (`Body`, `ButtonText`, `ButtonPayload`) keeps tab, CR and LF; every other field loses
//! them all.

use crate::messaging::twilio::{parse_address, status_from_twilio};
use crate::messaging::{InboundMedia, InboundMessage, StatusReport};

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// A field's value without any control character.
fn field(params: &[(String, String)], name: &str) -> Option<String> {
    param(params, name).map(|v| v.chars().filter(|c| !c.is_control()).collect::<String>()).filter(|v| !v.is_empty())
}

/// A message text's value: control characters dropped except tab, CR and LF.
fn text(params: &[(String, String)], name: &str) -> Option<String> {
    param(params, name).map(|v| v.chars().filter(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n')).collect())
}

/// Why a webhook's parameters cannot be read (the 400's text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A required parameter is absent or empty.
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("unknown MessageStatus {0:?}")]
    UnknownStatus(String),
}

/// A status callback (`MessageSid`, `MessageStatus`, `ErrorCode`); `Err` says what is missing.
pub fn status_report(params: &[(String, String)]) -> Result<StatusReport, Malformed> {
    let provider_id = param(params, "MessageSid").or_else(|| param(params, "SmsSid")).ok_or(Malformed::Missing("MessageSid"))?;
    let word = param(params, "MessageStatus").or_else(|| param(params, "SmsStatus")).ok_or(Malformed::Missing("MessageStatus"))?;
    let status = status_from_twilio(word).ok_or_else(|| Malformed::UnknownStatus(word.to_string()))?;
    let error_code = param(params, "ErrorCode").and_then(|c| c.parse::<i32>().ok());
    let error_message = param(params, "ErrorMessage").map(str::to_string);
    Ok(StatusReport { provider_id: provider_id.to_string(), status, error_code, error_message })
}

/// An inbound message (`MessageSid`, `From`, `To`, `Body`, `ButtonPayload`, `ButtonText`,
/// `OriginalRepliedMessageSid`, `NumMedia` with `MediaUrl{n}` and `MediaContentType{n}`).
pub fn inbound_message(params: &[(String, String)]) -> Result<InboundMessage, Malformed> {
    let provider_id = field(params, "MessageSid").or_else(|| field(params, "SmsMessageSid")).ok_or(Malformed::Missing("MessageSid"))?;
    let (channel, from) = parse_address(&field(params, "From").ok_or(Malformed::Missing("From"))?);
    let (_, to) = parse_address(&field(params, "To").ok_or(Malformed::Missing("To"))?);
    let media_count = param(params, "NumMedia").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(10);
    let media = (0..media_count)
        .filter_map(|i| {
            let url = field(params, &format!("MediaUrl{i}"))?;
            Some(InboundMedia { url, declared_type: field(params, &format!("MediaContentType{i}")).filter(|t| !t.is_empty()) })
        })
        .collect();
    Ok(InboundMessage {
        provider_id,
        channel,
        from,
        to,
        body: text(params, "Body").unwrap_or_default(),
        button_payload: text(params, "ButtonPayload").filter(|v| !v.is_empty()),
        button_text: text(params, "ButtonText").filter(|v| !v.is_empty()),
        replied_to: field(params, "OriginalRepliedMessageSid"),
        media,
        profile_name: field(params, "ProfileName"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::{Channel, MessageStatus};

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn status_callbacks_are_read_with_their_error_code() {
        let r = status_report(&form(&[("MessageSid", "SM1"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")])).unwrap();
        assert_eq!((r.provider_id.as_str(), r.status, r.error_code), ("SM1", MessageStatus::Undelivered, Some(30003)));
        assert!(status_report(&form(&[("MessageStatus", "sent")])).is_err());
        assert!(status_report(&form(&[("MessageSid", "SM1"), ("MessageStatus", "exploded")])).is_err());
    }

    #[test]
    fn inbound_whatsapp_button_replies_keep_their_payload() {
        let m = inbound_message(&form(&[
            ("MessageSid", "SM2"),
            ("From", "whatsapp:+14155550123"),
            ("To", "whatsapp:+14155550100"),
            ("Body", "Yes"),
            ("ButtonPayload", "yes-1"),
            ("ButtonText", "Yes"),
            ("OriginalRepliedMessageSid", "SM1"),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/media/1"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/media/2"),
        ]))
        .unwrap();
        assert_eq!(m.channel, Channel::WhatsApp);
        assert_eq!((m.from.as_str(), m.to.as_str()), ("+14155550123", "+14155550100"));
        assert_eq!(m.button_payload.as_deref(), Some("yes-1"));
        assert_eq!((m.button_text.as_deref(), m.replied_to.as_deref()), (Some("Yes"), Some("SM1")));
        let media = |url: &str, declared: Option<&str>| InboundMedia { url: url.into(), declared_type: declared.map(str::to_string) };
        assert_eq!(m.media, vec![media("https://api.twilio.com/media/1", Some("image/jpeg")), media("https://api.twilio.com/media/2", None)]);
        let sms = inbound_message(&form(&[("MessageSid", "SM3"), ("From", "+14155550123"), ("To", "+14155550100"), ("Body", "STOP")])).unwrap();
        assert_eq!(sms.channel, Channel::Sms);
    }

    #[test]
    fn control_characters_are_dropped_but_a_texts_tab_and_newlines_kept() {
        let m = inbound_message(&form(&[
            ("MessageSid", "SM\u{0}4"),
            ("From", "+1415555\u{7}0123"),
            ("To", "+14155550100"),
            ("Body", "a\0b\tc\r\nd\u{1b}\u{7f}\u{9f}"),
            ("ButtonPayload", "\0"),
            ("ButtonText", "Y\u{0}es\n"),
            ("ProfileName", "Ada\0"),
        ]))
        .unwrap();
        assert_eq!((m.provider_id.as_str(), m.from.as_str(), m.body.as_str()), ("SM4", "+14155550123", "ab\tc\r\nd"));
        assert_eq!((m.button_payload, m.button_text.as_deref(), m.profile_name.as_deref()), (None, Some("Yes\n"), Some("Ada")));
    }
}
