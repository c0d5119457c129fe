//! `/whatsapp-templates` (admins and managers): the synced templates with status and
//! language filters, "Sync now" (a `sync-templates` job, one at a time), and a preview of
//! each as a phone would show it, its placeholders filled from a chosen client.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use diesel::Connection;
use serde::Deserialize;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::error::AppError;
use crate::messaging::account;
use crate::messaging::templates::{self, Template as WaTemplate};
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, Query};
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;

const PER_PAGE: i64 = 50;

#[derive(Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "whatsapp_templates/list.html", blocks = ["content"])]
struct ListPage {
    layout: Layout,
    rows: Vec<WaTemplate>,
    status: String,
    language: String,
    languages: Vec<String>,
    configured: bool,
    syncing: bool,
    last_synced: Option<String>,
    prev_href: String,
    next_href: String,
}
crate::pages!(ListPage);

impl ListPage {
    fn status_options(&self) -> Vec<(&'static str, &'static str, bool)> {
        [("approved", "Approved"), ("pending", "Pending"), ("rejected", "Rejected")].into_iter().map(|(v, l)| (v, l, self.status == v)).collect()
    }

    fn language_options(&self) -> Vec<(String, String, bool)> {
        self.languages.iter().map(|l| (l.clone(), l.clone(), *l == self.language)).collect()
    }
}

/// The pill class of an approval status.
pub fn pill_kind(status: &str) -> &'static str {
    match status {
        "approved" => "ok",
        "pending" => "warm",
        "rejected" => "hot",
        _ => "inactive",
    }
}

fn list_href(status: &str, language: &str, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !status.is_empty() {
        query.append_pair("status", status);
    }
    if !language.is_empty() {
        query.append_pair("language", language);
    }
    if page > 1 {
        query.append_pair("page", &page.to_string());
    }
    let query = query.finish();
    if query.is_empty() { "/whatsapp-templates".into() } else { format!("/whatsapp-templates?{query}") }
}

pub async fn list_templates(ctx: Ctx, state: Data<AppState>, Query(q): Query<ListQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let w = ctx.workspace_id();
    let status = match q.status.as_str() {
        s @ ("approved" | "pending" | "rejected") => s.to_string(),
        _ => String::new(),
    };
    let language: String = q.language.trim().chars().take(20).collect();
    let page = forms::page_number(q.page);
    let (s, l) = (status.clone(), language.clone());
    let (rows, more, languages, configured, syncing, last) = state.db(move |conn| {
        let (rows, more) = templates::list(conn, w, Some(s.as_str()).filter(|s| !s.is_empty()), Some(l.as_str()).filter(|l| !l.is_empty()), page, PER_PAGE)?;
        let configured = account::configured(conn, w)?;
        Ok((rows, more, templates::languages(conn, w)?, configured, templates::syncing(conn, w)?, templates::last_synced(conn, w)?))
    })
    .await?;
    let last_synced = last.map(|t| ctx.zone().time(t));
    let prev_href = if page > 1 { list_href(&status, &language, page - 1) } else { String::new() };
    let next_href = if more { list_href(&status, &language, page + 1) } else { String::new() };
    let page = ListPage { layout: ctx.layout("Templates", "templates"), rows, status, language, languages, configured, syncing, last_synced, prev_href, next_href };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

pub async fn sync_templates(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let w = ctx.workspace_id();
    let entry = ctx.audit(Action::TemplatesSyncRequested, "whatsapp_templates", w);
    let queued = state.db(move |conn| {
        conn.transaction::<_, diesel::result::Error, _>(|tx| {
            if !account::configured(tx, w)? {
                return Ok(None);
            }
            let id = templates::enqueue_sync(tx, w)?;
            if id.is_some() {
                audit::record(tx, &entry)?;
            }
            Ok(Some(id.is_some()))
        })
        .map_err(AppError::from)
    })
    .await?;
    match queued {
        None => flash::push(&ctx.session, "error", "Twilio is not connected, so there is nothing to sync: an admin connects it in Settings → Twilio."),
        Some(true) => flash::success(&ctx.session, "Syncing templates from Twilio…"),
        Some(false) => flash::push(&ctx.session, "info", "A sync is already under way."),
    }
    Ok(see_other("/whatsapp-templates"))
}

#[derive(Clone, Debug)]
pub struct Var {
    pub key: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "whatsapp_templates/show.html", blocks = ["content"])]
struct ShowPage {
    layout: Layout,
    t: WaTemplate,
    rendered: String,
    buttons: Vec<String>,
    vars: Vec<Var>,
    client: Option<(i64, String)>,
}
crate::pages!(ShowPage);

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>().map_err(|_| AppError::NotFound)
}

pub async fn show_template(ctx: Ctx, state: Data<AppState>, id: Path<String>, Query(q): Query<HashMap<String, String>>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let id = parse_id(&id)?;
    let w = ctx.workspace_id();
    let scope = ctx.scope();
    let client_id = q.get("client_id").and_then(|c| c.trim().parse::<i64>().ok());
    let (t, client) = state.db(move |conn| {
        let t = templates::find(conn, w, id)?.ok_or(AppError::NotFound)?;
        let client = match client_id {
            Some(c) => crate::clients::query::name_of(conn, &scope, c)?,
            None => None,
        };
        Ok((t, client))
    })
    .await?;
    let vars: Vec<Var> = t
        .samples()
        .into_iter()
        .map(|(key, sample)| {
            let typed = q.get(&format!("var_{key}")).map(|v| v.chars().take(1000).collect::<String>()).filter(|v| !v.trim().is_empty());
            let default = match (&client, key.as_str()) {
                (Some((_, name)), "1") => name.clone(),
                _ => sample,
            };
            Var { value: typed.unwrap_or(default), key }
        })
        .collect();
    let pairs: Vec<(String, String)> = vars.iter().map(|v| (v.key.clone(), v.value.clone())).collect();
    let rendered = templates::render(&t.body, &pairs);
    let buttons = t.button_titles();
    let page = ShowPage { layout: ctx.layout(t.name.clone(), "templates"), t, rendered, buttons, vars, client };
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct PickerQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "whatsapp_templates/client_picker.html")]
struct Picker {
    template_id: i64,
    clients: Vec<(i64, String, String)>,
    searched: bool,
}

/// The client picker's results: up to 20 clients the reader may see whose name, phone or
/// email contains the search.
pub async fn pick_client(ctx: Ctx, state: Data<AppState>, id: Path<String>, Query(q): Query<PickerQuery>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let id = parse_id(&id)?;
    let w = ctx.workspace_id();
    let scope = ctx.scope();
    let search: String = q.q.trim().chars().take(100).collect();
    let searched = !search.is_empty();
    let found = state.db(move |conn| {
        templates::find(conn, w, id)?.ok_or(AppError::NotFound)?;
        if search.is_empty() {
            return Ok(Vec::new());
        }
        let rows = crate::clients::query::pick(conn, &scope, &search, 20)?;
        Ok(rows.into_iter().map(|(id, name, phone)| (id, name, phone.unwrap_or_default())).collect())
    })
    .await?;
    html_status(StatusCode::OK, &Picker { template_id: id, clients: found, searched })
}
