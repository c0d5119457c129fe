use switchboard::authz::Role;

use crate::browser::Chrome;
use crate::support::smtp::SmtpSink;
use crate::support::{PASSWORD, spawn_app_with};

#[tokio::test]
async fn invite_a_user_by_email_who_joins_and_later_resets_the_password() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(|s| s.smtp_url = Some(url.parse().unwrap())).await;
    app.create_user_named("Acme", "ann@acme.test", "Ann Admin", Role::Admin);
    let chrome = Chrome::start().await;
    chrome.sign_in(&app.base, "ann@acme.test", PASSWORD).await;

    // The admin invites someone without choosing a password for them.
    chrome.goto(&format!("{}/settings/users", app.base)).await;
    chrome.fill("#invite-email", "cy@acme.test").await;
    chrome.fill("#invite-name", "Cy").await;
    chrome.click("#invite button[type=submit]").await;
    chrome.wait_for_text("#flash", "An invitation is on its way to cy@acme.test").await;
    let mail = sink.wait_for(1).await;
    let link = mail[0].link("/invitations/").expect("invitation link");
    let path = link.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();

    // Sign out; the invitee opens the link, picks a name and a password, and signs in.
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_heading("Sign in").await;
    chrome.goto(&format!("{}{path}", app.base)).await;
    chrome.wait_for_heading("Join Switchboard").await;
    chrome.fill("#set-name", "Cy Young").await;
    chrome.fill("#set-password", "cy's own password").await;
    chrome.fill("#set-confirm", "cy's own password").await;
    chrome.click("main button[type=submit]").await;
    chrome.wait_for_text("#flash", "Welcome, Cy Young!").await;
    chrome.sign_in(&app.base, "cy@acme.test", "cy's own password").await;
    assert!(chrome.text(".who").await.contains("Cy Young"));
    chrome.click("form[action='/logout'] button").await;
    chrome.wait_for_heading("Sign in").await;

    // Forgotten: the sign-in page leads to a reset link by email.
    chrome.click("a[href='/password/forgot']").await;
    chrome.wait_for_heading("Forgot your password?").await;
    chrome.fill("#forgot-email", "cy@acme.test").await;
    chrome.click("main button[type=submit]").await;
    chrome.wait_for_text("#forgot-sent", "is on its way").await;
    let mail = sink.wait_for(2).await;
    let link = mail[1].link("/password/reset/").expect("reset link");
    let path = link.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    chrome.goto(&format!("{}{path}", app.base)).await;
    chrome.wait_for_heading("Choose a new password").await;
    chrome.fill("#set-password", "a fresh start here").await;
    chrome.fill("#set-confirm", "a fresh start here").await;
    chrome.click("main button[type=submit]").await;
    chrome.wait_for_text("#flash", "Your password is changed").await;
    chrome.sign_in(&app.base, "cy@acme.test", "a fresh start here").await;
    assert_eq!(chrome.csp_violations().await, Vec::<String>::new());
    chrome.finish().await;
}
