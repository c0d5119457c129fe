//! Workspaces: the tenant boundary. Every other tenant row points at one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::workspaces;
use crate::error::AppError;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = workspaces)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub webhook_key: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub default_country: String,
    /// Local time (in `time_zone`) the daily jobs run at.
    pub daily_jobs_at: chrono::NaiveTime,
    /// Days a status set by hand is kept from the daily status rule.
    pub hand_status_days: i32,
}

impl Workspace {
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

/// The workspace called `name` (case-insensitive), for the command line. Names are not
/// unique (renaming a workspace must not tell whether another tenant uses the name), so a
/// name that several workspaces share is a `Conflict` naming their ids.
pub fn find_by_name(conn: &mut PgConnection, name: &str) -> Result<Option<Workspace>, AppError> {
    let mut found: Vec<Workspace> = workspaces::table
        .filter(crate::db::lower(workspaces::name).eq(crate::db::lower(name)))
        .order(workspaces::id)
        .select(Workspace::as_select())
        .load(conn)?;
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(|w| w.id.to_string()).collect();
        return Err(AppError::Conflict(format!(
            "{} workspaces are named {name:?} (ids {}); rename all but one in Settings → Workspace first.",
            found.len(),
            ids.join(", ")
        )));
    }
    Ok(found.pop())
}

pub fn create(conn: &mut PgConnection, name: &str) -> QueryResult<Workspace> {
    diesel::insert_into(workspaces::table)
        .values(workspaces::name.eq(name))
        .returning(Workspace::as_returning())
        .get_result(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Workspace> {
    workspaces::table.find(id).select(Workspace::as_select()).first(conn)
}

pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<Workspace>> {
    workspaces::table.order(workspaces::id).select(Workspace::as_select()).load(conn)
}

/// The settings a person changes on `/settings/workspace`.
#[derive(Clone, Debug, AsChangeset)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceChanges {
    pub name: String,
    pub time_zone: String,
    pub default_country: String,
    pub daily_jobs_at: chrono::NaiveTime,
    pub hand_status_days: i32,
}

pub fn update(conn: &mut PgConnection, id: i64, changes: &WorkspaceChanges) -> QueryResult<usize> {
    diesel::update(workspaces::table.find(id)).set(changes).execute(conn)
}

/// The time zone and default phone country chosen on `/setup`.
pub fn set_zone_and_country(conn: &mut PgConnection, id: i64, time_zone: &str, country: &str) -> QueryResult<usize> {
    diesel::update(workspaces::table.find(id)).set((workspaces::time_zone.eq(time_zone), workspaces::default_country.eq(country))).execute(conn)
}
