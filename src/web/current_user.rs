//! The signed-in user as every request sees them: kept in the session, refreshed from the
//! database by the session store so a deactivated user or a changed role takes effect at once.

use diesel::prelude::*;

use crate::authz::Role;
use crate::db::schema::{users, workspaces};

/// The signed-in user, as every request sees them.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CurrentUser {
    pub workspace_id: i64,
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub workspace_name: String,
    pub zone: crate::web::time::Zone,
}

impl CurrentUser {
    pub fn find_active(conn: &mut PgConnection, workspace_id: i64, user_id: i64) -> QueryResult<Option<Self>> {
        users::table
            .inner_join(workspaces::table)
            .filter(users::workspace_id.eq(workspace_id))
            .filter(users::id.eq(user_id))
            .filter(users::active.eq(true))
            .select((users::workspace_id, users::id, users::email, users::name, users::role, workspaces::name, workspaces::time_zone))
            .first::<(i64, i64, String, String, Role, String, String)>(conn)
            .optional()
            .map(|row| {
                row.map(|(workspace_id, id, email, name, role, workspace_name, time_zone)| CurrentUser {
                    workspace_id,
                    id,
                    email,
                    name,
                    role,
                    workspace_name,
                    zone: crate::web::time::Zone::named(&time_zone),
                })
            })
    }
}
