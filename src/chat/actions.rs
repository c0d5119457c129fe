//! Assign, close and reopen a chat (issue 13 part 3): the handlers; the changes themselves are
//! [`model::assign`] and [`model::set_status`], the notifications
//! [`notify`](crate::chat::notify).
//!
//! Rules:
//! - The chat must be visible to the actor ([`ChatScope`]); otherwise 404, also for another
//!   workspace's id. The chat is found before the form is validated.
//! - Assign (`user_id`, empty = unassign):
//!   - agents may assign a chat they see only to themselves, or unassign themselves; anything
//!     else is 403 with the reason;
//!   - managers and admins may assign to any active user of the workspace (assigning makes
//!     the chat visible to the assignee, by [`ChatScope`]'s rule); a deactivated user, or an
//!     id that is no user of this workspace (another workspace's included), is 422 with the
//!     reason; anyone may be unassigned;
//!   - assigning to the current assignee changes nothing (no audit, no event).
//! - Close / reopen: anyone who sees the chat; closing a closed chat or reopening an open one
//!   is 409 with the reason.
//! - Each is one transaction: the chat row (its trigger writes the `chat` event), the audit
//!   entry (module `clients`, entity the client, before/after with the chat, channel, status,
//!   assignee and client name), and for an assignment the assignee's notification (none when
//!   they assigned it to themselves).
//! - htmx (target `chat-actions`): the actions partial, with the flash out of band; without
//!   JavaScript: a redirect back to the chat with the flash (to the inbox when the actor no
//!   longer sees the chat, e.g. an agent who unassigned a chat of someone else's client).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use crate::audit::Action;
use crate::audit::Entry;
use crate::chat::model::{self, Assigned, ChatError};
use crate::chat::{Chat, ChatScope, ChatStatus, query};
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash::{self, Flash};
use crate::web::forms::HtmlForm;
use crate::web::render::{html_status, see_other};
use crate::web::state::AppState;

// Where the inbound path and the notification settings reach them.
pub use crate::chat::notify::{ASSIGNED, NEW_MESSAGE, UNASSIGNED_MESSAGE, on_inbound};

/// The actions partial, answered to htmx (the flash rides along out of band).
#[derive(Template)]
#[template(path = "chat/actions_response.html")]
struct ActionsResponse {
    layout: Layout,
    chat: Chat,
    assignees: Vec<(i64, String)>,
    flash: Flash,
}

impl ActionsResponse {
    fn is_closed(&self) -> bool {
        self.chat.status == ChatStatus::Closed
    }

    /// The assignee's name, for the side panel (swapped out of band).
    fn assignee_name(&self) -> Option<String> {
        self.chat.assignee_id.and_then(|a| self.assignees.iter().find(|(id, _)| *id == a).map(|(_, name)| name.clone()))
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    user_id: String,
}

/// What an action did, for the answer.
struct Done {
    chat: Chat,
    /// Whether the actor still sees the chat.
    visible: bool,
    message: String,
}

impl From<Assigned> for Done {
    fn from(assigned: Assigned) -> Self {
        match assigned {
            Assigned::Unchanged { chat, assignee } => {
                let message = match assignee {
                    Some(name) => format!("Already assigned to {name}."),
                    None => "Nobody is assigned.".to_string(),
                };
                Done { chat, visible: true, message }
            }
            Assigned::Changed { chat, assignee, visible } => {
                let message = match assignee {
                    Some(name) => format!("Assigned to {name}."),
                    None => "Unassigned.".to_string(),
                };
                Done { chat, visible, message }
            }
        }
    }
}

fn parse_user_id(raw: &str) -> Result<Option<i64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>().map(Some).map_err(|_| AppError::Validation("Choose a user from the list.".into()))
}

/// htmx aiming at the partial gets the partial; anything else a redirect with the flash.
async fn answer(ctx: &Ctx, state: &Data<AppState>, done: Done) -> Result<HttpResponse, AppError> {
    let htmx = &ctx.meta.htmx;
    let to_partial = htmx.request && htmx.target.as_deref() == Some("chat-actions");
    if !done.visible {
        flash::success(&ctx.session, done.message);
        if htmx.request {
            return Ok(HttpResponse::Ok().insert_header(("HX-Redirect", "/chat")).finish());
        }
        return Ok(see_other("/chat"));
    }
    if to_partial {
        let w = ctx.workspace_id();
        let assignees = state.db(move |conn| Ok(query::assignees(conn, w)?)).await?;
        let response = ActionsResponse {
            layout: ctx.layout("Chat", "chat"),
            chat: done.chat,
            assignees,
            flash: Flash { kind: "success".into(), text: done.message },
        };
        return html_status(StatusCode::OK, &response);
    }
    flash::success(&ctx.session, done.message);
    Ok(see_other(&format!("/chat/{}", done.chat.id)))
}

pub async fn assign_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<AssignForm>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ChatScope::of(&ctx), path.into_inner());
    // Audited against the client, filled in once the chat is found.
    let entry = ctx.audit(Action::ChatsAssigned, "clients", 0);
    let actor = ctx.user.name.clone();
    let done = state.db(move |conn| {
        // The chat is found before the form is validated.
        let client_id = scope.find(conn, id)?.ok_or(AppError::NotFound)?.client_id;
        let target = parse_user_id(&form.user_id)?;
        let entry = Entry { entity_id: Some(client_id.to_string()), ..entry };
        let assigned = conn.transaction::<_, ChatError, _>(|tx| model::assign(tx, &scope, &actor, id, target, entry))?;
        Ok(Done::from(assigned))
    })
    .await?;
    answer(&ctx, &state, done).await
}

async fn status_change(ctx: Ctx, state: Data<AppState>, id: i64, close: bool) -> Result<HttpResponse, AppError> {
    let scope = ChatScope::of(&ctx);
    let entry = ctx.audit(if close { Action::ChatsClosed } else { Action::ChatsReopened }, "clients", 0);
    let chat = state.db(move |conn| {
        let client_id = scope.find(conn, id)?.ok_or(AppError::NotFound)?.client_id;
        let entry = Entry { entity_id: Some(client_id.to_string()), ..entry };
        Ok(conn.transaction::<_, ChatError, _>(|tx| model::set_status(tx, &scope, id, close, entry))?)
    })
    .await?;
    let message = if close { "Chat closed." } else { "Chat reopened." };
    answer(&ctx, &state, Done { chat, visible: true, message: message.to_string() }).await
}

pub async fn close_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    status_change(ctx, state, path.into_inner(), true).await
}

pub async fn reopen_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    status_change(ctx, state, path.into_inner(), false).await
}
