//! A reply from a conversation, `POST /chat/{id}/messages`: checked and queued by the one
//! path every person-written message takes (`messaging::compose::check` / `queue`,
//! at most once through the `send-message` job). WhatsApp free text only inside the 24-hour
//! window; outside it only an approved template.

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};

use crate::audit;
use crate::authz::{Role, Scope};
use crate::chat::{Chat, query};
use crate::error::AppError;
use crate::messaging::Channel;
use crate::messaging::compose::{self, MessageForm, WhatsAppText};
use crate::web::once::{Claim, Once};
use crate::web::state::AppState;
use crate::web::time::Zone;

/// What the composer says applies now.
pub fn composer_rule(chat: &Chat, now: DateTime<Utc>, zone: &Zone) -> String {
    match chat.window_until() {
        None => "SMS: free text.".to_string(),
        Some(until) if now < until => format!("Free text until {} ({}), or an approved template.", zone.time(until), zone.name()),
        Some(_) if chat.last_inbound_at.is_none() => "No message from the client yet, so WhatsApp allows only a template: send an approved template.".to_string(),
        Some(until) => format!("The 24-hour window closed at {} ({}): send an approved template.", zone.time(until), zone.name()),
    }
}

/// Who replies to which chat, and when (the window is judged at `now`, said in `zone`).
pub struct Reply<'a> {
    pub chat: &'a Chat,
    pub user_id: i64,
    pub now: DateTime<Utc>,
    pub zone: &'a Zone,
}

/// Checks and queues the reply in one transaction; `Ok(Err(reason))` when refused (nothing
/// written). The chat's visibility was checked by the caller: a user who may see the chat may
/// write to its client (an agent may hold a chat assigned to them of a client they do not own).
/// Once per submitted form (`once`): a repeat queues nothing and answers as the first did.
pub fn send(conn: &mut PgConnection, state: &AppState, reply: Reply, (mut form, once): (MessageForm, Once), entry: audit::Entry) -> Result<Result<(), compose::Refusal>, AppError> {
    let Reply { chat, user_id, now, zone } = reply;
    form.channel = chat.channel.as_str().to_string();
    // The number the client wrote to, when they did: the reply comes from it.
    if chat.channel == Channel::WhatsApp && form.from.trim().is_empty() {
        form.from = query::last_number_written_to(conn, chat)?.unwrap_or_default();
    }
    let text = if chat.free_text_allowed(now) { WhatsAppText::Allowed } else { WhatsAppText::TemplateOnly(composer_rule(chat, now, zone)) };
    let scope = Scope { workspace_id: chat.workspace_id, user_id, role: Role::Admin };
    conn.transaction(|tx| match compose::check(tx, state, &scope, chat.client_id, &form, &text)? {
        Err(problem) => Ok(Err(problem)),
        Ok(checked) => {
            if once.claim(tx, chat.workspace_id, user_id)? == Claim::First {
                compose::queue(tx, &checked.new, entry)?;
            }
            Ok(Ok(()))
        }
    })
}
