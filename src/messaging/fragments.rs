//! The htmx fragments of the message forms, from templates like every other page (issue 21
//! part 3): the SMS segment counter, one for every SMS box (the client page, the chat, a
//! campaign's SMS batch), and a WhatsApp template's live preview.

use askama::Template;

use crate::messaging::compose::SMS_MAX_CHARS;
use crate::messaging::segments;

/// `messaging/sms_segments.html`: "2 segments · GSM-7, 153 characters each".
#[derive(Template)]
#[template(path = "messaging/sms_segments.html", escape = "named-html")]
pub struct SmsSegments {
    pub counted: String,
}

impl SmsSegments {
    /// The count of the body typed so far; past the SMS limit it also says it is too long.
    pub fn of(body: &str) -> Self {
        let counted = segments::count(body).describe();
        let counted = if body.chars().count() > SMS_MAX_CHARS { format!("{counted} · too long: at most {SMS_MAX_CHARS} characters") } else { counted };
        SmsSegments { counted }
    }
}

/// `messaging/preview.html`: the filled-in template in the paragraph `id`, after `who` (whom
/// it is shown as; nothing when empty).
#[derive(Template)]
#[template(path = "messaging/preview.html", escape = "named-html")]
pub struct Preview<'a> {
    pub id: &'a str,
    pub who: &'a str,
    pub text: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SMS box renders the very counter its endpoint answers.
    #[derive(Template)]
    #[template(source = r#"{% import "macros.html" as m %}{% call m::sms_box("b", "/u", true, body, counted, 3, 1600, "") %}{% endcall %}"#, ext = "html")]
    struct Box<'a> {
        body: &'a str,
        counted: String,
    }

    #[test]
    fn the_sms_box_shows_the_same_counter_as_its_endpoint() {
        let counter = SmsSegments::of("Hi").render().unwrap();
        assert_eq!(counter, r#"<span class="muted segment-count" id="sms-segments" aria-live="polite">1 segment · GSM-7, 160 characters each</span>"#);
        let page = Box { body: "Hi", counted: SmsSegments::of("Hi").counted }.render().unwrap();
        assert!(page.ends_with(&format!("</textarea>\n{counter}\n")), "{page}");
    }

    #[test]
    fn a_body_past_the_limit_says_it_is_too_long() {
        assert!(SmsSegments::of(&"a".repeat(SMS_MAX_CHARS + 1)).counted.ends_with(" · too long: at most 1600 characters"));
    }

    #[test]
    fn the_preview_escapes_what_it_shows() {
        let html = Preview { id: "batch-preview", who: "As <b>Ann</b> will see it:", text: "Hi & <i>" }.render().unwrap();
        assert_eq!(html, r#"<p class="message-preview" id="batch-preview" hx-disable><span class="muted">As &lt;b&gt;Ann&lt;/b&gt; will see it:</span> Hi &amp; &lt;i&gt;</p>"#);
    }
}
