//! One-time forms (issue 18.2): a form that sends or creates, submitted five times at once
//! (a double click, a retry, several tabs), has one effect, and every repeat answers with
//! the first result. The forms carry their `form_token` as a page shows it.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::messaging_send::{setup_double, sql};
use crate::support::{Browser, location};

/// The `form_token` of the (post) form to `action` on the page at `path`.
pub async fn form_token(browser: &Browser, path: &str, action: &str) -> String {
    let html = browser.get_html(path).await;
    let needle = format!("action=\"{action}\"");
    let field = "name=\"form_token\" value=\"";
    for (at, _) in html.match_indices(&needle) {
        let form = &html[at..at + html[at..].find("</form>").unwrap()];
        // The navigation's search form (a GET) may come first.
        let Some(start) = form.find(field) else { continue };
        let value = &form[start + field.len()..];
        return value[..value.find('"').unwrap()].to_string();
    }
    panic!("no form to {action} on {path} carries a form_token")
}

#[tokio::test]
async fn five_concurrent_sms_batch_submissions_make_one_batch_and_each_answer_is_the_first() {
    let s = setup_double(true).await;
    let w = s.workspace_id;
    sql(&s.app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({w}, 'Spring', ARRAY['sms'], 'draft')"));
    let c = s.app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {w}"));
    sql(&s.app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({w}, {c}, {})", s.client_id));
    let action = format!("/campaigns/{c}/sms-messages");
    let token = form_token(&s.browser, &action, &action).await;
    let fields = [("form_token", token.as_str()), ("body", "Hi {{name}}"), ("send_at", "2031-03-04 09:30")];
    let answers = join_all((0..5).map(|_| s.browser.post(&action, &fields))).await;
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 1, "one batch");
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_recipients"), 1);
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.batch_created'"), 1);
    let b = s.app.count("SELECT max(id) FROM campaign_batches");
    for answer in &answers {
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(answer), format!("{action}/{b}/recipients"), "every repeat goes where the first did");
    }
    // The same page's token with another message is another batch.
    let r = s.browser.post(&action, &[("form_token", token.as_str()), ("body", "Hello {{name}}"), ("send_at", "2031-03-04 09:30")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 2);
}

#[tokio::test]
async fn five_concurrent_sends_from_the_client_page_queue_one_message() {
    let s = setup_double(true).await;
    let page = format!("/clients/{}", s.client_id);
    let action = format!("/clients/{}/messages", s.client_id);
    let token = form_token(&s.browser, &page, &action).await;
    let fields = [("form_token", token.as_str()), ("channel", "sms"), ("body", "Your order shipped")];
    let answers = join_all((0..5).map(|_| s.browser.htmx_post(&action, &fields))).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.text().await.unwrap().contains("Message queued."), "each answer is the first's");
    }
    assert_eq!(s.app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 1, "one message queued");
    assert_eq!(s.app.count("SELECT count(*) FROM jobs WHERE kind = 'send-message'"), 1);
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'messages.queued'"), 1);
    // A second message typed into the same form is sent; so is anything from a script
    // that sends no token.
    s.browser.htmx_post(&action, &[("form_token", token.as_str()), ("channel", "sms"), ("body", "And a second one")]).await;
    s.browser.htmx_post(&action, &[("channel", "sms"), ("body", "Your order shipped")]).await;
    assert_eq!(s.app.count("SELECT count(*) FROM messages WHERE direction = 'outbound'"), 3);
}

#[tokio::test]
async fn creating_forms_carry_a_fresh_token_and_a_repeated_create_lands_on_the_first() {
    let s = setup_double(true).await;
    crate::messaging_send::add_template(&s.app, s.workspace_id, "HX0123", "order_update", "Hi {{1}}.", "approved");
    let chat_page = {
        sql(&s.app, &format!("INSERT INTO chats (workspace_id, client_id, channel) VALUES ({}, {}, 'sms')", s.workspace_id, s.client_id));
        format!("/chat/{}", s.app.count("SELECT max(id) FROM chats"))
    };
    let client_page = format!("/clients/{}", s.client_id);
    let pages = [
        ("/clients/new", "/clients".to_string()),
        ("/campaigns/new", "/campaigns".to_string()),
        ("/whatsapp-flows", "/whatsapp-flows".to_string()),
        (client_page.as_str(), format!("/clients/{}/communications", s.client_id)),
        (client_page.as_str(), format!("/clients/{}/follow-ups", s.client_id)),
        (chat_page.as_str(), format!("{chat_page}/messages")),
    ];
    for (page, action) in &pages {
        let first = form_token(&s.browser, page, action).await;
        let again = form_token(&s.browser, page, action).await;
        assert_ne!(first, again, "each page shown has its own token ({page})");
    }
    let token = form_token(&s.browser, "/clients/new", "/clients").await;
    let fields = [("form_token", token.as_str()), ("name", "Bola Ade"), ("email", "bola@example.com"), ("status", "warm")];
    let answers = join_all((0..5).map(|_| s.browser.post("/clients", &fields))).await;
    let id = s.app.count("SELECT max(id) FROM clients WHERE name = 'Bola Ade'");
    assert_eq!(s.app.count("SELECT count(*) FROM clients WHERE name = 'Bola Ade'"), 1);
    for answer in &answers {
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(answer), format!("/clients/{id}"), "not 'another client has this email'");
    }
    let action = format!("/clients/{}/communications", s.client_id);
    let token = form_token(&s.browser, &client_page, &action).await;
    let fields = [("form_token", token.as_str()), ("kind", "call"), ("notes", "Called about the order")];
    join_all((0..5).map(|_| s.browser.post(&action, &fields))).await;
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM communications WHERE client_id = {} AND kind = 'call'", s.client_id)), 1);
}
