//! Workspaces: the tenant boundary. Every other tenant row points at one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::workspaces;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = workspaces)]
pub struct Workspace {
    pub id: i64,
    pub name: String,
    pub webhook_key: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub default_country: String,
}

pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Workspace>> {
    workspaces::table
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = lower(").bind::<diesel::sql_types::Text, _>(name).sql(")"))
        .select(Workspace::as_select())
        .first(conn)
        .optional()
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
