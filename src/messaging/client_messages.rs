//! Messages from the client page: `POST /clients/{id}/messages` (queue a WhatsApp template
//! or an SMS), `POST /clients/{id}/messages/{message_id}/resend` (a new message after one
//! whose outcome is unknown), `GET /clients/{id}/messages/preview` (a template filled in)
//! and `GET /clients/{id}/messages/segments` (an SMS body's segment count).
//!
//! A refused message says why and queues nothing; an accepted one is written `queued` and
//! its `send-message` job enqueued in one transaction (`messaging::send` sends it).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Scope;
use crate::clients::handlers::{Activity, TypedMessage, show_client_page, timeline_in_place};
use crate::db;
use crate::db::schema::whatsapp_templates;
use crate::error::AppError;
use crate::jobs::{self, NewJob};
use crate::messaging::account::Account;
use crate::messaging::{Channel, MessageStatus, templates};
use crate::messaging::fragments::{Preview, SmsSegments};
use crate::messaging::send::SendMessage;
use crate::messaging::store::{self, NewOutbound};
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{OnceForm, Query};
use crate::web::once::Claim;
use crate::web::render::{html_status, see_other};
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

/// What the client page's "Send a message" form offers.
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

/// What the form asks for, checked: ready to write.
pub struct Checked {
    pub new: NewOutbound,
    pub channel: Channel,
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
) -> Result<Result<Checked, String>, AppError> {
    let client = crate::clients::model::visible(conn, scope, client_id)?.ok_or(AppError::NotFound)?;
    let account = match Account::load(conn, &state.at_rest_key, scope.workspace_id) {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Err("Twilio is not configured: add the account in Settings → Twilio first.".into())),
        Err(why) => return Ok(Err(why)),
    };
    let Some(channel) = Channel::parse(&form.channel) else { return Ok(Err("Channel must be WhatsApp or SMS.".into())) };
    let chosen = Some(form.from.trim()).filter(|f| !f.is_empty());
    let Some(sender) = account.sender(channel, chosen) else {
        return Ok(Err(match channel {
            Channel::WhatsApp => "No WhatsApp sender is set up: add a WhatsApp number in Settings → Twilio.".into(),
            Channel::Sms => "No SMS sender is set up: add an SMS number or a messaging service in Settings → Twilio.".into(),
        }));
    };
    let Some(phone) = client.phone.clone().filter(|p| !p.trim().is_empty()) else {
        return Ok(Err(format!("{} has no phone number.", client.name)));
    };
    let opted_out = match channel {
        Channel::WhatsApp => client.opt_out_whatsapp_at,
        Channel::Sms => client.opt_out_sms_at,
    };
    if opted_out.is_some() {
        let name = if channel == Channel::WhatsApp { "WhatsApp" } else { "SMS" };
        return Ok(Err(format!("{} opted out of {name} messages.", client.name)));
    }
    let (body, template_id, variables) = match channel {
        Channel::WhatsApp if form.template_id.trim().is_empty() && matches!(whatsapp_text, WhatsAppText::Allowed) => {
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err("Write the message.".into()));
            }
            if body.chars().count() > WHATSAPP_MAX_CHARS {
                return Ok(Err(format!("A WhatsApp message must be at most {WHATSAPP_MAX_CHARS} characters.")));
            }
            (body.to_string(), None, json!({}))
        }
        Channel::WhatsApp => {
            if let (WhatsAppText::TemplateOnly(reason), true) = (whatsapp_text, form.template_id.trim().is_empty()) {
                return Ok(Err(reason.clone()));
            }
            let Ok(id) = form.template_id.trim().parse::<i64>() else { return Ok(Err("Choose an approved template.".into())) };
            let Some(template) = find_template(conn, scope.workspace_id, id)? else { return Ok(Err("Choose an approved template.".into())) };
            if template.approval_status != "approved" {
                return Ok(Err(format!("The template {} is not approved by WhatsApp ({}).", template.name, template.approval_status)));
            }
            let mut vars = Vec::new();
            for name in template.placeholders() {
                match form.var(&name) {
                    Some(value) if value.chars().count() > templates::VARIABLE_MAX_CHARS => {
                        return Ok(Err(format!("Variable {{{{{name}}}}} is longer than {} characters.", templates::VARIABLE_MAX_CHARS)));
                    }
                    Some(value) => vars.push((name, value.to_string())),
                    None => return Ok(Err(format!("Fill in variable {{{{{name}}}}} of the template."))),
                }
            }
            let object: serde_json::Map<String, serde_json::Value> = vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            (templates::render(&template.body, &vars), Some(template.id), serde_json::Value::Object(object))
        }
        Channel::Sms => {
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err("Write the message.".into()));
            }
            if body.chars().count() > SMS_MAX_CHARS {
                return Ok(Err(format!("An SMS must be at most {SMS_MAX_CHARS} characters.")));
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

/// Queues the message once per submitted form (a repeat answers as the first did).
pub async fn send(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<MessageForm>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    let entry = ctx.audit(Action::MessagesQueued, "clients", client_id);
    let st = state.clone();
    let typed = TypedMessage {
        channel: form.channel.clone(),
        template_id: form.template_id.clone(),
        body: form.body.clone(),
        from: form.from.clone(),
        vars: form.rest.iter().filter(|(k, _)| k.starts_with("var_")).map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| match check(tx, &st, &scope, client_id, &form, &WhatsAppText::TemplateOnly("Choose an approved template.".into()))? {
            Err(problem) => Ok(Err(problem)),
            Ok(checked) => {
                if once.claim(tx, scope.workspace_id, scope.user_id)? == Claim::First {
                    queue(tx, &checked.new, entry)?;
                }
                Ok(Ok(checked.channel))
            }
        })
    })
    .await?;
    match outcome {
        Ok(_) => queued(&ctx, &state, client_id).await,
        Err(problem) => {
            let activity = Activity { error: Some(problem), notice: None, open_form: "send-message", typed };
            show_client_page(&ctx, &state, client_id, 1, activity, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

async fn queued(ctx: &Ctx, state: &AppState, client_id: i64) -> Result<HttpResponse, AppError> {
    let notice = "Message queued.".to_string();
    if ctx.meta.htmx.wants_fragment() {
        return timeline_in_place(ctx, state, client_id, notice).await;
    }
    flash::success(&ctx.session, notice);
    Ok(see_other(&format!("/clients/{client_id}")))
}

/// A new message with the same content as one whose outcome is unknown: a person checked
/// and decided to send again. Once: the old message is locked, and the resend recorded
/// against it (`message_resends`, keyed by the old message) in the transaction that queues
/// the copy, so a second press, concurrent or later, is a 409 naming who resent it.
pub async fn resend(ctx: Ctx, state: Data<AppState>, path: Path<(i64, i64)>) -> Result<HttpResponse, AppError> {
    let (scope, (client_id, message_id)) = (ctx.scope(), path.into_inner());
    let entry = ctx.audit(Action::MessagesResent, "clients", client_id);
    let zone = ctx.zone();
    db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let client = crate::clients::model::visible(tx, &scope, client_id)?.ok_or(AppError::NotFound)?;
            let old = store::find_for_update(tx, scope.workspace_id, message_id)?.filter(|m| m.client_id == Some(client_id)).ok_or(AppError::NotFound)?;
            if let Some((who, at)) = store::resent_by(tx, scope.workspace_id, old.id)? {
                return Err(AppError::Conflict(format!("This message was already resent by {who} at {}.", zone.time(at))));
            }
            if old.status != MessageStatus::Unknown {
                return Err(AppError::Validation("Only a message whose outcome is unknown can be resent.".into()));
            }
            // An opt-out since the first try still wins.
            let opted_out = match old.channel {
                Channel::WhatsApp => client.opt_out_whatsapp_at.is_some(),
                Channel::Sms => client.opt_out_sms_at.is_some(),
            };
            if opted_out {
                return Err(AppError::Validation(format!("{} opted out of {} messages.", client.name, if old.channel == Channel::WhatsApp { "WhatsApp" } else { "SMS" })));
            }
            let new = NewOutbound {
                workspace_id: scope.workspace_id,
                client_id: Some(client_id),
                channel: old.channel,
                sender: old.sender.clone(),
                recipient: old.recipient.clone(),
                body: old.body.clone(),
                template_id: old.template_id,
                variables: old.variables.clone(),
                created_by: Some(scope.user_id),
                batch_id: None,
            };
            let entry = entry.before(json!({ "message_id": old.id, "status": old.status.as_str() }));
            let copy = queue(tx, &new, entry)?;
            store::record_resend(tx, scope.workspace_id, old.id, copy, scope.user_id)?;
            Ok(copy)
        })
    })
    .await?;
    queued(&ctx, &state, client_id).await
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

/// The template filled with the variables typed so far (htmx swaps it under the form).
pub async fn preview(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<PreviewQuery>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    let template_id = q.template_id.trim().parse::<i64>().ok();
    let template = db::run(&state.pool, move |conn| {
        crate::clients::model::visible(conn, &scope, client_id)?.ok_or(AppError::NotFound)?;
        Ok(match template_id {
            Some(id) => find_template(conn, scope.workspace_id, id)?,
            None => None,
        })
    })
    .await?;
    let text = match template {
        Some(t) => {
            let vars: Vec<(String, String)> = t
                .placeholders()
                .into_iter()
                .filter_map(|n| q.rest.get(&format!("var_{n}")).filter(|v| !v.trim().is_empty()).map(|v| (n, v.trim().to_string())))
                .collect();
            templates::render(&t.body, &vars)
        }
        None => "Choose a template to see the message.".to_string(),
    };
    html_status(StatusCode::OK, &Preview { id: "message-preview", who: "", text: &text })
}

#[derive(Deserialize)]
pub struct SegmentsQuery {
    #[serde(default)]
    body: String,
}

/// "2 segments · GSM-7, 153 characters each" for the SMS body typed so far.
pub async fn segments(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<SegmentsQuery>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    db::run(&state.pool, move |conn| crate::clients::model::visible(conn, &scope, client_id)?.ok_or(AppError::NotFound).map(|_| ())).await?;
    html_status(StatusCode::OK, &SmsSegments::of(&q.body))
}
