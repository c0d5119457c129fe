//! Campaigns (issue 12): a campaign's lifecycle, who may see it, and the shared types of
//! batches and recipients. The pages, audience, batches, dispatch and dashboards live in
//! the submodules.
//!
//! Who: admins see and run every campaign. Managers see and run the campaigns whose
//! departments are all theirs (at least one) and whose attached clients are all clients they
//! may see, and attach only clients they may see; a campaign an admin fills with anyone else
//! is out of their scope (404 on every page, export, send and live event), so a manager's
//! campaign never names or reaches a client that `/clients/{id}` hides from them. Agents
//! have no campaign pages (403): campaigns send to many clients at once, which is a
//! manager's decision; an agent sees a campaign's sends on their clients' timelines.

pub mod audience;
pub mod batches;
pub mod dispatch;
pub mod flow_pages;
pub mod flow_replies;
pub mod flows;
pub mod handlers;
pub mod inbound;
pub mod manage;
pub mod recipients;
pub mod tiles;

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use crate::authz::Role;
use crate::db::schema::campaigns;
use crate::error::AppError;
use crate::web::ctx::Ctx;

crate::text_enum! {
    /// draft → active ⇄ paused → completed (draft → completed too: abandoned).
    pub enum CampaignStatus {
        Draft => "draft",
        Active => "active",
        Paused => "paused",
        Completed => "completed",
    }
}

/// What a person asks of a campaign's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Start,
    Pause,
    Complete,
}

impl Transition {
    pub fn parse(value: &str) -> Option<Transition> {
        match value {
            "start" => Some(Transition::Start),
            "pause" => Some(Transition::Pause),
            "complete" => Some(Transition::Complete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Pause => "pause",
            Transition::Complete => "complete",
        }
    }
}

impl CampaignStatus {
    /// The status after `t`, or why it cannot happen (answered 409).
    pub fn after(self, t: Transition) -> Result<CampaignStatus, &'static str> {
        use CampaignStatus::*;
        match (self, t) {
            (Draft | Paused, Transition::Start) => Ok(Active),
            (Active, Transition::Start) => Err("The campaign is already running."),
            (Completed, Transition::Start) => Err("A completed campaign cannot be started again; create a new one."),
            (Active, Transition::Pause) => Ok(Paused),
            (Paused, Transition::Pause) => Err("The campaign is already paused."),
            (Draft, Transition::Pause) => Err("A draft has not started, so it cannot be paused."),
            (Completed, Transition::Pause) => Err("A completed campaign cannot be paused."),
            (Draft | Active | Paused, Transition::Complete) => Ok(Completed),
            (Completed, Transition::Complete) => Err("The campaign is already completed."),
        }
    }

    /// Batches send only while the campaign is active.
    pub fn sends(self) -> bool {
        self == CampaignStatus::Active
    }
}

crate::text_enum! {
    /// The channel of a batch.
    pub enum BatchChannel {
        WhatsApp => "whatsapp",
        Sms => "sms",
        Email => "email",
    }
}

impl BatchChannel {
    /// The path segment of its pages: `/campaigns/{id}/{segment}/{batch}/recipients`.
    pub fn segment(self) -> &'static str {
        match self {
            BatchChannel::WhatsApp => "whatsapp-messages",
            BatchChannel::Sms => "sms-messages",
            BatchChannel::Email => "emails",
        }
    }

    pub fn from_segment(segment: &str) -> Option<BatchChannel> {
        BatchChannel::ALL.into_iter().find(|c| c.segment() == segment)
    }
}

crate::text_enum! {
    pub enum BatchStatus {
        Scheduled => "scheduled",
        Sending => "sending",
        Done => "done",
        Cancelled => "cancelled",
    }
}

crate::text_enum! {
    /// A recipient's place; a campaign message's status moves it (a trigger on messages).
    pub enum RecipientStatus {
        Queued => "queued",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
        Skipped => "skipped",
        Cancelled => "cancelled",
        Unknown => "unknown",
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub workspace_id: i64,
    pub id: i64,
    pub name: String,
    pub channels: Vec<String>,
    pub whatsapp_from: Option<String>,
    pub status: CampaignStatus,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Campaign {
    pub fn has_channel(&self, channel: BatchChannel) -> bool {
        self.channels.iter().any(|c| c == channel.as_str())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_what_a_campaign_can_do_and_says_why_not() {
        use CampaignStatus::*;
        assert_eq!(Draft.after(Transition::Start), Ok(Active));
        assert_eq!(Active.after(Transition::Pause), Ok(Paused));
        assert_eq!(Paused.after(Transition::Start), Ok(Active));
        assert_eq!(Paused.after(Transition::Complete), Ok(Completed));
        assert!(Draft.after(Transition::Pause).is_err());
        assert!(Completed.after(Transition::Start).is_err());
        assert!(Active.after(Transition::Start).is_err());
        assert_eq!(BatchChannel::from_segment("sms-messages"), Some(BatchChannel::Sms));
        assert_eq!(BatchChannel::Email.segment(), "emails");
        assert!(Active.sends() && !Paused.sends());
    }
}
