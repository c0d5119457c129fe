//! Where mail goes: the workspace's SMTP settings, else `SMTP_URL`; the lettre transport.

use std::time::Duration;

use diesel::prelude::*;
use lettre::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::SmtpUrl;
use crate::crypto;
use crate::db::schema::smtp_settings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Tls,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Tls => "tls",
        }
    }

    pub fn parse(value: &str) -> Option<TlsMode> {
        match value {
            "none" => Some(TlsMode::None),
            "starttls" => Some(TlsMode::StartTls),
            "tls" => Some(TlsMode::Tls),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    /// Typed by a workspace admin (not the operator's `SMTP_URL`): its addresses are checked
    /// before connecting ([`crate::email::smtp_target`]).
    pub from_workspace: bool,
}

/// Why no transport was built.
#[derive(Debug)]
pub enum TransportError {
    /// Will not work until the settings change (a bad TLS name, a non-public address).
    Permanent(String),
    /// May work later (the name does not resolve now).
    Retry(String),
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = smtp_settings)]
pub struct StoredSmtp {
    pub workspace_id: i64,
    pub host: String,
    pub port: i32,
    pub tls_mode: String,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub from_address: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub fn stored(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Option<StoredSmtp>> {
    smtp_settings::table.find(workspace_id).select(StoredSmtp::as_select()).first(conn).optional()
}

/// The settings a person saves (the password apart: blank keeps the saved one).
#[derive(Clone, Debug, Insertable, AsChangeset)]
#[diesel(table_name = smtp_settings, treat_none_as_null = true)]
pub struct SmtpSettings {
    pub workspace_id: i64,
    pub host: String,
    pub port: i32,
    pub tls_mode: &'static str,
    pub username: Option<String>,
    pub from_address: String,
}

/// Creates or replaces the workspace's settings; `password_sealed`, when given, replaces
/// the saved password.
pub fn save(conn: &mut PgConnection, settings: &SmtpSettings, password_sealed: Option<&[u8]>) -> QueryResult<()> {
    let values = (settings, smtp_settings::updated_at.eq(diesel::dsl::now));
    diesel::insert_into(smtp_settings::table).values(values).on_conflict(smtp_settings::workspace_id).do_update().set(values).execute(conn)?;
    if let Some(sealed) = password_sealed {
        diesel::update(smtp_settings::table.find(settings.workspace_id)).set(smtp_settings::password_sealed.eq(sealed)).execute(conn)?;
    }
    Ok(())
}

impl SmtpConfig {
    /// `smtp://user:pass@host:port` (plain), `?tls=required` (STARTTLS), `smtps://` (TLS);
    /// `?from=` sets the sender (default `switchboard@<host>`).
    pub fn from_url(url: &Url) -> Result<SmtpConfig, SmtpUrlError> {
        let host = url.host_str().ok_or(SmtpUrlError::Host)?.to_string();
        let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string());
        let tls = match (url.scheme(), query("tls").as_deref()) {
            ("smtps", _) => TlsMode::Tls,
            ("smtp", Some("required")) => TlsMode::StartTls,
            ("smtp", _) => TlsMode::None,
            (other, _) => return Err(SmtpUrlError::Scheme(other.to_string())),
        };
        let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.to_string()).unwrap_or_default();
        Ok(SmtpConfig {
            port: url.port().unwrap_or(match tls {
                TlsMode::Tls => 465,
                TlsMode::StartTls => 587,
                TlsMode::None => 25,
            }),
            username: (!url.username().is_empty()).then(|| decode(url.username())),
            password: url.password().map(|p| SecretString::from(decode(p))),
            from: query("from").unwrap_or_else(|| format!("switchboard@{host}")),
            host,
            tls,
            from_workspace: false,
        })
    }

    pub fn from_stored(stored: &StoredSmtp, key: &[u8; 32]) -> Result<SmtpConfig, SealedPassword> {
        let password = match &stored.password_sealed {
            Some(sealed) => Some(
                crypto::open(key, sealed)
                    .and_then(|p| String::from_utf8(p).ok())
                    .map(SecretString::from)
                    .ok_or(SealedPassword)?,
            ),
            None => None,
        };
        Ok(SmtpConfig {
            host: stored.host.clone(),
            port: stored.port as u16,
            tls: TlsMode::parse(&stored.tls_mode).unwrap_or(TlsMode::StartTls),
            username: stored.username.clone(),
            password,
            from: stored.from_address.clone(),
            from_workspace: true,
        })
    }

    /// The transport. A workspace's server (unless `allow_private`) is resolved now, every
    /// address checked, and the connection made to the first checked address, with the host
    /// name kept for TLS: a name that resolves elsewhere between the check and the
    /// connection never gets one.
    pub fn transport(&self, allow_private: bool) -> Result<SmtpTransport, TransportError> {
        let server = if self.from_workspace && !allow_private {
            match crate::email::smtp_target::resolve_public(&self.host, self.port) {
                Ok(addrs) => addrs[0].ip().to_string(),
                Err(crate::email::smtp_target::Refusal::NotPublic(why)) => return Err(TransportError::Permanent(why)),
                Err(crate::email::smtp_target::Refusal::Unresolved(why)) => return Err(TransportError::Retry(why)),
            }
        } else {
            self.host.clone()
        };
        let tls = |host: &str| TlsParameters::new(host.to_string()).map_err(|e| TransportError::Permanent(e.to_string()));
        let builder = match self.tls {
            TlsMode::Tls => SmtpTransport::builder_dangerous(server).tls(Tls::Wrapper(tls(&self.host)?)),
            TlsMode::StartTls => SmtpTransport::builder_dangerous(server).tls(Tls::Required(tls(&self.host)?)),
            TlsMode::None => SmtpTransport::builder_dangerous(server),
        };
        let mut builder = builder.port(self.port).timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &self.username {
            let password = self.password.as_ref().map(|p| p.expose_secret().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(builder.build())
    }
}

/// Why `SMTP_URL` gives no server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    #[error("SMTP_URL needs a host")]
    Host,
    #[error("SMTP_URL must start with smtp:// or smtps://, not {0}://")]
    Scheme(String),
}

/// The workspace's saved SMTP password does not open with the at-rest key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("The saved SMTP password cannot be read (was the secret key changed?); enter it again in Settings → Email.")]
pub struct SealedPassword;

/// Why there is no SMTP configuration to send with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The workspace's settings could not be read (the database's words).
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error(transparent)]
    Password(#[from] SealedPassword),
    #[error(transparent)]
    Url(#[from] SmtpUrlError),
}

/// The workspace's SMTP, else `SMTP_URL`, else `None` (mail waits).
pub fn config_for(conn: &mut PgConnection, workspace_id: i64, fallback: Option<&SmtpUrl>, key: &[u8; 32]) -> Result<Option<SmtpConfig>, ConfigError> {
    match stored(conn, workspace_id)? {
        Some(s) => Ok(Some(SmtpConfig::from_stored(&s, key)?)),
        None => Ok(fallback.map(|url| SmtpConfig::from_url(&url.url())).transpose()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_give_tls_mode_port_credentials_and_sender() {
        let c = SmtpConfig::from_url(&Url::parse("smtp://127.0.0.1:2525").unwrap()).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls, c.username.clone()), ("127.0.0.1", 2525, TlsMode::None, None));
        assert_eq!(c.from, "switchboard@127.0.0.1");
        let c = SmtpConfig::from_url(&Url::parse("smtp://me%40x.io:p%26ss@mail.x.io?tls=required&from=crm%40x.io").unwrap()).unwrap();
        assert_eq!(
            (c.port, c.tls, c.username.as_deref(), c.password.as_ref().map(|p| p.expose_secret()), c.from.as_str()),
            (587, TlsMode::StartTls, Some("me@x.io"), Some("p&ss"), "crm@x.io")
        );
        assert!(!format!("{c:?}").contains("p&ss"), "Debug never shows the password: {c:?}");
        // The same through SMTP_URL as the settings hold it.
        let url: SmtpUrl = "smtp://me%40x.io:p%26ss@mail.x.io?tls=required".parse().unwrap();
        assert!(!format!("{url:?}").contains("p%26ss"), "{url:?}");
        let c = SmtpConfig::from_url(&url.url()).unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_ref().map(|p| p.expose_secret())), (Some("me@x.io"), Some("p&ss")));
        assert_eq!(SmtpConfig::from_url(&Url::parse("smtps://mail.x.io").unwrap()).unwrap().port, 465);
        assert!(SmtpConfig::from_url(&Url::parse("http://mail.x.io").unwrap()).is_err());
    }
}
