//! The provider seam (issue 21 part 5): every place the app calls its messaging provider —
//! the connection check (a request, through `AppState`), the template sync and the
//! reconciliation (jobs, through `JobEnv`), the sends — asks the `Providers` the app was
//! built with, for the workspace's account. Shown with the in-process double, whose
//! failures reach the app as the trait's errors.

use switchboard::messaging::{AccountInfo, CheckError, ProviderTemplate};

use crate::messaging_send::{reconcile_now, send_sms, setup_double, text, wait_for};
use crate::support::assert_redirects_to;
use crate::support::fake_twilio::ACCOUNT_SID;
use crate::support::provider_double::Failure;

#[tokio::test]
async fn the_connection_check_and_the_template_sync_ask_the_provider_the_app_was_built_with() {
    let s = setup_double(true).await;
    s.fake.answer_check(Ok(AccountInfo { name: "Double Messaging".into(), status: "testing".into() }));
    assert_redirects_to(&s.browser.post("/settings/twilio/check", &[]).await, "/settings/twilio");
    let page = s.browser.get_html("/settings/twilio").await;
    assert!(page.contains("Connected to Double Messaging (testing)."), "{page}");
    s.fake.answer_check(Err(CheckError::BadToken));
    assert_redirects_to(&s.browser.post("/settings/twilio/check", &[]).await, "/settings/twilio");
    let page = s.browser.get_html("/settings/twilio").await;
    assert!(page.contains("Not connected. The auth token is wrong for this Account SID."), "{page}");

    s.fake.add_template(ProviderTemplate {
        provider_id: "HXdouble".into(),
        name: "double_hello".into(),
        language: "en".into(),
        body: "Hello {{1}}".into(),
        variables: vec![("1".into(), "sample".into())],
        media: Vec::new(),
        buttons: vec![("yes".into(), "Yes".into())],
        approval_status: "approved".into(),
        category: "UTILITY".into(),
        rejection_reason: String::new(),
    });
    assert_redirects_to(&s.browser.post("/whatsapp-templates/sync", &[]).await, "/whatsapp-templates");
    wait_for(&s.app, "EXISTS (SELECT 1 FROM whatsapp_templates WHERE provider_id = 'HXdouble' AND name = 'double_hello' AND approval_status = 'approved' AND body = 'Hello {{1}}')").await;
    // Each call was made for the workspace's own account.
    let accounts = s.fake.accounts();
    assert!(accounts.len() >= 3 && accounts.iter().all(|a| a == ACCOUNT_SID), "{accounts:?}");
}

#[tokio::test]
async fn the_doubles_failures_reach_the_send_job_as_the_traits_errors() {
    let s = setup_double(true).await;
    // Retry: nothing taken, the job tries again and the message goes once.
    s.fake.push_failure(Failure::Retry);
    let retried = send_sms(&s, "Hello after a refusal for now").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE id = {retried} AND status = 'accepted')")).await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done' AND attempts = 2 AND payload->>'message_id' = '{retried}')")).await;
    assert_eq!((s.fake.send_calls(), s.fake.messages().len()), (2, 1));

    // Unknown, but taken: left sending, then reconciliation adopts the provider's record.
    s.fake.push_failure(Failure::Unknown { taken: true });
    let lost = send_sms(&s, "Hello, lost answer").await;
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM jobs WHERE kind = 'send-message' AND status = 'done' AND payload->>'message_id' = '{lost}')")).await;
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || coalesce(provider_id, '-') FROM messages WHERE id = {lost}")), "sending -");
    reconcile_now(&s).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 2, "never sent twice");
    assert_eq!(text(&s.app, &format!("SELECT status || ' ' || provider_id FROM messages WHERE id = {lost}")), format!("accepted {}", sent[1].provider_id));
    assert!(s.fake.lookups() >= 1, "the provider was asked");
}
