//! Creating accounts, shared by the CLI, the first-run page and the admin pages.

use diesel::prelude::*;
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::authz::Role;
use crate::error::AppError;
use crate::users::model::{self as users, NewUser, User};
use crate::workspaces;

pub struct NewAccount {
    pub workspace: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Arbitrary constant naming the "first admin" advisory lock.
const SETUP_LOCK: i64 = 0x5357_5345_5455; // "SWSETU"

/// Creates the workspace and its first admin, unless any user exists already (`None`).
/// Serialised by an advisory lock so two browsers cannot both become the first admin.
/// The workspace starts with the time zone and phone country chosen on `/setup`, set in the
/// same transaction that creates it.
pub fn create_first_admin(conn: &mut PgConnection, account: &NewAccount, time_zone: &str, country: &str, ip: Option<String>) -> Result<Option<User>, AppError> {
    conn.transaction(|tx| {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SETUP_LOCK})")).execute(tx)?;
        if users::any_exist(tx)? {
            return Ok(None);
        }
        let (user, _) = create_in_workspace(tx, account, None, ip)?;
        workspaces::set_zone_and_country(tx, user.workspace_id, time_zone, country)?;
        Ok(Some(user))
    })
}

/// Creates the user in the named workspace, creating the workspace when it does not exist.
/// `by` is the acting user (`None`: the system, e.g. the CLI or first-run setup).
/// Returns the user and whether the workspace was new. A taken email is a `Conflict`.
pub fn create_in_workspace(
    conn: &mut PgConnection,
    account: &NewAccount,
    by: Option<Actor>,
    ip: Option<String>,
) -> Result<(User, bool), AppError> {
    conn.transaction(|tx| {
        let (workspace, created) = match workspaces::find_by_name(tx, &account.workspace)? {
            Some(w) => (w, false),
            None => (workspaces::create(tx, &account.workspace)?, true),
        };
        if users::email_taken(tx, workspace.id, &account.email)? {
            return Err(AppError::Conflict(format!("A user with email {} already exists in {}.", account.email, workspace.name)));
        }
        let user = NewUser {
            workspace_id: workspace.id,
            email: &account.email,
            name: &account.name,
            role: account.role,
            password_hash: &account.password_hash,
        }
        .insert(tx)?;
        let actor = by.unwrap_or(Actor::System);
        if created {
            let entry = Entry { ip: ip.clone(), ..Entry::new(workspace.id, actor.clone(), Action::WorkspacesCreated, "workspaces", workspace.id) };
            audit::record(tx, &entry.after(json!({ "name": workspace.name })))?;
        }
        let entry = Entry { ip, ..Entry::new(workspace.id, actor, Action::UsersCreated, "users", user.id) };
        audit::record(tx, &entry.after(user.audit_json()))?;
        Ok((user, created))
    })
}
