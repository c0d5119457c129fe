//! A message a client sent us (issue 11 part 6), recorded in one transaction: the client it
//! came from (matched by E.164 phone in the workspace, or created when the workspace says
//! so), the message row (`received`; a provider id seen before changes nothing), an opt-out
//! or opt-in keyword applied to that channel, then what the features make of it.
//!
//! The core knows none of its consumers: the features register them at start-up
//! (`registry::inbound`) as [`Consumers`]: one [`Senders`] (the clients feature: finds or
//! creates the client of a number, applies an opt-out keyword to it) and the [`Consumer`]s,
//! each called in the order registered, in the transaction that stores the message, so an
//! error of any of them writes nothing. Today: a campaign recipient's reply, a flow's button
//! answer, the communication (kind `whatsapp` / `sms`, so last-contacted, the dashboard and
//! the daily status rule count it), and the chat assignee's notification.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::messages;
use crate::messaging::{Channel, Direction, InboundMessage, MessageStatus};

/// Opt-out words (issue 18 item 5), matched on the normalised text ([`normalise`]) and
/// recorded by their canonical name. WhatsApp has no provider-side opt-out, so this list is
/// the only protection there; on SMS it adds to Twilio's own.
///
/// - US (CTIA and Twilio's current list, with the FCC's 2025 revocation rule): STOP,
///   STOPALL, STOPP, UNSUBSCRIBE, OPTOUT / OPT OUT, REVOKE, CANCEL, END, QUIT.
/// - European: French ARRET / ARRÊT, DESABONNER / DÉSABONNER; Spanish PARAR, BAJA
///   (dar de baja); German ABMELDEN, ABBESTELLEN; Italian DISISCRIVIMI; Dutch AFMELDEN.
///
/// A word in [`OPT_OUT_FIRST`] counts as the whole message or as its first word ("Stop
/// please"): none of them opens an ordinary sentence. Words that do (CANCEL, END, QUIT,
/// PARAR, BAJA: "Cancel my appointment", "End of the month works", "Baja California")
/// count only as the whole message.
pub const OPT_OUT_FIRST: [(&str, &str); 16] = [
    ("stop", "STOP"),
    ("stopall", "STOPALL"),
    ("stop all", "STOPALL"),
    ("stopp", "STOPP"),
    ("unsubscribe", "UNSUBSCRIBE"),
    ("optout", "OPTOUT"),
    ("opt out", "OPT OUT"),
    ("revoke", "REVOKE"),
    ("arret", "ARRET"),
    ("arrêt", "ARRET"),
    ("desabonner", "DESABONNER"),
    ("désabonner", "DESABONNER"),
    ("abmelden", "ABMELDEN"),
    ("abbestellen", "ABBESTELLEN"),
    ("disiscrivimi", "DISISCRIVIMI"),
    ("afmelden", "AFMELDEN"),
];
/// Opt-out words that count only as the whole message (see [`OPT_OUT_FIRST`]).
pub const OPT_OUT_WHOLE: [(&str, &str); 6] =
    [("cancel", "CANCEL"), ("end", "END"), ("quit", "QUIT"), ("parar", "PARAR"), ("baja", "BAJA"), ("dar de baja", "BAJA")];
/// The only words that opt a client back in: Twilio's explicit START and UNSTOP, as the
/// whole message, typed (never a button tap). Not YES: a "Yes" quick reply or an answer
/// to an agent is no consent to be messaged again.
pub const OPT_IN_WORDS: [(&str, &str); 2] = [("start", "START"), ("unstop", "UNSTOP")];

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

/// The opt-out or opt-in word a message says, by its canonical name. Opt-out: the whole
/// normalised text, or its first word (or two) for the words of [`OPT_OUT_FIRST`]. Opt-in:
/// the whole normalised text only, and never from a quick-reply button tap.
pub fn keyword_of(msg: &InboundMessage) -> Option<(Keyword, &'static str)> {
    let button = msg.button_payload.is_some() || msg.button_text.is_some();
    match keyword(&msg.body)? {
        (Keyword::OptIn, _) if button => None,
        found => Some(found),
    }
}

/// [`keyword_of`] for a typed text.
pub fn keyword(body: &str) -> Option<(Keyword, &'static str)> {
    let text = normalise(body);
    let find = |list: &[(&str, &'static str)], said: &str| list.iter().find(|(w, _)| *w == said).map(|(_, name)| *name);
    if let Some(name) = find(&OPT_OUT_FIRST, &text).or_else(|| find(&OPT_OUT_WHOLE, &text)) {
        return Some((Keyword::OptOut, name));
    }
    let mut words = text.split(' ');
    let first = words.next().unwrap_or("");
    let two = format!("{first} {}", words.next().unwrap_or(""));
    if let Some(name) = find(&OPT_OUT_FIRST, &two).or_else(|| find(&OPT_OUT_FIRST, first)) {
        return Some((Keyword::OptOut, name));
    }
    find(&OPT_IN_WORDS, &text).map(|name| (Keyword::OptIn, name))
}

/// A message's text as keywords are matched: Unicode NFKC (fullwidth and other
/// compatibility forms fold to plain letters), invisible format characters removed
/// (zero-width spaces and joiners, byte-order mark, soft hyphen, bidi marks, variation
/// selectors, tags), lower case, punctuation and symbols made spaces, runs of spaces one.
pub fn normalise(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = text.nfkc().filter(|c| !is_invisible(*c)).flat_map(char::to_lowercase).collect();
    let spaced: String = folded.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Format characters that show nothing (Unicode category Cf and the like): removed, so
/// "st\u{200B}op" is "stop".
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
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

/// Who messages come from: the feature that keeps them (clients) registers one.
pub trait Senders: Send + Sync {
    /// The client whose phone number is `phone` (E.164), if any.
    fn find(&self, tx: &mut PgConnection, workspace_id: i64, phone: &str) -> QueryResult<Option<i64>>;
    /// A client for the unknown number `msg.from`, and whether this call created it (`false`
    /// when a concurrent message created it first).
    fn create(&self, tx: &mut PgConnection, workspace_id: i64, msg: &InboundMessage) -> QueryResult<(i64, bool)>;
    /// Opts the client out of (or back into) `channel` because it said `name` (the
    /// keyword's canonical name); `false` when it was already so (nothing written).
    fn set_opt_out(&self, tx: &mut PgConnection, workspace_id: i64, client_id: i64, channel: Channel, word: Keyword, name: &str) -> QueryResult<bool>;
}

/// A stored inbound message as its consumers get it.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    pub workspace_id: i64,
    pub client_id: i64,
    pub msg: &'a InboundMessage,
    /// What the message says as a note: its text (at most the kept length), else the
    /// button's title, else what its first attachment is ("📷 Photo") for media alone.
    pub notes: &'a str,
    pub now: DateTime<Utc>,
}

/// What a feature does with every stored inbound message.
pub trait Consumer: Send + Sync {
    /// How logs and the registry's test name it.
    fn name(&self) -> &'static str;
    /// Called in the transaction that stores the message, after the consumers registered
    /// before it; an error undoes the whole message.
    fn on_inbound(&self, tx: &mut PgConnection, received: &Received<'_>) -> QueryResult<()>;
}

/// The senders and consumers registered at start-up (`registry::inbound`).
pub struct Consumers {
    senders: Box<dyn Senders>,
    consumers: Vec<Box<dyn Consumer>>,
}

impl Consumers {
    pub fn new(senders: impl Senders + 'static) -> Self {
        Consumers { senders: Box::new(senders), consumers: Vec::new() }
    }

    /// `consumer` after those registered so far.
    pub fn then(mut self, consumer: impl Consumer + 'static) -> Self {
        self.consumers.push(Box::new(consumer));
        self
    }

    /// The consumers' names, in the order they are called.
    pub fn names(&self) -> Vec<&'static str> {
        self.consumers.iter().map(|c| c.name()).collect()
    }
}

pub fn record(conn: &mut PgConnection, consumers: &Consumers, workspace_id: i64, unknown: UnknownNumbers, msg: &InboundMessage, now: DateTime<Utc>) -> QueryResult<Recorded> {
    let senders = consumers.senders.as_ref();
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
        let (client_id, created_client) = match senders.find(tx, workspace_id, &msg.from)? {
            Some(id) => (id, false),
            None if unknown == UnknownNumbers::Ignore || !is_e164(&msg.from) => return Ok(Recorded::Ignored),
            None => senders.create(tx, workspace_id, msg)?,
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
        crate::messaging::media::record(tx, workspace_id, message_id, &msg.media)?;
        let opt = match keyword_of(msg) {
            Some((word, name)) if senders.set_opt_out(tx, workspace_id, client_id, msg.channel, word, name)? => Some(word),
            _ => None,
        };
        let notes = if body.trim().is_empty() {
            let media = msg.media.first().map(|m| crate::messaging::media::Kind::found(None, m.declared_type.as_deref()).label(None));
            msg.button_text.clone().or(media).unwrap_or_default()
        } else {
            body
        };
        let received = Received { workspace_id, client_id, msg, notes: &notes, now };
        for consumer in &consumers.consumers {
            consumer.on_inbound(tx, &received)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normaliser_folds_width_case_invisibles_and_punctuation() {
        assert_eq!(normalise("  STOP. \n"), "stop");
        assert_eq!(normalise("\u{FF33}\u{FF34}\u{FF2F}\u{FF30}"), "stop", "fullwidth");
        assert_eq!(normalise("st\u{200B}op\u{FEFF}"), "stop", "zero-width space, byte-order mark");
        assert_eq!(normalise("s\u{00AD}t\u{200D}o\u{2060}p\u{FE0F}"), "stop", "soft hyphen, joiner, word joiner, variation selector");
        assert_eq!(normalise("Opt-Out!!"), "opt out");
        assert_eq!(normalise("¡Baja!"), "baja");
        assert_eq!(normalise("ARRE\u{0302}T"), "arrêt", "a combining accent composes");
        assert_eq!(normalise("Stop 🛑 please"), "stop please");
        assert_eq!(normalise("\u{1D412}\u{1D413}\u{1D40E}\u{1D40F}"), "stop", "mathematical bold");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn opt_out_words_are_the_whole_message_or_an_unambiguous_first_word() {
        for (text, name) in [
            ("  stop \n", "STOP"),
            ("STOP.", "STOP"),
            ("stop!", "STOP"),
            ("Stop please", "STOP"),
            ("STOP ALL", "STOPALL"),
            ("OPTOUT", "OPTOUT"),
            ("opt out", "OPT OUT"),
            ("opt-out now", "OPT OUT"),
            ("REVOKE", "REVOKE"),
            ("STOPP", "STOPP"),
            ("Unsubscribe", "UNSUBSCRIBE"),
            ("ARRET", "ARRET"),
            ("Arrêt", "ARRET"),
            ("PARAR", "PARAR"),
            ("BAJA", "BAJA"),
            ("Dar de baja", "BAJA"),
            ("cancel", "CANCEL"),
            ("End.", "END"),
            ("quit", "QUIT"),
            ("Abmelden bitte", "ABMELDEN"),
            ("afmelden", "AFMELDEN"),
            ("Disiscrivimi", "DISISCRIVIMI"),
            ("désabonner", "DESABONNER"),
        ] {
            assert_eq!(keyword(text), Some((Keyword::OptOut, name)), "{text:?}");
        }
        for text in ["please stop", "Cancel my appointment", "End of the month works", "quite", "stopped by", "Baja California", "parar aqui", "start again", "yes", "YES!", "Y", "unstoppable", ""] {
            assert_eq!(keyword(text), None, "{text:?}");
        }
    }

    #[test]
    fn only_a_typed_start_or_unstop_opts_in_never_a_button() {
        assert_eq!(keyword("start"), Some((Keyword::OptIn, "START")));
        assert_eq!(keyword("UNSTOP!"), Some((Keyword::OptIn, "UNSTOP")));
        let tap = |body: &str| InboundMessage {
            provider_id: "SM1".into(),
            channel: Channel::WhatsApp,
            from: "+14155550123".into(),
            to: "+14155550100".into(),
            body: body.into(),
            button_payload: Some(body.to_lowercase()),
            button_text: Some(body.into()),
            replied_to: None,
            media: Vec::new(),
            profile_name: None,
        };
        assert_eq!(keyword_of(&tap("START")), None);
        assert_eq!(keyword_of(&tap("Yes")), None);
        assert_eq!(keyword_of(&tap("Stop promotions")), Some((Keyword::OptOut, "STOP")), "a button may opt out");
        assert!(is_e164("+14155550123") && !is_e164("12345") && !is_e164("+0123456789") && !is_e164("MyBrand"));
    }
}
