//! A short human line for a failed message's provider error code (issue 19 item 11): people
//! read "A landline, or a carrier that cannot receive text messages (error 30006)", not a bare
//! 30006, and Twilio often sends a code with no text at all.
//!
//! Source: Twilio's error dictionary, one page per code,
//! `https://www.twilio.com/docs/api/errors/NNNNN` (SMS 21xxx and 30xxx; WhatsApp 63xxx,
//! which Twilio maps from Meta's codes on
//! `https://www.twilio.com/docs/whatsapp/api/error-code-mapping`). The lines are ours,
//! written for the people who read a client's timeline, not copied from those pages.

/// Twilio error code → what it means for the person sending.
pub const TWILIO_ERRORS: [(i32, &str); 22] = [
    (21211, "Not a valid phone number"),
    (21408, "The Twilio account may not send SMS to this country (its geographic permissions)"),
    (21608, "A Twilio trial account can only send to numbers verified on it"),
    (21610, "The client replied STOP to this sender: Twilio will not send to them until they reply START"),
    (21612, "Twilio cannot route a message from this sender to this number"),
    (21614, "Not a mobile number: it cannot receive text messages"),
    (21617, "The message is too long (over 1,600 characters)"),
    (30003, "Unreachable: the phone is off, out of coverage or cannot take messages now"),
    (30004, "Blocked: the client or their carrier blocks messages from this sender"),
    (30005, "Unknown number: the carrier says it does not exist or is out of service"),
    (30006, "A landline, or a carrier that cannot receive text messages"),
    (30007, "Filtered by the carrier as spam or against its rules"),
    (30008, "Not delivered, for a reason the carrier did not give"),
    (30032, "The toll-free sender is not verified: US and Canadian carriers block it"),
    (30034, "The sender is not registered for US A2P 10DLC: carriers block it"),
    (63003, "This number is not on WhatsApp (or is not a valid WhatsApp address)"),
    (63016, "Outside WhatsApp's 24-hour window: only an approved template can be sent"),
    (63018, "WhatsApp's rate limit was reached: too many messages too quickly"),
    (63024, "WhatsApp says this number cannot receive messages"),
    (63032, "WhatsApp held it back: this client is part of a Meta experiment on marketing messages"),
    (63049, "Meta chose not to deliver this marketing message (the client's marketing limit)"),
    (63013, "WhatsApp refused it under its business policy"),
];

/// The human line for `code`, if the table has it.
pub fn describe(code: i32) -> Option<&'static str> {
    TWILIO_ERRORS.iter().find(|(c, _)| *c == code).map(|(_, line)| *line)
}

/// What a failed message shows: the table's line for a known code, else the provider's
/// text, else "Not delivered", followed by "(error NNNNN)" when there is a code. `None`
/// when there is neither code nor text.
pub fn failure_line(code: Option<i32>, message: Option<&str>) -> Option<String> {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    match (code, message) {
        (None, None) => None,
        (None, Some(text)) => Some(text.to_string()),
        (Some(code), text) => {
            let line = describe(code).or(text).unwrap_or("Not delivered");
            Some(format!("{} (error {code})", line.trim_end_matches('.')))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_read_as_their_line_and_others_keep_the_providers_text() {
        assert_eq!(failure_line(Some(30006), None).unwrap(), "A landline, or a carrier that cannot receive text messages (error 30006)");
        assert_eq!(failure_line(Some(30006), Some("Landline or unreachable carrier")).unwrap(), "A landline, or a carrier that cannot receive text messages (error 30006)");
        assert_eq!(failure_line(Some(12345), Some("Something odd.")).unwrap(), "Something odd (error 12345)");
        assert_eq!(failure_line(Some(12345), None).unwrap(), "Not delivered (error 12345)");
        assert_eq!(failure_line(None, Some("Cancelled: the campaign was completed.")).unwrap(), "Cancelled: the campaign was completed.");
        assert_eq!(failure_line(None, Some(" ")), None);
        for code in [21211, 21408, 21608, 21610, 21614, 30003, 30004, 30005, 30006, 30007, 30008, 30032, 63003, 63016, 63018, 63024, 63032, 63049] {
            assert!(describe(code).is_some(), "{code}");
        }
    }
}
