//! Messages from the client page: `POST /clients/{id}/messages` (queue a WhatsApp template
//! or an SMS), `POST /clients/{id}/messages/{message_id}/resend` (a new message after one
//! whose outcome is unknown), `GET /clients/{id}/messages/preview` (a template filled in)
//! and `GET /clients/{id}/messages/segments` (an SMS body's segment count).
//!
//! A refused message says why and queues nothing; an accepted one is written `queued` and
//! its `send-message` job enqueued in one transaction (`messaging::compose` checks and
//! queues it, `messaging::send` sends it).

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::audit::Action;
use crate::clients::handlers::{Activity, TypedMessage, show_client_page, timeline_in_place};
use crate::error::AppError;
use crate::messaging::compose::{MessageForm, PreviewQuery, WhatsAppText, check, find_template, queue};
use crate::messaging::fragments::{Preview, SmsSegments};
use crate::messaging::store::{self, NewOutbound};
use crate::messaging::{Channel, MessageStatus, templates};
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{OnceForm, Query};
use crate::web::once::Claim;
use crate::web::render::{html_status, see_other};
use crate::web::state::AppState;

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
    let outcome = state.db(move |conn| {
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
            let activity = Activity { error: Some(problem.to_string()), notice: None, open_form: "send-message", typed };
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
    state.db(move |conn| {
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
                return Err(AppError::Validation(format!("{} opted out of {} messages.", client.name, old.channel.label())));
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

/// The template filled with the variables typed so far (htmx swaps it under the form).
pub async fn preview(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<PreviewQuery>) -> Result<HttpResponse, AppError> {
    let (scope, client_id) = (ctx.scope(), path.into_inner());
    let template_id = q.template_id.trim().parse::<i64>().ok();
    let template = state.db(move |conn| {
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
    state.db(move |conn| crate::clients::model::visible(conn, &scope, client_id)?.ok_or(AppError::NotFound).map(|_| ())).await?;
    html_status(StatusCode::OK, &SmsSegments::of(&q.body))
}
