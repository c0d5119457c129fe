//! The campaigns' part of an inbound message (registered in `registry::inbound`, called in
//! the transaction `messaging::inbound::record` stores the message in): a reply to a recent
//! campaign batch on its channel sets that recipient's reply once
//! ([`recipients::record_reply`]); a quick-reply button tap on a flow batch's message sends
//! the step it leads to, once ([`flow_replies::on_inbound`]).

use diesel::prelude::*;

use crate::campaigns::{flow_replies, recipients};
use crate::messaging::inbound::{Consumer, Received};

/// A campaign recipient's reply (issue 12).
pub struct Replies;

impl Consumer for Replies {
    fn name(&self) -> &'static str {
        "campaign reply"
    }

    fn on_inbound(&self, tx: &mut PgConnection, r: &Received<'_>) -> QueryResult<()> {
        recipients::record_reply(tx, r.workspace_id, r.client_id, r.msg, r.now)?;
        Ok(())
    }
}

/// A flow batch's button answer (issue 12 part 4).
pub struct FlowAnswers;

impl Consumer for FlowAnswers {
    fn name(&self) -> &'static str {
        "flow answer"
    }

    fn on_inbound(&self, tx: &mut PgConnection, r: &Received<'_>) -> QueryResult<()> {
        flow_replies::on_inbound(tx, r.workspace_id, r.client_id, r.msg)?;
        Ok(())
    }
}
