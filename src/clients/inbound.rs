//! The clients' part of an inbound message (registered in `registry::inbound`): the client
//! of the sender's number ([`ByPhone`]: found by E.164 phone in the workspace, or created
//! for an unknown number; an opt-out or opt-in keyword applied to it), and the
//! communication (kind `whatsapp` / `sms`) the message counts as ([`Communication`]), so
//! last-contacted, the dashboard and the daily status rule count it. Both run in the
//! transaction `messaging::inbound::record` stores the message in.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use crate::audit::Action;
use crate::audit::{self, Actor};
use crate::clients::{activity, model};
use crate::db::schema::clients;
use crate::messaging::inbound::{self, Keyword, Received};
use crate::messaging::{Channel, InboundMessage};

/// The client of a number: `messaging::inbound`'s [`Senders`](inbound::Senders).
pub struct ByPhone;

impl inbound::Senders for ByPhone {
    fn find(&self, tx: &mut PgConnection, workspace_id: i64, phone: &str) -> QueryResult<Option<i64>> {
        find_client(tx, workspace_id, phone)
    }

    fn create(&self, tx: &mut PgConnection, workspace_id: i64, msg: &InboundMessage) -> QueryResult<(i64, bool)> {
        create_client(tx, workspace_id, msg)
    }

    fn set_opt_out(&self, tx: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, word: Keyword, name: &str) -> QueryResult<bool> {
        set_opt_out(tx, workspace_id, client_id, channel, word, name)
    }
}

/// The communication an inbound message counts as (no user: the client wrote).
pub struct Communication;

impl inbound::Consumer for Communication {
    fn name(&self) -> &'static str {
        "client communication"
    }

    fn on_inbound(&self, tx: &mut PgConnection, r: &Received<'_>) -> QueryResult<()> {
        activity::record_communication(tx, r.workspace_id, r.client_id, None, r.msg.channel.as_str(), r.now, r.notes)?;
        Ok(())
    }
}

fn find_client(conn: &mut PgConnection, workspace_id: i64, phone: &str) -> QueryResult<Option<i64>> {
    clients::table
        .filter(clients::workspace_id.eq(workspace_id))
        .filter(clients::phone.eq(phone))
        .select(clients::id)
        .first(conn)
        .optional()
}

/// A client for an unknown number: named by the sender's profile name, else the number;
/// source `inbound`; audited as created by a webhook. Another webhook creating the same
/// client at the same moment is waited for and its client used.
fn create_client(conn: &mut PgConnection, workspace_id: i64, msg: &InboundMessage) -> QueryResult<(i64, bool)> {
    let profile: String = msg.profile_name.as_deref().unwrap_or("").chars().filter(|c| !c.is_control()).take(200).collect();
    let name = if profile.trim().is_empty() { msg.from.clone() } else { profile.trim().to_string() };
    let inserted: Option<i64> = diesel::insert_into(clients::table)
        .values((clients::workspace_id.eq(workspace_id), clients::name.eq(&name), clients::phone.eq(&msg.from), clients::phone_formatted.eq(crate::clients::domain::PhoneE164::from_stored(&msg.from).international()), clients::source.eq("inbound")))
        .on_conflict((clients::workspace_id, clients::phone))
        .do_nothing()
        .returning(clients::id)
        .get_result(conn)
        .optional()?;
    let Some(id) = inserted else {
        let id = find_client(conn, workspace_id, &msg.from)?.ok_or(diesel::result::Error::NotFound)?;
        return Ok((id, false));
    };
    let client = model::find(conn, workspace_id, id)?;
    let mut after = client.audit_json(&[], &[]);
    after["source"] = json!("inbound");
    audit::record(conn, &audit::Entry::new(workspace_id, Actor::Webhook, Action::ClientsCreated, "clients", id).after(after))?;
    Ok((id, true))
}

/// Opts the client out of (or back into) `channel`; audited with the source
/// (`inbound STOP`) and the word that did it (`word`). `false` when it was already so
/// (nothing written).
fn set_opt_out(conn: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, word: Keyword, name: &str) -> QueryResult<bool> {
    let before = model::find(conn, workspace_id, client_id)?.opt_outs();
    let sql = match (channel, word) {
        (Channel::WhatsApp, Keyword::OptOut) => {
            "UPDATE clients SET opt_out_whatsapp_at = now(), opt_out_whatsapp_source = $3 WHERE workspace_id = $1 AND id = $2 AND opt_out_whatsapp_at IS NULL"
        }
        (Channel::Sms, Keyword::OptOut) => {
            "UPDATE clients SET opt_out_sms_at = now(), opt_out_sms_source = $3 WHERE workspace_id = $1 AND id = $2 AND opt_out_sms_at IS NULL"
        }
        (Channel::WhatsApp, Keyword::OptIn) => {
            "UPDATE clients SET opt_out_whatsapp_at = NULL, opt_out_whatsapp_source = NULL WHERE workspace_id = $1 AND id = $2 AND opt_out_whatsapp_at IS NOT NULL"
        }
        (Channel::Sms, Keyword::OptIn) => {
            "UPDATE clients SET opt_out_sms_at = NULL, opt_out_sms_source = NULL WHERE workspace_id = $1 AND id = $2 AND opt_out_sms_at IS NOT NULL"
        }
    };
    let source = format!("inbound {name}");
    let changed = diesel::sql_query(sql).bind::<BigInt, _>(workspace_id).bind::<BigInt, _>(client_id).bind::<Text, _>(&source).execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    let after = model::find(conn, workspace_id, client_id)?.opt_outs();
    let entry = audit::Entry::new(workspace_id, Actor::Webhook, Action::ClientsUpdated, "clients", client_id)
        .before(json!({ "opt_outs": before }))
        .after(json!({ "opt_outs": after, "channel": channel.as_str(), "source": source, "word": name }));
    audit::record(conn, &entry)?;
    Ok(true)
}

