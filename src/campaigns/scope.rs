//! Who may see and run a campaign: see the notes of `campaigns`.

use diesel::pg::Pg;
use diesel::prelude::*;

use crate::authz::Role;
use crate::campaigns::Campaign;
use crate::db::schema::campaigns;
use crate::error::AppError;
use crate::web::ctx::Ctx;

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

    /// Every campaign query starts here (`authz::Scope::campaigns`).
    pub fn campaigns(&self) -> campaigns::BoxedQuery<'static, Pg> {
        self.clients().campaigns()
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

