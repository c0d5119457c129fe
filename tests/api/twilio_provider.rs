//! The Twilio provider against the fake Twilio: what each answer becomes (issue 11 part 1).

use std::time::Duration;

use secrecy::SecretString;
use switchboard::messaging::twilio::Twilio;
use switchboard::messaging::{Channel, CheckError, Content, MessageStatus, OutboundMessage, Provider, ProviderError, Sender};
use url::Url;

use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Fault};

fn client(fake: &FakeTwilio, token: &str) -> Twilio {
    let base = Url::parse(&fake.base()).unwrap();
    Twilio::with_timeout(&base, &base, ACCOUNT_SID, SecretString::from(token.to_string()), Duration::from_secs(2))
}

fn text_to(to: &str) -> OutboundMessage {
    OutboundMessage {
        channel: Channel::Sms,
        from: Sender::Number("+14155550100".into()),
        to: to.into(),
        content: Content::Text("Your order shipped".into()),
        status_url: "https://crm.example.com/webhooks/twilio/k/status".into(),
    }
}

#[tokio::test]
async fn sends_become_accepted_messages_with_twilios_fields() {
    let fake = FakeTwilio::start();
    tokio::task::spawn_blocking(move || {
        let twilio = client(&fake, AUTH_TOKEN);
        let accepted = twilio.send(&text_to("+14155550123")).unwrap();
        assert!(accepted.provider_id.starts_with("SM"));
        assert_eq!(accepted.status, MessageStatus::Accepted);
        let template = OutboundMessage {
            channel: Channel::WhatsApp,
            from: Sender::Number("+14155550100".into()),
            to: "+14155550123".into(),
            content: Content::Template { provider_id: "HX1".into(), variables: vec![("1".into(), "Amara".into())] },
            status_url: "https://crm.example.com/s".into(),
        };
        twilio.send(&template).unwrap();
        let pooled = OutboundMessage { from: Sender::Pool("MG0123456789abcdef0123456789abcdef".into()), ..text_to("+14155550124") };
        twilio.send(&pooled).unwrap();
        let sent = fake.messages();
        assert_eq!(sent[0].to, "+14155550123");
        assert_eq!(sent[0].from, "+14155550100");
        assert_eq!(sent[0].body.as_deref(), Some("Your order shipped"));
        assert_eq!(sent[0].status_callback.as_deref(), Some("https://crm.example.com/webhooks/twilio/k/status"));
        assert_eq!((sent[1].to.as_str(), sent[1].from.as_str()), ("whatsapp:+14155550123", "whatsapp:+14155550100"));
        assert_eq!(sent[1].content_sid.as_deref(), Some("HX1"));
        assert_eq!(sent[1].content_variables.as_deref(), Some(r#"{"1":"Amara"}"#));
        assert_eq!(sent[2].messaging_service_sid.as_deref(), Some("MG0123456789abcdef0123456789abcdef"));
        assert_eq!(sent[2].from, "");
        // Fetch and the reconciliation lookup find what was sent.
        let fetched = twilio.fetch(&accepted.provider_id).unwrap();
        assert_eq!((fetched.to.as_str(), fetched.body.as_str()), ("+14155550123", "Your order shipped"));
        let since = chrono::Utc::now() - chrono::Duration::minutes(1);
        let found = twilio.find_sent(Channel::Sms, &Sender::Number("+14155550100".into()), "+14155550123", since).unwrap();
        assert_eq!(found.iter().map(|m| m.provider_id.clone()).collect::<Vec<_>>(), vec![accepted.provider_id.clone()]);
        let later = chrono::Utc::now() + chrono::Duration::minutes(1);
        assert!(twilio.find_sent(Channel::Sms, &Sender::Number("+14155550100".into()), "+14155550123", later).unwrap().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn each_failure_says_whether_a_retry_is_safe() {
    let fake = FakeTwilio::start();
    tokio::task::spawn_blocking(move || {
        let twilio = client(&fake, AUTH_TOKEN);
        fake.push_fault(Fault::TooManyRequests { retry_after: 7 });
        match twilio.send(&text_to("+14155550123")) {
            Err(ProviderError::Retry { after, .. }) => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("429: {other:?}"),
        }
        fake.push_fault(Fault::ServerError);
        assert!(matches!(twilio.send(&text_to("+14155550123")), Err(ProviderError::Retry { after: None, .. })));
        match twilio.send(&text_to("12345")) {
            Err(ProviderError::Permanent { code, reason }) => {
                assert_eq!(code, Some(21211));
                assert!(reason.contains("not a valid phone number"), "{reason}");
            }
            other => panic!("invalid number: {other:?}"),
        }
        fake.unsubscribe("+14155550199");
        assert!(matches!(twilio.send(&text_to("+14155550199")), Err(ProviderError::Permanent { code: Some(21610), .. })));
        assert_eq!(fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was accepted so far");
        // Accepted, but the answer never came: the outcome is unknown, not retryable.
        fake.push_fault(Fault::AcceptAndLoseAnswer);
        assert!(matches!(twilio.send(&text_to("+14155550123")), Err(ProviderError::Unknown(_))));
        fake.push_fault(Fault::Slow(Duration::from_secs(4)));
        assert!(matches!(twilio.send(&text_to("+14155550123")), Err(ProviderError::Unknown(_))), "a timeout after sending");
        assert_eq!(fake.accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Nobody listening: nothing was sent, so a retry is safe.
        fake.stop();
        std::thread::sleep(Duration::from_millis(100));
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            drop(listener);
            port
        };
        let base = Url::parse(&format!("http://127.0.0.1:{closed}")).unwrap();
        let nowhere = Twilio::with_timeout(&base, &base, ACCOUNT_SID, SecretString::from(AUTH_TOKEN.to_string()), Duration::from_secs(2));
        assert!(matches!(nowhere.send(&text_to("+14155550123")), Err(ProviderError::Retry { .. })));
        assert!(matches!(nowhere.check(), Err(CheckError::Unreachable(_))));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_connection_check_tells_a_bad_token_from_an_unknown_account() {
    let fake = FakeTwilio::start();
    tokio::task::spawn_blocking(move || {
        let info = client(&fake, AUTH_TOKEN).check().unwrap();
        assert_eq!((info.name.as_str(), info.status.as_str()), ("Acme Messaging", "active"));
        assert_eq!(client(&fake, "not-the-token").check(), Err(CheckError::BadToken));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn templates_are_read_from_every_page() {
    let fake = FakeTwilio::start();
    for i in 0..1_203 {
        let status = ["approved", "pending", "rejected"][i % 3];
        fake.add_template(FakeTwilio::template(&format!("HX{i:032}"), &format!("tpl_{i}"), "Hi {{1}}, your order {{2}} is ready", status, &["Yes", "No"]));
    }
    tokio::task::spawn_blocking(move || {
        let templates = client(&fake, AUTH_TOKEN).list_templates().unwrap();
        assert_eq!(templates.len(), 1_203, "three pages of 500");
        assert_eq!(fake.requests("GET /v1/ContentAndApprovals"), 3);
        let last = templates.last().unwrap();
        assert_eq!(last.name, "tpl_1202");
        assert_eq!(last.buttons.len(), 2);
        assert_eq!(last.variables.len(), 2);
        assert_eq!(templates.iter().filter(|t| t.approval_status == "rejected").count(), 401);
        assert_eq!(templates[2].rejection_reason, "Promotional content");
    })
    .await
    .unwrap();
}
