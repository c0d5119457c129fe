//! Twilio's webhook parameters read into the shared types. Verifying the signature comes
//! first ([`super::signature::verify`]); these only read.

use crate::messaging::twilio::{parse_address, status_from_twilio};
use crate::messaging::{InboundMessage, StatusReport};

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// A status callback (`MessageSid`, `MessageStatus`, `ErrorCode`); `Err` says what is missing.
pub fn status_report(params: &[(String, String)]) -> Result<StatusReport, String> {
    let provider_id = param(params, "MessageSid").or_else(|| param(params, "SmsSid")).ok_or("MessageSid is missing")?;
    let word = param(params, "MessageStatus").or_else(|| param(params, "SmsStatus")).ok_or("MessageStatus is missing")?;
    let status = status_from_twilio(word).ok_or_else(|| format!("unknown MessageStatus {word:?}"))?;
    let error_code = param(params, "ErrorCode").and_then(|c| c.parse::<i32>().ok());
    let error_message = param(params, "ErrorMessage").map(str::to_string);
    Ok(StatusReport { provider_id: provider_id.to_string(), status, error_code, error_message })
}

/// An inbound message (`MessageSid`, `From`, `To`, `Body`, `ButtonPayload`, `ButtonText`,
/// `OriginalRepliedMessageSid`, `MediaUrl{n}`).
pub fn inbound_message(params: &[(String, String)]) -> Result<InboundMessage, String> {
    let provider_id = param(params, "MessageSid").or_else(|| param(params, "SmsMessageSid")).ok_or("MessageSid is missing")?;
    let (channel, from) = parse_address(param(params, "From").ok_or("From is missing")?);
    let (_, to) = parse_address(param(params, "To").ok_or("To is missing")?);
    let media_count = param(params, "NumMedia").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(10);
    let media = (0..media_count).filter_map(|i| param(params, &format!("MediaUrl{i}")).map(str::to_string)).collect();
    Ok(InboundMessage {
        provider_id: provider_id.to_string(),
        channel,
        from,
        to,
        body: param(params, "Body").unwrap_or_default().to_string(),
        button_payload: param(params, "ButtonPayload").map(str::to_string),
        button_text: param(params, "ButtonText").map(str::to_string),
        replied_to: param(params, "OriginalRepliedMessageSid").map(str::to_string),
        media,
        profile_name: param(params, "ProfileName").map(str::to_string),
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
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/media/1"),
        ]))
        .unwrap();
        assert_eq!(m.channel, Channel::WhatsApp);
        assert_eq!((m.from.as_str(), m.to.as_str()), ("+14155550123", "+14155550100"));
        assert_eq!(m.button_payload.as_deref(), Some("yes-1"));
        assert_eq!((m.button_text.as_deref(), m.replied_to.as_deref()), (Some("Yes"), Some("SM1")));
        assert_eq!(m.media, vec!["https://api.twilio.com/media/1".to_string()]);
        let sms = inbound_message(&form(&[("MessageSid", "SM3"), ("From", "+14155550123"), ("To", "+14155550100"), ("Body", "STOP")])).unwrap();
        assert_eq!(sms.channel, Channel::Sms);
    }
}
