//! The streams open on this instance, grouped by workspace, and the fan-out of announced
//! events to them. Nothing here matters across instances: every instance listens to the
//! same notifications and serves its own streams.
//!
//! Delivery never waits on a stream: each has a bounded channel and `try_send`; a full or
//! closed channel drops that stream (its browser reconnects with `Last-Event-ID` and
//! replays what it missed from the table).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use tokio::sync::mpsc;

use crate::authz::Role;
use crate::db::schema::events;
use crate::events::Event;

/// Frames a stream may have waiting before it counts as too slow and is dropped.
pub const STREAM_BUFFER: usize = 256;
/// Streams one user may have open on one instance (one per tab); a further one ends the
/// user's oldest.
pub const PER_USER: usize = 5;

/// One frame for a stream: the event id (to skip what a replay already sent) and its text.
pub type Frame = (i64, Bytes);

struct Subscriber {
    id: u64,
    user_id: i64,
    /// The key hash of the stream's session (`sessions.key_hash`), to end the stream when
    /// the session ends.
    session: String,
    tx: mpsc::Sender<Frame>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    total: usize,
    by_workspace: HashMap<i64, Vec<Subscriber>>,
}

pub struct Hub {
    inner: Mutex<Inner>,
    max_streams: usize,
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The instance holds `SWITCHBOARD_MAX_STREAMS` streams.
    InstanceFull,
}

/// An open stream's place in the hub; leaving drops it from the hub.
pub struct Subscription {
    hub: std::sync::Arc<Hub>,
    workspace_id: i64,
    id: u64,
    pub rx: mpsc::Receiver<Frame>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.workspace_id, self.id);
    }
}

impl Hub {
    pub fn new(max_streams: usize) -> Self {
        Hub { inner: Mutex::new(Inner::default()), max_streams }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(self: &std::sync::Arc<Self>, workspace_id: i64, user_id: i64, session: &str) -> Result<Subscription, Refusal> {
        let mut inner = self.lock();
        // A user at their limit has usually left pages whose streams are not noticed gone
        // yet (that happens at a stream's next write): the oldest makes room. Were it a live
        // tab, its browser reconnects and replays what it missed.
        let evicted = match inner.by_workspace.get_mut(&workspace_id) {
            Some(subs) if subs.iter().filter(|s| s.user_id == user_id).count() >= PER_USER => {
                match subs.iter().position(|s| s.user_id == user_id) {
                    Some(oldest) => {
                        subs.remove(oldest);
                        1
                    }
                    None => 0,
                }
            }
            _ => 0,
        };
        inner.total -= evicted;
        if inner.total >= self.max_streams {
            return Err(Refusal::InstanceFull);
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        inner.next_id += 1;
        let id = inner.next_id;
        inner.total += 1;
        inner.by_workspace.entry(workspace_id).or_default().push(Subscriber { id, user_id, session: session.to_string(), tx });
        Ok(Subscription { hub: self.clone(), workspace_id, id, rx })
    }

    fn remove(&self, workspace_id: i64, id: u64) {
        let mut inner = self.lock();
        let Some(subs) = inner.by_workspace.get_mut(&workspace_id) else { return };
        let before = subs.len();
        subs.retain(|s| s.id != id);
        let removed = before - subs.len();
        if subs.is_empty() {
            inner.by_workspace.remove(&workspace_id);
        }
        inner.total -= removed;
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.lock().total
    }

    /// Ends every stream (after the listener lost its connection, or when the server
    /// stops): their browsers reconnect and replay what they missed.
    pub fn close_all(&self) {
        let mut inner = self.lock();
        // Dropping the senders ends each stream once it has sent what it holds; the
        // subscriptions' own drop finds nothing left to remove.
        inner.by_workspace.clear();
        inner.total = 0;
    }

    /// Ends the streams of these sessions (`(workspace_id, key_hash)`, announced on
    /// [`SESSION_CHANNEL`](crate::events::SESSION_CHANNEL) when their rows were deleted):
    /// dropping a stream's sender ends it once it has written what it holds. Returns how
    /// many ended.
    pub fn end_sessions(&self, ended: &[(i64, String)]) -> usize {
        let mut inner = self.lock();
        let mut removed = 0;
        for (workspace_id, session) in ended {
            let Some(subs) = inner.by_workspace.get_mut(workspace_id) else { continue };
            let before = subs.len();
            subs.retain(|s| &s.session != session);
            removed += before - subs.len();
            if subs.is_empty() {
                inner.by_workspace.remove(workspace_id);
            }
        }
        inner.total -= removed;
        removed
    }

    /// The users with a stream open in the workspace.
    fn users_of(&self, workspace_id: i64) -> Vec<i64> {
        let inner = self.lock();
        let mut users: Vec<i64> = inner.by_workspace.get(&workspace_id).map(|subs| subs.iter().map(|s| s.user_id).collect()).unwrap_or_default();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Hands the frame to every stream of these users; a stream that cannot take it now is
    /// dropped.
    fn deliver(&self, workspace_id: i64, users: &[i64], frame: &Frame) -> usize {
        let mut inner = self.lock();
        let Some(subs) = inner.by_workspace.get_mut(&workspace_id) else { return 0 };
        let mut sent = 0;
        let before = subs.len();
        subs.retain(|s| {
            if !users.contains(&s.user_id) {
                return true;
            }
            match s.tx.try_send(frame.clone()) {
                Ok(()) => {
                    sent += 1;
                    true
                }
                Err(_) => false,
            }
        });
        let dropped = before - subs.len();
        if subs.is_empty() {
            inner.by_workspace.remove(&workspace_id);
        }
        inner.total -= dropped;
        if dropped > 0 {
            tracing::info!(workspace_id, dropped, "event streams too slow or gone; dropped (they reconnect and replay)");
        }
        sent
    }

    /// Fans out the events announced in one wake-up: one query for the rows, one per event
    /// for who may see it among the users with a stream here.
    pub fn dispatch(&self, conn: &mut PgConnection, announced: &[(i64, i64)]) -> QueryResult<usize> {
        let mut by_workspace: HashMap<i64, Vec<i64>> = HashMap::new();
        for &(ws, id) in announced {
            by_workspace.entry(ws).or_default().push(id);
        }
        let mut sent = 0;
        for (ws, ids) in by_workspace {
            if self.users_of(ws).is_empty() {
                continue;
            }
            let rows: Vec<Event> = events::table
                .filter(events::workspace_id.eq(ws))
                .filter(events::id.eq_any(&ids))
                .order(events::id)
                .select(Event::as_select())
                .load(conn)?;
            for event in rows {
                let subscribed = self.users_of(ws);
                if subscribed.is_empty() {
                    break;
                }
                let audience = audience(conn, &event, &subscribed)?;
                if !audience.is_empty() {
                    sent += self.deliver(ws, &audience, &(event.id, frame(&event)));
                }
            }
        }
        Ok(sent)
    }

    /// Sends `batch-<batch_id>` to the streams of the users here who may see the batch's
    /// campaign (one query): admins, and managers whose departments cover the campaign
    /// and whose audience is all theirs ([`crate::authz::rules::CAMPAIGN_MANAGER_COVERS_SQL`]); agents never. Not replayed (no `id:`).
    pub fn deliver_batch(&self, conn: &mut PgConnection, workspace_id: i64, batch_id: i64) -> QueryResult<usize> {
        let subscribed = self.users_of(workspace_id);
        if subscribed.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT u.id FROM users u \
             JOIN campaign_batches b ON b.workspace_id = u.workspace_id AND b.id = $2 \
             JOIN campaigns ON campaigns.workspace_id = b.workspace_id AND campaigns.id = b.campaign_id \
             WHERE u.workspace_id = $1 AND u.active AND u.id = ANY($3) AND (u.role = 'admin' OR (u.role = 'manager' AND {}))",
            crate::authz::rules::CAMPAIGN_MANAGER_COVERS_SQL.replace("$USER", "u.id")
        );
        let rows: Vec<UserId> =
            diesel::sql_query(sql).bind::<BigInt, _>(workspace_id).bind::<BigInt, _>(batch_id).bind::<Array<BigInt>, _>(&subscribed).load(conn)?;
        let audience: Vec<i64> = rows.into_iter().map(|r| r.id).collect();
        if audience.is_empty() {
            return Ok(0);
        }
        Ok(self.deliver(workspace_id, &audience, &(NOT_REPLAYED, batch_frame(batch_id))))
    }
}

/// The frame id of what is never replayed (event ids start at 1): a stream never skips it.
pub const NOT_REPLAYED: i64 = 0;

/// A batch's update: `event: batch-<id>` and `data: {"batch_id": id}`, without `id:` (the
/// browser's `Last-Event-ID` stays the last replayable event's).
pub fn batch_frame(batch_id: i64) -> Bytes {
    Bytes::from(format!("event: batch-{batch_id}\ndata: {{\"batch_id\":{batch_id}}}\n\n"))
}

/// At most one delivery per batch every [`BATCH_EVERY`]: a change to a batch not delivered
/// within the interval goes out at once; changes within it mark the batch, which goes out
/// once the interval has passed (the trailing delivery, so the last counts always arrive).
pub const BATCH_EVERY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Coalescer {
    /// (workspace, batch) → when it was last delivered, and whether it changed since.
    batches: HashMap<(i64, i64), (Instant, bool)>,
}

impl Coalescer {
    /// A change to the batch announced at `now`: whether to deliver it now.
    pub fn changed(&mut self, key: (i64, i64), now: Instant) -> bool {
        match self.batches.get_mut(&key) {
            Some((last, dirty)) if now.duration_since(*last) < BATCH_EVERY => {
                *dirty = true;
                false
            }
            _ => {
                self.batches.insert(key, (now, false));
                true
            }
        }
    }

    /// The batches whose trailing delivery is due at `now` (marked delivered); forgets the
    /// quiet ones.
    pub fn due(&mut self, now: Instant) -> Vec<(i64, i64)> {
        let mut due = Vec::new();
        self.batches.retain(|key, (last, dirty)| {
            if now.duration_since(*last) < BATCH_EVERY {
                return true;
            }
            if *dirty {
                due.push(*key);
                *last = now;
                *dirty = false;
                return true;
            }
            false
        });
        due.sort_unstable();
        due
    }

    /// Batches waiting or within their interval.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// `authz::rules::chat_visible_sql` for every role at once, over a `users u` row in scope instead of a
/// bound user: admins; agents whose client it is or the assignee; managers of the client's
/// departments, its assignee, or the chat's assignee. Roles are read now, not from the
/// session: a demoted user stops receiving at once.
pub fn visible_to_user_sql() -> String {
    format!(
        "(u.role = 'admin' OR (u.role = 'agent' AND {}) OR (u.role = 'manager' AND {}))",
        crate::authz::rules::chat_visible_sql(Role::Agent).replace("$USER", "u.id"),
        crate::authz::rules::chat_visible_sql(Role::Manager).replace("$USER", "u.id")
    )
}

/// Which of `subscribed` may see the event (active users of its workspace only).
fn audience(conn: &mut PgConnection, event: &Event, subscribed: &[i64]) -> QueryResult<Vec<i64>> {
    if let Some(target) = event.user_id {
        return Ok(if subscribed.contains(&target) { vec![target] } else { vec![] });
    }
    let Some(chat_id) = event.chat_id else {
        // Nothing writes workspace-wide events yet; without a rule, nobody gets them.
        return Ok(vec![]);
    };
    let sql = format!(
        "SELECT u.id FROM users u JOIN chats ON chats.workspace_id = u.workspace_id AND chats.id = $2 \
         WHERE u.workspace_id = $1 AND u.active AND u.id = ANY($3) AND {}",
        visible_to_user_sql()
    );
    let rows: Vec<UserId> =
        diesel::sql_query(sql).bind::<BigInt, _>(event.workspace_id).bind::<BigInt, _>(chat_id).bind::<Array<BigInt>, _>(subscribed).load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The SSE text of an event: `id`, `event: <kind>`, `data: <json>`, and for a chat's event
/// the same again as `event: chat-<chat_id>`.
pub fn frame(event: &Event) -> Bytes {
    // serde_json writes one line (no raw newlines: they are escaped inside strings).
    let data = event.data.to_string();
    let mut text = format!("id: {}\nevent: {}\ndata: {data}\n\n", event.id, event.kind);
    if let Some(chat) = event.chat_id {
        text.push_str(&format!("id: {}\nevent: chat-{chat}\ndata: {data}\n\n", event.id));
    }
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn event(chat_id: Option<i64>) -> Event {
        Event {
            workspace_id: 1,
            id: 7,
            kind: "message".into(),
            client_id: Some(3),
            chat_id,
            user_id: None,
            data: serde_json::json!({"chat_id": 4, "note": "a\nb"}),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn chat_events_are_framed_twice_and_data_is_one_line() {
        assert_eq!(
            frame(&event(Some(4))),
            Bytes::from("id: 7\nevent: message\ndata: {\"chat_id\":4,\"note\":\"a\\nb\"}\n\nid: 7\nevent: chat-4\ndata: {\"chat_id\":4,\"note\":\"a\\nb\"}\n\n")
        );
        assert_eq!(frame(&event(None)), Bytes::from("id: 7\nevent: message\ndata: {\"chat_id\":4,\"note\":\"a\\nb\"}\n\n"));
    }

    #[test]
    fn batch_frames_have_no_id() {
        assert_eq!(batch_frame(42), Bytes::from("event: batch-42\ndata: {\"batch_id\":42}\n\n"));
    }

    #[test]
    fn batch_changes_are_delivered_at_most_once_an_interval_with_a_trailing_one() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(c.changed((1, 5), t0), "the first change goes out at once");
        assert!(!c.changed((1, 5), t0 + ms(100)), "within the interval: held");
        assert!(!c.changed((1, 5), t0 + ms(400)));
        assert!(c.changed((1, 6), t0 + ms(100)), "another batch has its own interval");
        assert!(c.changed((2, 5), t0 + ms(100)), "and another workspace's batch of the same id");
        assert_eq!(c.due(t0 + ms(499)), vec![], "nothing before the interval has passed");
        assert_eq!(c.due(t0 + ms(500)), vec![(1, 5)], "the trailing delivery of the held changes");
        assert_eq!(c.len(), 3, "(1,6) and (2,5) are still within their interval");
        assert!(!c.changed((1, 5), t0 + ms(700)), "the trailing delivery started a new interval");
        assert_eq!(c.due(t0 + ms(900)), vec![], "(1,6) and (2,5) were quiet: forgotten");
        assert_eq!(c.len(), 1);
        assert_eq!(c.due(t0 + ms(1000)), vec![(1, 5)]);
        assert_eq!(c.due(t0 + ms(1500)), vec![], "quiet since: forgotten, nothing more");
        assert!(c.is_empty());
        assert!(c.changed((1, 5), t0 + ms(1600)), "a change after a quiet interval goes out at once");
    }

    #[test]
    fn per_user_and_instance_limits() {
        let hub = std::sync::Arc::new(Hub::new(7));
        let mut mine: Vec<_> = (0..PER_USER).map(|_| hub.subscribe(1, 10, "k").unwrap()).collect();
        // A sixth ends the oldest: its receiver sees the end, the count stays.
        let newest = hub.subscribe(1, 10, "k").unwrap();
        assert!(mine[0].rx.try_recv().is_err() && mine[0].rx.is_closed(), "the oldest ended");
        assert!(!mine[1].rx.is_closed());
        assert_eq!(hub.open_streams(), PER_USER);
        mine.remove(0);
        assert_eq!(hub.open_streams(), PER_USER, "the ended one's drop removes nothing more");
        mine.push(newest);
        let other = hub.subscribe(2, 10, "k").unwrap();
        let _third = hub.subscribe(1, 11, "k").unwrap();
        assert_eq!(hub.subscribe(1, 12, "k").err(), Some(Refusal::InstanceFull));
        drop(other);
        assert_eq!(hub.open_streams(), 6);
        drop(mine);
        assert_eq!(hub.open_streams(), 1);
        hub.close_all();
        assert_eq!(hub.open_streams(), 0);
    }

    #[test]
    fn a_full_stream_is_dropped_and_the_others_still_get_the_frame() {
        let hub = std::sync::Arc::new(Hub::new(10));
        let mut slow = hub.subscribe(1, 10, "k").unwrap();
        let mut fast = hub.subscribe(1, 11, "k").unwrap();
        let f: Frame = (1, Bytes::from_static(b"x"));
        for _ in 0..STREAM_BUFFER {
            assert_eq!(hub.deliver(1, &[10], &f), 1);
        }
        assert_eq!(hub.deliver(1, &[10, 11], &f), 1, "the full one dropped, the other served");
        assert_eq!(hub.open_streams(), 1);
        assert!(fast.rx.try_recv().is_ok());
        let mut drained = 0;
        while slow.rx.try_recv().is_ok() {
            drained += 1;
        }
        assert_eq!(drained, STREAM_BUFFER);
        assert!(slow.rx.is_closed());
    }

    #[test]
    fn an_ended_session_ends_its_streams_only() {
        let hub = std::sync::Arc::new(Hub::new(10));
        let mut a1 = hub.subscribe(1, 10, "a").unwrap();
        let a2 = hub.subscribe(1, 10, "a").unwrap();
        let mut b = hub.subscribe(1, 10, "b").unwrap();
        let mut elsewhere = hub.subscribe(2, 10, "a").unwrap();
        assert_eq!(hub.end_sessions(&[(1, "a".to_string()), (3, "a".to_string())]), 2);
        assert!(a1.rx.is_closed() && a2.rx.is_closed(), "both streams of the session ended");
        assert!(!b.rx.is_closed(), "another session of the same user goes on");
        assert!(!elsewhere.rx.is_closed(), "the workspace is part of the match");
        assert_eq!(hub.open_streams(), 2);
        assert!(a1.rx.try_recv().is_err() && b.rx.try_recv().is_err() && elsewhere.rx.try_recv().is_err());
    }
}
