//! Flow batches (issue 12 part 4, the sending half), against the in-process provider double
//! (`support::provider_double`) and the inbound webhook it calls: the checks when a flow batch is made, the snapshot it keeps, the first
//! step sent to every recipient, a quick-reply tap sending the step it leads to once (the
//! same callback twice, and two taps taken by two instances at the same moment), a button
//! that ends the flow, and per-step counts on the recipients page equal to the rows.
//!
//! Decision: another workspace's flow id is refused like a missing one (422 "Choose a
//! flow."), without saying it exists.

use reqwest::StatusCode;
use switchboard::authz::Role;

use switchboard::messaging::{Channel, InboundMessage};

use crate::messaging_send::{CLIENT_PHONE, Setup, WHATSAPP_FROM, add_template, on_double, setup_double_with, sql, text, wait_for};
use crate::support::provider_double::{ProviderDouble, inbound_message};
use crate::support::{Browser, TestApp, location, spawn_app_on_with_double};

const BEN_PHONE: &str = "+14155550125";

fn campaign(app: &TestApp, ws: i64) -> i64 {
    sql(app, &format!("INSERT INTO campaigns (workspace_id, name, channels, status) VALUES ({ws}, 'Spring offer', ARRAY['whatsapp'], 'active')"));
    app.count(&format!("SELECT max(id) FROM campaigns WHERE workspace_id = {ws}"))
}

fn attach(app: &TestApp, ws: i64, campaign: i64, client: i64) {
    sql(app, &format!("INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) VALUES ({ws}, {campaign}, {client})"));
}

fn flow(app: &TestApp, ws: i64, name: &str, steps: &str) -> i64 {
    sql(app, &format!("INSERT INTO whatsapp_flows (workspace_id, name, steps) VALUES ({ws}, '{name}', '{steps}'::jsonb)"));
    app.count(&format!("SELECT max(id) FROM whatsapp_flows WHERE workspace_id = {ws}"))
}

/// Templates: "ask_interest" (approved; buttons Yes please / No thanks), "details"
/// (approved, two variables), "promo" (pending). Returns (ask, details, promo).
fn templates(app: &TestApp, ws: i64) -> (i64, i64, i64) {
    let ask = add_template(app, ws, "HXask", "ask_interest", "Hi {{1}}, interested?", "approved");
    sql(app, &format!("UPDATE whatsapp_templates SET buttons = '[{{\"id\": \"yes\", \"title\": \"Yes please\"}}, {{\"id\": \"no\", \"title\": \"No thanks\"}}]' WHERE id = {ask}"));
    let details = add_template(app, ws, "HXdetails", "details", "Details for {{1}}: see you {{2}}", "approved");
    let promo = add_template(app, ws, "HXpromo", "promo", "Promo", "pending");
    (ask, details, promo)
}

/// "Yes please" → step 2 (details), "No thanks" ends the flow.
fn ready_steps(ask: i64, second: i64) -> String {
    format!(r#"[{{"key": "s1", "template_id": {ask}, "next": {{"yes": "s2", "no": null}}}}, {{"key": "s2", "template_id": {second}, "next": {{}}}}]"#)
}

async fn flow_batch<P>(s: &Setup<P>, campaign: i64, flow: i64, extra: &[(&str, &str)]) -> reqwest::Response {
    let f = flow.to_string();
    let mut fields = vec![("mode", "flow"), ("flow_id", f.as_str())];
    fields.extend_from_slice(extra);
    s.browser.post(&format!("/campaigns/{campaign}/whatsapp-messages"), &fields).await
}

fn batch_of(response: &reqwest::Response, campaign: i64) -> i64 {
    let at = location(response);
    let prefix = format!("/campaigns/{campaign}/whatsapp-messages/");
    assert!(at.starts_with(&prefix) && at.ends_with("/recipients"), "{at}");
    at[prefix.len()..at.len() - "/recipients".len()].parse().unwrap()
}

#[tokio::test]
async fn a_flow_batch_needs_a_ready_flow_of_the_workspace_with_approved_steps_and_keeps_it_as_it_was() {
    let s = setup_double_with(true, |c| c.job_workers = 0).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws);
    attach(&s.app, ws, c, s.client_id);
    let (ask, details, promo) = templates(&s.app, ws);
    let ready = flow(&s.app, ws, "Spring flow", &ready_steps(ask, details));
    let unmapped = flow(&s.app, ws, "Half built", &format!(r#"[{{"key": "s1", "template_id": {ask}, "next": {{"yes": null}}}}]"#));
    let unapproved = flow(&s.app, ws, "Pending step", &ready_steps(ask, promo));
    let beta = s.app.create_user("Beta", "boss@beta.test", Role::Admin);
    let theirs = flow(&s.app, beta.workspace_id, "Theirs", "[]");

    let html = s.browser.get_html(&format!("/campaigns/{c}/whatsapp-messages")).await;
    assert!(html.contains(&format!("<option value=\"{ready}\">Spring flow</option>")), "{html}");
    assert!(html.contains(&format!("<option value=\"{unmapped}\">Half built (not ready)</option>")), "{html}");
    assert!(!html.contains("Theirs"), "another workspace's flows are not offered");
    assert!(html.contains("the same variables fill in every step's template"), "{html}");

    let (t, u, p, o) = (ready.to_string(), unmapped.to_string(), unapproved.to_string(), theirs.to_string());
    for (flow_id, vars, reason) in [
        (u.as_str(), vec![("var_1", "name")], "The flow “Half built” cannot be sent yet: Step 1: the button “No thanks” does not say where it leads."),
        (p.as_str(), vec![("var_1", "name")], "The flow “Pending step” cannot be sent yet: Step 2 uses “promo”, which is not approved by WhatsApp."),
        (o.as_str(), vec![("var_1", "name")], "Choose a flow."),
        ("", vec![("var_1", "name")], "Choose a flow."),
        (t.as_str(), vec![("var_1", "name")], "Fill in variable {{2}}"),
    ] {
        let mut fields = vec![("mode", "flow"), ("flow_id", flow_id)];
        fields.extend(vars);
        let r = s.browser.post(&format!("/campaigns/{c}/whatsapp-messages"), &fields).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reason}");
        let html = r.text().await.unwrap();
        assert!(html.contains(reason), "{reason}: {html}");
        assert!(html.contains(&format!("<option value=\"{flow_id}\" selected>")) || flow_id.is_empty() || flow_id == o, "the choice is kept");
    }
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_batches"), 0);

    let r = flow_batch(&s, c, ready, &[("var_1", "name"), ("var_2", "Friday")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_of(&r, c);
    assert_eq!(
        text(&s.app, &format!("SELECT concat_ws(' | ', mode, flow_id, template_id, variables, status) FROM campaign_batches WHERE id = {b}")),
        format!("flow | {ready} | {ask} | {{\"1\": {{\"field\": \"name\"}}, \"2\": {{\"text\": \"Friday\"}}}} | scheduled")
    );
    let snapshot = format!(
        r#"{{"name": "Spring flow", "steps": [{{"key": "s1", "next": {{"no": null, "yes": "s2"}}, "buttons": [["yes", "Yes please"], ["no", "No thanks"]], "template_id": {ask}, "template_name": "ask_interest"}}, {{"key": "s2", "next": {{}}, "buttons": [], "template_id": {details}, "template_name": "details"}}], "flow_id": {ready}}}"#
    );
    assert_eq!(text(&s.app, &format!("SELECT flow_snapshot FROM campaign_batches WHERE id = {b}")), snapshot);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.batch_created' AND after->>'mode' = 'flow' AND after->>'flow_id' = '{ready}'")), 1);

    // Editing the flow afterwards (the editor's own form) changes nothing for the batch.
    let path = format!("/whatsapp-flows/{ready}");
    let r = s.browser.post(&path, &[("name", "Spring flow v2"), ("next_0_0", ""), ("next_0_1", "")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM whatsapp_flows WHERE id = {ready} AND name = 'Spring flow v2' AND steps->0->'next'->>'yes' IS NULL")), 1);
    assert_eq!(text(&s.app, &format!("SELECT flow_snapshot FROM campaign_batches WHERE id = {b}")), snapshot);
}

/// An inbound WhatsApp button tap, answering the message `replied_to`.
fn tap(sid: &str, from: &str, payload: &str, title: &str, replied_to: &str) -> InboundMessage {
    let mut message = inbound_message(sid, Channel::WhatsApp, from, WHATSAPP_FROM, title);
    message.button_payload = Some(payload.to_string()).filter(|p| !p.is_empty());
    message.button_text = Some(title.to_string()).filter(|t| !t.is_empty());
    message.replied_to = Some(replied_to.to_string()).filter(|r| !r.is_empty());
    message
}

/// The double delivers `message` to the instance at `base` (the workspace's webhook key).
async fn post_inbound(double: &ProviderDouble, base: &str, key: &str, message: &InboundMessage) -> StatusCode {
    double.deliver_inbound(base, key, message).await
}

/// The provider id of the batch's message to a client.
fn sid_of(app: &TestApp, batch: i64, client: i64) -> String {
    text(app, &format!("SELECT provider_id FROM messages WHERE batch_id = {batch} AND client_id = {client} AND direction = 'outbound' ORDER BY id LIMIT 1"))
}

fn step_counts(app: &TestApp, batch: i64) -> (String, String) {
    (
        text(app, &format!("SELECT string_agg(key || '=' || n, ',' ORDER BY key) FROM campaign_batch_counts WHERE batch_id = {batch} AND key LIKE 'step:%' AND n > 0")),
        text(app, &format!("SELECT string_agg('step:' || step_key || '=' || n, ',' ORDER BY step_key) FROM (SELECT step_key, count(*) n FROM campaign_flow_reached WHERE batch_id = {batch} GROUP BY step_key) x")),
    )
}

#[tokio::test]
async fn a_button_tap_sends_the_step_it_leads_to_once_and_an_end_button_sends_nothing() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws);
    attach(&s.app, ws, c, s.client_id);
    sql(&s.app, &format!("INSERT INTO clients (workspace_id, name, phone) VALUES ({ws}, 'Ben Bello', '{BEN_PHONE}')"));
    let ben = s.app.count(&format!("SELECT id FROM clients WHERE workspace_id = {ws} AND phone = '{BEN_PHONE}'"));
    attach(&s.app, ws, c, ben);
    let (ask, details, _) = templates(&s.app, ws);
    let ready = flow(&s.app, ws, "Spring flow", &ready_steps(ask, details));
    let r = flow_batch(&s, c, ready, &[("var_1", "name"), ("var_2", "Friday")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b = batch_of(&r, c);

    // The first step to each recipient, once.
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    let sent = s.fake.messages();
    assert_eq!(sent.len(), 2, "one first step each");
    for to in [CLIENT_PHONE, BEN_PHONE] {
        let m: Vec<_> = sent.iter().filter(|m| (m.channel, m.to.as_str()) == (Channel::WhatsApp, to)).collect();
        assert_eq!(m.len(), 1, "{to}");
        assert_eq!(m[0].template.as_deref(), Some("HXask"));
    }
    assert_eq!(text(&s.app, &format!("SELECT string_agg(client_id || ':' || flow_step, ',' ORDER BY client_id) FROM campaign_recipients WHERE batch_id = {b}")), format!("{}:s1,{ben}:s1", s.client_id));
    assert_eq!(step_counts(&s.app, b), ("step:s1=2".to_string(), "step:s1=2".to_string()));

    // The flow is edited afterwards: "Yes please" now ends it. The batch keeps its snapshot.
    sql(&s.app, &format!("UPDATE whatsapp_flows SET steps = '[{{\"key\": \"s1\", \"template_id\": {ask}, \"next\": {{\"yes\": null, \"no\": null}}}}]' WHERE id = {ready}"));

    let key = text(&s.app, &format!("SELECT webhook_key FROM workspaces WHERE id = {ws}"));
    let amara_sid = sid_of(&s.app, b, s.client_id);
    // Amara taps "Yes please"; Twilio calls back twice with the same message.
    let yes = tap("SMtap1", CLIENT_PHONE, "yes", "Yes please", &amara_sid);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &yes).await, StatusCode::OK);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &yes).await, StatusCode::OK);
    // She taps it again, twice, and the two callbacks reach two instances at the same moment.
    let other = spawn_app_on_with_double(&s.app.database, &s.fake, |c| {
        on_double(c);
        c.job_workers = 0;
    })
    .await;
    let (two, three) = (tap("SMtap2", CLIENT_PHONE, "yes", "Yes please", &amara_sid), tap("SMtap3", CLIENT_PHONE, "yes", "Yes please", &amara_sid));
    let (a, z) = tokio::join!(post_inbound(&s.fake, &s.app.base, &key, &two), post_inbound(&s.fake, &other.base, &key, &three));
    assert_eq!((a, z), (StatusCode::OK, StatusCode::OK));
    let step_two = format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND client_id = {} AND direction = 'outbound' AND template_id = {details}", s.client_id);
    assert_eq!(s.app.count(&step_two), 1, "one step-2 message, whatever the callbacks");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM jobs WHERE kind = 'send-message' AND payload->>'message_id' = ({step_two_id})::text", step_two_id = step_two.replace("count(*)", "max(id)"))), 1);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE batch_id = {b} AND template_id = {details} AND provider_id IS NOT NULL)")).await;
    let to_amara: Vec<_> = s.fake.messages().into_iter().filter(|m| (m.channel, m.to.as_str()) == (Channel::WhatsApp, CLIENT_PHONE)).collect();
    assert_eq!(to_amara.len(), 2, "the first step and step 2, each once");
    assert_eq!(to_amara[1].template.as_deref(), Some("HXdetails"));
    assert_eq!(to_amara[1].variables, [("1".to_string(), "Amara Okafor".to_string()), ("2".to_string(), "Friday".to_string())], "the batch's variables fill in every step");
    assert_eq!((to_amara[1].channel, to_amara[1].from.as_str()), (Channel::WhatsApp, WHATSAPP_FROM));
    assert_eq!(
        text(&s.app, &format!("SELECT concat_ws('|', step_key, button, next_step, sent_message_id IS NOT NULL) FROM campaign_flow_answers WHERE batch_id = {b} AND client_id = {}", s.client_id)),
        "s1|yes|s2|t"
    );
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.flow_step_sent' AND actor_kind = 'webhook' AND after->>'step' = 's2'"), 1);

    // Ben taps "No thanks": the flow ends for him; nothing is sent, his reply counts. (This
    // callback lacks OriginalRepliedMessageSid: the latest flow message sent to him answers.)
    let mut no = tap("SMtap4", BEN_PHONE, "no", "No thanks", "");
    no.replied_to = None;
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &no).await, StatusCode::OK);
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE batch_id = {b} AND client_id = {ben} AND direction = 'outbound'")), 1);
    assert_eq!(text(&s.app, &format!("SELECT concat_ws('|', step_key, button, coalesce(next_step, 'end'), sent_message_id IS NULL) FROM campaign_flow_answers WHERE client_id = {ben}")), "s1|no|end|t");
    assert_eq!(s.fake.sends_to(Channel::WhatsApp, BEN_PHONE), 1);

    // Recipients, replies and per-step counts: the counters equal the rows, on the page too.
    assert_eq!(
        text(&s.app, &format!("SELECT string_agg(client_id || ':' || flow_step || ':' || reply, ',' ORDER BY client_id) FROM campaign_recipients WHERE batch_id = {b}")),
        format!("{}:s2:yes,{ben}:s1:no", s.client_id)
    );
    assert_eq!(step_counts(&s.app, b), ("step:s1=2,step:s2=1".to_string(), "step:s1=2,step:s2=1".to_string()));
    let html = s.browser.get_html(&format!("/campaigns/{c}/whatsapp-messages/{b}/recipients")).await;
    assert!(html.contains("<li>Step 1: ask_interest <strong data-count=\"step:s1\">2</strong></li>"), "{html}");
    assert!(html.contains("<li>Step 2: details <strong data-count=\"step:s2\">1</strong></li>"), "{html}");
    assert!(html.contains("<th scope=\"col\">Step</th>"));
    let row = |client: i64| {
        let start = html.find(&format!("<tr data-client=\"{client}\">")).expect("the recipient's row");
        html[start..start + html[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(row(s.client_id).contains("<td data-label=\"Step\">Step 2: details</td>"), "{}", row(s.client_id));
    assert!(row(ben).contains("<td data-label=\"Step\">Step 1: ask_interest</td>"), "{}", row(ben));
    assert!(html.contains("<strong data-count=\"reply:yes\">1</strong>") && html.contains("<strong data-count=\"reply:no\">1</strong>"));

    // Amara's conversation signs the first step by the campaign and the next by the flow;
    // her taps stay the chat's last message (issue 22 part 5).
    let chat = s.app.count(&format!("SELECT id FROM chats WHERE client_id = {} AND channel = 'whatsapp'", s.client_id));
    let conversation = s.browser.get_html(&format!("/chat/{chat}")).await;
    let authors: Vec<&str> = conversation.split("<span class=\"bubble-author\" hx-disable>").skip(1).map(|s| s.split("</span>").next().unwrap()).collect();
    assert_eq!(authors, vec!["Campaign: Spring offer", "Flow step"], "{conversation}");
    assert_eq!(
        s.app.count(&format!("SELECT count(*) FROM chats c JOIN messages m ON m.id = c.last_message_id WHERE c.id = {chat} AND m.direction = 'inbound'")),
        1,
        "the flow's send does not replace the client's tap as the chat's last message"
    );
}

#[tokio::test]
async fn a_tap_while_the_campaign_is_paused_is_held_and_sent_once_on_resume_and_text_or_unknown_taps_move_no_one() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws);
    attach(&s.app, ws, c, s.client_id);
    let (ask, details, _) = templates(&s.app, ws);
    let ready = flow(&s.app, ws, "Spring flow", &ready_steps(ask, details));
    let r = flow_batch(&s, c, ready, &[("var_1", "name"), ("var_2", "Friday")]).await;
    let b = batch_of(&r, c);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    let key = text(&s.app, &format!("SELECT webhook_key FROM workspaces WHERE id = {ws}"));
    let sid = sid_of(&s.app, b, s.client_id);
    let outbound = format!("SELECT count(*) FROM messages WHERE client_id = {} AND direction = 'outbound'", s.client_id);
    assert_eq!(s.app.count(&outbound), 1);

    // Typed text (no button), a button of no step, and a tap answering a message that is not ours.
    let mut typed = tap("SMtext1", CLIENT_PHONE, "", "", &sid);
    (typed.button_payload, typed.button_text, typed.body) = (None, None, "Yes please".into());
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &typed).await, StatusCode::OK);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &tap("SModd1", CLIENT_PHONE, "maybe", "Maybe", &sid)).await, StatusCode::OK);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &tap("SModd2", CLIENT_PHONE, "yes", "Yes please", "SMnotours")).await, StatusCode::OK);
    assert_eq!(s.app.count("SELECT count(*) FROM campaign_flow_answers"), 0);
    assert_eq!(s.app.count(&outbound), 1);

    // Paused: the answer is recorded and held, nothing is sent, and the campaign page says so.
    let r = s.browser.post(&format!("/campaigns/{c}/pause"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &tap("SMtap1", CLIENT_PHONE, "yes", "Yes please", &sid)).await, StatusCode::OK);
    assert_eq!(s.app.count(&outbound), 1);
    assert_eq!(text(&s.app, &format!("SELECT concat_ws('|', step_key, button, next_step, sent_message_id IS NULL, held_at IS NOT NULL) FROM campaign_flow_answers WHERE batch_id = {b}")), "s1|yes|s2|t|t");
    let html = s.browser.get_html(&format!("/campaigns/{c}")).await;
    assert!(html.contains("1 flow answer came in while the campaign was paused: its next step is sent when you resume."), "{html}");

    // Resume, double-clicked, the two clicks taken by two instances at once: the held step
    // goes out once.
    let other = spawn_app_on_with_double(&s.app.database, &s.fake, |c| {
        on_double(c);
        c.job_workers = 0;
    })
    .await;
    let twin = Browser { base: other.base.clone(), client: s.browser.client.clone(), jar: s.browser.jar.clone() };
    let start = format!("/campaigns/{c}/start");
    let (one, two) = tokio::join!(s.browser.post(&start, &[]), twin.post(&start, &[]));
    let mut statuses = [one.status().as_u16(), two.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 409], "one resume; the other is told the campaign is already running");
    // A second tap on the same message after resuming changes nothing.
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &tap("SMtap2", CLIENT_PHONE, "yes", "Yes please", &sid)).await, StatusCode::OK);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM messages WHERE batch_id = {b} AND template_id = {details} AND provider_id IS NOT NULL)")).await;
    assert_eq!(s.app.count(&outbound), 2);
    assert_eq!(text(&s.app, &format!("SELECT concat_ws('|', step_key, button, next_step, sent_message_id IS NULL, held_at IS NULL) FROM campaign_flow_answers WHERE batch_id = {b}")), "s1|yes|s2|f|t");
    assert_eq!(text(&s.app, &format!("SELECT flow_step FROM campaign_recipients WHERE batch_id = {b}")), "s2");
    assert_eq!(step_counts(&s.app, b).0, "step:s1=1,step:s2=1");
    assert_eq!(s.fake.sends_to(Channel::WhatsApp, CLIENT_PHONE), 2);
    assert_eq!(s.fake.messages().last().and_then(|m| m.template.clone()).as_deref(), Some("HXdetails"));
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.flow_step_sent' AND actor_kind = 'user' AND after->>'step' = 's2'"), 1);
    assert_eq!(s.app.count("SELECT count(*) FROM audit_logs WHERE action = 'campaigns.started' AND after->>'held_steps_sent' = '1'"), 1);
    let html = s.browser.get_html(&format!("/campaigns/{c}")).await;
    assert!(!html.contains("while the campaign was paused"), "{html}");
}

#[tokio::test]
async fn a_tap_while_the_campaign_is_completed_is_recorded_and_never_sent() {
    let s = setup_double_with(true, |c| c.job_workers = 1).await;
    let ws = s.workspace_id;
    let c = campaign(&s.app, ws);
    attach(&s.app, ws, c, s.client_id);
    let (ask, details, _) = templates(&s.app, ws);
    let ready = flow(&s.app, ws, "Spring flow", &ready_steps(ask, details));
    let b = batch_of(&flow_batch(&s, c, ready, &[("var_1", "name"), ("var_2", "Friday")]).await, c);
    wait_for(&s.app, &format!("EXISTS (SELECT 1 FROM campaign_batches WHERE id = {b} AND status = 'done')")).await;
    let key = text(&s.app, &format!("SELECT webhook_key FROM workspaces WHERE id = {ws}"));
    let sid = sid_of(&s.app, b, s.client_id);
    // Paused, tapped, then completed: the held answer is dropped, never sent.
    assert_eq!(s.browser.post(&format!("/campaigns/{c}/pause"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(post_inbound(&s.fake, &s.app.base, &key, &tap("SMtap1", CLIENT_PHONE, "yes", "Yes please", &sid)).await, StatusCode::OK);
    assert_eq!(s.browser.post(&format!("/campaigns/{c}/complete"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(text(&s.app, &format!("SELECT concat_ws('|', next_step, sent_message_id IS NULL, held_at IS NULL) FROM campaign_flow_answers WHERE batch_id = {b}")), "s2|t|t");
    assert_eq!(s.app.count(&format!("SELECT count(*) FROM messages WHERE client_id = {} AND direction = 'outbound'", s.client_id)), 1);
}
