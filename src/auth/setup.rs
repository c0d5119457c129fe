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
use crate::auth::password;
use crate::db;
use crate::error::AppError;
use crate::startup::AppState;
use crate::users::model::{self as users};
use crate::users::role::Role;
use crate::users::service::{self, NewAccount};
use crate::web::ctx::{Layout, RequestMeta};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::htmx::Htmx;
use crate::web::render::{respond, see_other};

#[derive(Template)]
#[template(path = "auth/setup.html", blocks = ["content"])]
struct SetupPage {
    layout: Layout,
    form: SetupForm,
    errors: FormErrors,
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
}

async fn ensure_no_users(state: &AppState) -> Result<(), AppError> {
    if db::run(&state.pool, |conn| Ok(users::any_exist(conn)?)).await? { Err(AppError::NotFound) } else { Ok(()) }
}

pub async fn setup_form(session: Session, htmx: Htmx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ensure_no_users(&state).await?;
    let page = SetupPage { layout: Layout::anonymous(&session, "First-run setup"), form: SetupForm::default(), errors: FormErrors::default() };
    respond(&htmx, StatusCode::OK, &page)
}

pub async fn setup(req: HttpRequest, session: Session, state: Data<AppState>, HtmlForm(form): HtmlForm<SetupForm>) -> Result<HttpResponse, AppError> {
    ensure_no_users(&state).await?;
    let mut errors = FormErrors::default();
    let workspace = errors.take("workspace", forms::required_text(&form.workspace, "Workspace name", 100));
    let name = errors.take("name", forms::required_text(&form.name, "Name", 100));
    let email = errors.take("email", forms::email(&form.email));
    errors.take("password", password::check_new(&form.password));
    let (Some(workspace), Some(name), Some(email), true) = (workspace, name, email, errors.is_empty()) else {
        let page = SetupPage { layout: Layout::anonymous(&session, "First-run setup"), form: SetupForm { password: String::new(), ..form }, errors };
        return respond(&Htmx::from_request(&req), StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let hash = password::hash_blocking(SecretString::from(form.password)).await?;
    let meta = RequestMeta::of(&req);
    let account = NewAccount { workspace, email, name, role: Role::Admin, password_hash: hash };
    let audit_ip = meta.ip.clone();
    let created = db::run(&state.pool, move |conn| service::create_first_admin(conn, &account, audit_ip)).await?;
    let Some(user) = created else {
        // Someone else finished the setup first.
        return Err(AppError::NotFound);
    };
    start_session(&session, &user, &meta, state.clock.now().timestamp());
    flash::success(&session, "Welcome to Switchboard. Your workspace is ready.");
    Ok(see_other("/"))
}
