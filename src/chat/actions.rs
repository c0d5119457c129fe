//! Assign, close and reopen a chat (issue 13 part 3), and the chat notifications (part 5).
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
use chrono::Utc;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::Action;
use crate::audit::{self, Entry};
use crate::authz::Role;
use crate::chat::{Chat, ChatScope, ChatStatus};
use crate::db;
use crate::db::schema::{chats, clients, users};
use crate::error::AppError;
use crate::messaging::Channel;
use crate::notifications::NewNotification;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash::{self, Flash};
use crate::web::forms::HtmlForm;
use crate::web::render::{html_status, see_other};
use crate::web::state::AppState;

/// Notification kinds.
pub const ASSIGNED: &str = "chat_assigned";
pub const NEW_MESSAGE: &str = "chat_message";
pub const UNASSIGNED_MESSAGE: &str = "chat_unassigned";

/// "WhatsApp" / "SMS".
pub fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::WhatsApp => "WhatsApp",
        Channel::Sms => "SMS",
    }
}

/// The active users of the workspace, by name: who a chat may be assigned to (the actions
/// partial's select).
pub fn assignees(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(i64, String)>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .filter(users::active.eq(true))
        .order((users::name, users::id))
        .select((users::id, users::name))
        .load(conn)
}

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
pub struct Done {
    pub chat: Chat,
    /// Whether the actor still sees the chat.
    pub visible: bool,
    pub message: String,
}

fn user_name(conn: &mut PgConnection, workspace_id: i64, id: Option<i64>) -> QueryResult<Option<String>> {
    match id {
        None => Ok(None),
        Some(id) => users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)).select(users::name).first(conn).optional(),
    }
}

fn client_name(conn: &mut PgConnection, chat: &Chat) -> QueryResult<String> {
    clients::table.filter(clients::workspace_id.eq(chat.workspace_id)).filter(clients::id.eq(chat.client_id)).select(clients::name).first(conn)
}

fn audit_json(conn: &mut PgConnection, chat: &Chat, client: &str) -> QueryResult<Value> {
    Ok(json!({
        "chat_id": chat.id,
        "channel": chat.channel.as_str(),
        "status": chat.status.as_str(),
        "assignee_id": chat.assignee_id,
        "assignee": user_name(conn, chat.workspace_id, chat.assignee_id)?,
        "name": client,
    }))
}

/// The visible chat, locked for the change (404 when the actor may not see it).
fn lock_visible(conn: &mut PgConnection, scope: &ChatScope, id: i64) -> Result<Chat, AppError> {
    scope.find(conn, id)?.ok_or(AppError::NotFound)?;
    Ok(chats::table
        .filter(chats::workspace_id.eq(scope.workspace_id))
        .filter(chats::id.eq(id))
        .select(Chat::as_select())
        .for_update()
        .first(conn)?)
}

fn parse_user_id(raw: &str) -> Result<Option<i64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>().map(Some).map_err(|_| AppError::Validation("Choose a user from the list.".into()))
}

/// Assigns (or with `None` unassigns) the chat, by the rules at the top of this module.
pub fn assign(conn: &mut PgConnection, scope: &ChatScope, actor_name: &str, id: i64, raw_user_id: &str, entry: Entry) -> Result<Done, AppError> {
    conn.transaction(|tx| {
        let before = lock_visible(tx, scope, id)?;
        let target = parse_user_id(raw_user_id)?;
        if scope.role == Role::Agent {
            match target {
                Some(user) if user == scope.user_id => {}
                None if before.assignee_id == Some(scope.user_id) || before.assignee_id.is_none() => {}
                Some(_) => return Err(AppError::Forbidden("Agents may assign a chat only to themselves.".into())),
                None => return Err(AppError::Forbidden("Agents may unassign only themselves.".into())),
            }
        }
        let target_name = match target {
            None => None,
            Some(user) => {
                let found: Option<(String, bool)> = users::table
                    .filter(users::workspace_id.eq(scope.workspace_id))
                    .filter(users::id.eq(user))
                    .select((users::name, users::active))
                    .first(tx)
                    .optional()?;
                match found {
                    None => return Err(AppError::Validation("That user is not a member of this workspace.".into())),
                    Some((name, false)) => return Err(AppError::Validation(format!("{name} is deactivated; a chat can only be assigned to an active user."))),
                    Some((name, true)) => Some(name),
                }
            }
        };
        let client = client_name(tx, &before)?;
        let what = format!("the {} chat with {client}", channel_label(before.channel));
        if before.assignee_id == target {
            let message = match &target_name {
                Some(name) => format!("Already assigned to {name}."),
                None => "Nobody is assigned.".to_string(),
            };
            return Ok(Done { chat: before, visible: true, message });
        }
        let chat: Chat = diesel::update(chats::table.filter(chats::workspace_id.eq(scope.workspace_id)).filter(chats::id.eq(id)))
            .set(chats::assignee_id.eq(target))
            .returning(Chat::as_returning())
            .get_result(tx)?;
        let (b, a) = (audit_json(tx, &before, &client)?, audit_json(tx, &chat, &client)?);
        audit::record(tx, &entry.before(b).after(a))?;
        if let Some(user) = target.filter(|u| *u != scope.user_id) {
            let link = format!("/chat/{id}");
            let body = format!("{actor_name} assigned you {what}.");
            crate::notifications::notify(
                tx,
                &NewNotification { workspace_id: scope.workspace_id, user_id: user, kind: ASSIGNED, title: "Chat assigned to you", body: &body, link: Some(&link), dedupe_key: None },
            )?;
        }
        let visible = scope.find(tx, id)?.is_some();
        let message = match target_name {
            Some(name) => format!("Assigned to {name}."),
            None => "Unassigned.".to_string(),
        };
        Ok(Done { chat, visible, message })
    })
}

/// Closes (`close`) or reopens the chat.
pub fn set_status(conn: &mut PgConnection, scope: &ChatScope, id: i64, close: bool, entry: Entry) -> Result<Done, AppError> {
    conn.transaction(|tx| {
        let before = lock_visible(tx, scope, id)?;
        match (close, before.status) {
            (true, ChatStatus::Closed) => return Err(AppError::Conflict("This chat is already closed.".into())),
            (false, ChatStatus::Open) => return Err(AppError::Conflict("This chat is already open.".into())),
            _ => {}
        }
        let (status, closed_at) = if close { (ChatStatus::Closed, Some(Utc::now())) } else { (ChatStatus::Open, None) };
        let chat: Chat = diesel::update(chats::table.filter(chats::workspace_id.eq(scope.workspace_id)).filter(chats::id.eq(id)))
            .set((chats::status.eq(status), chats::closed_at.eq(closed_at)))
            .returning(Chat::as_returning())
            .get_result(tx)?;
        let client = client_name(tx, &before)?;
        let (b, a) = (audit_json(tx, &before, &client)?, audit_json(tx, &chat, &client)?);
        audit::record(tx, &entry.before(b).after(a))?;
        let message = if close { "Chat closed." } else { "Chat reopened." };
        Ok(Done { chat, visible: true, message: message.to_string() })
    })
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
        let assignees = db::run(&state.pool, move |conn| Ok(assignees(conn, w)?)).await?;
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
    let done = db::run(&state.pool, move |conn| {
        let client_id = scope.find(conn, id)?.ok_or(AppError::NotFound)?.client_id;
        let entry = Entry { entity_id: Some(client_id.to_string()), ..entry };
        assign(conn, &scope, &actor, id, &form.user_id, entry)
    })
    .await?;
    answer(&ctx, &state, done).await
}

async fn status_change(ctx: Ctx, state: Data<AppState>, id: i64, close: bool) -> Result<HttpResponse, AppError> {
    let scope = ChatScope::of(&ctx);
    let entry = ctx.audit(if close { Action::ChatsClosed } else { Action::ChatsReopened }, "clients", 0);
    let done = db::run(&state.pool, move |conn| {
        let client_id = scope.find(conn, id)?.ok_or(AppError::NotFound)?.client_id;
        let entry = Entry { entity_id: Some(client_id.to_string()), ..entry };
        set_status(conn, &scope, id, close, entry)
    })
    .await?;
    answer(&ctx, &state, done).await
}

pub async fn close_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    status_change(ctx, state, path.into_inner(), true).await
}

pub async fn reopen_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    status_change(ctx, state, path.into_inner(), false).await
}

/// After an inbound message is recorded (same transaction): tells the chat's assignee, if
/// any and active; an unassigned chat's message goes to the admins and to the managers of
/// the client's departments (who see the chat, by [`ChatScope`]'s rule). Each notification
/// is collapsed ([`notify_collapsed`](crate::notifications::notify_collapsed)): while the
/// user's "new message" notification for the chat is unread, it is updated (text and time)
/// instead of adding another, so a chatty client does not flood the list. The inbound's
/// trigger has just updated the chat row, so concurrent inbounds of the same chat wait for
/// this transaction: no duplicate.
pub fn on_inbound(conn: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, text: &str) -> QueryResult<()> {
    let found: Option<(i64, Option<i64>)> = chats::table
        .filter(chats::workspace_id.eq(workspace_id))
        .filter(chats::client_id.eq(client_id))
        .filter(chats::channel.eq(channel))
        .select((chats::id, chats::assignee_id))
        .first(conn)
        .optional()?;
    let Some((chat_id, assignee)) = found else { return Ok(()) };
    let client: String = clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(client_id)).select(clients::name).first(conn)?;
    let link = format!("/chat/{chat_id}");
    let preview: String = text.chars().take(140).collect();
    let body = format!("{}: {preview}", channel_label(channel));
    let (kind, title, told) = match assignee {
        Some(user) => (NEW_MESSAGE, format!("New message from {client}"), vec![user]),
        None => (UNASSIGNED_MESSAGE, format!("New message from {client} (unassigned chat)"), unassigned_chat_watchers(conn, workspace_id, client_id)?),
    };
    for user in told {
        crate::notifications::notify_collapsed(
            conn,
            &NewNotification { workspace_id, user_id: user, kind, title: &title, body: &body, link: Some(&link), dedupe_key: None },
        )?;
    }
    Ok(())
}

/// Who hears of an unassigned chat's messages: the active admins, and the active managers
/// of one of the client's departments.
fn unassigned_chat_watchers(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Watcher {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let rows: Vec<Watcher> = diesel::sql_query(
        "SELECT u.id FROM users u WHERE u.workspace_id = $1 AND u.active AND (u.role = 'admin' OR (u.role = 'manager' AND EXISTS ( \
           SELECT 1 FROM user_departments ud JOIN client_departments cd ON cd.workspace_id = ud.workspace_id AND cd.department_id = ud.department_id \
           WHERE ud.workspace_id = u.workspace_id AND ud.user_id = u.id AND cd.client_id = $2))) ORDER BY u.id",
    )
    .bind::<diesel::sql_types::BigInt, _>(workspace_id)
    .bind::<diesel::sql_types::BigInt, _>(client_id)
    .load(conn)?;
    Ok(rows.into_iter().map(|w| w.id).collect())
}
