//! The `follow-up-reminders` job: for each owner with pending follow-ups due on the local
//! day or overdue, one in-app notification and one email per day (both keyed by owner and
//! date, so a second run the same day adds nothing).

use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use serde::Deserialize;

use crate::email::{self, messages};
use crate::jobs::queue::Job;
use crate::jobs::run::{self, JobEnv, JobError};
use crate::jobs::{JobHandler, Kind};
use crate::notifications::{self, NewNotification};
use crate::web::time::Zone;
use crate::workspaces::Workspace;

/// Follow-ups listed in one email (the count covers the rest).
const LISTED: usize = 50;

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    owner: i64,
    #[diesel(sql_type = Text)]
    owner_name: String,
    #[diesel(sql_type = Text)]
    owner_email: String,
    #[diesel(sql_type = Text)]
    client: String,
    #[diesel(sql_type = Timestamptz)]
    due_at: chrono::DateTime<Utc>,
    #[diesel(sql_type = Text)]
    notes: String,
    /// The owner's due and overdue follow-ups in all (only the first `LISTED` are loaded).
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
}

/// Sends the reminders for `date` (the workspace's local day); returns the owners reminded.
pub fn send(conn: &mut PgConnection, ws: &Workspace, date: NaiveDate, base_url: &str) -> QueryResult<usize> {
    let zone = Zone(ws.zone());
    let start = zone.start_of(date);
    let end = start + chrono::Duration::days(1);
    // Per owner: the counts, and only the first LISTED follow-ups (memory stays bounded
    // however many are overdue).
    let rows: Vec<Due> = diesel::sql_query(
        "SELECT owner, owner_name, owner_email, client, due_at, notes, total, overdue FROM ( \
           SELECT f.assigned_to AS owner, u.name AS owner_name, u.email AS owner_email, c.name AS client, f.due_at, f.notes, \
                  count(*) OVER w AS total, count(*) FILTER (WHERE f.due_at < $3) OVER w AS overdue, \
                  row_number() OVER (w ORDER BY f.due_at, f.id) AS n \
           FROM follow_ups f \
           JOIN users u ON u.workspace_id = f.workspace_id AND u.id = f.assigned_to AND u.active \
           JOIN clients c ON c.workspace_id = f.workspace_id AND c.id = f.client_id \
           WHERE f.workspace_id = $1 AND f.status = 'pending' AND f.due_at < $2 \
           WINDOW w AS (PARTITION BY f.assigned_to)) x \
         WHERE n <= $4 ORDER BY owner, due_at",
    )
    .bind::<BigInt, _>(ws.id)
    .bind::<Timestamptz, _>(end)
    .bind::<Timestamptz, _>(start)
    .bind::<BigInt, _>(LISTED as i64)
    .load(conn)?;
    let mut reminded = 0;
    let mut i = 0;
    while i < rows.len() {
        let owner = rows[i].owner;
        let group: Vec<&Due> = rows[i..].iter().take_while(|r| r.owner == owner).collect();
        i += group.len();
        let overdue = group[0].overdue as usize;
        let today = (group[0].total - group[0].overdue) as usize;
        let link = format!("{}/follow-ups?view=mine", base_url.trim_end_matches('/'));
        let message = messages::Reminder {
            name: group[0].owner_name.clone(),
            items: group
                .iter()
                .map(|r| messages::ReminderItem { client: r.client.clone(), due: zone.time(r.due_at), notes: r.notes.chars().take(200).collect(), overdue: r.due_at < start })
                .collect(),
            overdue,
            today,
            link,
        };
        let mail = messages::reminder(&group[0].owner_email, &message).map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
        let key = format!("reminder:{date}");
        conn.transaction(|tx| {
            let body = format!("{today} due today, {overdue} overdue.");
            let added = notifications::notify(
                tx,
                &NewNotification {
                    workspace_id: ws.id,
                    user_id: owner,
                    kind: notifications::FOLLOW_UP_REMINDER,
                    title: &mail.subject,
                    body: &body,
                    link: Some("/follow-ups?view=mine"),
                    dedupe_key: Some(&key),
                },
            )?;
            if added {
                email::enqueue(tx, ws.id, &mail, Some(format!("reminder-email:{owner}:{date}")))?;
            }
            QueryResult::Ok(())
        })?;
        reminded += 1;
    }
    Ok(reminded)
}

#[derive(Deserialize)]
struct Daily {
    date: Option<NaiveDate>,
}

/// The daily `follow-up-reminders` job (see [`job`]).
pub struct FollowUpReminders;

impl FollowUpReminders {
    pub const KIND: Kind = Kind::new("follow-up-reminders");
}

impl JobHandler for FollowUpReminders {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, job)
    }
}

/// The `follow-up-reminders` job.
pub fn job(env: &JobEnv, job: &Job) -> Result<(), JobError> {
    let p: Daily = run::payload(job)?;
    let mut conn = env.pool.get()?;
    let ws = crate::workspaces::find(&mut conn, job.workspace_id)?;
    let date = p.date.unwrap_or_else(|| env.clock.now().with_timezone(&ws.zone()).date_naive());
    let owners = send(&mut conn, &ws, date, &env.settings.base_url())?;
    tracing::info!(workspace_id = ws.id, owners, %date, "follow-up reminders sent");
    Ok(())
}
