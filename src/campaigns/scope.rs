//! Who may see and run a campaign: see the notes of `campaigns`.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use crate::authz::Role;
use crate::campaigns::Campaign;
use crate::db::schema::campaigns;
use crate::error::AppError;
use crate::web::ctx::Ctx;

/// A manager (`$USER`, an SQL expression named once) may see and run the `campaigns` row in
/// scope: it has at least one department, none that is not the manager's, and no attached
/// client the manager may not see (issue 18: an admin may fill a department's campaign with
/// anyone; its recipients, exports, sends and live events then stay the admin's). Also the
/// live events' rule (events::hub): who gets a batch's updates.
pub static MANAGER_COVERS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let sees_client = crate::authz::MANAGERS_DEPARTMENTS_HOLD_SQL.replace("$USER", "me.uid");
    format!(
        "EXISTS (SELECT 1 FROM (SELECT ($USER)::bigint AS uid) me WHERE \
         EXISTS (SELECT 1 FROM campaign_departments cd WHERE cd.workspace_id = campaigns.workspace_id AND cd.campaign_id = campaigns.id) \
         AND NOT EXISTS (SELECT 1 FROM campaign_departments cd WHERE cd.workspace_id = campaigns.workspace_id \
           AND cd.campaign_id = campaigns.id AND cd.department_id NOT IN \
           (SELECT ud.department_id FROM user_departments ud WHERE ud.workspace_id = campaigns.workspace_id AND ud.user_id = me.uid)) \
         AND NOT EXISTS (SELECT 1 FROM campaign_clients cc JOIN clients ON clients.workspace_id = cc.workspace_id AND clients.id = cc.client_id \
           WHERE cc.workspace_id = campaigns.workspace_id AND cc.campaign_id = campaigns.id \
           AND clients.assigned_to IS DISTINCT FROM me.uid AND NOT {sees_client}))"
    )
});

/// Which campaigns a user may see (and run): see the module's notes.
#[derive(Clone, Copy, Debug)]
pub struct CampaignScope {
    pub workspace_id: i64,
    pub user_id: i64,
    pub role: Role,
}

impl CampaignScope {
    /// Managers and admins; agents get 403.
    pub fn of(ctx: &Ctx) -> Result<CampaignScope, AppError> {
        ctx.require(Role::Manager)?;
        Ok(CampaignScope { workspace_id: ctx.workspace_id(), user_id: ctx.user_id(), role: ctx.role() })
    }

    /// Every campaign query starts here.
    pub fn campaigns(&self) -> campaigns::BoxedQuery<'static, Pg> {
        let query = campaigns::table.filter(campaigns::workspace_id.eq(self.workspace_id)).into_boxed();
        match self.role {
            Role::Admin => query,
            // At least one department, and none that is not the manager's.
            _ => {
                let (before, after) = MANAGER_COVERS_SQL.split_once("$USER").expect("the condition names its user");
                query.filter(sql::<Bool>(before).bind::<BigInt, _>(self.user_id).sql(after))
            }
        }
    }

    /// The campaign if this user may see it (404 otherwise, also for another workspace's).
    pub fn find(&self, conn: &mut PgConnection, id: i64) -> Result<Campaign, AppError> {
        self.campaigns().filter(campaigns::id.eq(id)).select(Campaign::as_select()).first(conn).optional()?.ok_or(AppError::NotFound)
    }

    /// The client scope attaching uses: the same user's clients.
    pub fn clients(&self) -> crate::authz::Scope {
        crate::authz::Scope { workspace_id: self.workspace_id, user_id: self.user_id, role: self.role }
    }
}

