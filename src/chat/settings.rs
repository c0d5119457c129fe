//! The chat's settings on `/account`: the hourly digest of unread messages, on or off
//! (`POST /account/chat-digest`; the digest itself is `chat::digest`), and which key sends a
//! reply (`POST /account/chat-keys`).

use actix_web::HttpResponse;
use actix_web::web::Data;
use diesel::Connection;
use serde::Deserialize;

use crate::audit::Action;
use crate::chat::{digest, query};
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::HtmlForm;
use crate::web::render::see_other;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct DigestForm {
    #[serde(default)]
    chat_digest: String,
}

/// `POST /account/chat-digest` (`chat_digest` = off | hourly).
pub async fn save_setting(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<DigestForm>) -> Result<HttpResponse, AppError> {
    let on = match form.chat_digest.as_str() {
        "hourly" => true,
        "off" => false,
        _ => return Err(AppError::Validation("Choose off or hourly.".into())),
    };
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    let entry = ctx.audit(Action::UsersChatDigestChanged, "users", me);
    state.db(move |conn| Ok(conn.transaction(|tx| digest::set(tx, w, me, on, entry))?)).await?;
    flash::success(&ctx.session, if on { "You will get an hourly email of unread chat messages assigned to you." } else { "Chat digest emails are off." });
    Ok(see_other("/account"))
}

#[derive(Deserialize)]
pub struct KeysForm {
    #[serde(default)]
    send_with: String,
}

/// `POST /account/chat-keys` (`send_with` = enter | ctrl-enter).
pub async fn save_keys(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<KeysForm>) -> Result<HttpResponse, AppError> {
    let on = match form.send_with.as_str() {
        "enter" => true,
        "ctrl-enter" => false,
        _ => return Err(AppError::Validation("Choose Enter or Ctrl+Enter.".into())),
    };
    let (w, me) = (ctx.workspace_id(), ctx.user_id());
    let entry = ctx.audit(Action::UsersChatKeysChanged, "users", me);
    state.db(move |conn| Ok(conn.transaction(|tx| query::set_enter_sends(tx, w, me, on, entry))?)).await?;
    flash::success(&ctx.session, if on { "Enter now sends a chat reply; Shift+Enter adds a line." } else { "Ctrl+Enter now sends a chat reply; Enter adds a line." });
    Ok(see_other("/account"))
}
