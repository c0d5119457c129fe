//! `/whatsapp-flows` (admins and managers, like templates): the flows, a new one from its
//! first template, and the editor — plain forms, no script needed: each step's buttons
//! choose where they lead, "Add a step" appends one, "Remove" takes one out. Whatever is
//! saved, the page says what stops the flow being sent (`flows::problems`).
//! The flows are read and written by `campaigns::flow_store`.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use serde::Deserialize;

use crate::audit::Action;
use crate::authz::Role;
use crate::campaigns::flow_store::{self, template_infos};
use crate::campaigns::flows::{self, Flow, TemplateInfo};
use crate::campaigns::model::transaction;
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm, OnceForm};
use crate::web::once::Claim;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>().map_err(|_| AppError::NotFound)
}

#[derive(Template)]
#[template(path = "flows/index.html", blocks = ["content"])]
struct ListPage {
    layout: Layout,
    /// (flow, steps, problems)
    flows: Vec<(Flow, usize, usize)>,
    approved: Vec<(i64, String)>,
    form: NewFlow,
    errors: FormErrors,
}
crate::pages!(ListPage);

#[derive(Clone, Default, Deserialize)]
pub struct NewFlow {
    #[serde(default)]
    name: String,
    #[serde(default)]
    template_id: String,
}

fn approved_of(infos: &[(i64, TemplateInfo)]) -> Vec<(i64, String)> {
    infos.iter().filter(|(_, t)| t.approved).map(|(id, t)| (*id, t.name.clone())).collect()
}

async fn list_page(ctx: &Ctx, state: &AppState, form: NewFlow, errors: FormErrors, status: StatusCode) -> Result<HttpResponse, AppError> {
    let w = ctx.workspace_id();
    let (rows, infos) = state.db(move |conn| Ok((flow_store::list(conn, w)?, template_infos(conn, w)?))).await?;
    let map: HashMap<i64, TemplateInfo> = infos.iter().cloned().collect();
    let flows = rows
        .into_iter()
        .map(|f| {
            let steps = f.steps();
            let problems = flows::problems(&steps, &map).len();
            (f, steps.len(), problems)
        })
        .collect();
    let page = ListPage { layout: ctx.layout("WhatsApp flows", "templates"), flows, approved: approved_of(&infos), form, errors };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn list_flows(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    list_page(&ctx, &state, NewFlow::default(), FormErrors::default(), StatusCode::OK).await
}

pub async fn create_flow(ctx: Ctx, state: Data<AppState>, OnceForm(form, once): OnceForm<NewFlow>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let w = ctx.workspace_id();
    let mut errors = FormErrors::default();
    let name = errors.take("name", forms::required_text(&form.name, "Name", 200));
    let template_id = form.template_id.parse::<i64>().ok();
    let infos = state.db(move |conn| Ok(template_infos(conn, w)?)).await?;
    let first = template_id.filter(|id| infos.iter().any(|(t, info)| t == id && info.approved));
    if first.is_none() {
        errors.add("template_id", "Choose an approved template to start the flow.");
    }
    let (Some(name), Some(first)) = (name, first) else {
        return list_page(&ctx, &state, form, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let user = ctx.user_id();
    let entry = ctx.audit(Action::FlowsCreated, "whatsapp_flows", w);
    let at = state.db(move |conn| {
        transaction(conn, |tx| {
            if let Claim::Repeat(first) = once.claim(tx, w, user)? {
                return Ok(first.unwrap_or_else(|| "/whatsapp-flows".into()));
            }
            let id = flow_store::create(tx, w, user, &name, first, entry)?;
            let at = format!("/whatsapp-flows/{id}");
            once.done(tx, w, user, &at)?;
            Ok(at)
        })
    })
    .await?;
    Ok(see_other(&at))
}

/// One button of a step in the editor.
pub struct ButtonRow {
    pub field: String,
    pub title: String,
    /// The chosen next step's key; "" = the flow ends.
    pub next: String,
    pub mapped: bool,
}

pub struct StepRow {
    pub number: usize,
    pub key: String,
    pub template: String,
    pub approved: bool,
    pub buttons: Vec<ButtonRow>,
    pub remove_href: String,
    pub remove_label: String,
}

#[derive(Template)]
#[template(path = "flows/show.html", blocks = ["content"])]
struct ShowPage {
    layout: Layout,
    flow: Flow,
    steps: Vec<StepRow>,
    /// (key, "Step n: template") to choose where a button leads.
    targets: Vec<(String, String)>,
    approved: Vec<(i64, String)>,
    problems: Vec<String>,
}
crate::pages!(ShowPage);

fn show_page(ctx: &Ctx, flow: Flow, infos: Vec<(i64, TemplateInfo)>) -> ShowPage {
    let map: HashMap<i64, TemplateInfo> = infos.iter().cloned().collect();
    let steps = flow.steps();
    let name_of = |id: i64| map.get(&id).map_or("(a template that no longer exists)".to_string(), |t| t.name.clone());
    let rows = steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepRow {
            number: i + 1,
            key: s.key.clone(),
            template: name_of(s.template_id),
            approved: map.get(&s.template_id).is_some_and(|t| t.approved),
            remove_href: format!("/whatsapp-flows/{}/steps/{}/delete", flow.id, s.key),
            remove_label: format!("Remove step {}", i + 1),
            buttons: map
                .get(&s.template_id)
                .map(|t| t.buttons.clone())
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(b, (id, title))| ButtonRow {
                    field: format!("next_{i}_{b}"),
                    title,
                    next: s.next.get(&id).cloned().flatten().unwrap_or_default(),
                    mapped: s.next.contains_key(&id),
                })
                .collect(),
        })
        .collect();
    let targets = steps.iter().enumerate().map(|(i, s)| (s.key.clone(), format!("Step {}: {}", i + 1, name_of(s.template_id)))).collect();
    let problems = flows::problems(&steps, &map);
    ShowPage { layout: ctx.layout(format!("Flow {}", flow.name), "templates"), flow, steps: rows, targets, approved: approved_of(&infos), problems }
}

pub async fn show_flow(ctx: Ctx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (w, id) = (ctx.workspace_id(), parse_id(&path)?);
    let (flow, infos) = state.db(move |conn| Ok((flow_store::find(conn, w, id)?, template_infos(conn, w)?))).await?;
    respond(&ctx.meta.htmx, StatusCode::OK, &show_page(&ctx, flow, infos))
}

/// Saves the flow's name and where each button leads (`next_{step}_{button}` = a step's key
/// or "" for the end).
pub async fn save_flow(ctx: Ctx, state: Data<AppState>, path: Path<String>, HtmlForm(form): HtmlForm<HashMap<String, String>>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (w, id) = (ctx.workspace_id(), parse_id(&path)?);
    let entry = ctx.audit(Action::FlowsUpdated, "whatsapp_flows", id);
    state.db(move |conn| transaction(conn, |tx| flow_store::save(tx, w, id, &form, entry))).await?;
    flash::success(&ctx.session, "Flow saved.");
    Ok(see_other(&format!("/whatsapp-flows/{id}")))
}

#[derive(Deserialize)]
pub struct AddStep {
    #[serde(default)]
    template_id: String,
}

pub async fn add_step(ctx: Ctx, state: Data<AppState>, path: Path<String>, HtmlForm(form): HtmlForm<AddStep>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (w, id) = (ctx.workspace_id(), parse_id(&path)?);
    let chosen = form.template_id.parse::<i64>().ok();
    state.db(move |conn| transaction(conn, |tx| flow_store::add_step(tx, w, id, chosen))).await?;
    flash::success(&ctx.session, "Step added: choose which button leads to it.");
    Ok(see_other(&format!("/whatsapp-flows/{id}")))
}

/// Removes a step; buttons that led to it now lead nowhere (the page says so).
pub async fn remove_step(ctx: Ctx, state: Data<AppState>, path: Path<(String, String)>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Manager)?;
    let (raw_id, key) = path.into_inner();
    let (w, id) = (ctx.workspace_id(), parse_id(&raw_id)?);
    state.db(move |conn| transaction(conn, |tx| flow_store::remove_step(tx, w, id, &key))).await?;
    flash::success(&ctx.session, "Step removed.");
    Ok(see_other(&format!("/whatsapp-flows/{id}")))
}
