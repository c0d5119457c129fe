//! The chat's part of an inbound message (registered in `registry::inbound`, called in the
//! transaction `messaging::inbound::record` stores the message in): the chat's assignee
//! hears of it (issue 13 part 5; the chat row is the trigger's), see [`notify::on_inbound`].

use diesel::prelude::*;

use crate::chat::notify;
use crate::messaging::inbound::{Consumer, Received};

/// The notification of a chat's new message.
pub struct Notice;

impl Consumer for Notice {
    fn name(&self) -> &'static str {
        "chat notice"
    }

    fn on_inbound(&self, tx: &mut PgConnection, r: &Received<'_>) -> QueryResult<()> {
        notify::on_inbound(tx, r.workspace_id, r.client_id, r.msg.channel, r.notes)
    }
}
