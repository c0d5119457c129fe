//! `/clients`: list, new, create, show, edit, update, delete.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::HttpResponse;
use askama::Template;
use diesel::{Connection, PgConnection};
use serde::Deserialize;

use crate::audit;
use crate::audit::Action;
use crate::authz::{Role, Scope};
use crate::clients::choices::UserChoice;
use crate::clients::domain::{ClientStatus, PhoneE164};
use crate::clients::model::{self, Client, ClientFields, StatusSource};
use crate::clients::query::{ClientFilter, ClientQuery, Sort, TabCounts, TaggedClient};
use crate::clients::timeline::{self, TimelineItem};
use crate::departments::{self, Department};
use crate::error::AppError;
use crate::users::model::{self as users, User};
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm, OnceForm, Query};
use crate::web::numbers::{Count, filters};
use crate::web::once::Claim;
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;
use crate::workspaces;

#[derive(Template)]
#[template(path = "clients/index.html", blocks = ["content", "rows", "counts"])]
struct ClientsPage {
    layout: Layout,
    query: ClientQuery,
    filter: ClientFilter,
    error: Option<String>,
    /// The page's clients, each with the ids of its tags.
    rows: Vec<TaggedClient>,
    users: Vec<UserChoice>,
    /// (id, name) of the workspace's departments, by name.
    departments: Vec<(i64, String)>,
    /// (id, name, colour) of the workspace's tags, by name.
    tags: Vec<(i64, String, String)>,
    statuses: [ClientStatus; 3],
    /// The status tabs' counts; `None` until `/clients/counts` brings them (a search's).
    counts: Option<TabCounts>,
    /// Rendering the counts alone (`/clients/counts`), with the figures elsewhere on the
    /// page sent out of band.
    counts_only: bool,
    export_query: String,
    prev_query: Option<String>,
    next_query: Option<String>,
    /// The bulk bar's "Add to campaign" choices: campaigns in scope, not completed (issue 12).
    campaigns: Vec<(i64, String)>,
}

impl ClientsPage {
    /// (name, colour) of the tags with these ids, by name.
    fn tags_of(&self, ids: &[i64]) -> Vec<(&str, &str)> {
        self.tags.iter().filter(|(id, _, _)| ids.contains(id)).map(|(_, name, colour)| (name.as_str(), colour.as_str())).collect()
    }
    fn user_name(&self, id: &Option<i64>) -> &str {
        id.and_then(|id| self.users.iter().find(|u| u.id == id)).map_or("", |u| u.name.as_str())
    }
    /// The option to show selected: "" (the default order) unless one was picked.
    fn sort_is(&self, sort: &str) -> bool {
        if self.filter.sort_chosen { self.filter.sort.as_str() == sort } else { sort.is_empty() }
    }
    fn status_is(&self, status: &ClientStatus) -> bool {
        self.filter.status == Some(*status)
    }
    /// `/clients?…` with these parameters, the rest of the list's state kept, back on page one.
    fn href(&self, change: impl FnOnce(&mut ClientQuery)) -> String {
        let mut q = ClientQuery { page: None, ..self.query.clone() };
        change(&mut q);
        let query = encode(&q, None);
        if query.is_empty() { "/clients".into() } else { format!("/clients?{query}") }
    }
    /// A status tab's link (`None`: all statuses), keeping the search and the other filters.
    fn tab_href(&self, status: Option<&ClientStatus>) -> String {
        self.href(|q| q.status = status.map(ToString::to_string))
    }
    /// A column header's link: the list in that order, keeping the search and filters.
    fn sort_href(&self, sort: &str) -> String {
        self.href(|q| q.sort = Some(sort.to_string()))
    }
    /// `aria-sort` for the column ordered by `sort`, "" when the list is in another order.
    fn aria_sort(&self, sort: &str) -> &'static str {
        match self.filter.sort {
            s if s.as_str() != sort => "",
            Sort::Name => "ascending",
            Sort::Created | Sort::LastContacted => "descending",
        }
    }
    /// How many clients match, the status included, once counted.
    fn matching(&self) -> Option<Count> {
        self.counts.map(|c| c.of(self.filter.status))
    }
    /// A status tab's count, once counted: " 1,234" or " 1,000+".
    fn tab_count(&self, status: Option<&ClientStatus>) -> String {
        self.counts.map(|c| format!(" {}", c.of(status.copied()))).unwrap_or_default()
    }
    fn status_options(&self) -> Vec<(String, String, bool)> {
        self.statuses.iter().map(|s| (s.to_string(), s.to_string(), self.filter.status == Some(*s))).collect()
    }
    fn department_options(&self) -> Vec<(String, String, bool)> {
        self.departments.iter().map(|(id, name)| (id.to_string(), name.clone(), self.filter.department == Some(*id))).collect()
    }
    fn tag_options(&self) -> Vec<(String, String, bool)> {
        self.tags.iter().map(|(id, name, _)| (id.to_string(), name.clone(), self.filter.tag == Some(*id))).collect()
    }
    fn assignee_options(&self) -> Vec<(String, String, bool)> {
        let unassigned = ("none".to_string(), "Unassigned".to_string(), self.filter.assignee == Some(None));
        let users = self.users.iter().map(|u| (u.id.to_string(), u.name.clone(), self.filter.assignee == Some(Some(u.id))));
        std::iter::once(unassigned).chain(users).collect()
    }
}

fn encode(q: &ClientQuery, page: Option<i64>) -> String {
    let page = page.map(|p| p.to_string());
    let pairs = [
        ("q", q.q.as_ref()),
        ("status", q.status.as_ref()),
        ("department", q.department.as_ref()),
        ("tag", q.tag.as_ref()),
        ("assignee", q.assignee.as_ref()),
        ("sort", q.sort.as_ref()),
        ("page", page.as_ref()),
        ("import", q.import.as_ref()),
    ];
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// An import the user cannot see (another workspace's) is not found, like its report.
fn check_import(conn: &mut PgConnection, scope: &Scope, filter: &ClientFilter) -> Result<(), AppError> {
    if let Some(import) = filter.import {
        if !crate::clients::query::import_visible(conn, scope, import)? {
            return Err(AppError::NotFound);
        }
    }
    Ok(())
}

impl ClientsPage {
    /// The page for `q` with nothing loaded yet.
    fn new(ctx: &Ctx, q: ClientQuery, filter: ClientFilter) -> Self {
        ClientsPage {
            layout: ctx.layout("Clients", "clients"),
            export_query: encode(&ClientQuery { sort: None, ..q.clone() }, None),
            prev_query: None,
            next_query: None,
            error: None,
            query: q,
            filter,
            rows: Vec::new(),
            users: Vec::new(),
            departments: Vec::new(),
            tags: Vec::new(),
            statuses: ClientStatus::ALL,
            counts: None,
            counts_only: false,
            campaigns: Vec::new(),
        }
    }
}

pub async fn list_clients(ctx: Ctx, state: Data<AppState>, Query(q): Query<ClientQuery>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let parsed = q.parse();
    let run = parsed.as_ref().ok().cloned();
    let (rows, has_next, choices, counts) = state.db(move |conn| {
        if let Some(filter) = &run {
            check_import(conn, &scope, filter)?;
        }
        let (rows, has_next) = match &run {
            Some(filter) => filter.list(conn, &scope)?,
            None => (Vec::new(), false),
        };
        // The counters answer at once; a search's counts come after the list (`counts`).
        let counters = run.as_ref().is_some_and(|f| f.counters_cover(&scope));
        let choices = crate::clients::choices::load(conn, &scope, counters)?;
        let counts = match (&run, choices.counters) {
            (Some(_), Some(c)) => Some(TabCounts::exact(c)),
            (Some(_), None) => None,
            (None, _) => Some(TabCounts::default()),
        };
        Ok((rows, has_next, choices, counts))
    })
    .await?;
    let filter = parsed.clone().unwrap_or_default();
    let page = ClientsPage {
        prev_query: (filter.page > 1).then(|| encode(&q, Some(filter.page - 1))),
        next_query: has_next.then(|| encode(&q, Some(filter.page + 1))),
        error: parsed.err().map(|e| e.to_string()),
        rows,
        users: choices.users,
        departments: choices.departments,
        tags: choices.tags,
        counts,
        campaigns: choices.campaigns,
        ..ClientsPage::new(&ctx, q, filter)
    };
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    if ctx.meta.htmx.wants_fragment() && ctx.meta.htmx.target.as_deref() == Some("clients-rows") {
        html_status(status, &page.as_rows())
    } else {
        respond(&ctx.meta.htmx, status, &page)
    }
}

/// `GET /clients/counts`: the status tabs of a search or filter with their counts (each
/// stopping at 1,000+), and the page's other counts out of band. The list asks for them once
/// it is shown, so a search answers with its rows first (issue 20).
pub async fn list_counts(ctx: Ctx, state: Data<AppState>, Query(q): Query<ClientQuery>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let filter = q.parse().map_err(|e| AppError::Validation(e.to_string()))?;
    let run = filter.clone();
    let counts = state.db(move |conn| {
        check_import(conn, &scope, &run)?;
        Ok(run.tab_counts(conn, &scope)?)
    })
    .await?;
    let page = ClientsPage { counts: Some(counts), counts_only: true, ..ClientsPage::new(&ctx, q, filter) };
    html_status(StatusCode::OK, &page.as_counts())
}

#[derive(Clone, Default, Deserialize)]
pub struct ClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assigned_to: String,
    #[serde(default)]
    department_ids: Vec<i64>,
    /// Comma-separated tag names; new ones are created.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    notes: String,
    /// Channels the client opted out of: whatsapp, sms, email.
    #[serde(default)]
    opt_outs: Vec<String>,
    version: Option<i32>,
}

#[derive(Template)]
#[template(path = "clients/form.html", blocks = ["content"])]
struct ClientFormPage {
    layout: Layout,
    client_id: Option<i64>,
    form: ClientForm,
    errors: FormErrors,
    duplicate: Option<(i64, String)>,
    users: Vec<User>,
    departments: Vec<Department>,
    statuses: [ClientStatus; 3],
    can_assign: bool,
    /// An example number of the workspace's country, as its people write it (issue 19).
    phone_example: String,
}

crate::pages!(ClientsPage, ClientFormPage, ClientShowPage);

impl ClientFormPage {
    fn has_department(&self, id: &i64) -> bool {
        self.form.department_ids.contains(id)
    }
    fn opted_out(&self, channel: &str) -> bool {
        self.form.opt_outs.iter().any(|c| c == channel)
    }
}

/// The status choice that leaves the status to the daily rule (the form sends it as "").
const AUTOMATIC: &str = "auto";

struct Parsed {
    /// `fields.status` is `warm` when the form chose "Automatic" (`status_choice` `None`).
    fields: ClientFields,
    /// The status a person picked; `None` for "Automatic (by activity)".
    status_choice: Option<ClientStatus>,
    department_ids: Vec<i64>,
    tags: Vec<String>,
    opt_outs: Vec<String>,
}

/// Parses and checks the form against the database; collects every field error.
fn parse_form(conn: &mut PgConnection, scope: &Scope, form: &ClientForm) -> Result<Result<Parsed, FormErrors>, AppError> {
    let workspace = workspaces::find(conn, scope.workspace_id)?;
    let mut errors = FormErrors::default();
    let optional = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let name = errors.take("name", forms::required_text(&form.name, "Name", 200));
    let email = optional(&form.email).map(|e| forms::email(&e)).transpose();
    let email = errors.take("email", email);
    let phone = optional(&form.phone).map(|p| PhoneE164::parse_formatted(&p, &workspace.default_country)).transpose();
    let phone = errors.take("phone", phone).map(|p| p.map(|(phone, formatted)| (phone.into_inner(), formatted)).unzip());
    let company = optional(&form.company).map(|c| forms::required_text(&c, "Company", 200)).transpose();
    let company = errors.take("company", company);
    // The form's default, "Automatic (by activity)", is an empty value: the daily rule decides.
    let status = errors.take("status", match form.status.trim() {
        "" | AUTOMATIC => Ok(None),
        picked => ClientStatus::parse(picked).map(Some),
    });
    if form.notes.chars().count() > 10_000 {
        errors.add("notes", "Notes must be at most 10000 characters.");
    }
    // Agents can only keep clients for themselves.
    let assigned_to = if scope.role == Role::Agent {
        Some(Some(scope.user_id))
    } else {
        match optional(&form.assigned_to) {
            None => Some(None),
            Some(raw) => match raw.parse::<i64>() {
                Ok(id) if users::find(conn, scope.workspace_id, id)?.is_some_and(|u| u.active) => Some(Some(id)),
                _ => {
                    errors.add("assigned_to", "Choose an active user of this workspace.");
                    None
                }
            },
        }
    };
    let department_ids = errors.take("department_ids", departments::check_ids(conn, scope.workspace_id, &form.department_ids)?);
    let mut tags: Vec<String> = Vec::new();
    for raw in form.tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match forms::required_text(raw, "Tag", 50) {
            Ok(tag) if !tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) => tags.push(tag),
            Ok(_) => {}
            Err(e) => errors.add("tags", e),
        }
    }
    if tags.len() > 20 {
        errors.add("tags", "At most 20 tags.");
    }
    if form.opt_outs.iter().any(|c| !model::CHANNELS.contains(&c.as_str())) {
        errors.add("opt_outs", "Opt-outs must be whatsapp, sms or email.");
    }
    match (name, email, phone, company, status, assigned_to, department_ids) {
        (Some(name), Some(email), Some((phone, phone_formatted)), Some(company), Some(status), Some(assigned_to), Some(department_ids)) if errors.is_empty() => {
            Ok(Ok(Parsed {
                fields: ClientFields { name, email, phone, phone_formatted, company, status: status.unwrap_or(ClientStatus::Warm).as_str().into(), assigned_to, notes: form.notes.clone() },
                status_choice: status,
                department_ids,
                tags,
                opt_outs: form.opt_outs.clone(),
            }))
        }
        _ => Ok(Err(errors)),
    }
}

async fn form_page(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    client_id: Option<i64>,
    form: ClientForm,
    errors: FormErrors,
    duplicate: Option<(i64, String)>,
) -> Result<HttpResponse, AppError> {
    let workspace_id = ctx.workspace_id();
    let (users, departments, country) = state.db(move |conn| {
        Ok((users::list(conn, workspace_id)?, departments::list(conn, workspace_id)?, workspaces::find(conn, workspace_id)?.default_country))
    })
    .await?;
    let title = if client_id.is_some() { "Edit client" } else { "New client" };
    let page = ClientFormPage {
        layout: ctx.layout(title, "clients"),
        client_id,
        form,
        errors,
        duplicate,
        users: users.into_iter().filter(|u| u.active).collect(),
        departments,
        statuses: ClientStatus::ALL,
        can_assign: ctx.role() != Role::Agent,
        phone_example: crate::clients::domain::example(&country).unwrap_or_else(|| "+14155550123".into()),
    };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn new_client_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let form = ClientForm { status: String::new(), assigned_to: ctx.user_id().to_string(), ..Default::default() };
    form_page(&ctx, &state, StatusCode::OK, None, form, FormErrors::default(), None).await
}

enum Saved {
    /// The saved client, and whether this user can still see it (a manager may move a
    /// client out of their departments).
    Ok(Box<Client>, bool),
    Invalid(FormErrors, Option<Duplicate>),
    Stale,
    /// A repeat of a submission already done: where its result is shown.
    Repeat(Option<String>),
}

/// The (id, name) of the client that already holds an email or phone.
type Duplicate = (i64, String);

fn duplicate_error(conn: &mut PgConnection, scope: &Scope, fields: &ClientFields, except: Option<i64>) -> Result<Option<(FormErrors, Option<Duplicate>)>, AppError> {
    let Some((id, name, field)) = model::find_duplicate(conn, scope.workspace_id, fields.email.as_deref(), fields.phone.as_deref(), except)? else {
        return Ok(None);
    };
    let mut errors = FormErrors::default();
    // Name the existing client only if this user may see it.
    if model::visible(conn, scope, id)?.is_some() {
        errors.add(if field == "email" { "email" } else { "phone" }, format!("{name} already has this {field}."));
        Ok(Some((errors, Some((id, name)))))
    } else {
        errors.add(if field == "email" { "email" } else { "phone" }, format!("Another client already has this {field}."));
        Ok(Some((errors, None)))
    }
}

pub async fn create_client(ctx: Ctx, state: Data<AppState>, OnceForm(form, once): OnceForm<ClientForm>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let entry = ctx.audit(Action::ClientsCreated, "clients", "");
    let submitted = form.clone();
    let saved = state.db(move |conn| {
        conn.transaction(|tx| {
            let parsed = match parse_form(tx, &scope, &submitted)? {
                Ok(parsed) => parsed,
                Err(errors) => return Ok(Saved::Invalid(errors, None)),
            };
            // Before the duplicate check: a repeat waits here for the first, which it would
            // otherwise find as "another client".
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Saved::Repeat(first));
            }
            if let Some((errors, link)) = duplicate_error(tx, &scope, &parsed.fields, None)? {
                once.release(tx, scope.workspace_id, scope.user_id)?;
                return Ok(Saved::Invalid(errors, link));
            }
            let source = if parsed.status_choice.is_some() { StatusSource::Hand } else { StatusSource::Rule };
            let client = model::insert(tx, scope.workspace_id, &parsed.fields, source)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/clients/{}", client.id))?;
            model::set_departments(tx, scope.workspace_id, client.id, &parsed.department_ids)?;
            model::set_tags(tx, scope.workspace_id, client.id, &parsed.tags)?;
            model::set_opt_outs(tx, scope.workspace_id, client.id, &parsed.opt_outs, "manual")?;
            let client = model::find(tx, scope.workspace_id, client.id)?;
            let after = client.audit_json(&parsed.department_ids, &parsed.tags);
            audit::record(tx, &audit::Entry { entity_id: Some(client.id.to_string()), ..entry.after(after) })?;
            let visible = model::visible(tx, &scope, client.id)?.is_some();
            Ok(Saved::Ok(Box::new(client), visible))
        })
    })
    .await?;
    match saved {
        Saved::Ok(client, visible) => {
            flash::success(&ctx.session, format!("Client {} created.", client.name));
            Ok(after_save(&ctx, &client, visible))
        }
        Saved::Invalid(errors, duplicate) => form_page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, None, form, errors, duplicate).await,
        Saved::Stale => Err(AppError::Unexpected(anyhow::anyhow!("a new client cannot be stale"))),
        Saved::Repeat(first) => Ok(see_other(first.as_deref().unwrap_or("/clients"))),
    }
}

/// To the client's page, or to the list when the change took the client out of this user's
/// sight (it now belongs to another department).
fn after_save(ctx: &Ctx, client: &Client, visible: bool) -> HttpResponse {
    if visible {
        return see_other(&format!("/clients/{}", client.id));
    }
    flash::push(&ctx.session, "info", format!("{} is now outside your departments and no longer in your list.", client.name));
    see_other("/clients")
}

#[derive(Template)]
#[template(path = "clients/show.html", blocks = ["content", "timeline", "last_contacted"])]
struct ClientShowPage {
    layout: Layout,
    client: Client,
    assignee: String,
    departments: Vec<String>,
    /// (name, colour), by name.
    tags: Vec<(String, String)>,
    can_delete: bool,
    timeline: Vec<TimelineItem>,
    timeline_page: i64,
    timeline_has_next: bool,
    activity: Activity,
    users: Vec<User>,
    now: String,
    me: i64,
    /// What the "Send a message" form offers.
    messaging: crate::messaging::compose::SendOptions,
    /// The last-contacted field is rendered to be swapped out of band (htmx answers).
    oob: bool,
}

/// What the timeline says after one of its forms was sent (issue 10 item 10).
#[derive(Debug, Default)]
pub struct Activity {
    /// Why the form was refused.
    pub error: Option<String>,
    /// "Call logged." and the like, for htmx answers (plain requests get a flash).
    pub notice: Option<String>,
    /// The `<details>` id left open: the form that was refused.
    pub open_form: &'static str,
    /// What a refused send form held, shown in it again (issue 19: it came back empty).
    pub typed: TypedMessage,
}

/// The send form's values as typed: its channel, template, variables, body and sender.
#[derive(Debug, Default)]
pub struct TypedMessage {
    pub channel: String,
    pub template_id: String,
    pub body: String,
    pub from: String,
    pub vars: std::collections::HashMap<String, String>,
}

impl TypedMessage {
    /// The channel chosen, WhatsApp unless SMS was.
    pub fn sms(&self) -> bool {
        self.channel == "sms"
    }
    pub fn template_is(&self, id: &i64) -> bool {
        self.template_id.trim() == id.to_string()
    }
    /// Variable `{{n}}` as typed; `None` on a fresh form.
    pub fn var(&self, n: &usize) -> Option<&str> {
        self.vars.get(&format!("var_{n}")).map(String::as_str)
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    timeline_page: Option<i64>,
}

pub async fn show_client(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<ShowQuery>) -> Result<HttpResponse, AppError> {
    let page = crate::web::forms::page_number(q.timeline_page);
    show_client_page(&ctx, &state, path.into_inner(), page, Activity::default(), StatusCode::OK).await
}

/// The detail page, also re-rendered (with `activity.error`) when a communication or
/// follow-up form is refused.
pub async fn show_client_page(
    ctx: &Ctx,
    state: &AppState,
    id: i64,
    timeline_page: i64,
    activity: Activity,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let page = client_page(ctx, state, id, timeline_page, activity).await?;
    respond(&ctx.meta.htmx, status, &page)
}

/// For htmx after a communication or follow-up was saved: the timeline (first page, with
/// `notice`) and the last-contacted field out of band, instead of the whole page.
pub async fn timeline_in_place(ctx: &Ctx, state: &AppState, id: i64, notice: String) -> Result<HttpResponse, AppError> {
    let mut page = client_page(ctx, state, id, 1, Activity { notice: Some(notice), ..Activity::default() }).await?;
    page.oob = true;
    let body = format!("{}\n{}", page.as_timeline().render()?, page.as_last_contacted().render()?);
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body))
}

async fn client_page(ctx: &Ctx, state: &AppState, id: i64, timeline_page: i64, activity: Activity) -> Result<ClientShowPage, AppError> {
    let scope = ctx.scope();
    let (client, assignee, departments, tags, (timeline, timeline_has_next), users, messaging) = state.db(move |conn| {
        let client = model::visible(conn, &scope, id)?.ok_or(AppError::NotFound)?;
        let all_users = users::list(conn, scope.workspace_id)?;
        let assignee = client.assigned_to.and_then(|a| all_users.iter().find(|u| u.id == a)).map(|u| u.name.clone()).unwrap_or_default();
        let ids = model::department_ids(conn, scope.workspace_id, id)?;
        let names: HashMap<i64, String> = departments::list(conn, scope.workspace_id)?.into_iter().map(|d| (d.id, d.name)).collect();
        let departments = ids.iter().filter_map(|d| names.get(d).cloned()).collect();
        let tags = crate::clients::tags::of_client(conn, scope.workspace_id, id)?;
        let timeline = timeline::page(conn, scope.workspace_id, id, timeline_page)?;
        let messaging = crate::messaging::compose::SendOptions::load(conn, scope.workspace_id)?;
        Ok((client, assignee, departments, tags, timeline, all_users.into_iter().filter(|u| u.active).collect(), messaging))
    })
    .await?;
    let page = ClientShowPage {
        layout: ctx.layout(client.name.clone(), "clients"),
        client,
        assignee,
        departments,
        tags,
        can_delete: scope.can_delete(),
        timeline,
        timeline_page,
        timeline_has_next,
        activity,
        users,
        // Typed as the pages show times: 24-hour, in the workspace's zone.
        now: ctx.zone().time(state.clock.now()),
        me: ctx.user_id(),
        messaging,
        oob: false,
    };
    Ok(page)
}

pub async fn edit_client_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let form = state.db(move |conn| {
        let c = model::visible(conn, &scope, id)?.ok_or(AppError::NotFound)?;
        let opt_outs = c.opt_outs().into_iter().map(str::to_owned).collect();
        Ok(ClientForm {
            name: c.name,
            email: c.email.unwrap_or_default(),
            phone: c.phone.unwrap_or_default(),
            company: c.company.unwrap_or_default(),
            // A rule-set status shows as "Automatic", so saving the form as it is keeps it so.
            status: if c.status_source == StatusSource::Rule.as_str() { String::new() } else { c.status },
            assigned_to: c.assigned_to.map(|a| a.to_string()).unwrap_or_default(),
            department_ids: model::department_ids(conn, scope.workspace_id, id)?,
            tags: model::tag_names(conn, scope.workspace_id, id)?.join(", "),
            opt_outs,
            notes: c.notes,
            version: Some(c.version),
        })
    })
    .await?;
    form_page(&ctx, &state, StatusCode::OK, Some(id), form, FormErrors::default(), None).await
}

pub async fn update_client(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<ClientForm>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let version = form.version.ok_or_else(|| AppError::BadRequest("The form has no version; reload the page.".into()))?;
    let entry = ctx.audit(Action::ClientsUpdated, "clients", id);
    let submitted = form.clone();
    let saved = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = model::visible(tx, &scope, id)?.ok_or(AppError::NotFound)?;
            let before_departments = model::department_ids(tx, scope.workspace_id, id)?;
            let before_tags = model::tag_names(tx, scope.workspace_id, id)?;
            let parsed = match parse_form(tx, &scope, &submitted)? {
                Ok(parsed) => parsed,
                Err(errors) => return Ok(Saved::Invalid(errors, None)),
            };
            if let Some((errors, link)) = duplicate_error(tx, &scope, &parsed.fields, Some(id))? {
                return Ok(Saved::Invalid(errors, link));
            }
            let mut fields = parsed.fields.clone();
            // Only a status a person changes is hand-set; "Automatic" hands it back to the rule.
            let source = match parsed.status_choice {
                None => {
                    fields.status = before.status.clone();
                    (before.status_source != StatusSource::Rule.as_str()).then_some(StatusSource::Rule)
                }
                Some(picked) => (picked.as_str() != before.status).then_some(StatusSource::Hand),
            };
            if model::update_if_version(tx, scope.workspace_id, id, version, &fields, source)?.is_none() {
                return Ok(Saved::Stale);
            }
            model::set_departments(tx, scope.workspace_id, id, &parsed.department_ids)?;
            model::set_tags(tx, scope.workspace_id, id, &parsed.tags)?;
            model::set_opt_outs(tx, scope.workspace_id, id, &parsed.opt_outs, "manual")?;
            let after = model::find(tx, scope.workspace_id, id)?;
            let entry = entry
                .before(before.audit_json(&before_departments, &before_tags))
                .after(after.audit_json(&parsed.department_ids, &parsed.tags));
            audit::record(tx, &entry)?;
            let visible = model::visible(tx, &scope, id)?.is_some();
            Ok(Saved::Ok(Box::new(after), visible))
        })
    })
    .await?;
    match saved {
        Saved::Ok(client, visible) => {
            flash::success(&ctx.session, format!("Client {} saved.", client.name));
            Ok(after_save(&ctx, &client, visible))
        }
        Saved::Invalid(errors, duplicate) => form_page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, Some(id), form, errors, duplicate).await,
        Saved::Stale => Err(AppError::Conflict(
            "Someone else changed this client while you were editing. Reload the page to see their change, then edit again.".into(),
        )),
        Saved::Repeat(_) => Err(AppError::Unexpected(anyhow::anyhow!("an update is not a one-time form"))),
    }
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    from: Option<String>,
}

pub async fn delete_client(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<DeleteQuery>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ctx.scope(), path.into_inner());
    let entry = ctx.audit(Action::ClientsDeleted, "clients", id);
    let deleted = state.db(move |conn| {
        conn.transaction(|tx| {
            let client = model::visible(tx, &scope, id)?.ok_or(AppError::NotFound)?;
            if !scope.can_delete() {
                return Err(AppError::Forbidden("Only managers and admins can delete clients.".into()));
            }
            let departments = model::department_ids(tx, scope.workspace_id, id)?;
            let tags = model::tag_names(tx, scope.workspace_id, id)?;
            model::delete(tx, scope.workspace_id, id)?;
            audit::record(tx, &entry.before(client.audit_json(&departments, &tags)))?;
            Ok(client)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("Client {} deleted.", deleted.name));
    // From a list row htmx removes the row (empty 200); elsewhere, back to the list.
    if ctx.meta.htmx.request && !ctx.meta.htmx.boosted && q.from.as_deref() == Some("row") {
        return Ok(HttpResponse::Ok().finish());
    }
    Ok(see_other("/clients"))
}

#[derive(Deserialize)]
pub struct CheckQuery {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    /// The client being edited (its own email/phone is no duplicate).
    id: Option<i64>,
}

/// `GET /clients/check?email=…` or `?phone=…`: the field's error message, empty when fine.
/// Powers inline validation as the user types; the form post still checks everything. htmx
/// swaps the answer into the page as HTML and it can name an existing client, so it is an
/// escaped HTML fragment, never plain text.
pub async fn check_field(ctx: Ctx, state: Data<AppState>, Query(q): Query<CheckQuery>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let message = state.db(move |conn| {
        let country = workspaces::find(conn, scope.workspace_id)?.default_country;
        let (email, phone) = match (q.email.as_deref().map(str::trim), q.phone.as_deref().map(str::trim)) {
            (Some(""), _) | (_, Some("")) | (None, None) => return Ok(String::new()),
            (Some(e), _) => match forms::email(e) {
                Ok(e) => (Some(e), None),
                Err(m) => return Ok(m.to_string()),
            },
            (None, Some(p)) => match PhoneE164::parse(p, &country) {
                Ok(p) => (None, Some(p.into_inner())),
                Err(m) => return Ok(m.to_string()),
            },
        };
        let fields = ClientFields { name: String::new(), email, phone, phone_formatted: None, company: None, status: String::new(), assigned_to: None, notes: String::new() };
        Ok(match duplicate_error(conn, &scope, &fields, q.id)? {
            Some((errors, _)) => errors.get("email").or(errors.get("phone")).unwrap_or_default().to_string(),
            None => String::new(),
        })
    })
    .await?;
    html_status(StatusCode::OK, &CheckedField { message })
}

/// `clients/check_field.html`: the inline check's message, escaped.
#[derive(Template)]
#[template(path = "clients/check_field.html")]
struct CheckedField {
    message: String,
}
