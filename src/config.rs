//! Every environment variable Switchboard reads, parsed and checked in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// `SMTP_URL`: `smtp://user:password@host:port`. Kept as a secret; `Debug` shows it with the
/// password replaced, and a bad value is refused without repeating it.
#[derive(Clone)]
pub struct SmtpUrl(SecretString);

impl SmtpUrl {
    /// The URL, password included, for building the transport.
    // Checked when read: it parses. The fallback is a literal that parses.
    #[allow(clippy::expect_used)]
    pub fn url(&self) -> Url {
        Url::parse(self.0.expose_secret()).unwrap_or_else(|_| Url::parse("smtp://invalid").expect("a constant URL"))
    }
}

impl std::str::FromStr for SmtpUrl {
    type Err = anyhow::Error;

    fn from_str(raw: &str) -> anyhow::Result<Self> {
        // The value may hold a password: no message repeats it.
        let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("SMTP_URL is not a valid URL: {e} (the value is not shown, it may hold a password)"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            bail!("SMTP_URL must start with smtp:// or smtps://");
        }
        if url.host_str().is_none_or(str::is_empty) {
            bail!("SMTP_URL needs a host name");
        }
        Ok(Self(SecretString::from(raw)))
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut url = self.url();
        if url.password().is_some() {
            let _ = url.set_password(Some("redacted"));
        }
        f.debug_tuple("SmtpUrl").field(&url.as_str()).finish()
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`; `None` runs a private cluster under `data_dir`.
    pub database_url: Option<SecretString>,
    /// `SWITCHBOARD_ADDR`, default `127.0.0.1:8080`. Port 0 picks a free port (tests).
    pub addr: SocketAddr,
    /// `SWITCHBOARD_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `SWITCHBOARD_PG_BIN`: folder of `initdb` and `postgres`; found automatically when unset.
    pub pg_bin: Option<PathBuf>,
    /// `SWITCHBOARD_SECRET_KEY`; generated into `data_dir/secret_key` when unset.
    pub secret_key: Option<SecretString>,
    /// `SWITCHBOARD_PUBLIC_URL`: base URL for links and webhook signatures; https turns on
    /// `Secure` + `__Host-` cookies.
    pub public_url: Option<Url>,
    /// `TWILIO_API_BASE`, default `https://api.twilio.com`.
    pub twilio_api_base: Url,
    /// `TWILIO_CONTENT_BASE`, default `https://content.twilio.com`.
    pub twilio_content_base: Url,
    /// `SMTP_URL`, e.g. `smtp://127.0.0.1:2525`; may hold a password, so it is a secret.
    pub smtp_url: Option<SmtpUrl>,
    /// `SWITCHBOARD_WORKERS`: in-process job workers (0 = none), default 2.
    pub job_workers: usize,
    /// HTTP worker threads; not an environment variable (actix picks the core count).
    pub http_workers: Option<usize>,
    /// Whether the workers also run the daily scheduler; not an environment variable (tests
    /// turn it off to control when daily jobs exist).
    pub run_scheduler: bool,
    /// `SWITCHBOARD_DB_POOL`: database connections per instance; default twice the CPU
    /// cores (at least 4). More connections than PostgreSQL has cores to run them only
    /// lengthens the queue: on 2 cores, 4 instead of 10 cut the list's p99 from 47 to 33 ms.
    pub pool_size: u32,
    /// Largest CSV upload accepted, in bytes (SWITCHBOARD_IMPORT_MAX_MB, default 50).
    pub import_max_bytes: u64,
    /// Largest attachment fetched from a provider, in bytes (SWITCHBOARD_MEDIA_MAX_BYTES,
    /// default 16 MiB); a larger one is refused and shown as not downloaded.
    pub media_max_bytes: u64,
    /// Seconds a claimed job stays leased without a heartbeat (SWITCHBOARD_JOB_LEASE_SECS, default 60).
    pub job_lease_secs: i32,
    /// Days done, cancelled and dead jobs are kept before the daily `prune-jobs` job deletes
    /// them (SWITCHBOARD_JOB_RETENTION_DAYS, default 7).
    pub job_retention_days: i32,
    /// `SWITCHBOARD_TRUSTED_PROXIES`: CIDRs of the proxies whose `X-Forwarded-For` is
    /// believed (see `web::client_ip` and `parse_trusted`); default none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Counts argon2 verifications; not an environment variable (tests check that every
    /// sign-in attempt costs exactly one).
    pub password_verifications: VerifyCounter,
    /// `SWITCHBOARD_MAX_STREAMS`: live-event streams (`GET /events`) one instance holds open
    /// at most, default 2000; past it 503 with Retry-After.
    pub max_streams: usize,
    /// `SWITCHBOARD_SSE_PING_SECS`: how often an open event stream gets a `: ping` comment
    /// and its session is checked again, default 15 s (tests set it lower).
    pub sse_ping: std::time::Duration,
    /// `SWITCHBOARD_SMTP_ALLOW_PRIVATE=1`: a workspace's SMTP server may be on a loopback,
    /// link-local or private address (see `email::smtp_target`); default off. `SMTP_URL`
    /// is the operator's and always trusted.
    pub smtp_allow_private: bool,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass their own variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database_url = match var("DATABASE_URL") {
            Some(raw) => {
                // libpq URLs may leave the host empty and name a socket folder in `?host=`,
                // which a strict URL parser refuses; check the scheme only.
                let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or("");
                if !matches!(scheme, "postgres" | "postgresql") {
                    bail!("DATABASE_URL must start with postgres:// or postgresql://");
                }
                Some(SecretString::from(raw))
            }
            None => None,
        };
        let addr = match var("SWITCHBOARD_ADDR") {
            Some(raw) => raw
                .parse()
                .with_context(|| format!("SWITCHBOARD_ADDR={raw:?} is not an address like 127.0.0.1:8080"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let url_var = |name: &str, default: Option<&str>| -> anyhow::Result<Option<Url>> {
            match var(name).as_deref().or(default) {
                Some(raw) => {
                    let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("{name}={raw:?} is not a valid URL: {e}"))?;
                    Ok(Some(url))
                }
                None => Ok(None),
            }
        };
        let public_url = url_var("SWITCHBOARD_PUBLIC_URL", None)?;
        if let Some(url) = &public_url {
            if !matches!(url.scheme(), "http" | "https") {
                bail!("SWITCHBOARD_PUBLIC_URL must be an http:// or https:// URL");
            }
        }
        let secret_key = var("SWITCHBOARD_SECRET_KEY").map(SecretString::from);
        if let Some(key) = &secret_key {
            if key.expose_secret().len() < 32 {
                bail!("SWITCHBOARD_SECRET_KEY must be at least 32 characters long");
            }
        }
        let job_workers = match var("SWITCHBOARD_WORKERS") {
            Some(raw) => raw
                .parse()
                .with_context(|| format!("SWITCHBOARD_WORKERS={raw:?} is not a whole number"))?,
            None => 2,
        };
        // A whole number of `unit` within `range`, or `default` when unset.
        let ranged = |name: &str, unit: &str, range: std::ops::RangeInclusive<i64>, default: i64| -> anyhow::Result<i64> {
            match var(name) {
                Some(raw) => raw.parse::<i64>().ok().filter(|n| range.contains(n)).with_context(|| {
                    format!("{name}={raw:?} is not a number of {unit} from {} to {}", range.start(), range.end())
                }),
                None => Ok(default),
            }
        };
        let import_max_bytes = ranged("SWITCHBOARD_IMPORT_MAX_MB", "megabytes", 1..=10_240, 50)? as u64 * 1024 * 1024;
        let media_max_bytes = ranged("SWITCHBOARD_MEDIA_MAX_BYTES", "bytes", 1..=1 << 30, 16 << 20)? as u64;
        let job_lease_secs = ranged("SWITCHBOARD_JOB_LEASE_SECS", "seconds", 1..=3600, 60)? as i32;
        let job_retention_days = ranged("SWITCHBOARD_JOB_RETENTION_DAYS", "days", 1..=3650, 7)? as i32;
        let max_streams = ranged("SWITCHBOARD_MAX_STREAMS", "streams", 1..=1_000_000, 2000)? as usize;
        let sse_ping = std::time::Duration::from_secs(ranged("SWITCHBOARD_SSE_PING_SECS", "seconds", 1..=300, 15)? as u64);
        let trusted_proxies = match var("SWITCHBOARD_TRUSTED_PROXIES") {
            Some(raw) => parse_trusted(&raw).map_err(|e| anyhow::anyhow!("SWITCHBOARD_TRUSTED_PROXIES: {e}"))?,
            None => Vec::new(),
        };
        let smtp_allow_private = match var("SWITCHBOARD_SMTP_ALLOW_PRIVATE").as_deref().map(str::trim) {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(raw) => bail!("SWITCHBOARD_SMTP_ALLOW_PRIVATE={raw:?} must be 1 or 0"),
        };
        Ok(Self {
            smtp_allow_private,
            database_url,
            trusted_proxies,
            password_verifications: Default::default(),
            max_streams,
            sse_ping,
            import_max_bytes,
            media_max_bytes,
            job_lease_secs,
            job_retention_days,
            addr,
            data_dir: var("SWITCHBOARD_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("./data")),
            pg_bin: var("SWITCHBOARD_PG_BIN").map(PathBuf::from),
            secret_key,
            public_url,
            twilio_api_base: url_var("TWILIO_API_BASE", Some("https://api.twilio.com"))?.context("TWILIO_API_BASE has a default")?,
            twilio_content_base: url_var("TWILIO_CONTENT_BASE", Some("https://content.twilio.com"))?.context("TWILIO_CONTENT_BASE has a default")?,
            smtp_url: var("SMTP_URL").map(|raw| raw.parse()).transpose()?,
            job_workers,
            http_workers: None,
            run_scheduler: true,
            pool_size: match var("SWITCHBOARD_DB_POOL") {
                Some(raw) => raw
                    .parse()
                    .ok()
                    .filter(|n| (1..=500).contains(n))
                    .with_context(|| format!("SWITCHBOARD_DB_POOL={raw:?} is not a number from 1 to 500"))?,
                None => std::thread::available_parallelism().map_or(4, |n| (n.get() as u32 * 2).max(4)),
            },
        })
    }

    /// The base of links in emails: `SWITCHBOARD_PUBLIC_URL`, else the listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{}", self.addr),
        }
    }

    /// Cookies get `Secure` and the `__Host-` prefix only behind https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }
}

/// How many argon2 verifications ran (a test hook carried by the settings: every sign-in
/// attempt must cost exactly one, whether the account exists, has no password yet or shares
/// its email with another; `users::password::verify_one` counts).
#[derive(Clone, Debug, Default)]
pub struct VerifyCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl VerifyCounter {
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn add_one(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// An entry of `SWITCHBOARD_TRUSTED_PROXIES` that is neither an address nor a range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR range such as 10.0.0.0/8")]
pub struct NotANetwork(String);

/// Parses `SWITCHBOARD_TRUSTED_PROXIES`: CIDRs (`10.0.0.0/8`) or single addresses
/// (`192.0.2.7`), separated by commas or spaces. The error names the bad entry.
pub fn parse_trusted(raw: &str) -> Result<Vec<ipnet::IpNet>, NotANetwork> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| NotANetwork(entry.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_serve_on_localhost_8080_with_a_private_cluster() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:8080");
        assert!(s.database_url.is_none());
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert!(!s.secure_cookies());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_URL", "not a url"),
            ("SWITCHBOARD_ADDR", "localhost"),
            ("SWITCHBOARD_PUBLIC_URL", "ftp://x"),
            ("SWITCHBOARD_SECRET_KEY", "short"),
            ("SWITCHBOARD_WORKERS", "many"),
            ("SWITCHBOARD_DB_POOL", "0"),
            ("SWITCHBOARD_IMPORT_MAX_MB", "0"),
            ("SWITCHBOARD_JOB_LEASE_SECS", "forever"),
            ("SWITCHBOARD_JOB_RETENTION_DAYS", "0"),
            ("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"),
            ("SWITCHBOARD_SMTP_ALLOW_PRIVATE", "yes please"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_database_url_may_name_a_unix_socket_folder() {
        let s = settings(&[("DATABASE_URL", "postgres://switchboard@/switchboard?host=%2Ftmp%2Fpg")]).unwrap();
        assert!(s.database_url.is_some());
    }

    #[test]
    fn debug_output_never_shows_the_smtp_password_or_the_secret_key() {
        let s = settings(&[
            ("SMTP_URL", "smtp://mailer:hunter2-smtp@mail.example.com:587?tls=required"),
            ("SWITCHBOARD_SECRET_KEY", "a-secret-key-of-at-least-32-characters"),
            ("DATABASE_URL", "postgres://app:db-pa55@db.example.com/crm"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        for secret in ["hunter2-smtp", "a-secret-key-of-at-least-32-characters", "db-pa55"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("mail.example.com"), "the rest of SMTP_URL is still useful: {shown}");
    }

    #[test]
    fn a_bad_smtp_url_is_refused_without_echoing_its_password() {
        for bad in ["smtp://mailer:hunter2-smtp@exa mple.com", "http://mailer:hunter2-smtp@mail.example.com", "smtp://mailer:hunter2-smtp@:25"] {
            let err = format!("{:#}", settings(&[("SMTP_URL", bad)]).unwrap_err());
            assert!(err.contains("SMTP_URL"), "{err}");
            assert!(!err.contains("hunter2-smtp"), "{bad}: {err}");
        }
    }

    #[test]
    fn trusted_proxies_default_to_none_and_read_a_list_of_cidrs() {
        assert!(settings(&[]).unwrap().trusted_proxies.is_empty());
        let s = settings(&[("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")]).unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
    }

    #[test]
    fn https_public_url_turns_on_secure_cookies() {
        let s = settings(&[("SWITCHBOARD_PUBLIC_URL", "https://crm.example.com")]).unwrap();
        assert!(s.secure_cookies());
    }

    #[test]
    fn the_setting_accepts_cidrs_and_single_addresses_and_names_bad_entries() {
        let nets = parse_trusted("10.0.0.0/8, 192.0.2.7 fd00::/8,127.0.0.1").unwrap();
        assert_eq!(nets.len(), 4);
        assert!(nets[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
        assert!(!nets[1].contains(&"192.0.2.8".parse::<std::net::IpAddr>().unwrap()));
        // Host bits set: the range is what was meant.
        assert!(parse_trusted("10.1.2.3/8").unwrap()[0].contains(&"10.200.0.1".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_trusted("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", "*"] {
            let err = parse_trusted(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
