//! The live events' reads for `GET /events` (`stream`): whether the stream's session still
//! holds, and the events a reconnecting stream replays.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::authz::Role;
use crate::events::Event;

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The session still exists, has not expired, and its user is still active.
pub fn session_valid(conn: &mut PgConnection, key_hash: &str, ws: i64, me: i64) -> QueryResult<bool> {
    let row: N = diesel::sql_query(
        "SELECT count(*) AS n FROM sessions s JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id \
         WHERE s.key_hash = $1 AND s.workspace_id = $2 AND s.user_id = $3 AND s.expires_at > now() AND u.active",
    )
    .bind::<Text, _>(key_hash)
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(me)
    .get_result(conn)?;
    Ok(row.n > 0)
}

/// How far before the cursor's event a replay looks again. Ids are taken in insert order
/// but announced in commit order: a transaction that wrote an event earlier and committed
/// after the cursor's event was delivered has a lower id, and `id > last` alone would skip
/// it. Its event is dated by its transaction's start, at most this long before the
/// cursor's (the transactions that write events are short: a webhook, a send, a page's
/// action), so looking this far back finds it. The events the stream had already in that
/// window come again: pages only refetch on events, so a repeat costs a request.
pub const LOOK_BACK_SECS: i64 = 5;

/// The events after `after` this user may see (theirs, and the chats visible to them),
/// with those of the [`LOOK_BACK_SECS`] before it; at most `limit`, the oldest first.
pub fn replay(conn: &mut PgConnection, ws: i64, me: i64, role: Role, after: i64, limit: i64) -> QueryResult<Vec<Event>> {
    let visible = crate::authz::rules::chat_visible_sql(role).replace("$USER", &me.to_string());
    let sql = format!(
        "SELECT e.workspace_id, e.id, e.kind, e.client_id, e.chat_id, e.user_id, e.data, e.created_at FROM events e \
         LEFT JOIN chats ON chats.workspace_id = e.workspace_id AND chats.id = e.chat_id \
         WHERE e.workspace_id = $1 AND e.created_at > now() - interval '1 hour' \
         AND (e.id > $2 OR (e.id < $2 AND e.created_at >= \
              (SELECT l.created_at FROM events l WHERE l.workspace_id = $1 AND l.id = $2) - make_interval(secs => {LOOK_BACK_SECS}))) \
         AND (e.user_id = $3 OR (e.user_id IS NULL AND chats.id IS NOT NULL AND {visible})) \
         ORDER BY e.id LIMIT {limit}"
    );
    diesel::sql_query(sql).bind::<BigInt, _>(ws).bind::<BigInt, _>(after).bind::<BigInt, _>(me).load(conn)
}
