//! The campaigns tile of the dashboard (issue 12 part 7), `/dashboard/campaigns`, loaded
//! lazily like the others (a full page without htmx): the campaigns running, the sends of
//! the workspace's day and the 7-day delivery and reply rates.
//!
//! Figures come from the counters `campaign_hourly_counts` keeps (transitions per hour:
//! reaching sent, delivered, read, failed, and first replies), never from counting messages.
//! The counters are kept per campaign, so a manager's figures sum only the campaigns they
//! may see (the campaign scope), an admin's the workspace's. Sends are the recipients that
//! reached `sent`; delivery rate is delivered over delivered + failed; reply rate is replies
//! over sends.

use actix_web::HttpResponse;
use actix_web::web::Data;
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz};

use crate::campaigns::recipients::rate;
use crate::campaigns::{CampaignScope, CampaignStatus};
use crate::db;
use crate::db::schema::campaigns;
use crate::error::AppError;
use crate::startup::AppState;
use crate::web::ctx::Ctx;
use crate::users::role::Role;
use crate::web::time::Zone;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignFigures {
    pub active: i64,
    pub sends_today: i64,
    pub sent_7d: i64,
    pub delivered_7d: i64,
    pub failed_7d: i64,
    pub replied_7d: i64,
}

impl CampaignFigures {
    pub fn delivery_rate(&self) -> String {
        rate(self.delivered_7d, self.delivered_7d + self.failed_7d)
    }
    pub fn reply_rate(&self) -> String {
        rate(self.replied_7d, self.sent_7d)
    }
}

use crate::campaigns::recipients::KeyN;

fn hourly(conn: &mut PgConnection, scope: &CampaignScope, since: DateTime<Utc>) -> QueryResult<Vec<KeyN>> {
    // Admins: every campaign of the workspace; managers: the ids their scope allows.
    let ids: Option<Vec<i64>> = if scope.role == Role::Admin { None } else { Some(scope.campaigns().select(campaigns::id).load(conn)?) };
    diesel::sql_query(
        "SELECT key, sum(n)::bigint AS n FROM campaign_hourly_counts \
         WHERE workspace_id = $1 AND hour >= $2 AND ($3::bigint[] IS NULL OR campaign_id = ANY($3)) GROUP BY key",
    )
    .bind::<BigInt, _>(scope.workspace_id)
    .bind::<Timestamptz, _>(since)
    .bind::<Nullable<Array<BigInt>>, _>(ids)
    .load(conn)
}

pub fn figures(conn: &mut PgConnection, scope: &CampaignScope, zone: Zone, now: DateTime<Utc>) -> QueryResult<CampaignFigures> {
    let active = scope.campaigns().filter(campaigns::status.eq(CampaignStatus::Active)).count().get_result(conn)?;
    let today = zone.start_of(zone.day_of(now));
    let sends_today = hourly(conn, scope, today)?.into_iter().find(|r| r.key == "sent").map_or(0, |r| r.n);
    let mut f = CampaignFigures { active, sends_today, ..Default::default() };
    // The hours of the last 7 days, the current one included.
    for r in hourly(conn, scope, now - Duration::days(7))? {
        match r.key.as_str() {
            "sent" => f.sent_7d = r.n,
            "delivered" => f.delivered_7d = r.n,
            "failed" => f.failed_7d = r.n,
            "replied" => f.replied_7d = r.n,
            _ => {}
        }
    }
    Ok(f)
}

#[derive(Template)]
#[template(path = "dashboard/tile_campaigns.html")]
struct CampaignsTile {
    figures: CampaignFigures,
}

/// Admins and managers; agents 403 (no campaign pages).
pub async fn campaigns_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let (zone, now) = (ctx.zone(), state.clock.now());
    let figures = db::run(&state.pool, move |conn| Ok(figures(conn, &scope, zone, now)?)).await?;
    crate::dashboard::tiles::respond(&ctx, "campaigns", CampaignsTile { figures })
}
