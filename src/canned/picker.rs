//! The composer's picker: `GET /chat/{id}/canned-replies?q=` and
//! `GET /clients/{id}/canned-replies?q=` answer the replies matching what follows the `/`
//! typed (`model::matching`), each with its text filled for the chat's or page's client, as
//! the options of the picker's list box (`canned/picker.html`). The chat is found through
//! `ChatScope`, the client through the client scope: what the person may not see is 404.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::canned::model::{self, CannedReply};
use crate::chat::{ChatScope, query};
use crate::clients::fields;
use crate::clients::model::Client;
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::forms::Query;
use crate::web::render::html_status;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct PickerQuery {
    #[serde(default)]
    q: String,
}

/// A choice: the reply and its text for this client.
pub struct Choice {
    pub reply: CannedReply,
    pub filled: String,
}

impl Choice {
    /// The text on one line, shortened, for the option.
    pub fn preview(&self) -> String {
        crate::web::highlight::snippet(&self.filled, "", 90)
    }
}

#[derive(Template)]
#[template(path = "canned/picker.html")]
struct Picker {
    choices: Vec<Choice>,
    typed: String,
}

fn answer(typed: String, client: &Client, replies: Vec<CannedReply>) -> Result<HttpResponse, AppError> {
    let choices = replies.into_iter().map(|reply| Choice { filled: fields::fill(&reply.body, client), reply }).collect();
    html_status(StatusCode::OK, &Picker { choices, typed })
}

fn typed(q: &str) -> String {
    q.trim().trim_start_matches('/').chars().take(model::SHORTCUT_MAX).collect()
}

pub async fn for_chat(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<PickerQuery>) -> Result<HttpResponse, AppError> {
    let (chat_scope, scope, id, typed) = (ChatScope::of(&ctx), ctx.scope(), path.into_inner(), typed(&q.q));
    let search = typed.clone();
    let (client, replies) = state
        .db(move |conn| {
            let chat = chat_scope.find(conn, id)?.ok_or(AppError::NotFound)?;
            Ok((query::client_of(conn, &chat)?, model::matching(conn, &scope, &search)?))
        })
        .await?;
    answer(typed, &client, replies)
}

pub async fn for_client(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<PickerQuery>) -> Result<HttpResponse, AppError> {
    let (scope, id, typed) = (ctx.scope(), path.into_inner(), typed(&q.q));
    let search = typed.clone();
    let (client, replies) = state
        .db(move |conn| {
            let client = crate::clients::model::visible(conn, &scope, id)?.ok_or(AppError::NotFound)?;
            Ok((client, model::matching(conn, &scope, &search)?))
        })
        .await?;
    answer(typed, &client, replies)
}
