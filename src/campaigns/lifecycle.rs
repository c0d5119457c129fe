//! A campaign's lifecycle (issue 12 part 1): `start`, `pause` and `complete` as one model
//! function, [`transition`], in the caller's transaction and the user's campaign scope — the
//! pages call it, and so can an API or the command line.
//!
//! The row is locked, so two clicks at once do one transition; a transition the lifecycle
//! does not allow is a conflict with the reason (answered 409). Completing a campaign also
//! cancels what is left of it in the same transaction: its scheduled or sending batches
//! and their queued recipients (the dispatcher sees the status and stops on its own), and
//! drops the flow answers held while paused. Resuming sends the batches with queued
//! recipients on where they stopped, and the held flow answers' next steps (issue 19 item 8).

use diesel::dsl::sql;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Action, Entry};
use crate::campaigns::{CampaignScope, CampaignStatus, Transition};
use crate::db::schema::{campaign_batches, campaigns};
use crate::error::AppError;

/// What a transition did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The campaign's status now.
    pub status: CampaignStatus,
    /// Completing: the unfinished batches and the queued recipients cancelled.
    pub batches_cancelled: i64,
    pub recipients_cancelled: i64,
    /// Resuming: the held flow answers whose next steps were sent.
    pub held_sent: usize,
}

/// The audit action of a transition.
pub fn action(t: Transition) -> Action {
    match t {
        Transition::Start => Action::CampaignsStarted,
        Transition::Pause => Action::CampaignsPaused,
        Transition::Complete => Action::CampaignsCompleted,
    }
}

/// Moves campaign `id` (404 outside `scope`) through `t` and records `entry` (its action is
/// [`action`]`(t)`), in the caller's transaction.
pub fn transition(tx: &mut PgConnection, scope: &CampaignScope, id: i64, t: Transition, entry: Entry) -> Result<Outcome, AppError> {
    let campaign = scope.find(tx, id)?;
    let w = scope.workspace_id;
    let current: String = campaigns::table
        .filter(campaigns::workspace_id.eq(w))
        .filter(campaigns::id.eq(id))
        .select(campaigns::status)
        .for_update()
        .first(tx)?;
    let current = CampaignStatus::parse(&current).unwrap_or(campaign.status);
    let next = current.after(t).map_err(|reason| AppError::Conflict(reason.to_string()))?;
    let now = diesel::dsl::now;
    let target = campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id));
    match next {
        CampaignStatus::Active => diesel::update(target)
            .set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now), campaigns::started_at.eq(sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>("coalesce(started_at, now())"))))
            .execute(tx)?,
        CampaignStatus::Completed => diesel::update(target)
            .set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now), campaigns::completed_at.eq(now)))
            .execute(tx)?,
        _ => diesel::update(target).set((campaigns::status.eq(next.as_str()), campaigns::updated_at.eq(now))).execute(tx)?,
    };
    let (batches, recipients) = if next == CampaignStatus::Completed { cancel_rest(tx, w, id)? } else { (0, 0) };
    let mut held_sent = 0;
    if next == CampaignStatus::Active {
        // Resuming: the batches with queued recipients go on where they stopped, and
        // the flow taps held while paused get their next steps (issue 19 item 8).
        crate::campaigns::dispatch::resume(tx, w, id)?;
        held_sent = crate::campaigns::flow_replies::send_held(tx, w, id, &entry.actor)?;
    }
    if next == CampaignStatus::Completed {
        crate::campaigns::flow_replies::drop_held(tx, w, id)?;
    }
    let mut after = json!({ "status": next.as_str() });
    if held_sent > 0 {
        after["held_steps_sent"] = json!(held_sent);
    }
    if next == CampaignStatus::Completed {
        after["batches_cancelled"] = json!(batches);
        after["recipients_cancelled"] = json!(recipients);
    }
    audit::record(tx, &entry.before(json!({ "status": current.as_str(), "name": campaign.name })).after(after))?;
    Ok(Outcome { status: next, batches_cancelled: batches, recipients_cancelled: recipients, held_sent })
}

/// Cancels what is left of a campaign (`dispatch::cancel_rest`: queued recipients, the
/// messages written for them, the unfinished batches). Returns (batches, recipients).
fn cancel_rest(tx: &mut PgConnection, w: i64, id: i64) -> QueryResult<(i64, i64)> {
    let batches: i64 = campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(id))
        .filter(campaign_batches::status.eq_any(["scheduled", "sending"]))
        .count()
        .get_result(tx)?;
    let recipients = crate::campaigns::dispatch::cancel_rest(tx, w, id)?;
    Ok((batches, recipients as i64))
}
