//! `/settings/workspace`: name, time zone (times are shown and typed in it) and the
//! default country for phone numbers written without a country code.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use askama::Template;
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::clients::countries;
use crate::clients::zones::{self, ZoneChoice};
use crate::error::AppError;
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;
use crate::workspaces::{self, WorkspaceChanges};

#[derive(Clone, Default, Deserialize)]
pub struct WorkspaceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    default_country: String,
    #[serde(default)]
    daily_jobs_at: String,
    #[serde(default)]
    hand_status_days: String,
}

#[derive(Template)]
#[template(path = "settings/workspace.html", blocks = ["content"])]
struct WorkspacePage {
    layout: Layout,
    form: WorkspaceForm,
    errors: FormErrors,
    zones: Vec<ZoneChoice>,
    countries: Vec<(&'static str, &'static str)>,
}

crate::pages!(WorkspacePage);

fn page(ctx: &Ctx, state: &AppState, status: StatusCode, form: WorkspaceForm, errors: FormErrors) -> Result<HttpResponse, AppError> {
    // The offsets shown are today's (by the app's clock), daylight saving included.
    let (zones, countries) = (zones::choices(state.clock.now()), countries::choices());
    respond(&ctx.meta.htmx, status, &WorkspacePage { layout: ctx.layout("Workspace", "settings"), form, errors, zones, countries })
}

pub async fn workspace_form(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let id = ctx.workspace_id();
    let w = state.db(move |conn| Ok(workspaces::find(conn, id)?)).await?;
    let form = WorkspaceForm {
        name: w.name,
        time_zone: w.time_zone,
        default_country: w.default_country,
        daily_jobs_at: w.daily_jobs_at.format("%H:%M").to_string(),
        hand_status_days: w.hand_status_days.to_string(),
    };
    page(&ctx, &state, StatusCode::OK, form, FormErrors::default())
}

pub async fn update_workspace(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<WorkspaceForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let mut errors = FormErrors::default();
    let name = errors.take("name", forms::required_text(&form.name, "Workspace name", 100));
    let zone = errors.take("time_zone", zones::parse(&form.time_zone));
    let country = form.default_country.trim().to_uppercase();
    let country_ok = country.len() == 2 && country.parse::<phonenumber::country::Id>().is_ok();
    if !country_ok {
        errors.add("default_country", "Choose a country from the list.");
    }
    // Left empty, the automation settings keep their values.
    let daily = match form.daily_jobs_at.trim() {
        "" => Ok(None),
        t => chrono::NaiveTime::parse_from_str(t, "%H:%M").map(Some).map_err(|_| "Write the time as HH:MM, like 07:00.".to_string()),
    };
    let daily = errors.take("daily_jobs_at", daily);
    let hand_days = match form.hand_status_days.trim() {
        "" => Ok(None),
        t => t.parse::<i32>().ok().filter(|d| (0..=365).contains(d)).map(Some).ok_or_else(|| "Use a number of days from 0 to 365.".to_string()),
    };
    let hand_days = errors.take("hand_status_days", hand_days);
    let (Some(name), Some(zone), Some(daily), Some(hand_days), true) = (name, zone, daily, hand_days, errors.is_empty()) else {
        return page(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, form, errors);
    };
    let id = ctx.workspace_id();
    let entry = ctx.audit(Action::WorkspacesUpdated, "workspaces", id);
    // Names need not be unique: whether another workspace uses this one is none of this
    // workspace's business, so it is never checked.
    state.db(move |conn| {
        conn.transaction(|tx| {
            let before = workspaces::find(tx, id)?;
            let after = WorkspaceChanges {
                name,
                time_zone: zone.name().to_string(),
                default_country: country,
                daily_jobs_at: daily.unwrap_or(before.daily_jobs_at),
                hand_status_days: hand_days.unwrap_or(before.hand_status_days),
            };
            workspaces::update(tx, id, &after)?;
            let entry = entry
                .before(json!({
                    "name": before.name, "time_zone": before.time_zone, "default_country": before.default_country,
                    "daily_jobs_at": before.daily_jobs_at.format("%H:%M").to_string(), "hand_status_days": before.hand_status_days,
                }))
                .after(json!({
                    "name": after.name, "time_zone": after.time_zone, "default_country": after.default_country,
                    "daily_jobs_at": after.daily_jobs_at.format("%H:%M").to_string(), "hand_status_days": after.hand_status_days,
                }));
            audit::record(tx, &entry)
        })
        .map_err(AppError::from)
    })
    .await?;
    flash::success(&ctx.session, "Workspace settings saved.");
    Ok(see_other("/settings/workspace"))
}
