//! A workspace's messaging account (today: Twilio): the stored settings, the sealed auth
//! token opened with the at-rest key, the provider built from them, and the workspace's
//! webhook URLs.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::Settings;
use crate::crypto;
use crate::db::schema::{twilio_settings, workspaces};
use crate::messaging::twilio::Twilio;
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

/// The settings with the token opened: what sends and webhooks need.
#[derive(Clone, Debug)]
pub struct Account {
    pub stored: StoredTwilio,
    pub auth_token: SecretString,
}

impl Account {
    /// `None` when nothing is configured; `Err` when the token cannot be opened (the secret
    /// key changed since it was saved).
    pub fn load(conn: &mut PgConnection, at_rest_key: &[u8; 32], workspace_id: i64) -> Result<Option<Account>, String> {
        let Some(stored) = stored(conn, workspace_id).map_err(|e| e.to_string())? else { return Ok(None) };
        Account::open(stored, at_rest_key).map(Some)
    }

    /// Opens the stored token with the at-rest key.
    pub fn open(stored: StoredTwilio, at_rest_key: &[u8; 32]) -> Result<Account, String> {
        let token = crypto::open(at_rest_key, &stored.auth_token_sealed)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or("The saved Twilio auth token cannot be read with this SWITCHBOARD_SECRET_KEY; save it again in Settings → Twilio.")?;
        Ok(Account { stored, auth_token: SecretString::from(token) })
    }

    pub fn provider(&self, settings: &Settings) -> Twilio {
        Twilio::new(&settings.twilio_api_base, &settings.twilio_content_base, &self.stored.account_sid, self.auth_token.clone())
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
pub type WebhookTarget = (i64, Option<Result<Account, String>>);

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
