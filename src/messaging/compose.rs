//! Composing a message a person wrote (the client page's form, a chat reply, a campaign's
//! test send): the one check of what the form asks for against the account, the client
//! and the template ([`check`]), and its queueing ([`queue`]): the message written `queued`
//! and its `send-message` job enqueued, audited, in the caller's transaction
//! (`messaging::send` sends it). No handlers and no HTML here: the client page's message
//! routes are `clients::messages`, the chat's reply `chat::reply`.
//!
//! A refused message says why (`Ok(Err(Refusal))`) and writes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::authz::Scope;
use crate::db::schema::{clients, whatsapp_templates};
use crate::error::AppError;
use crate::jobs::{self, NewJob};
use crate::messaging::account::{Account, LoadError};
use crate::messaging::send::SendMessage;
use crate::messaging::store::{self, NewOutbound};
use crate::messaging::{Channel, templates};
use crate::web::state::AppState;

/// The longest SMS body accepted (Twilio's limit).
pub const SMS_MAX_CHARS: usize = 1_600;
/// Attempts a send job gets (429s and 5xx count; a busy throttle does not).
pub const SEND_ATTEMPTS: i32 = 8;

/// An approved-or-not template as the send form offers it.
#[derive(Clone, Debug, Queryable)]
pub struct TemplateChoice {
    pub id: i64,
    pub name: String,
    pub language: String,
    pub body: String,
    pub approval_status: String,
}

impl TemplateChoice {
    pub fn placeholders(&self) -> Vec<String> {
        templates::placeholders(&self.body)
    }
}

/// The workspace's approved templates, by name.
pub fn approved_templates(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<TemplateChoice>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .filter(whatsapp_templates::approval_status.eq("approved"))
        .order((whatsapp_templates::name, whatsapp_templates::id))
        .select((whatsapp_templates::id, whatsapp_templates::name, whatsapp_templates::language, whatsapp_templates::body, whatsapp_templates::approval_status))
        .load(conn)
}

pub fn find_template(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<TemplateChoice>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .filter(whatsapp_templates::id.eq(id))
        .select((whatsapp_templates::id, whatsapp_templates::name, whatsapp_templates::language, whatsapp_templates::body, whatsapp_templates::approval_status))
        .first(conn)
        .optional()
}

/// What a "Send a message" form offers (the client page's).
#[derive(Clone, Debug, Default)]
pub struct SendOptions {
    /// Twilio is set up for the workspace.
    pub configured: bool,
    pub whatsapp_from: Vec<String>,
    pub sms: bool,
    pub templates: Vec<TemplateChoice>,
}

impl SendOptions {
    pub fn load(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<SendOptions> {
        let Some(stored) = crate::messaging::account::stored(conn, workspace_id)? else { return Ok(SendOptions::default()) };
        Ok(SendOptions {
            configured: true,
            sms: stored.sms_from.is_some() || stored.messaging_service_sid.is_some(),
            whatsapp_from: stored.whatsapp_from,
            templates: approved_templates(conn, workspace_id)?,
        })
    }

    /// The variable inputs the form shows: as many as the template with the most.
    pub fn var_numbers(&self) -> Vec<usize> {
        let most = self.templates.iter().map(|t| t.placeholders().len()).max().unwrap_or(0).max(1);
        (1..=most).collect()
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub template_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub from: String,
    /// `var_1`, `var_2`, … (and the CSRF token, ignored).
    #[serde(flatten)]
    pub rest: HashMap<String, String>,
}

impl MessageForm {
    fn var(&self, name: &str) -> Option<&str> {
        self.rest.get(&format!("var_{name}")).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// The longest free-text WhatsApp message accepted (WhatsApp's limit).
pub const WHATSAPP_MAX_CHARS: usize = 4_096;

/// Whether a WhatsApp message may be free text: the client page only sends approved
/// templates; a chat reply may send free text inside the 24-hour window (`chat::reply`).
#[derive(Clone, Debug)]
pub enum WhatsAppText {
    /// Free text allowed: a message with a body and no template is sent as text.
    Allowed,
    /// Only a template: a message without one is refused with this reason.
    TemplateOnly(String),
}

/// The client a message goes to, as the check reads it.
#[derive(Clone, Debug, Queryable)]
struct Recipient {
    name: String,
    phone: Option<String>,
    opt_out_whatsapp_at: Option<DateTime<Utc>>,
    opt_out_sms_at: Option<DateTime<Utc>>,
}

impl Recipient {
    /// The client `id` when `scope` may see it (as `clients::model::visible` finds it).
    fn visible(conn: &mut PgConnection, scope: &Scope, id: i64) -> QueryResult<Option<Recipient>> {
        scope
            .clients()
            .filter(clients::id.eq(id))
            .select((clients::name, clients::phone, clients::opt_out_whatsapp_at, clients::opt_out_sms_at))
            .first(conn)
            .optional()
    }
}

/// What the form asks for, checked: ready to write.
pub struct Checked {
    pub new: NewOutbound,
    pub channel: Channel,
}

/// Why a message was refused; the message is the one the page shows. Nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("Twilio is not configured: add the account in Settings → Twilio first.")]
    NotConfigured,
    /// The settings cannot be read, or the token not opened with this secret key.
    #[error(transparent)]
    Account(#[from] LoadError),
    #[error("Channel must be WhatsApp or SMS.")]
    Channel,
    #[error("No WhatsApp sender is set up: add a WhatsApp number in Settings → Twilio.")]
    NoWhatsAppSender,
    #[error("No SMS sender is set up: add an SMS number or a messaging service in Settings → Twilio.")]
    NoSmsSender,
    /// The client (by name) has no phone number.
    #[error("{0} has no phone number.")]
    NoPhone(String),
    /// The client (by name) opted out of the channel (as the page names it).
    #[error("{client} opted out of {channel} messages.")]
    OptedOut { client: String, channel: &'static str },
    #[error("Write the message.")]
    NoBody,
    #[error("A WhatsApp message must be at most {WHATSAPP_MAX_CHARS} characters.")]
    WhatsAppTooLong,
    #[error("An SMS must be at most {SMS_MAX_CHARS} characters.")]
    SmsTooLong,
    /// Free text where only a template may go: the reason the caller gave
    /// (`WhatsAppText::TemplateOnly`).
    #[error("{0}")]
    TemplateOnly(String),
    #[error("Choose an approved template.")]
    NoTemplate,
    #[error("The template {name} is not approved by WhatsApp ({status}).")]
    NotApproved { name: String, status: String },
    /// A template variable (its number) longer than allowed.
    #[error("Variable {{{{{0}}}}} is longer than {max} characters.", max = templates::VARIABLE_MAX_CHARS)]
    VariableTooLong(String),
    /// A template variable (its number) left empty.
    #[error("Fill in variable {{{{{0}}}}} of the template.")]
    MissingVariable(String),
}

impl Refusal {
    /// No sender of `channel` is set up.
    pub fn no_sender(channel: Channel) -> Self {
        match channel {
            Channel::WhatsApp => Refusal::NoWhatsAppSender,
            Channel::Sms => Refusal::NoSmsSender,
        }
    }
}

/// Checks a message against the account, the client and the template; `Err` is the reason
/// shown to the person. The one validation of every person-written message (the client
/// page's form and the chat reply).
pub fn check(
    conn: &mut PgConnection,
    state: &AppState,
    scope: &Scope,
    client_id: i64,
    form: &MessageForm,
    whatsapp_text: &WhatsAppText,
) -> Result<Result<Checked, Refusal>, AppError> {
    let client = Recipient::visible(conn, scope, client_id)?.ok_or(AppError::NotFound)?;
    let account = match Account::load(conn, &state.at_rest_key, scope.workspace_id) {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Err(Refusal::NotConfigured)),
        Err(why) => return Ok(Err(why.into())),
    };
    let Some(channel) = Channel::parse(&form.channel) else { return Ok(Err(Refusal::Channel)) };
    let chosen = Some(form.from.trim()).filter(|f| !f.is_empty());
    let Some(sender) = account.sender(channel, chosen) else {
        return Ok(Err(Refusal::no_sender(channel)));
    };
    let Some(phone) = client.phone.clone().filter(|p| !p.trim().is_empty()) else {
        return Ok(Err(Refusal::NoPhone(client.name)));
    };
    let opted_out = match channel {
        Channel::WhatsApp => client.opt_out_whatsapp_at,
        Channel::Sms => client.opt_out_sms_at,
    };
    if opted_out.is_some() {
        let name = channel.label();
        return Ok(Err(Refusal::OptedOut { client: client.name, channel: name }));
    }
    let (body, template_id, variables) = match channel {
        Channel::WhatsApp if form.template_id.trim().is_empty() && matches!(whatsapp_text, WhatsAppText::Allowed) => {
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err(Refusal::NoBody));
            }
            if body.chars().count() > WHATSAPP_MAX_CHARS {
                return Ok(Err(Refusal::WhatsAppTooLong));
            }
            (body.to_string(), None, json!({}))
        }
        Channel::WhatsApp => {
            if let (WhatsAppText::TemplateOnly(reason), true) = (whatsapp_text, form.template_id.trim().is_empty()) {
                return Ok(Err(Refusal::TemplateOnly(reason.clone())));
            }
            let Ok(id) = form.template_id.trim().parse::<i64>() else { return Ok(Err(Refusal::NoTemplate)) };
            let Some(template) = find_template(conn, scope.workspace_id, id)? else { return Ok(Err(Refusal::NoTemplate)) };
            if template.approval_status != "approved" {
                return Ok(Err(Refusal::NotApproved { name: template.name, status: template.approval_status }));
            }
            let mut vars = Vec::new();
            for name in template.placeholders() {
                match form.var(&name) {
                    Some(value) if value.chars().count() > templates::VARIABLE_MAX_CHARS => {
                        return Ok(Err(Refusal::VariableTooLong(name)));
                    }
                    Some(value) => vars.push((name, value.to_string())),
                    None => return Ok(Err(Refusal::MissingVariable(name))),
                }
            }
            let object: serde_json::Map<String, serde_json::Value> = vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            (templates::render(&template.body, &vars), Some(template.id), serde_json::Value::Object(object))
        }
        Channel::Sms => {
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err(Refusal::NoBody));
            }
            if body.chars().count() > SMS_MAX_CHARS {
                return Ok(Err(Refusal::SmsTooLong));
            }
            (body.to_string(), None, json!({}))
        }
    };
    Ok(Ok(Checked {
        new: NewOutbound {
            workspace_id: scope.workspace_id,
            client_id: Some(client_id),
            channel,
            sender: sender.key().to_string(),
            recipient: phone.trim().to_string(),
            body,
            template_id,
            variables,
            created_by: Some(scope.user_id),
            batch_id: None,
        },
        channel,
    }))
}

/// Writes the message and its send job, and audits it, in the caller's transaction.
pub fn queue(tx: &mut PgConnection, new: &NewOutbound, entry: audit::Entry) -> Result<i64, AppError> {
    let message = store::insert_outbound(tx, new)?;
    jobs::enqueue(tx, &NewJob::new(new.workspace_id, SendMessage::KIND, json!({ "message_id": message.id })).attempts(SEND_ATTEMPTS))?;
    audit::record(
        tx,
        &entry.after(json!({
            "message_id": message.id,
            "channel": new.channel.as_str(),
            "sender": new.sender,
            "recipient": new.recipient,
            "template_id": new.template_id,
        })),
    )?;
    Ok(message.id)
}

/// A template preview's query: the template and the `var_1`, `var_2`, … typed so far
/// (also the campaign batch form's preview).
#[derive(Deserialize)]
pub struct PreviewQuery {
    #[serde(default)]
    pub template_id: String,
    #[serde(flatten)]
    pub rest: HashMap<String, String>,
}
