//! A message a client sent us (issue 11 part 6), recorded in one transaction: the client it
//! came from (matched by E.164 phone in the workspace, or created when the workspace says
//! so), the message row (`received`; a provider id seen before changes nothing), an opt-out
//! or opt-in keyword applied to that channel, and a communication (kind `whatsapp` / `sms`)
//! so last-contacted, the dashboard and the daily status rule count it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::clients::{activity, model};
use crate::db::schema::{clients, messages};
use crate::messaging::{Channel, Direction, InboundMessage, MessageStatus};

/// Whole-message keywords (trimmed, any case) that opt a client out of the channel, and
/// back in: Twilio's own lists.
pub const OPT_OUT_WORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
pub const OPT_IN_WORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

/// What a message from an unknown number does (`twilio_settings.inbound_unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownNumbers {
    Create,
    Ignore,
}

impl UnknownNumbers {
    pub fn parse(value: &str) -> UnknownNumbers {
        if value == "ignore" { UnknownNumbers::Ignore } else { UnknownNumbers::Create }
    }
}

/// An opt-out or opt-in keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
}

pub fn keyword(body: &str) -> Option<(Keyword, String)> {
    let word = body.trim().to_uppercase();
    if OPT_OUT_WORDS.contains(&word.as_str()) {
        Some((Keyword::OptOut, word))
    } else if OPT_IN_WORDS.contains(&word.as_str()) {
        Some((Keyword::OptIn, word))
    } else {
        None
    }
}

/// What recording an inbound message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    Stored { message_id: i64, client_id: i64, created_client: bool, opt: Option<Keyword> },
    /// The provider id was recorded before: nothing written.
    Duplicate,
    /// From a number no client has and the workspace ignores those (or not a phone number a
    /// client can have): nothing written.
    Ignored,
}

/// Longest body kept (the messages and communications columns' limit).
const MAX_BODY_CHARS: usize = 10_000;

pub fn record(conn: &mut PgConnection, workspace_id: i64, unknown: UnknownNumbers, msg: &InboundMessage, now: DateTime<Utc>) -> QueryResult<Recorded> {
    let result = conn.transaction(|tx| {
        let seen: Option<i64> = messages::table
            .filter(messages::workspace_id.eq(workspace_id))
            .filter(messages::provider_id.eq(&msg.provider_id))
            .select(messages::id)
            .first(tx)
            .optional()?;
        if seen.is_some() {
            return Ok(Recorded::Duplicate);
        }
        let (client_id, created_client) = match find_client(tx, workspace_id, &msg.from)? {
            Some(id) => (id, false),
            None if unknown == UnknownNumbers::Ignore || !is_e164(&msg.from) => return Ok(Recorded::Ignored),
            None => create_client(tx, workspace_id, msg)?,
        };
        let body: String = msg.body.chars().take(MAX_BODY_CHARS).collect();
        let inserted: Option<i64> = diesel::insert_into(messages::table)
            .values((
                messages::workspace_id.eq(workspace_id),
                messages::client_id.eq(client_id),
                messages::channel.eq(msg.channel),
                messages::direction.eq(Direction::Inbound),
                messages::provider_id.eq(&msg.provider_id),
                messages::sender.eq(&msg.from),
                messages::recipient.eq(&msg.to),
                messages::body.eq(&body),
                messages::button_payload.eq(&msg.button_payload),
                messages::status.eq(MessageStatus::Received),
                messages::created_at.eq(now),
            ))
            .on_conflict((messages::workspace_id, messages::provider_id))
            .do_nothing()
            .returning(messages::id)
            .get_result(tx)
            .optional()?;
        // A concurrent copy of this webhook committed first: undo the client it may have
        // made us create (it exists already), write nothing.
        let Some(message_id) = inserted else { return Err(diesel::result::Error::RollbackTransaction) };
        let opt = match keyword(&msg.body) {
            Some((word, text)) if set_opt_out(tx, workspace_id, client_id, msg.channel, word, &text)? => Some(word),
            _ => None,
        };
        // A reply to a recent campaign batch on this channel (issue 12): its recipient's reply, once.
        crate::campaigns::recipients::record_reply(tx, workspace_id, client_id, msg, now)?;
        // A quick-reply button tap on a flow batch's message: the step it leads to, once.
        crate::campaigns::flow_replies::on_inbound(tx, workspace_id, client_id, msg)?;
        let notes = if body.trim().is_empty() {
            msg.button_text.clone().unwrap_or_else(|| if msg.media.is_empty() { String::new() } else { "(media)".to_string() })
        } else {
            body
        };
        activity::record_communication(tx, workspace_id, client_id, None, msg.channel.as_str(), now, &notes)?;
        // The chat's assignee hears of it (issue 13 part 5; the chat row is the trigger's).
        crate::chat::actions::on_inbound(tx, workspace_id, client_id, msg.channel, &notes)?;
        Ok(Recorded::Stored { message_id, client_id, created_client, opt })
    });
    match result {
        Err(diesel::result::Error::RollbackTransaction) => Ok(Recorded::Duplicate),
        other => other,
    }
}

/// `+` and 7 to 15 digits, the first not 0 (what `clients.phone` accepts).
fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
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
        .values((clients::workspace_id.eq(workspace_id), clients::name.eq(&name), clients::phone.eq(&msg.from), clients::source.eq("inbound")))
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
    audit::record(conn, &audit::Entry::new(workspace_id, Actor::Webhook, "clients.created", "clients", id).after(after))?;
    Ok((id, true))
}

/// Opts the client out of (or back into) `channel`; audited with the source
/// (`inbound STOP`). `false` when it was already so (nothing written).
fn set_opt_out(conn: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, word: Keyword, text: &str) -> QueryResult<bool> {
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
    let source = format!("inbound {text}");
    let changed = diesel::sql_query(sql).bind::<BigInt, _>(workspace_id).bind::<BigInt, _>(client_id).bind::<Text, _>(&source).execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    let after = model::find(conn, workspace_id, client_id)?.opt_outs();
    let entry = audit::Entry::new(workspace_id, Actor::Webhook, "clients.updated", "clients", client_id)
        .before(json!({ "opt_outs": before }))
        .after(json!({ "opt_outs": after, "channel": channel.as_str(), "source": source }));
    audit::record(conn, &entry)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_messages_in_any_case() {
        assert_eq!(keyword("  stop \n"), Some((Keyword::OptOut, "STOP".into())));
        assert_eq!(keyword("Unsubscribe"), Some((Keyword::OptOut, "UNSUBSCRIBE".into())));
        assert_eq!(keyword("start"), Some((Keyword::OptIn, "START".into())));
        assert_eq!(keyword("please stop"), None);
        assert_eq!(keyword("STOP!"), None);
        assert!(is_e164("+14155550123") && !is_e164("12345") && !is_e164("+0123456789") && !is_e164("MyBrand"));
    }
}
