//! The campaigns tile's figures (issue 12 part 7, issue 19 item 5): the campaigns running,
//! the sends of the workspace's day and the 7-day delivery and reply rates. See the notes of
//! `campaigns::tiles`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz};

use crate::authz::Role;
use crate::campaigns::recipients::{Counts, KeyN};
use crate::campaigns::{CampaignScope, CampaignStatus};
use crate::db::schema::campaigns;
use crate::web::time::Zone;

#[derive(Clone, Debug, Default)]
pub struct CampaignFigures {
    pub active: i64,
    pub sends_today: i64,
    /// The week's batches' counters, summed.
    pub week: Counts,
}

impl CampaignFigures {
    pub fn delivery_rate(&self) -> String {
        self.week.delivery_rate()
    }
    pub fn reply_rate(&self) -> String {
        self.week.reply_rate()
    }
}

/// The campaigns a manager's figures sum (`None`: an admin's, the workspace's).
fn campaign_ids(conn: &mut PgConnection, scope: &CampaignScope) -> QueryResult<Option<Vec<i64>>> {
    if scope.role == Role::Admin { Ok(None) } else { Ok(Some(scope.campaigns().select(campaigns::id).load(conn)?)) }
}

fn accepted_since(conn: &mut PgConnection, scope: &CampaignScope, ids: Option<Vec<i64>>, since: DateTime<Utc>) -> QueryResult<i64> {
    let rows: Vec<KeyN> = diesel::sql_query(
        "SELECT key, sum(n)::bigint AS n FROM campaign_hourly_counts \
         WHERE workspace_id = $1 AND hour >= $2 AND key = 'accepted' AND ($3::bigint[] IS NULL OR campaign_id = ANY($3)) GROUP BY key",
    )
    .bind::<BigInt, _>(scope.workspace_id)
    .bind::<Timestamptz, _>(since)
    .bind::<Nullable<Array<BigInt>>, _>(ids)
    .load(conn)?;
    Ok(rows.first().map_or(0, |r| r.n))
}

pub fn figures(conn: &mut PgConnection, scope: &CampaignScope, zone: Zone, now: DateTime<Utc>) -> QueryResult<CampaignFigures> {
    let active = scope.campaigns().filter(campaigns::status.eq(CampaignStatus::Active)).count().get_result(conn)?;
    let ids = campaign_ids(conn, scope)?;
    let sends_today = accepted_since(conn, scope, ids.clone(), zone.start_of(zone.day_of(now)))?;
    let week = Counts::of_batches_since(conn, scope.workspace_id, ids, now - Duration::days(7))?;
    Ok(CampaignFigures { active, sends_today, week })
}

