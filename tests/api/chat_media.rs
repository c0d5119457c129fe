//! Inbound attachments (issue 22 part 1) fetched from the fake Twilio the way Twilio serves
//! them (the media URL redirects an authenticated request to the file's store), checked by
//! their content and stored in the database.

use std::time::Duration;

use crate::messaging_send::{CLIENT_PHONE, PUBLIC_URL, Setup, WHATSAPP_FROM, setup_with};
use crate::support::TestApp;
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, post_form, twilio_signature};

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00];

/// Sends a signed inbound WhatsApp message from the client with these media URLs (and
/// declared types) to the app, as Twilio would.
async fn inbound_with_media(s: &Setup, sid: &str, body: &str, media: &[(&str, &str)]) {
    let key = switchboard::messaging::account::webhook_key(&mut s.app.conn(), s.workspace_id).unwrap();
    let path = format!("/webhooks/twilio/{key}/inbound");
    // Signed over the public URL the app is configured with, posted to where it listens.
    let (signed_over, url) = (format!("{}{path}", PUBLIC_URL.trim_end_matches('/')), format!("{}{path}", s.app.base));
    let mut form: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID.to_string()),
        ("MessageSid", sid.to_string()),
        ("From", format!("whatsapp:{CLIENT_PHONE}")),
        ("To", format!("whatsapp:{WHATSAPP_FROM}")),
        ("Body", body.to_string()),
        ("NumMedia", media.len().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (i, (url, declared)) in media.iter().enumerate() {
        form.push((format!("MediaUrl{i}"), url.to_string()));
        form.push((format!("MediaContentType{i}"), declared.to_string()));
    }
    let signature = twilio_signature(AUTH_TOKEN, &signed_over, &form);
    let status = tokio::task::spawn_blocking(move || post_form(&url, &form, Some(&signature))).await.unwrap();
    assert_eq!(status, 200);
}

/// Waits until no attachment is waiting any more.
async fn settled(app: &TestApp) {
    for _ in 0..300 {
        if app.count("SELECT count(*) FROM media WHERE status = 'pending'") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("attachments still pending after 30 s");
}

fn text(app: &TestApp, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query(format!("SELECT ({sql})::text AS t")).get_result::<T>(&mut app.conn()).unwrap().t
}

#[tokio::test]
async fn inbound_media_are_fetched_checked_by_content_and_stored_in_chunks() {
    let s = setup_with(true, |c| {
        c.job_workers = 2;
        c.media_max_bytes = 1024 * 1024;
    })
    .await;
    let photo = s.fake.add_media("ME01", JPEG, "image/jpeg");
    let (pdf_bytes, page_bytes): (&[u8], &[u8]) = (b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj", b"<html><script>alert(1)</script></html>");
    let pdf = s.fake.add_named_media("ME02", pdf_bytes, "application/pdf", "invoice.pdf");
    let page = s.fake.add_media("ME03", page_bytes, "image/png");
    let big = s.fake.add_media("ME04", &vec![0xFFu8; 1024 * 1024 + 1], "image/jpeg");
    let missing = s.fake.media_url("ME05");
    let wrong_type = s.fake.add_media("ME06", JPEG, "application/pdf");
    let media = [(photo.as_str(), "image/jpeg"), (pdf.as_str(), "application/pdf"), (page.as_str(), "image/png"), (big.as_str(), "image/jpeg"), (missing.as_str(), "image/jpeg"), (wrong_type.as_str(), "application/pdf")];
    inbound_with_media(&s, "MMmedia1", "", &media).await;
    settled(&s.app).await;
    let rows = text(&s.app, "SELECT string_agg(concat_ws('|', position, status, content_type, size_bytes), ',' ORDER BY position) FROM media");
    assert_eq!(
        rows,
        format!(
            "0|stored|image/jpeg|{jpeg},1|stored|application/pdf|{pdf},2|stored|text/html|{page},3|failed,4|failed,5|stored|image/jpeg|{jpeg}",
            jpeg = JPEG.len(),
            pdf = pdf_bytes.len(),
            page = page_bytes.len()
        ),
        "a page declared as an image is not stored as one; a file over the limit and a missing one fail"
    );
    assert_eq!(text(&s.app, "SELECT error FROM media WHERE position = 3"), "Larger than the 1 MiB limit.");
    assert!(text(&s.app, "SELECT error FROM media WHERE position = 4").contains("404"), "the failing URL was tried and is named");
    // The photo's bytes are the file's, whole.
    #[derive(diesel::QueryableByName)]
    struct Bytes {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        b: Vec<u8>,
    }
    use diesel::RunQueryDsl;
    let stored: Bytes = diesel::sql_query("SELECT string_agg(c.data, ''::bytea ORDER BY c.seq) AS b FROM media_chunks c JOIN media m ON m.id = c.media_id WHERE m.position = 0")
        .get_result(&mut s.app.conn())
        .unwrap();
    assert_eq!(stored.b, JPEG);
    assert_eq!(s.fake.requests("GET /media-files/ME01"), 1, "fetched once, through Twilio's redirect");

    // Served to who may see the chat: a picture inline, a page as a download of bytes.
    let id = |position: i64| s.app.count(&format!("SELECT id FROM media WHERE position = {position}"));
    let r = s.browser.get(&format!("/media/{}", id(0))).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let header = |r: &reqwest::Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert!(header(&r, "content-disposition").starts_with("inline"), "{}", header(&r, "content-disposition"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "content-security-policy"), "default-src 'none'; sandbox");
    assert_eq!(r.bytes().await.unwrap().as_ref(), JPEG);
    let r = s.browser.get(&format!("/media/{}", id(2))).await;
    assert_eq!(header(&r, "content-type"), "application/octet-stream", "an HTML page declared as an image is never served as a page");
    assert!(header(&r, "content-disposition").starts_with("attachment"), "{}", header(&r, "content-disposition"));
    let r = s.browser.get(&format!("/media/{}", id(1))).await;
    assert_eq!(header(&r, "content-disposition"), r#"attachment; filename="invoice.pdf""#, "a PDF is a download");
    // Not stored (failed), another workspace's reader, and an agent who may not see the chat: 404.
    assert_eq!(s.browser.get(&format!("/media/{}", id(3))).await.status(), reqwest::StatusCode::NOT_FOUND);
    let other = s.app.browser();
    let outsider = s.app.create_user("Other", "admin@other.test", switchboard::authz::Role::Admin);
    assert_eq!(other.login(&outsider.email, crate::support::PASSWORD).await.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(other.get(&format!("/media/{}", id(0))).await.status(), reqwest::StatusCode::NOT_FOUND);
    let (agent, _) = s.app.signed_in(switchboard::authz::Role::Agent).await;
    assert_eq!(agent.get(&format!("/media/{}", id(0))).await.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(s.browser.get("/media/999999").await.status(), reqwest::StatusCode::NOT_FOUND);

    // The conversation shows the photo, the document as a file card and the failures.
    let chat = s.app.count("SELECT id FROM chats");
    let page = s.browser.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains(&format!(r#"<img src="/media/{}" alt="📷 Photo" loading="lazy">"#, id(0))), "{page}");
    assert!(page.contains(&format!(r#"href="/media/{}" download>📄 invoice.pdf"#, id(1))), "the store's file name: {page}");
    assert_eq!(page.matches("the attachment could not be downloaded").count(), 2, "{page}");
    assert!(page.contains(&format!(r#"<a href="{missing}" target="_blank" rel="noopener noreferrer">The provider's link</a>"#)), "admins get the provider's link: {page}");
    // An agent who may see the chat (its client is theirs) gets no provider link.
    let (agent, me) = s.app.signed_in(switchboard::authz::Role::Agent).await;
    diesel::sql_query(format!("UPDATE clients SET assigned_to = {} WHERE id = {}", me.id, s.client_id)).execute(&mut s.app.conn()).unwrap();
    let page = agent.get_html(&format!("/chat/{chat}")).await;
    assert_eq!(page.matches("the attachment could not be downloaded").count(), 2, "{page}");
    assert!(!page.contains("The provider's link"), "{page}");
}

/// A photo that arrives while the conversation is open shows "downloading", and the page's
/// live refresh (woken by the event its storing writes) shows the photo in its place.
#[tokio::test]
async fn an_open_conversation_shows_the_photo_once_it_is_stored() {
    let s = setup_with(true, |c| c.job_workers = 0).await;
    let photo = s.fake.add_media("ME11", JPEG, "image/jpeg");
    inbound_with_media(&s, "MMlive1", "Look at this", &[(photo.as_str(), "image/jpeg")]).await;
    let chat = s.app.count("SELECT id FROM chats");
    let message = s.app.count("SELECT id FROM messages WHERE provider_id = 'MMlive1'");
    let page = s.browser.get_html(&format!("/chat/{chat}")).await;
    assert!(page.contains("📷 Photo <span class=\"muted\">(downloading)</span>"), "{page}");
    let refresher = format!("/chat/{chat}/messages?after={message}&amp;note=0&amp;pending={message}");
    assert!(page.contains(&refresher), "the refresher asks for the downloading message again: {page}");
    assert!(page.contains(&format!(r#"hx-trigger="sse:chat-{chat}, every 3s""#)), "and every few seconds while it downloads: {page}");
    let events = s.app.count("SELECT count(*) FROM events");

    // A second instance on the same database, with job workers, fetches it.
    let id = s.app.count("SELECT id FROM media");
    let fake = s.fake.clone();
    let _worker = crate::support::spawn_app_on_with(&s.app.database, move |c| {
        crate::messaging_send::on_fake(c, &fake);
        c.job_workers = 2;
    })
    .await;
    settled(&s.app).await;
    assert_eq!(s.app.count("SELECT count(*) FROM media WHERE status = 'stored'"), 1);
    assert!(s.app.count("SELECT count(*) FROM events") > events, "storing the photo is news for the chat");
    let fragment = s.browser.get_html(&refresher.replace("&amp;", "&")).await;
    assert!(fragment.contains(&format!(r#"<img src="/media/{id}" alt="📷 Photo" loading="lazy">"#)), "{fragment}");
    assert!(fragment.contains(&format!(r#"id="message-{message}""#)) && fragment.contains("hx-swap-oob"), "replaced in place: {fragment}");
}
