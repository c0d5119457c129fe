//! The conversation's pages: `GET /chat/{id}` (the newest messages and notes, marked read),
//! `GET /chat/{id}/messages` (`before=` an older page, `after=` the live refresh),
//! `POST /chat/{id}/messages` (a reply) and `POST /chat/{id}/notes` (an internal note). The
//! chat is looked up through `ChatScope`: another workspace's, or one this user may not see,
//! is a 404.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, QueryResult};
use serde::Deserialize;

use crate::audit::Action;
use crate::authz::{Role, Scope};
use crate::chat::bubbles::{Bubble, Extras, Line, NoteView, View, bubbles, downloading, lines, note_views};
use crate::chat::notes::{self, NoteError};
use crate::chat::{Chat, ChatScope, ChatStatus, conversation, query, reply};
use crate::chat::list;
use crate::clients::model::Client;
use crate::error::AppError;
use crate::messaging::Channel;
use crate::messaging::compose::{MessageForm, SMS_MAX_CHARS, TemplateChoice, approved_templates};
use crate::messaging::media::Kind;
use crate::messaging::store::Message;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{OnceForm, Query};
use crate::web::once::Claim;
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;
use crate::web::time::Zone;

/// The messages region's pieces: the sentinel for older ones, the messages, and the live
/// refresher, the region's last item (it carries the newest id the page has; a refresh
/// replaces it with the new messages and a refresher after them, and re-ticks the messages
/// already shown in place, out of band, by id).
#[derive(Template)]
#[template(path = "chat/messages.html")]
struct MessagesFragment {
    chat_id: i64,
    bubbles: Vec<Bubble>,
    notes: Vec<NoteView>,
    /// An "Older messages" sentinel before the bubbles, loading those before this id.
    older_than: Option<i64>,
    /// The refresher to write (out of band), with the newest id shown…
    live_after: Option<i64>,
    /// …and the oldest shown whose tick may still move ([`conversation::oldest_moving`])…
    live_pending: Option<i64>,
    /// …and the newest note shown.
    live_note: Option<i64>,
    /// The live refresh's header, side panel and composer rule, sent again out of band.
    state: Option<LiveState>,
}

impl MessagesFragment {
    fn downloading(&self) -> bool {
        downloading(&self.bubbles)
    }

    fn lines(&self) -> Vec<Line<'_>> {
        lines(&self.bubbles, &self.notes)
    }
}

/// What the conversation page says of the chat row, refreshed live (`chat/state.html`).
struct LiveState {
    closed: bool,
    assignee: Option<String>,
    rule: String,
}

impl LiveState {
    fn of(conn: &mut PgConnection, chat: &Chat, now: DateTime<Utc>, zone: &Zone) -> QueryResult<LiveState> {
        let assignee = query::user_name(conn, chat.workspace_id, chat.assignee_id)?;
        Ok(LiveState { closed: chat.status == ChatStatus::Closed, assignee, rule: reply::composer_rule(chat, now, zone) })
    }
}

#[derive(Template)]
#[template(path = "chat/show.html", blocks = ["content"])]
struct ConversationPage {
    layout: Layout,
    chat: Chat,
    client: Client,
    /// The user may see the client itself (link to its page, its follow-ups).
    client_visible: bool,
    channel_label: &'static str,
    assignee: Option<String>,
    /// The workspace's active people (id, name), for `chat/actions.html`'s assign control.
    assignees: Vec<(i64, String)>,
    tags: Vec<(String, String)>,
    follow_ups: Vec<(DateTime<Utc>, String)>,
    bubbles: Vec<Bubble>,
    notes: Vec<NoteView>,
    older_than: Option<i64>,
    /// Newer messages exist beyond the page: a link to the newest.
    newer_page: bool,
    last_id: i64,
    /// The newest note shown, for the live refresh.
    last_note: i64,
    /// The oldest message shown whose tick may still move, for the live refresh.
    pending: Option<i64>,
    rule: String,
    free_text: bool,
    templates: Vec<TemplateChoice>,
    var_numbers: Vec<usize>,
    error: Option<String>,
    form: MessageForm,
    note: NoteComposer,
    sms_max: usize,
    /// The open chats above and below in the inbox: `k` and `j` go there.
    newer: Option<i64>,
    older: Option<i64>,
    /// Enter sends (else Ctrl+Enter), the person's choice on `/account`.
    enter_sends: bool,
}
crate::pages!(ConversationPage);

impl ConversationPage {
    fn downloading(&self) -> bool {
        downloading(&self.bubbles)
    }

    fn lines(&self) -> Vec<Line<'_>> {
        lines(&self.bubbles, &self.notes)
    }

    fn is_sms(&self) -> bool {
        self.chat.channel == Channel::Sms
    }

    /// Where the SMS box asks for its segment count: the client's counter (live only when
    /// this reader may open the client: an agent may hold a chat of a client they do not own).
    fn segments_url(&self) -> String {
        format!("/clients/{}/messages/segments", self.chat.client_id)
    }

    fn is_closed(&self) -> bool {
        self.chat.status == ChatStatus::Closed
    }

    fn chosen_template(&self, id: &i64) -> bool {
        self.form.template_id.trim() == id.to_string()
    }

    fn var_value(&self, n: &usize) -> String {
        self.form.rest.get(&format!("var_{n}")).cloned().unwrap_or_default()
    }
}

/// What the composer shows again after a post: the reply typed and why it was refused, or
/// the note's.
#[derive(Default)]
struct Composer {
    form: MessageForm,
    error: Option<String>,
    note: NoteComposer,
}

/// The note tab: open, what was typed, why it was refused or what it did.
#[derive(Default)]
struct NoteComposer {
    open: bool,
    body: String,
    error: Option<String>,
    said: Option<String>,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    before: Option<i64>,
    /// A search's hit: the page around that message, `q` marked in it.
    at: Option<i64>,
    q: Option<String>,
}

/// Which messages a conversation page shows.
#[derive(Clone, Copy)]
enum Window {
    Newest,
    Before(i64),
    Around(i64),
}

struct Loaded {
    chat: Chat,
    client: Client,
    client_visible: bool,
    assignee: Option<String>,
    assignees: Vec<(i64, String)>,
    tags: Vec<(String, String)>,
    follow_ups: Vec<(DateTime<Utc>, String)>,
    messages: Vec<Message>,
    extras: Extras,
    notes: Vec<notes::Written>,
    older: bool,
    /// Newer messages exist beyond the page (one opened at a search's hit).
    newer_page: bool,
    templates: Vec<TemplateChoice>,
    /// The open chats above and below this one in the inbox (`k`, `j`).
    neighbours: (Option<i64>, Option<i64>),
    enter_sends: bool,
}

fn load(conn: &mut PgConnection, ctx_scope: (ChatScope, Scope), id: i64, window: Window) -> Result<Loaded, AppError> {
    let (chat_scope, scope) = ctx_scope;
    let chat = chat_scope.find(conn, id)?.ok_or(AppError::NotFound)?;
    let client = query::client_of(conn, &chat)?;
    let client_visible = crate::clients::model::visible(conn, &scope, chat.client_id)?.is_some();
    let people = query::assignees(conn, chat.workspace_id)?;
    let assignee = chat.assignee_id.and_then(|a| people.iter().find(|(id, _)| *id == a).map(|(_, n)| n.clone()));
    let follow_ups = if client_visible { query::pending_follow_ups(conn, &chat)? } else { Vec::new() };
    let tags = crate::clients::tags::of_client(conn, chat.workspace_id, chat.client_id)?;
    let (messages, older, newer_page) = match window {
        Window::Newest => conversation::page(conn, &chat, None).map(|(m, o)| (m, o, false))?,
        Window::Before(before) => conversation::page(conn, &chat, Some(before)).map(|(m, o)| (m, o, false))?,
        Window::Around(at) => conversation::around(conn, &chat, at)?,
    };
    let extras = Extras::of(conn, &chat, &messages)?;
    let until = match window {
        Window::Before(before) => crate::messaging::store::find(conn, chat.workspace_id, before)?.map(|m| m.created_at),
        Window::Around(_) if newer_page => messages.last().map(|m| m.created_at + chrono::Duration::microseconds(1)),
        _ => None,
    };
    let notes = notes::around(conn, &chat, &messages, older, until)?;
    let templates = if chat.channel == Channel::WhatsApp { approved_templates(conn, chat.workspace_id)? } else { Vec::new() };
    let neighbours = list::neighbours(conn, &chat_scope, chat.last_message_at, chat.id)?;
    let enter_sends = query::enter_sends(conn, chat.workspace_id, chat_scope.user_id)?;
    Ok(Loaded { chat, client, client_visible, assignee, assignees: people, tags, follow_ups, messages, extras, notes, older, newer_page, templates, neighbours, enter_sends })
}

fn conversation_page(ctx: &Ctx, now: DateTime<Utc>, loaded: Loaded, composer: Composer, search: Option<(&str, i64)>) -> ConversationPage {
    let zone = ctx.zone();
    let last_id = loaded.messages.last().map_or(0, |m| m.id);
    let last_note = loaded.notes.iter().map(|(n, _)| n.id).max().unwrap_or(0);
    let view = View { admin: ctx.role() == Role::Admin, zone: &zone, now, replace_upto: 0, search };
    let older_than = loaded.older.then(|| loaded.messages.first().map(|m| m.id)).flatten();
    let pending = loaded.extras.oldest_changing(&loaded.messages);
    let mut layout = ctx.layout(format!("Chat with {}", loaded.client.name), "chat");
    layout.reading_chat = Some(loaded.chat.id);
    let var_numbers = (1..=loaded.templates.iter().map(|t| t.placeholders().len()).max().unwrap_or(0).max(1)).collect();
    ConversationPage {
        layout,
        channel_label: loaded.chat.channel.label(),
        rule: reply::composer_rule(&loaded.chat, now, &zone),
        free_text: loaded.chat.free_text_allowed(now),
        bubbles: bubbles(&loaded.messages, &loaded.extras, &view),
        notes: note_views(&loaded.notes, &view),
        last_note,
        chat: loaded.chat,
        client: loaded.client,
        client_visible: loaded.client_visible,
        assignee: loaded.assignee,
        assignees: loaded.assignees,
        tags: loaded.tags,
        follow_ups: loaded.follow_ups,
        older_than,
        newer_page: loaded.newer_page,
        last_id,
        pending,
        templates: loaded.templates,
        newer: loaded.neighbours.0,
        older: loaded.neighbours.1,
        enter_sends: loaded.enter_sends,
        var_numbers,
        error: composer.error,
        form: composer.form,
        note: composer.note,
        sms_max: SMS_MAX_CHARS,
    }
}

pub async fn show(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<ShowQuery>) -> Result<HttpResponse, AppError> {
    let (scopes, id, me) = ((ChatScope::of(&ctx), ctx.scope()), path.into_inner(), ctx.user_id());
    let window = match (q.at, q.before) {
        (Some(at), _) => Window::Around(at),
        (None, Some(before)) => Window::Before(before),
        (None, None) => Window::Newest,
    };
    let loaded = state.db(move |conn| {
        let loaded = load(conn, scopes, id, window)?;
        // Read up to what this page shows: the count loaded with it, not a newer one.
        conversation::mark_read(conn, &loaded.chat, me, loaded.chat.inbound_count)?;
        Ok(loaded)
    })
    .await?;
    let term: String = q.q.as_deref().unwrap_or("").trim().chars().take(100).collect();
    let search = q.at.filter(|_| !term.is_empty()).map(|at| (term.as_str(), at));
    let page = conversation_page(&ctx, state.clock.now(), loaded, Composer::default(), search);
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    before: Option<i64>,
    after: Option<i64>,
    /// With `after`: the oldest message the page shows whose tick may still move.
    pending: Option<i64>,
    /// With `after`: the newest note the page shows (the notes after it come too).
    note: Option<i64>,
}

/// `before=`: the page older than that message (with the next sentinel); `after=`: the
/// messages after it and those since `pending=` to re-tick, with the refresher moved on,
/// and the chat's header, side panel and composer rule out of band; else the newest page.
pub async fn messages(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<MessagesQuery>) -> Result<HttpResponse, AppError> {
    let (scope, id, me) = (ChatScope::of(&ctx), path.into_inner(), ctx.user_id());
    let (zone, now, admin) = (ctx.zone(), ctx.now, ctx.role() == Role::Admin);
    let fragment = state.db(move |conn| {
        let chat = scope.find(conn, id)?.ok_or(AppError::NotFound)?;
        let view = |replace_upto| View { admin, zone: &zone, now, replace_upto, search: None };
        Ok(match (q.before, q.after) {
            (Some(before), _) => {
                let (rows, older) = conversation::page(conn, &chat, Some(before))?;
                let older_than = older.then(|| rows.first().map(|m| m.id)).flatten();
                let extras = Extras::of(conn, &chat, &rows)?;
                let until = crate::messaging::store::find(conn, chat.workspace_id, before)?.map(|m| m.created_at);
                let notes = note_views(&notes::around(conn, &chat, &rows, older, until)?, &view(0));
                MessagesFragment { chat_id: id, bubbles: bubbles(&rows, &extras, &view(0)), notes, older_than, live_after: None, live_pending: None, live_note: None, state: None }
            }
            (None, Some(after)) => {
                let rows = conversation::since(conn, &chat, after, q.pending)?;
                // The person is looking at the conversation: what it now shows is read.
                conversation::mark_read(conn, &chat, me, chat.inbound_count)?;
                let newest = rows.last().map_or(after, |m| m.id.max(after));
                let state = LiveState::of(conn, &chat, now, &zone)?;
                let extras = Extras::of(conn, &chat, &rows)?;
                let new_notes = match q.note {
                    Some(note) => notes::after(conn, &chat, note)?,
                    None => Vec::new(),
                };
                let live_note = q.note.map(|note| new_notes.iter().map(|(n, _)| n.id).fold(note, i64::max));
                MessagesFragment {
                    chat_id: id,
                    bubbles: bubbles(&rows, &extras, &view(after)),
                    notes: note_views(&new_notes, &view(after)),
                    older_than: None,
                    live_after: Some(newest),
                    live_pending: extras.oldest_changing(&rows),
                    live_note,
                    state: Some(state),
                }
            }
            (None, None) => {
                let (rows, older) = conversation::page(conn, &chat, None)?;
                let older_than = older.then(|| rows.first().map(|m| m.id)).flatten();
                let newest = rows.last().map_or(0, |m| m.id);
                let extras = Extras::of(conn, &chat, &rows)?;
                let pending = extras.oldest_changing(&rows);
                let written = notes::around(conn, &chat, &rows, older, None)?;
                let live_note = Some(written.iter().map(|(n, _)| n.id).max().unwrap_or(0));
                let notes = note_views(&written, &view(0));
                MessagesFragment { chat_id: id, bubbles: bubbles(&rows, &extras, &view(0)), notes, older_than, live_after: Some(newest), live_pending: pending, live_note, state: None }
            }
        })
    })
    .await?;
    html_status(StatusCode::OK, &fragment)
}

/// A reply: queued and shown at once, or refused (422) with the reason in place.
pub async fn send(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<MessageForm>) -> Result<HttpResponse, AppError> {
    let (scope, id, me) = (ChatScope::of(&ctx), path.into_inner(), ctx.user_id());
    let mut entry = ctx.audit(Action::MessagesQueued, "clients", id);
    let (now, zone) = (state.clock.now(), ctx.zone());
    let st = state.clone();
    let typed = form.clone();
    let outcome = state.db(move |conn| {
        let chat = scope.find(conn, id)?.ok_or(AppError::NotFound)?;
        // Filed under the client (as the client page's send is), so it shows in the client's trail.
        entry.entity_id = Some(chat.client_id.to_string());
        reply::send(conn, &st, reply::Reply { chat: &chat, user_id: me, now, zone: &zone }, (form, once), entry)
    })
    .await?;
    match outcome {
        Ok(_) if !ctx.meta.htmx.wants_fragment() => {
            flash::success(&ctx.session, "Message queued.".to_string());
            Ok(see_other(&format!("/chat/{id}")))
        }
        Ok(_) => {
            let scopes = (scope, ctx.scope());
            let loaded = state.db(move |conn| load(conn, scopes, id, Window::Newest)).await?;
            respond(&ctx.meta.htmx, StatusCode::OK, &conversation_page(&ctx, now, loaded, Composer::default(), None))
        }
        Err(problem) => {
            let scopes = (scope, ctx.scope());
            let loaded = state.db(move |conn| load(conn, scopes, id, Window::Newest)).await?;
            let composer = Composer { form: typed, error: Some(problem.to_string()), ..Composer::default() };
            respond(&ctx.meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &conversation_page(&ctx, now, loaded, composer, None))
        }
    }
}

#[derive(Clone, Default, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    body: String,
}

impl From<NoteError> for AppError {
    fn from(e: NoteError) -> Self {
        match e {
            NoteError::NotFound => AppError::NotFound,
            NoteError::Empty | NoteError::TooLong => AppError::Validation(e.to_string()),
            NoteError::Db(e) => e.into(),
        }
    }
}

/// What the writer is told after a note: who was told of it, and who was named but may not
/// see the chat.
fn note_said(told: &[String], unseen: &[String]) -> String {
    let mut said = "Note added.".to_string();
    if !told.is_empty() {
        said.push_str(&format!(" {} {} told.", told.join(", "), if told.len() == 1 { "was" } else { "were" }));
    }
    if !unseen.is_empty() {
        said.push_str(&format!(" {} cannot see this chat and {} not told.", unseen.join(", "), if unseen.len() == 1 { "was" } else { "were" }));
    }
    said
}

/// `POST /chat/{id}/notes`: an internal note (never sent), shown at once; a refusal is a 422
/// with the reason in the note tab. Once per submitted form, as replies are.
pub async fn note(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<NoteForm>) -> Result<HttpResponse, AppError> {
    let (scope, id, me) = (ChatScope::of(&ctx), path.into_inner(), ctx.user_id());
    let mut entry = ctx.audit(Action::ChatsNoteAdded, "clients", id);
    let author = ctx.user.name.clone();
    let body = form.body.clone();
    let outcome = state
        .db(move |conn| {
            let chat = scope.find(conn, id)?.ok_or(AppError::NotFound)?;
            // Filed under the client, as the chat's other changes are.
            entry.entity_id = Some(chat.client_id.to_string());
            Ok(conn.transaction(|tx| {
                if once.claim(tx, chat.workspace_id, me)? != Claim::First {
                    return Ok(None);
                }
                notes::add(tx, &scope, &author, id, &body, entry).map(Some)
            }))
        })
        .await?;
    let now = state.clock.now();
    let (status, note) = match outcome {
        Ok(added) => {
            let said = added.map_or_else(|| "Note added.".to_string(), |a| note_said(&a.told, &a.unseen));
            if !ctx.meta.htmx.wants_fragment() {
                flash::success(&ctx.session, said);
                return Ok(see_other(&format!("/chat/{id}")));
            }
            (StatusCode::OK, NoteComposer { open: true, said: Some(said), ..NoteComposer::default() })
        }
        Err(e @ (NoteError::Empty | NoteError::TooLong)) => (StatusCode::UNPROCESSABLE_ENTITY, NoteComposer { open: true, body: form.body, error: Some(e.to_string()), said: None }),
        Err(e) => return Err(e.into()),
    };
    let scopes = (scope, ctx.scope());
    let loaded = state.db(move |conn| load(conn, scopes, id, Window::Newest)).await?;
    respond(&ctx.meta.htmx, status, &conversation_page(&ctx, now, loaded, Composer { note, ..Composer::default() }, None))
}
