//! A workspace's messaging account (today: Twilio): the stored settings, the sealed auth
//! token opened with the at-rest key, and the workspace's webhook URLs. Its provider comes
//! from the app's `messaging::Providers`.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto;
use crate::db::schema::{twilio_settings, workspaces};
use crate::messaging::{Channel, Sender};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = twilio_settings)]
pub struct StoredTwilio {
    pub workspace_id: i64,
    pub account_sid: String,
    pub auth_token_sealed: Vec<u8>,
    pub whatsapp_from: Vec<String>,
    pub sms_from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_rate: f64,
    pub sms_rate: f64,
    pub inbound_unknown: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub fn stored(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Option<StoredTwilio>> {
    twilio_settings::table.find(workspace_id).select(StoredTwilio::as_select()).first(conn).optional()
}

/// The saved auth token does not open with the at-rest key (the secret key changed since).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The saved Twilio auth token cannot be read with this SWITCHBOARD_SECRET_KEY; save it again in Settings → Twilio.")]
pub struct SealedToken;

/// Why the account could not be loaded (`Account::load`).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The settings could not be read (the database's words).
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Token(#[from] SealedToken),
}

/// The settings with the token opened: what sends and webhooks need.
#[derive(Clone, Debug)]
pub struct Account {
    pub stored: StoredTwilio,
    pub auth_token: SecretString,
}

impl Account {
    /// `None` when nothing is configured; `Err` when the token cannot be opened (the secret
    /// key changed since it was saved).
    pub fn load(conn: &mut PgConnection, at_rest_key: &[u8; 32], workspace_id: i64) -> Result<Option<Account>, LoadError> {
        let Some(stored) = stored(conn, workspace_id)? else { return Ok(None) };
        Ok(Some(Account::open(stored, at_rest_key)?))
    }

    /// Opens the stored token with the at-rest key.
    pub fn open(stored: StoredTwilio, at_rest_key: &[u8; 32]) -> Result<Account, SealedToken> {
        let token = crypto::open(at_rest_key, &stored.auth_token_sealed).and_then(|bytes| String::from_utf8(bytes).ok()).ok_or(SealedToken)?;
        Ok(Account { stored, auth_token: SecretString::from(token) })
    }

    pub fn token(&self) -> &str {
        self.auth_token.expose_secret()
    }

    /// The sender for `channel`: the chosen WhatsApp number if it is one of the workspace's
    /// (else the first), the SMS number, else the messaging service. `None`: no sender set.
    pub fn sender(&self, channel: Channel, chosen: Option<&str>) -> Option<Sender> {
        match channel {
            Channel::WhatsApp => {
                let numbers = &self.stored.whatsapp_from;
                chosen.filter(|c| numbers.iter().any(|n| n == c)).or(numbers.first().map(String::as_str)).map(|n| Sender::Number(n.to_string()))
            }
            Channel::Sms => match (&self.stored.sms_from, &self.stored.messaging_service_sid) {
                (Some(number), _) => Some(Sender::Number(number.clone())),
                (None, Some(service)) => Some(Sender::Pool(service.clone())),
                (None, None) => None,
            },
        }
    }

    /// Messages per second for a sender of `channel`.
    pub fn rate(&self, channel: Channel) -> f64 {
        match channel {
            Channel::WhatsApp => self.stored.whatsapp_rate,
            Channel::Sms => self.stored.sms_rate,
        }
    }
}

/// A webhook's workspace, and its account if Twilio is set up (`Err`: the token cannot be
/// opened with this secret key).
pub type WebhookTarget = (i64, Option<Result<Account, SealedToken>>);

/// What a webhook's key leads to, in one query: the workspace, and its account if Twilio
/// is set up (`Err`: the token cannot be opened with this secret key).
pub fn for_webhook(conn: &mut PgConnection, at_rest_key: &[u8; 32], key: &str) -> QueryResult<Option<WebhookTarget>> {
    let found: Option<(i64, Option<StoredTwilio>)> = workspaces::table
        .left_join(twilio_settings::table.on(twilio_settings::workspace_id.eq(workspaces::id)))
        .filter(workspaces::webhook_key.eq(key))
        .select((workspaces::id, Option::<StoredTwilio>::as_select()))
        .first(conn)
        .optional()?;
    Ok(found.map(|(workspace_id, stored)| (workspace_id, stored.map(|stored| Account::open(stored, at_rest_key)))))
}

/// The workspace's webhook key (in its webhook URLs).
pub fn webhook_key(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<String> {
    workspaces::table.find(workspace_id).select(workspaces::webhook_key).first(conn)
}

/// `{SWITCHBOARD_PUBLIC_URL}/webhooks/twilio/{key}/{kind}` (`kind`: status | inbound): what
/// Twilio is given, and what its signatures are computed over.
pub fn webhook_url(base: &Url, key: &str, kind: &str) -> String {
    format!("{}/webhooks/twilio/{key}/{kind}", base.as_str().trim_end_matches('/'))
}

/// The settings a person saves on `/settings/twilio`, checked (the token apart).
#[derive(Clone, Debug)]
pub struct TwilioFields {
    pub account_sid: String,
    pub whatsapp_from: Vec<String>,
    pub sms_from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_rate: f64,
    pub sms_rate: f64,
    pub inbound_unknown: String,
}

/// Saves the workspace's settings: with a newly `sealed` token the row is written whole
/// (added or replaced); without one the saved token stays, and the row must exist already.
pub fn save(tx: &mut PgConnection, workspace_id: i64, fields: &TwilioFields, sealed: Option<&[u8]>) -> QueryResult<()> {
    let values = (
        twilio_settings::account_sid.eq(&fields.account_sid),
        twilio_settings::whatsapp_from.eq(&fields.whatsapp_from),
        twilio_settings::sms_from.eq(&fields.sms_from),
        twilio_settings::messaging_service_sid.eq(&fields.messaging_service_sid),
        twilio_settings::whatsapp_rate.eq(fields.whatsapp_rate),
        twilio_settings::sms_rate.eq(fields.sms_rate),
        twilio_settings::inbound_unknown.eq(&fields.inbound_unknown),
        twilio_settings::updated_at.eq(diesel::dsl::now),
    );
    match sealed {
        Some(sealed) => {
            diesel::insert_into(twilio_settings::table)
                .values((twilio_settings::workspace_id.eq(workspace_id), twilio_settings::auth_token_sealed.eq(sealed), values))
                .on_conflict(twilio_settings::workspace_id)
                .do_update()
                .set((twilio_settings::auth_token_sealed.eq(sealed), values))
                .execute(tx)?;
        }
        None => {
            diesel::update(twilio_settings::table.find(workspace_id)).set(values).execute(tx)?;
        }
    }
    Ok(())
}

/// Whether the workspace has saved its settings.
pub fn configured(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(twilio_settings::table.find(workspace_id))).get_result(conn)
}
