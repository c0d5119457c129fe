//! The trail in words: one function turns an entry (its action, its recorded before/after
//! and the names resolved for the page) into a sentence, e.g. "Ana Lopez changed the status
//! of Amara Smith from warm to hot". The list, the detail and the dashboard's recent
//! activity all use it.
//!
//! Names are resolved once per page (`Names::resolve`: one query for users, one for
//! clients), and clients only through the reader's `Scope`: a client the reader may not
//! open is never looked up, so its current name is never shown nor linked; the entry shows
//! the name it recorded (which the reader may already read in its before/after) unlinked.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::Value;

use crate::audit_log::query::AuditLog;
use crate::authz::{Role, Scope};
use crate::db::schema::{clients, users};

/// A run of the sentence: plain text, a name (shown in bold), or a link to a record.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub text: String,
    pub href: Option<String>,
    pub strong: bool,
}

impl Piece {
    fn text(text: impl Into<String>) -> Piece {
        Piece { text: text.into(), href: None, strong: false }
    }

    fn name(text: impl Into<String>) -> Piece {
        Piece { text: text.into(), href: None, strong: true }
    }

    fn link(text: impl Into<String>, href: String) -> Piece {
        Piece { text: text.into(), href: Some(href), strong: false }
    }
}

/// An entry with its sentence, for the templates.
#[derive(Clone, Debug)]
pub struct Described {
    pub entry: AuditLog,
    pub sentence: Vec<Piece>,
}

impl Described {
    /// The sentence as plain text (titles, tests).
    pub fn plain(&self) -> String {
        plain(&self.sentence)
    }
}

pub fn plain(pieces: &[Piece]) -> String {
    pieces.iter().map(|p| p.text.as_str()).collect()
}

/// The names a page of entries mentions, as the reader may see them.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<i64, String>,
    /// Only clients in the reader's scope.
    clients: HashMap<i64, String>,
    /// Whether users link to the users page (admins only may open it).
    link_users: bool,
}

impl Names {
    pub fn resolve(conn: &mut PgConnection, scope: &Scope, rows: &[AuditLog]) -> QueryResult<Names> {
        let mut user_ids: Vec<i64> = rows.iter().flat_map(|r| [r.actor_user_id, r.subject_user_id]).flatten().collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let mut client_ids: Vec<i64> = rows.iter().filter_map(|r| r.client_id).collect();
        client_ids.sort_unstable();
        client_ids.dedup();
        let users = if user_ids.is_empty() {
            HashMap::new()
        } else {
            users::table
                .filter(users::workspace_id.eq(scope.workspace_id))
                .filter(users::id.eq_any(&user_ids))
                .select((users::id, users::name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect()
        };
        let clients = if client_ids.is_empty() {
            HashMap::new()
        } else {
            scope.clients().filter(clients::id.eq_any(client_ids)).select((clients::id, clients::name)).load::<(i64, String)>(conn)?.into_iter().collect()
        };
        Ok(Names { users, clients, link_users: scope.role == Role::Admin })
    }

    /// Describes each row, in order.
    pub fn describe_all(&self, rows: Vec<AuditLog>) -> Vec<Described> {
        rows.into_iter().map(|entry| Described { sentence: describe(&entry, self), entry }).collect()
    }
}

/// Resolves the names of `rows` for `scope` and describes them.
pub fn described(conn: &mut PgConnection, scope: &Scope, rows: Vec<AuditLog>) -> QueryResult<Vec<Described>> {
    Ok(Names::resolve(conn, scope, &rows)?.describe_all(rows))
}

fn field<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    value.and_then(|v| v.get(key)).filter(|v| !v.is_null())
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A recorded field, from after or else before.
fn recorded(e: &AuditLog, key: &str) -> Option<String> {
    text_of(field(e.after.as_ref(), key)).or_else(|| text_of(field(e.before.as_ref(), key)))
}

fn before(e: &AuditLog, key: &str) -> Option<String> {
    text_of(field(e.before.as_ref(), key))
}

fn after(e: &AuditLog, key: &str) -> Option<String> {
    text_of(field(e.after.as_ref(), key))
}

fn actor(e: &AuditLog, names: &Names) -> Piece {
    match e.actor_kind.as_str() {
        "system" => Piece::name("Switchboard"),
        "webhook" => Piece::name("A webhook"),
        _ => Piece::name(e.actor_user_id.and_then(|id| names.users.get(&id).cloned()).unwrap_or_else(|| e.actor_label.clone())),
    }
}

/// The client the entry is about: linked when the reader may open it, else its recorded
/// name unlinked (deleted, or outside the reader's scope).
fn client(e: &AuditLog, names: &Names) -> Piece {
    if let Some(name) = e.client_id.and_then(|id| names.clients.get(&id)) {
        return Piece::link(name.clone(), format!("/clients/{}", e.client_id.unwrap_or_default()));
    }
    match recorded(e, "name") {
        Some(name) => Piece::name(name),
        None => Piece::text("a client"),
    }
}

/// The user the entry is about: linked to the users page for admins.
fn user(e: &AuditLog, names: &Names) -> Piece {
    let name = e.subject_user_id.and_then(|id| names.users.get(&id).cloned()).or_else(|| recorded(e, "name")).or_else(|| recorded(e, "email"));
    match name {
        Some(name) if names.link_users => Piece::link(name, "/settings/users".to_string()),
        Some(name) => Piece::name(name),
        None => Piece::text("a user"),
    }
}

/// "the WhatsApp chat with Amara Smith" (the client linked when the reader may open it).
fn chat_with(e: &AuditLog, names: &Names) -> Vec<Piece> {
    let channel = match recorded(e, "channel").as_deref() {
        Some("whatsapp") => "WhatsApp",
        Some("sms") => "SMS",
        _ => "",
    };
    let lead = if channel.is_empty() { "the chat with ".to_string() } else { format!("the {channel} chat with ") };
    vec![Piece::text(lead), client(e, names)]
}

/// "a WhatsApp ", "an SMS ", "an email " as recorded ("a " when none is).
fn a_channel(e: &AuditLog) -> &'static str {
    match recorded(e, "channel").as_deref() {
        Some("whatsapp") => "a WhatsApp ",
        Some("sms") => "an SMS ",
        Some("email") => "an email ",
        _ => "a ",
    }
}

/// "campaign #3" (campaign entries record the campaign's id as their entity).
fn campaign(e: &AuditLog) -> String {
    match &e.entity_id {
        Some(id) if !id.is_empty() => format!("campaign #{id}"),
        _ => "a campaign".into(),
    }
}

fn named(e: &AuditLog, key: &str) -> Piece {
    recorded(e, key).map(Piece::name).unwrap_or_else(|| Piece::text("(unnamed)"))
}

/// A settings entry's `changed` list in words: "account SID, auth token".
fn changed_list(e: &AuditLog) -> String {
    let names: Vec<String> = field(e.after.as_ref(), "changed")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).map(|f| f.replace('_', " ").replace("sid", "SID")).collect())
        .unwrap_or_default();
    if names.is_empty() { "nothing changed".into() } else { names.join(", ") }
}

fn from_to(from: Option<String>, to: Option<String>) -> String {
    format!(" from {} to {}", from.unwrap_or_else(|| "none".into()), to.unwrap_or_else(|| "none".into()))
}

/// The fields of a client that changed, in words (status apart).
fn changed_fields(e: &AuditLog) -> Vec<&'static str> {
    const FIELDS: [(&str, &str); 10] = [
        ("name", "name"),
        ("email", "email"),
        ("phone", "phone"),
        ("company", "company"),
        ("assigned_to", "assignee"),
        ("notes", "notes"),
        ("department_ids", "departments"),
        ("tags", "tags"),
        ("opt_outs", "opt-outs"),
        ("tags_added", "tags"),
    ];
    let mut out: Vec<&'static str> = Vec::new();
    for (key, words) in FIELDS {
        let (b, a) = (field(e.before.as_ref(), key), field(e.after.as_ref(), key));
        let empty = |v: Option<&Value>| v.is_none() || v == Some(&Value::Array(vec![])) || v == Some(&Value::String(String::new()));
        if b != a && !(empty(b) && empty(a)) && !out.contains(&words) {
            out.push(words);
        }
    }
    out
}

fn status_change(e: &AuditLog) -> Option<(String, String)> {
    let (b, a) = (before(e, "status"), after(e, "status"));
    (b != a && a.is_some()).then(|| (b.unwrap_or_else(|| "none".into()), a.unwrap_or_default()))
}

fn client_update(e: &AuditLog, names: &Names, suffix: &str) -> Vec<Piece> {
    let fields = changed_fields(e).join(", ");
    match status_change(e) {
        Some((from, to)) => {
            let mut out = vec![Piece::text(" changed the status of "), client(e, names), Piece::text(format!(" from {from} to {to}"))];
            if !fields.is_empty() {
                out.push(Piece::text(format!(" and updated {fields}")));
            }
            out.push(Piece::text(suffix.to_string()));
            out
        }
        None if fields.is_empty() => vec![Piece::text(" saved "), client(e, names), Piece::text(format!(" without changes{suffix}"))],
        None => vec![Piece::text(" updated "), client(e, names), Piece::text(format!(" ({fields}){suffix}"))],
    }
}

/// A readable form of an action nobody taught this module: `clients.bulk_merge` →
/// "clients: bulk merge".
fn fallback(action: &str) -> String {
    let words = |s: &str| s.replace(['_', '-'], " ");
    match action.split_once('.') {
        Some((module, verb)) => format!(" did “{}” in {}", words(verb), words(module)),
        None => format!(" did “{}”", words(action)),
    }
}

/// The entry in words, starting with who did it.
pub fn describe(e: &AuditLog, names: &Names) -> Vec<Piece> {
    fn t(text: impl Into<String>) -> Piece {
        Piece::text(text)
    }
    let count = |key: &str| recorded(e, key).unwrap_or_else(|| "0".into());
    let rest: Vec<Piece> = match e.action.as_str() {
        "auth.login" => vec![t(" signed in")],
        "auth.login_failed" if recorded(e, "reason").as_deref() == Some("inactive user") => vec![t(" tried to sign in to a deactivated account")],
        "auth.login_failed" => vec![t(" failed to sign in (wrong password)")],
        "auth.logout" => vec![t(" signed out")],
        "auth.password_changed" => vec![t(" changed their password")],
        "auth.password_reset" => vec![t(" reset their password")],
        "auth.password_reset_requested" => vec![t(" asked for a password reset link")],
        "auth.session_revoked" => vec![t(" signed out one of their sessions")],
        "auth.other_sessions_revoked" => vec![t(format!(" signed out of their other sessions ({} ended)", count("sessions_ended")))],
        "auth.sessions_revoked" => vec![t(format!(" signed out of their other sessions ({} ended)", count("sessions_ended")))],
        "audit.exported" => vec![t(" exported the audit log")],
        "campaigns.created" => vec![t(" created campaign "), named(e, "name")],
        "campaigns.started" if before(e, "status").as_deref() == Some("paused") => vec![t(" resumed campaign "), named(e, "name")],
        "campaigns.started" => vec![t(" started campaign "), named(e, "name")],
        "campaigns.paused" => vec![t(" paused campaign "), named(e, "name")],
        "campaigns.completed" => vec![t(" completed campaign "), named(e, "name"), t(format!(" ({} queued messages cancelled)", count("recipients_cancelled")))],
        "campaigns.updated" if before(e, "name").is_some() && before(e, "name") != after(e, "name") => {
            vec![t(" edited campaign "), named(e, "name"), t(" (renamed from "), Piece::name(before(e, "name").unwrap_or_default()), t(")")]
        }
        "campaigns.updated" => vec![t(" edited campaign "), named(e, "name")],
        "campaigns.deleted" => vec![t(" deleted draft campaign "), named(e, "name")],
        "campaigns.duplicated" => {
            vec![t(" copied campaign "), named(e, "source_name"), t(" as draft "), named(e, "name"), t(format!(" ({} clients)", count("clients")))]
        }
        "campaigns.audience_removed" => vec![t(" removed "), named(e, "client_name"), t(" from campaign "), named(e, "name")],
        "campaigns.test_sent" => vec![t(" sent a test of campaign "), named(e, "name"), t(" to "), named(e, "recipient")],
        "campaigns.audience_attached" => {
            vec![t(format!(" attached {} clients to campaign ", count("attached"))), named(e, "name"), t(format!(" ({} already there)", count("already")))]
        }
        "campaigns.batch_created" => vec![t(format!(
            " created {}batch for {} ({} queued, {} skipped)",
            a_channel(e),
            campaign(e),
            count("queued"),
            count("skipped")
        ))],
        "campaigns.batch_retargeted" => vec![t(format!(
            " sent a new batch of {} to {} recipients of batch #{}",
            campaign(e),
            count("recipients"),
            recorded(e, "retarget_of").unwrap_or_else(|| "?".into())
        ))],
        "campaigns.flow_step_sent" => vec![t(format!(
            " sent flow step “{}” of {} after a tap on “{}”",
            recorded(e, "step").unwrap_or_default(),
            campaign(e),
            recorded(e, "button").unwrap_or_default()
        ))],
        "canned_replies.created" => vec![t(" wrote canned reply "), Piece::name(format!("/{}", after(e, "shortcut").unwrap_or_default()))],
        "canned_replies.updated" => vec![t(" changed canned reply "), Piece::name(format!("/{}", after(e, "shortcut").unwrap_or_default()))],
        "canned_replies.deleted" => vec![t(" deleted canned reply "), Piece::name(format!("/{}", before(e, "shortcut").unwrap_or_default()))],
        "chats.opened" => [vec![t(" opened ")], chat_with(e, names)].concat(),
        "chats.assigned" => {
            let what = chat_with(e, names);
            match (before(e, "assignee"), after(e, "assignee")) {
                (Some(from), None) => [vec![t(" unassigned "), Piece::name(from), t(" from ")], what].concat(),
                (_, to) => [vec![t(" assigned ")], what, vec![t(" to "), Piece::name(to.unwrap_or_else(|| "nobody".into()))]].concat(),
            }
        }
        "chats.closed" => [vec![t(" closed ")], chat_with(e, names)].concat(),
        "chats.note_added" => [vec![t(" wrote a note in ")], chat_with(e, names)].concat(),
        "chats.reopened" => [vec![t(" reopened ")], chat_with(e, names)].concat(),
        "clients.created" => vec![t(" created client "), client(e, names)],
        "clients.updated" => client_update(e, names, ""),
        "clients.import_updated" => client_update(e, names, " by an import"),
        "clients.status_rule" => {
            let (from, to) = status_change(e).unwrap_or_default();
            vec![t(" changed the status of "), client(e, names), t(format!(" from {from} to {to} (status rule)"))]
        }
        "clients.deleted" | "clients.bulk_delete" => vec![t(" deleted client "), client(e, names)],
        "clients.opted_out" => vec![t(" recorded that "), client(e, names), t(" unsubscribed from campaign emails")],
        "clients.exported" => vec![t(" exported clients to CSV")],
        "clients.bulk_status" => {
            let (from, to) = status_change(e).unwrap_or_default();
            vec![t(" changed the status of "), client(e, names), t(format!(" from {from} to {to}"))]
        }
        "clients.bulk_assign" if after(e, "assigned_to").is_none() => vec![t(" unassigned "), client(e, names)],
        "clients.bulk_assign" => vec![t(" reassigned "), client(e, names)],
        "clients.bulk_tag" => vec![t(" tagged "), client(e, names), t(" with "), named(e, "tag_added")],
        "clients.bulk_untag" => vec![t(" removed tag "), named(e, "tag"), t(" from "), client(e, names)],
        "communications.logged" => {
            let kind = recorded(e, "kind").unwrap_or_else(|| "communication".into());
            vec![t(format!(" logged a {kind} with ")), client(e, names)]
        }
        "flows.created" => vec![t(" created flow "), named(e, "name")],
        "flows.updated" => vec![t(" updated flow "), named(e, "name"), t(format!(" ({} steps)", count("steps")))],
        "follow_ups.created" => vec![t(" scheduled a follow-up with "), client(e, names)],
        "follow_ups.status_changed" if after(e, "status").as_deref() == Some("completed") => vec![t(" completed a follow-up with "), client(e, names)],
        "follow_ups.status_changed" => vec![t(" reopened a follow-up with "), client(e, names)],
        "departments.created" => vec![t(" created department "), named(e, "name")],
        "departments.renamed" => vec![t(" renamed department "), Piece::name(before(e, "name").unwrap_or_default()), t(" to "), Piece::name(after(e, "name").unwrap_or_default())],
        "departments.deleted" => vec![t(" deleted department "), named(e, "name")],
        "tags.created" => vec![t(" created tag "), named(e, "name")],
        "tags.renamed" => vec![t(" renamed tag "), Piece::name(before(e, "name").unwrap_or_default()), t(" to "), Piece::name(after(e, "name").unwrap_or_default())],
        "tags.deleted" => vec![t(" deleted tag "), named(e, "name")],
        "imports.uploaded" => vec![t(" uploaded "), named(e, "filename"), t(" to import")],
        "imports.started" => vec![t(" started importing "), named(e, "filename")],
        "imports.retried" => vec![t(" retried an import")],
        "imports.completed" => vec![
            t(" finished importing "),
            named(e, "filename"),
            t(format!(": {} created, {} updated, {} rejected", count("created"), count("updated"), count("rejected"))),
        ],
        "imports.failed" => vec![t(format!("’s import failed after reading {} rows", count("rows_read")))],
        "jobs.retry" => vec![t(format!(" retried a background {} job", recorded(e, "kind").unwrap_or_default()))],
        "jobs.cancel" => vec![t(format!(" cancelled a background {} job", recorded(e, "kind").unwrap_or_default()))],
        "messages.queued" => vec![t(format!(" sent {}message to ", a_channel(e))), client(e, names)],
        "messages.resent" => vec![t(format!(" resent {}message to ", a_channel(e))), client(e, names)],
        "seed.run" => vec![t(format!(" loaded {} sample clients", count("clients")))],
        "settings.smtp_saved" => vec![t(" saved the email server settings")],
        "templates.sync_requested" => vec![t(" asked for the WhatsApp templates to be synced from Twilio")],
        "twilio.settings_saved" => vec![t(format!(" saved the Twilio settings ({})", changed_list(e)))],
        "settings.smtp_test" => vec![t(" sent a test email to "), named(e, "to")],
        "users.created" => vec![t(" added user "), user(e, names)],
        "users.role_changed" => vec![t(" changed the role of "), user(e, names), t(from_to(before(e, "role"), after(e, "role")))],
        "users.deactivated" => vec![t(" deactivated "), user(e, names)],
        "users.chat_digest_changed" if after(e, "chat_digest").as_deref() == Some("hourly") => vec![t(" turned on the hourly chat digest email")],
        "users.chat_digest_changed" => vec![t(" turned off the chat digest email")],
        "users.chat_keys_changed" if after(e, "enter_sends").as_deref() == Some("true") => vec![t(" chose Enter to send chat replies")],
        "users.chat_keys_changed" => vec![t(" chose Ctrl+Enter to send chat replies")],
        "users.notifications_changed" => vec![t(" changed which notifications they receive")],
        "users.name_changed" => vec![t(" changed their name"), t(from_to(before(e, "name"), after(e, "name")))],
        "users.email_change_requested" => vec![t(" asked to change their email to "), named(e, "pending_email")],
        "users.email_change_cancelled" => vec![t(" cancelled their email change")],
        "users.email_changed" => vec![t(" changed their email"), t(from_to(before(e, "email"), after(e, "email")))],
        "users.reactivated" => vec![t(" reactivated "), user(e, names)],
        "users.departments_changed" => vec![t(" changed the departments of "), user(e, names)],
        "users.invitation_accepted" => vec![t(" accepted their invitation")],
        "workspaces.created" => vec![t(" created the workspace "), named(e, "name")],
        "workspaces.updated" => vec![t(" updated the workspace settings")],
        other => vec![t(fallback(other))],
    };
    let mut out = vec![actor(e, names)];
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, module: &str, before: Option<Value>, after: Option<Value>) -> AuditLog {
        AuditLog {
            workspace_id: 1,
            id: 1,
            actor_kind: "user".into(),
            actor_user_id: Some(7),
            actor_label: "ana@acme.test".into(),
            action: action.into(),
            module: module.into(),
            entity_id: Some("5".into()),
            before,
            after,
            ip: None,
            request_id: None,
            created_at: chrono::Utc::now(),
            client_id: (module == "clients").then_some(5),
            subject_user_id: (module == "users" || module == "auth").then_some(5),
        }
    }

    fn names() -> Names {
        Names { users: HashMap::from([(7, "Ana Lopez".into())]), clients: HashMap::from([(5, "Amara Smith".into())]), link_users: true }
    }

    /// Every action the code can record (the registry `Entry::new` requires) has its own
    /// sentence: none falls back to "did “…” in …".
    #[test]
    fn no_recorded_action_falls_back_to_the_raw_form() {
        let raw: Vec<&str> = crate::audit::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .filter(|action| {
                let module = action.split_once('.').map_or("", |(m, _)| m);
                let e = entry(action, module, Some(json!({})), Some(json!({})));
                let said = plain(&describe(&e, &names()));
                said.contains(" did “") || said == "Ana Lopez"
            })
            .collect();
        assert!(raw.is_empty(), "actions without a sentence: {raw:?}");
    }

    #[test]
    fn every_action_reads_as_a_sentence() {
        let status = entry("clients.updated", "clients", Some(json!({"status": "warm", "name": "Amara Smith"})), Some(json!({"status": "hot", "name": "Amara Smith"})));
        assert_eq!(plain(&describe(&status, &names())), "Ana Lopez changed the status of Amara Smith from warm to hot");
        let both = entry("clients.updated", "clients", Some(json!({"status": "warm", "phone": ""})), Some(json!({"status": "hot", "phone": "123"})));
        assert_eq!(plain(&describe(&both, &names())), "Ana Lopez changed the status of Amara Smith from warm to hot and updated phone");
        let tag = entry("tags.deleted", "tags", Some(json!({"name": "vip"})), None);
        assert_eq!(plain(&describe(&tag, &names())), "Ana Lopez deleted tag vip");
        let unknown = entry("clients.bulk_merge", "clients", None, None);
        assert_eq!(plain(&describe(&unknown, &names())), "Ana Lopez did “bulk merge” in clients");
        let deleted = entry("clients.deleted", "clients", Some(json!({"name": "Gone Ltd"})), None);
        let no_clients = Names { clients: HashMap::new(), ..names() };
        let pieces = describe(&deleted, &no_clients);
        assert_eq!(plain(&pieces), "Ana Lopez deleted client Gone Ltd");
        assert!(pieces.iter().all(|p| p.href.is_none()));
        let linked = describe(&entry("clients.created", "clients", None, Some(json!({"name": "Old"}))), &names());
        assert_eq!(linked[2].href.as_deref(), Some("/clients/5"));
        assert_eq!(linked[2].text, "Amara Smith");
        let assigned = entry("chats.assigned", "clients", Some(json!({"channel": "whatsapp", "assignee": null})), Some(json!({"channel": "whatsapp", "assignee": "Ben Ray"})));
        assert_eq!(plain(&describe(&assigned, &names())), "Ana Lopez assigned the WhatsApp chat with Amara Smith to Ben Ray");
        let unassigned = entry("chats.assigned", "clients", Some(json!({"channel": "sms", "assignee": "Ben Ray"})), Some(json!({"channel": "sms", "assignee": null})));
        assert_eq!(plain(&describe(&unassigned, &names())), "Ana Lopez unassigned Ben Ray from the SMS chat with Amara Smith");
        let closed = entry("chats.closed", "clients", None, Some(json!({"channel": "sms"})));
        assert_eq!(plain(&describe(&closed, &names())), "Ana Lopez closed the SMS chat with Amara Smith");
        let reopened = entry("chats.reopened", "clients", None, Some(json!({"channel": "whatsapp"})));
        assert_eq!(plain(&describe(&reopened, &names())), "Ana Lopez reopened the WhatsApp chat with Amara Smith");
        let opened = entry("chats.opened", "clients", None, Some(json!({"channel": "sms"})));
        assert_eq!(plain(&describe(&opened, &names())), "Ana Lopez opened the SMS chat with Amara Smith");
        let queued = entry("messages.queued", "clients", None, Some(json!({"channel": "whatsapp"})));
        assert_eq!(plain(&describe(&queued, &names())), "Ana Lopez sent a WhatsApp message to Amara Smith");
        let batch = entry("campaigns.batch_created", "campaigns", None, Some(json!({"channel": "sms", "queued": 8, "skipped": 2})));
        assert_eq!(plain(&describe(&batch, &names())), "Ana Lopez created an SMS batch for campaign #5 (8 queued, 2 skipped)");
        let flow = entry("flows.updated", "whatsapp_flows", None, Some(json!({"name": "Onboarding", "steps": 3})));
        assert_eq!(plain(&describe(&flow, &names())), "Ana Lopez updated flow Onboarding (3 steps)");
    }
}
