//! `/settings/users` (admin): invite (create with a first password), change role,
//! deactivate / reactivate, set departments. Deactivating ends the user's sessions.

use diesel::Connection;
use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::users::password;
use crate::users::tokens::{self, Purpose};
use crate::email::messages;

/// The password hash of an invited user who has not chosen a password yet.
pub const INVITED: &str = "!invited";
use crate::authz::Role;
use crate::departments::{self, Department};
use crate::error::AppError;
use crate::users::model::{self as users, NewUser, User};
use crate::web::ctx::{Ctx, Layout};
use crate::web::flash;
use crate::web::forms::{self, FormErrors, HtmlForm};
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "settings/users.html", blocks = ["content"])]
struct UsersPage {
    layout: Layout,
    users: Vec<User>,
    departments: Vec<Department>,
    memberships: HashMap<i64, Vec<i64>>,
    form: InviteForm,
    errors: FormErrors,
    me: i64,
    roles: [Role; 3],
    /// An invitation link to hand over by other means, shown once, when no email server is
    /// set up to send it: (email, link).
    invitation: Option<(String, String)>,
}

impl UsersPage {
    fn member(&self, user_id: &i64, department_id: &i64) -> bool {
        self.memberships.get(user_id).is_some_and(|ids| ids.contains(department_id))
    }

    fn department_names(&self, user_id: &i64) -> String {
        let ids = self.memberships.get(user_id).cloned().unwrap_or_default();
        let names: Vec<&str> = self.departments.iter().filter(|d| ids.contains(&d.id)).map(|d| d.name.as_str()).collect();
        names.join(", ")
    }

    fn form_has_department(&self, id: &i64) -> bool {
        self.form.department_ids.contains(id)
    }
}

crate::pages!(UsersPage);

#[derive(Clone, Default, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    department_ids: Vec<i64>,
}

async fn render(ctx: &Ctx, state: &AppState, status: StatusCode, form: InviteForm, errors: FormErrors) -> Result<HttpResponse, AppError> {
    render_with(ctx, state, status, form, errors, None).await
}

async fn render_with(
    ctx: &Ctx,
    state: &AppState,
    status: StatusCode,
    form: InviteForm,
    errors: FormErrors,
    invitation: Option<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let workspace_id = ctx.workspace_id();
    let (users, departments, memberships) = state.db(move |conn| {
        Ok((users::list(conn, workspace_id)?, departments::list(conn, workspace_id)?, users::department_ids_by_user(conn, workspace_id)?))
    })
    .await?;
    let page = UsersPage {
        layout: ctx.layout("Users", "settings"),
        users,
        departments,
        memberships,
        form: InviteForm { password: String::new(), ..form },
        errors,
        me: ctx.user_id(),
        roles: Role::ALL,
        invitation,
    };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn list_users(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    render(&ctx, &state, StatusCode::OK, InviteForm { role: "agent".into(), ..Default::default() }, FormErrors::default()).await
}

pub async fn invite_user(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<InviteForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let mut errors = FormErrors::default();
    let email = errors.take("email", forms::email(&form.email));
    let name = errors.take("name", forms::required_text(&form.name, "Name", 100));
    let role = errors.take("role", Role::parse(&form.role));
    // Without a first password the user is invited by email to choose one.
    let by_email = form.password.is_empty();
    if !by_email {
        errors.take("password", password::check_new(&form.password));
    }
    let workspace_id = ctx.workspace_id();
    let ids = form.department_ids.clone();
    let checked = state.db(move |conn| Ok(departments::check_ids(conn, workspace_id, &ids)?)).await?;
    let department_ids = errors.take("department_ids", checked);
    let (Some(email), Some(name), Some(role), Some(department_ids), true) = (email, name, role, department_ids, errors.is_empty()) else {
        return render(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, form, errors).await;
    };
    // "!": no password verifies against it until the invitation is accepted.
    let hash = if by_email { INVITED.to_string() } else { password::hash_blocking(SecretString::from(form.password.clone())).await? };
    let entry = ctx.audit(Action::UsersCreated, "users", "");
    let lookup_email = email.clone();
    let (now, base, inviter, workspace) = (state.clock.now(), state.settings.base_url(), ctx.user.name.clone(), ctx.user.workspace_name.clone());
    let (at_rest_key, smtp_url) = (state.at_rest_key, state.settings.smtp_url.clone());
    let created = state.db(move |conn| {
        conn.transaction(|tx| {
            if users::email_taken(tx, workspace_id, &lookup_email)? {
                return Ok(None);
            }
            let mut unsent_link = None;
            let user = NewUser { workspace_id, email: &lookup_email, name: &name, role, password_hash: &hash }.insert(tx)?;
            users::set_departments(tx, workspace_id, user.id, &department_ids)?;
            if by_email {
                let raw = tokens::issue(tx, &user, Purpose::Invite, now)?;
                let invite = messages::Invite { inviter, workspace, link: format!("{base}/invitations/{raw}") };
                // The link is a live secret: sealed in the queue, dropped once sent.
                crate::email::enqueue_sealed(tx, &at_rest_key, workspace_id, &messages::invite(&user.email, &invite)?)?;
                // With no email server it waits; the admin gets the link once, to pass on.
                if !matches!(crate::email::smtp::config_for(tx, workspace_id, smtp_url.as_ref(), &at_rest_key), Ok(Some(_))) {
                    unsent_link = Some(invite.link.clone());
                }
            }
            let mut after = user.audit_json();
            after["department_ids"] = json!(department_ids);
            audit::record(tx, &audit::Entry { entity_id: Some(user.id.to_string()), ..entry.after(after) })?;
            Ok(Some((user, unsent_link)))
        })
    })
    .await?;
    match created {
        Some((user, Some(link))) => {
            let fresh = InviteForm { role: "agent".into(), ..Default::default() };
            render_with(&ctx, &state, StatusCode::OK, fresh, FormErrors::default(), Some((user.email, link))).await
        }
        Some((user, None)) => {
            if by_email {
                flash::success(&ctx.session, format!("An invitation is on its way to {}; the link works for 7 days.", user.email));
            } else {
                flash::success(&ctx.session, format!("{} can now sign in as {}.", user.name, user.email));
            }
            Ok(see_other("/settings/users"))
        }
        None => {
            let mut errors = FormErrors::default();
            errors.add("email", format!("{email} already has an account in this workspace."));
            render(&ctx, &state, StatusCode::UNPROCESSABLE_ENTITY, form, errors).await
        }
    }
}

/// Loads the target user of the workspace for a change, refusing changes to oneself that
/// could lock the workspace out.
fn load_target(conn: &mut diesel::PgConnection, ctx_user: (i64, i64), id: i64) -> Result<User, AppError> {
    let (workspace_id, me) = ctx_user;
    let user = users::find_for_update(conn, workspace_id, id)?.ok_or(AppError::NotFound)?;
    if user.id == me {
        return Err(AppError::Conflict("You cannot change your own role or deactivate yourself; ask another admin.".into()));
    }
    Ok(user)
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn change_role(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<RoleForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let role = Role::parse(&form.role).map_err(|e| AppError::Validation(e.to_string()))?;
    let (scope, id) = ((ctx.workspace_id(), ctx.user_id()), path.into_inner());
    let entry = ctx.audit(Action::UsersRoleChanged, "users", id);
    let user = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = load_target(tx, scope, id)?;
            let after = users::update_role(tx, scope.0, id, role)?;
            audit::record(tx, &entry.before(before.audit_json()).after(after.audit_json()))?;
            Ok(after)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("{} is now {}.", user.name, user.role));
    Ok(see_other("/settings/users"))
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub async fn set_active(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<ActiveForm>) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::Validation("active must be true or false.".into())),
    };
    let (scope, id) = ((ctx.workspace_id(), ctx.user_id()), path.into_inner());
    let action = if active { Action::UsersReactivated } else { Action::UsersDeactivated };
    let entry = ctx.audit(action, "users", id);
    let user = state.db(move |conn| {
        conn.transaction(|tx| {
            let before = load_target(tx, scope, id)?;
            let after = users::set_active(tx, scope.0, id, active)?;
            let ended = if active { 0 } else { users::end_sessions(tx, scope.0, id)? };
            let mut after_json = after.audit_json();
            after_json["sessions_ended"] = json!(ended);
            audit::record(tx, &entry.before(before.audit_json()).after(after_json))?;
            Ok(after)
        })
    })
    .await?;
    let verb = if active { "reactivated" } else { "deactivated and signed out everywhere" };
    flash::success(&ctx.session, format!("{} has been {verb}.", user.name));
    Ok(see_other("/settings/users"))
}

#[derive(Deserialize)]
pub struct MembershipForm {
    #[serde(default)]
    department_ids: Vec<i64>,
}

pub async fn set_departments(
    ctx: Ctx,
    state: Data<AppState>,
    path: Path<i64>,
    HtmlForm(form): HtmlForm<MembershipForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require(Role::Admin)?;
    let (workspace_id, id) = (ctx.workspace_id(), path.into_inner());
    let entry = ctx.audit(Action::UsersDepartmentsChanged, "users", id);
    let user = state.db(move |conn| {
        conn.transaction(|tx| {
            let user = users::find_for_update(tx, workspace_id, id)?.ok_or(AppError::NotFound)?;
            let ids = departments::check_ids(tx, workspace_id, &form.department_ids)?.map_err(|e| AppError::Validation(e.to_string()))?;
            let before = users::department_ids_of(tx, workspace_id, id)?;
            users::set_departments(tx, workspace_id, id, &ids)?;
            audit::record(tx, &entry.before(json!({ "department_ids": before })).after(json!({ "department_ids": ids })))?;
            Ok(user)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("Departments of {} saved.", user.name));
    Ok(see_other("/settings/users"))
}
