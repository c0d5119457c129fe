//! `/setup`: the one-time page that creates the first workspace and its admin. It exists
//! only while the database has no users at all.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::auth::handlers::start_session;
use crate::users::password;
use crate::authz::Role;
use crate::clients::countries;
use crate::clients::zones::{self, ZoneChoice};
use crate::error::AppError;
use crate::users::model::{self as users};
use crate::users::service::{self, NewAccount};
use crate::web::ctx::{Layout, RequestMeta};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::htmx::Htmx;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "auth/setup.html", blocks = ["content"])]
struct SetupPage {
    layout: Layout,
    form: SetupForm,
    errors: FormErrors,
    zones: Vec<ZoneChoice>,
    countries: Vec<(&'static str, &'static str)>,
    /// No zone picked by the server yet: the browser's own zone may replace the UTC default.
    zone_from_browser: bool,
}

crate::pages!(SetupPage);

#[derive(Clone, Default, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    workspace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    default_country: String,
}

fn page(session: &Session, htmx: &Htmx, state: &AppState, status: StatusCode, form: SetupForm, errors: FormErrors, zone_from_browser: bool) -> Result<HttpResponse, AppError> {
    let page = SetupPage {
        layout: Layout::anonymous(session, "First-run setup"),
        form,
        errors,
        zones: zones::choices(state.clock.now()),
        countries: countries::choices(),
        zone_from_browser,
    };
    respond(htmx, status, &page)
}

/// The phone country: the one chosen, else the time zone's own country.
fn phone_country(chosen: &str, zone: Option<chrono_tz::Tz>) -> Result<String, CountryError> {
    let chosen = chosen.trim().to_uppercase();
    if chosen.is_empty() {
        return zone.and_then(|z| zones::country_of(z.name())).map(str::to_string).ok_or(CountryError::Missing);
    }
    if chosen.len() == 2 && chosen.parse::<phonenumber::country::Id>().is_ok() { Ok(chosen) } else { Err(CountryError::NotListed) }
}

/// Why the phone country was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
enum CountryError {
    /// None chosen, and the time zone names none.
    #[error("Choose the country most of your clients' phone numbers are from.")]
    Missing,
    #[error("Choose a country from the list.")]
    NotListed,
}

async fn ensure_no_users(state: &AppState) -> Result<(), AppError> {
    if state.db(|conn| Ok(users::any_exist(conn)?)).await? { Err(AppError::NotFound) } else { Ok(()) }
}

pub async fn setup_form(session: Session, htmx: Htmx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ensure_no_users(&state).await?;
    let form = SetupForm { time_zone: "UTC".into(), ..SetupForm::default() };
    page(&session, &htmx, &state, StatusCode::OK, form, FormErrors::default(), true)
}

pub async fn setup(req: HttpRequest, session: Session, state: Data<AppState>, HtmlForm(form): HtmlForm<SetupForm>) -> Result<HttpResponse, AppError> {
    ensure_no_users(&state).await?;
    let mut errors = FormErrors::default();
    let workspace = errors.take("workspace", forms::required_text(&form.workspace, "Workspace name", 100));
    let name = errors.take("name", forms::required_text(&form.name, "Name", 100));
    let email = errors.take("email", forms::email(&form.email));
    errors.take("password", password::check_new(&form.password));
    let zone = errors.take("time_zone", zones::parse(&form.time_zone));
    let country = errors.take("default_country", phone_country(&form.default_country, zone));
    let (Some(workspace), Some(name), Some(email), Some(zone), Some(country), true) = (workspace, name, email, zone, country, errors.is_empty()) else {
        // The typed password stays in its field when another answer sent the form back
        // (issue 19: a refused time zone wiped it); a refused password is typed again.
        let password = if errors.get("password").is_some() { String::new() } else { form.password.clone() };
        let form = SetupForm { password, ..form };
        return page(&session, &Htmx::from_request(&req), &state, StatusCode::UNPROCESSABLE_ENTITY, form, errors, false);
    };
    let hash = password::hash_blocking(SecretString::from(form.password)).await?;
    let meta = RequestMeta::of(&req);
    let account = NewAccount { workspace, email, name, role: Role::Admin, password_hash: hash };
    let audit_ip = meta.ip.clone();
    let created = state.db(move |conn| service::create_first_admin(conn, &account, zone.name(), &country, audit_ip)).await?;
    let Some(user) = created else {
        // Someone else finished the setup first.
        return Err(AppError::NotFound);
    };
    start_session(&session, &user, &meta, state.clock.now().timestamp());
    flash::success(&session, "Welcome to Switchboard. Your workspace is ready.");
    Ok(see_other("/"))
}
