//! User rows and the queries on them. Every query takes the workspace first.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::authz::Role;
use crate::db::schema::{sessions, user_departments, users};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub workspace_id: i64,
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// What the audit trail records of a user: never the password hash.
    pub fn audit_json(&self) -> serde_json::Value {
        json!({ "email": self.email, "name": self.name, "role": self.role, "active": self.active })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub workspace_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
}

impl NewUser<'_> {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<User> {
        diesel::insert_into(users::table).values(self).returning(User::as_returning()).get_result(conn)
    }
}

pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<User>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Row lock for a read-modify-write of one user.
pub fn find_for_update(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<User>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .filter(users::id.eq(id))
        .select(User::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Every user with this email, in any workspace (login happens before a workspace is known).
pub fn find_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Vec<User>> {
    users::table
        .filter(crate::db::lower(users::email).eq(crate::db::lower(email)))
        .order((users::workspace_id, users::id))
        .select(User::as_select())
        .load(conn)
}

/// The one account a sign-in with `email` checks the password of: in the workspace named
/// `workspace` when given; otherwise, when the email is in several workspaces, an active one
/// with a password before others, then the oldest workspace. One account, so that every
/// attempt costs one argon2 verification whatever the email.
pub fn find_for_sign_in(conn: &mut PgConnection, email: &str, workspace: Option<&str>) -> QueryResult<Option<User>> {
    use crate::db::schema::workspaces;
    use diesel::sql_types::Bool;
    let mut query = users::table
        .inner_join(workspaces::table)
        .filter(crate::db::lower(users::email).eq(crate::db::lower(email)))
        .into_boxed();
    if let Some(name) = workspace {
        query = query.filter(crate::db::lower(workspaces::name).eq(crate::db::lower(name)));
    }
    query
        .order((
            diesel::dsl::sql::<Bool>("(users.active AND users.password_hash NOT LIKE '!%')").desc(),
            users::workspace_id,
            users::id,
        ))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn email_taken(conn: &mut PgConnection, workspace_id: i64, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(users::workspace_id.eq(workspace_id))
            .filter(crate::db::lower(users::email).eq(crate::db::lower(email))),
    ))
    .get_result(conn)
}

pub fn any_exist(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

pub fn list(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .order((users::active.desc(), users::name, users::id))
        .select(User::as_select())
        .load(conn)
}

/// Department ids of every user of the workspace, in one query.
pub fn department_ids_by_user(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<HashMap<i64, Vec<i64>>> {
    let rows: Vec<(i64, i64)> = user_departments::table
        .filter(user_departments::workspace_id.eq(workspace_id))
        .select((user_departments::user_id, user_departments::department_id))
        .load(conn)?;
    let mut map: HashMap<i64, Vec<i64>> = HashMap::new();
    for (user_id, department_id) in rows {
        map.entry(user_id).or_default().push(department_id);
    }
    Ok(map)
}

/// Department ids of one user.
pub fn department_ids_of(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<Vec<i64>> {
    user_departments::table
        .filter(user_departments::workspace_id.eq(workspace_id))
        .filter(user_departments::user_id.eq(user_id))
        .order(user_departments::department_id)
        .select(user_departments::department_id)
        .load(conn)
}

pub fn set_departments(conn: &mut PgConnection, workspace_id: i64, user_id: i64, department_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(
        user_departments::table
            .filter(user_departments::workspace_id.eq(workspace_id))
            .filter(user_departments::user_id.eq(user_id)),
    )
    .execute(conn)?;
    let rows: Vec<_> = department_ids
        .iter()
        .map(|d| {
            (
                user_departments::workspace_id.eq(workspace_id),
                user_departments::user_id.eq(user_id),
                user_departments::department_id.eq(*d),
            )
        })
        .collect();
    diesel::insert_into(user_departments::table).values(rows).execute(conn)?;
    Ok(())
}

pub fn update_role(conn: &mut PgConnection, workspace_id: i64, id: i64, role: Role) -> QueryResult<User> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)))
        .set(users::role.eq(role))
        .returning(User::as_returning())
        .get_result(conn)
}

pub fn set_active(conn: &mut PgConnection, workspace_id: i64, id: i64, active: bool) -> QueryResult<User> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)))
        .set(users::active.eq(active))
        .returning(User::as_returning())
        .get_result(conn)
}

pub fn set_password_hash(conn: &mut PgConnection, workspace_id: i64, id: i64, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .map(|_| ())
}

/// Accepting an invitation: the invited user's own name and first password.
pub fn set_name_and_password_hash(conn: &mut PgConnection, workspace_id: i64, id: i64, name: &str, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id)))
        .set((users::password_hash.eq(hash), users::name.eq(name)))
        .execute(conn)
        .map(|_| ())
}

/// Signs a user out everywhere (deletes every server-side session of theirs).
pub fn end_sessions(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table)
        .filter(sessions::workspace_id.eq(workspace_id))
        .filter(sessions::user_id.eq(user_id))
        .execute(conn)
}

/// The user's own name (the profile form).
pub fn set_name(conn: &mut PgConnection, workspace_id: i64, id: i64, name: &str) -> QueryResult<usize> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id))).set(users::name.eq(name)).execute(conn)
}

/// A confirmed new email address.
pub fn set_email(conn: &mut PgConnection, workspace_id: i64, id: i64, email: &str) -> QueryResult<usize> {
    diesel::update(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.eq(id))).set(users::email.eq(email)).execute(conn)
}
