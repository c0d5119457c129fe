//! Who may see and do what: the three roles, and the scope of a signed-in user (their
//! workspace, their id, their role) from which every tenant query starts (clients,
//! campaigns, imports). It depends on the
//! roles and the schema only; a request's scope comes from `web::ctx::Ctx::scope`.

pub mod role;
pub mod rules;

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use crate::db::schema::{campaigns, clients, imports};
pub use role::Role;

/// The `clients` row in scope is in one of the manager `$USER`'s departments (an SQL
/// condition; a manager also sees the clients assigned to them). Campaigns test their whole
/// audience with it (`rules::CAMPAIGN_MANAGER_COVERS_SQL`).
pub const MANAGERS_DEPARTMENTS_HOLD_SQL: &str = "EXISTS (SELECT 1 FROM client_departments cd JOIN user_departments ud \
     ON ud.workspace_id = cd.workspace_id AND ud.department_id = cd.department_id \
     WHERE cd.workspace_id = clients.workspace_id AND cd.client_id = clients.id AND ud.user_id = $USER)";

/// Admins see the workspace; managers the clients of their departments (and any assigned
/// to them); agents the clients assigned to them.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub workspace_id: i64,
    pub user_id: i64,
    pub role: Role,
}

impl Scope {
    /// Every client query starts here.
    pub fn clients(&self) -> clients::BoxedQuery<'static, Pg> {
        let query = clients::table.filter(clients::workspace_id.eq(self.workspace_id)).into_boxed();
        match self.role {
            Role::Admin => query,
            Role::Agent => query.filter(clients::assigned_to.eq(self.user_id)),
            Role::Manager => {
                let (before, after) = rules::around_user(MANAGERS_DEPARTMENTS_HOLD_SQL);
                query.filter(clients::assigned_to.eq(self.user_id).or(sql::<Bool>(before).bind::<BigInt, _>(self.user_id).sql(after)))
            }
        }
    }

    /// Every campaign query starts here: admins see the workspace's campaigns, managers those
    /// they cover (`rules::CAMPAIGN_MANAGER_COVERS_SQL`), agents none.
    pub fn campaigns(&self) -> campaigns::BoxedQuery<'static, Pg> {
        let query = campaigns::table.filter(campaigns::workspace_id.eq(self.workspace_id)).into_boxed();
        match self.role {
            Role::Admin => query,
            Role::Manager => {
                let (before, after) = rules::around_user(&rules::CAMPAIGN_MANAGER_COVERS_SQL);
                query.filter(sql::<Bool>(before).bind::<BigInt, _>(self.user_id).sql(after))
            }
            Role::Agent => query.filter(sql::<Bool>("FALSE")),
        }
    }

    /// Every import query starts here: admins see every import of the workspace, others
    /// their own.
    pub fn imports(&self) -> imports::BoxedQuery<'static, Pg> {
        let query = imports::table.filter(imports::workspace_id.eq(self.workspace_id)).into_boxed();
        if self.role == Role::Admin { query } else { query.filter(imports::user_id.eq(self.user_id)) }
    }

    /// Those of `ids` that are clients this user may see.
    pub fn visible_ids(&self, conn: &mut PgConnection, ids: &[i64]) -> QueryResult<Vec<i64>> {
        self.clients().filter(clients::id.eq_any(ids)).select(clients::id).load(conn)
    }

    pub fn can_delete(&self) -> bool {
        self.role.at_least(Role::Manager)
    }
}

