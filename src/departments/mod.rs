//! Departments of a workspace; users (and later clients) belong to many.

pub mod handlers;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::db::schema::{departments, user_departments};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = departments)]
pub struct Department {
    pub workspace_id: i64,
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Department {
    pub fn audit_json(&self) -> serde_json::Value {
        json!({ "name": self.name })
    }
}

pub fn list(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<Department>> {
    departments::table
        .filter(departments::workspace_id.eq(workspace_id))
        .order((departments::name, departments::id))
        .select(Department::as_select())
        .load(conn)
}

/// (department, member count) for the settings page, in one query.
pub fn list_with_member_counts(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(Department, i64)>> {
    let all = list(conn, workspace_id)?;
    let counts: Vec<(i64, i64)> = user_departments::table
        .filter(user_departments::workspace_id.eq(workspace_id))
        .group_by(user_departments::department_id)
        .select((user_departments::department_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|d| {
            let n = counts.iter().find(|(id, _)| *id == d.id).map_or(0, |(_, n)| *n);
            (d, n)
        })
        .collect())
}

pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Department>> {
    departments::table
        .filter(departments::workspace_id.eq(workspace_id))
        .filter(departments::id.eq(id))
        .select(Department::as_select())
        .first(conn)
        .optional()
}

pub fn name_taken(conn: &mut PgConnection, workspace_id: i64, name: &str, except: Option<i64>) -> QueryResult<bool> {
    let mut query = departments::table
        .filter(departments::workspace_id.eq(workspace_id))
        .filter(crate::db::lower(departments::name).eq(crate::db::lower(name)))
        .into_boxed();
    if let Some(id) = except {
        query = query.filter(departments::id.ne(id));
    }
    diesel::select(diesel::dsl::exists(query)).get_result(conn)
}

pub fn insert(conn: &mut PgConnection, workspace_id: i64, name: &str) -> QueryResult<Department> {
    diesel::insert_into(departments::table)
        .values((departments::workspace_id.eq(workspace_id), departments::name.eq(name)))
        .returning(Department::as_returning())
        .get_result(conn)
}

pub fn rename(conn: &mut PgConnection, workspace_id: i64, id: i64, name: &str) -> QueryResult<Department> {
    diesel::update(departments::table.filter(departments::workspace_id.eq(workspace_id)).filter(departments::id.eq(id)))
        .set(departments::name.eq(name))
        .returning(Department::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(departments::table.filter(departments::workspace_id.eq(workspace_id)).filter(departments::id.eq(id))).execute(conn)
}

/// An id that is no department of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Choose departments from the list.")]
pub struct UnknownDepartment;

/// Keeps only the ids that are departments of this workspace; anything else is an error.
pub fn check_ids(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Result<Vec<i64>, UnknownDepartment>> {
    let mut wanted: Vec<i64> = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let found: Vec<i64> = departments::table
        .filter(departments::workspace_id.eq(workspace_id))
        .filter(departments::id.eq_any(&wanted))
        .select(departments::id)
        .load(conn)?;
    if found.len() == wanted.len() { Ok(Ok(wanted)) } else { Ok(Err(UnknownDepartment)) }
}
