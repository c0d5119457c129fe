//! The chat inbox's pages: `GET /chat` (the list, a fragment refetched on `sse:chat`),
//! `POST /chat` (a person opens a chat) and `GET /chat/badge` (the nav's unread chats). The
//! conversation's are `conversation_pages`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use crate::audit::Action;
use crate::chat::model::{self, ChatError};
use crate::chat::{ChatScope, conversation};
use crate::chat::list::{self, Filter, Row, Tab};
use crate::error::AppError;
use crate::messaging::Channel;
use crate::web::ctx::{Ctx, Layout};
use crate::web::forms::{HtmlForm, Query};
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;

// ---------------------------------------------------------------------------------------
// The list

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    q: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "chat/index.html", blocks = ["content", "list"])]
struct InboxPage {
    layout: Layout,
    tab: Tab,
    q: String,
    rows: Vec<Row>,
    ages: Vec<String>,
    /// Who wrote each row's last message ("You", "Lena Ortiz", …; none for the client's).
    prefixes: Vec<Option<String>>,
    page: i64,
    more: bool,
}
crate::pages!(InboxPage);

impl InboxPage {
    fn href(&self, tab: Tab, page: i64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("status", tab.as_str());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        format!("/chat?{}", query.finish())
    }

    /// Each tab's link, label and whether it is the current one.
    fn tabs(&self) -> Vec<(String, &'static str, bool)> {
        Tab::ALL.iter().map(|&t| (self.href(t, 1), t.label(), t == self.tab)).collect()
    }

    fn prev_href(&self) -> String {
        if self.page > 1 { self.href(self.tab, self.page - 1) } else { String::new() }
    }

    fn next_href(&self) -> String {
        if self.more { self.href(self.tab, self.page + 1) } else { String::new() }
    }

    /// The list region's own URL (what `sse:chat` refetches).
    fn list_href(&self) -> String {
        self.href(self.tab, self.page)
    }
}

pub async fn index(ctx: Ctx, state: Data<AppState>, Query(q): Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let Some(tab) = Tab::parse(q.status.as_deref().unwrap_or("")) else {
        return Err(AppError::Validation("Status must be open, awaiting, closed, mine or unassigned.".into()));
    };
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(AppError::Validation("A search must be at most 100 characters.".into()));
    }
    let filter = Filter { tab, q: search.clone(), page: crate::web::forms::page_number(q.page) };
    let scope = ChatScope::of(&ctx);
    let f = filter.clone();
    let (rows, more, prefixes) = state
        .db(move |conn| {
            let (rows, more) = list::page(conn, &scope, &f)?;
            let prefixes = list::author_prefixes(conn, scope.workspace_id, &rows, scope.user_id)?;
            Ok((rows, more, prefixes))
        })
        .await?;
    let (now, zone) = (state.clock.now(), ctx.zone());
    let ages = rows
        .iter()
        .map(|r| if tab == Tab::Awaiting { format!("waiting {}", list::waited(now, r.last_message_at)) } else { list::age(now, r.last_message_at, &zone) })
        .collect();
    let page = InboxPage { layout: ctx.layout("Chat", "chat"), prefixes, tab, q: search.unwrap_or_default(), rows, ages, page: filter.page, more };
    // The live refresh and the search box ask for the list region alone.
    if ctx.meta.htmx.wants_fragment() && ctx.meta.htmx.target.as_deref() == Some("chat-list") {
        return html_status(StatusCode::OK, &page.as_list());
    }
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "chat/badge.html")]
struct Badge {
    unread: i64,
    /// The chat the page shows, kept in the badge's own URL.
    reading: Option<i64>,
}

#[derive(Deserialize)]
pub struct BadgeQuery {
    reading: Option<i64>,
}

/// The nav's count of chats with unread messages (refetched on `sse:chat`). On a
/// conversation page (`reading=` its chat) that chat is marked read first, up to what it
/// holds now: the page shows each new message as it comes (its own live refresh marks it
/// read too, but this refresh may be answered first), so the chat being read is never
/// counted (issue 19.3). A chat this user may not see is ignored.
pub async fn badge(ctx: Ctx, state: Data<AppState>, Query(q): Query<BadgeQuery>) -> Result<HttpResponse, AppError> {
    let (scope, me) = (ChatScope::of(&ctx), ctx.user_id());
    let unread = state.db(move |conn| {
        if let Some(chat) = q.reading.map(|id| scope.find(conn, id)).transpose()?.flatten() {
            conversation::mark_read(conn, &chat, me, chat.inbound_count)?;
        }
        Ok(list::unread_chats(conn, &scope)?)
    })
    .await?;
    html_status(StatusCode::OK, &Badge { unread, reading: q.reading })
}

// ---------------------------------------------------------------------------------------
// Opening a chat

#[derive(Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    channel: String,
}

/// A person opens the chat with a client they may see on a channel (the existing one if
/// there is one), and goes to it.
pub async fn open(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<OpenForm>) -> Result<HttpResponse, AppError> {
    let client_id: i64 = form.client_id.trim().parse().map_err(|_| AppError::NotFound)?;
    let channel = Channel::parse(form.channel.trim()).ok_or_else(|| AppError::Validation("Channel must be WhatsApp or SMS.".into()))?;
    let scope = ctx.scope();
    // Filed under the client, as the client page's sends and the chat actions are.
    let entry = ctx.audit(Action::ChatsOpened, "clients", client_id);
    let id = state.db(move |conn| Ok(conn.transaction::<_, ChatError, _>(|tx| model::open(tx, &scope, client_id, channel, entry))?)).await?;
    Ok(see_other(&format!("/chat/{id}")))
}
