//! The command line: `serve` (default), `migrate`, `user add`, `worker`, `job run NAME`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::users::password;
use crate::authz::Role;
use crate::clock::Clock;
use crate::config::Settings;
use crate::startup::{Application, Database};
use crate::users::model as users;
use crate::users::service::{self, NewAccount};

#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about = "Self-hosted CRM for WhatsApp, SMS and email")]
pub struct Cli {
    /// Let `seed`, `user add` and `job run` create a new private PostgreSQL cluster when
    /// DATABASE_URL is unset and SWITCHBOARD_DATA_DIR holds none yet (they refuse otherwise,
    /// so a command run from the wrong folder does not fill a new, empty database).
    #[arg(long, global = true)]
    pub init_private_cluster: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate, then serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Fill a workspace with realistic demo data (clients with departments, tags,
    /// communications and follow-ups, plus staff whose password is SWITCHBOARD_PASSWORD or
    /// "seed password").
    Seed {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        clients: i64,
    },
    /// Run job workers and the scheduler only, no HTTP.
    Worker,
    /// Jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (and the workspace when it does not exist). The password comes from
    /// SWITCHBOARD_PASSWORD or standard input.
    Add(UserAdd),
}

#[derive(Args, Debug)]
pub struct UserAdd {
    #[arg(long)]
    pub workspace: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "admin")]
    pub role: String,
}

#[derive(Subcommand, Debug)]
pub enum JobCommand {
    /// Run a daily job now, for every workspace or one (client-status, follow-up-reminders, prune-jobs).
    Run {
        name: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let may_create = cli.init_private_cluster;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let database = tokio::task::spawn_blocking(move || open_database(&settings, true)).await??;
            tokio::task::spawn_blocking(move || database.connect_and_migrate(2).map(|_| database)).await??;
            println!("Migrations are up to date.");
            Ok(())
        }
        Command::User { command: UserCommand::Add(args) } => add_user(settings, args, may_create).await,
        Command::Seed { workspace, clients } => {
            if !(1..=10_000_000).contains(&clients) {
                bail!("--clients must be between 1 and 10000000");
            }
            let password = std::env::var("SWITCHBOARD_PASSWORD").unwrap_or_else(|_| "seed password".into());
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let database = open_database(&settings, may_create)?;
                let pool = database.connect_and_migrate(3)?;
                let hash = password::hash(&password)?;
                crate::seed::run(&pool, &workspace, clients, &hash)
            })
            .await?
        }
        Command::Worker => worker(settings).await,
        Command::Job { command: JobCommand::Run { name, workspace } } => {
            tokio::task::spawn_blocking(move || run_job_now(settings, &name, workspace.as_deref(), may_create)).await?
        }
    }
}

/// The database in words, for the line every command prints first: `DATABASE_URL` without
/// its password, or the private cluster's absolute folder.
fn describe_database(settings: &Settings) -> String {
    match &settings.database_url {
        Some(url) => format!("the database at DATABASE_URL={}", without_secrets(secrecy::ExposeSecret::expose_secret(url))),
        None => format!("the private PostgreSQL cluster in {}", private_cluster_dir(settings).display()),
    }
}

/// `scheme://user@host/db`: the password and the query string (which may hold one) left out.
fn without_secrets(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else { return "(not a URL)".into() };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => format!("{scheme}://{}@{host}{path}", user.split(':').next().unwrap_or_default()),
        None => format!("{scheme}://{authority}{path}"),
    }
}

fn private_cluster_dir(settings: &Settings) -> std::path::PathBuf {
    std::path::absolute(&settings.data_dir).unwrap_or_else(|_| settings.data_dir.clone()).join("pg")
}

/// Opens the database a command works on and says which it is (on stderr, so standard
/// output stays the command's own). Without `DATABASE_URL` that is the private cluster
/// under `SWITCHBOARD_DATA_DIR` (default `./data`, so it depends on the current folder);
/// unless `may_create`, a missing cluster is an error naming the folder, not a new, empty one.
fn open_database(settings: &Settings, may_create: bool) -> anyhow::Result<Database> {
    if settings.database_url.is_none() && !may_create && !crate::db::local_cluster::LocalCluster::exists(&settings.data_dir) {
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        bail!(
            "no database: DATABASE_URL is unset and there is no private PostgreSQL cluster in {} \
             (SWITCHBOARD_DATA_DIR={}, current folder {cwd}). Run this where switchboard serves, or set \
             SWITCHBOARD_DATA_DIR or DATABASE_URL to its database; to create a new, empty cluster there, \
             add --init-private-cluster",
            private_cluster_dir(settings).display(),
            settings.data_dir.display(),
        );
    }
    eprintln!("Using {}.", describe_database(settings));
    Database::open(settings)
}

/// `switchboard worker`: job workers and the scheduler, no HTTP, until SIGTERM or Ctrl-C.
async fn worker(settings: Settings) -> anyhow::Result<()> {
    if settings.job_workers == 0 {
        bail!("SWITCHBOARD_WORKERS=0: a worker process needs at least one worker");
    }
    let open = settings.clone();
    let database = tokio::task::spawn_blocking(move || open_database(&open, true)).await??;
    let pool_size = settings.pool_size.max(settings.job_workers as u32 + 2);
    let (pool, database) = tokio::task::spawn_blocking(move || database.connect_and_migrate(pool_size).map(|p| (p, database))).await??;
    let env = crate::startup::job_env(pool, &database, &settings, Clock::default())?;
    let registry = std::sync::Arc::new(crate::registry::jobs());
    let workers = crate::jobs::worker::Workers::start(env, registry, crate::jobs::worker::Options::from_settings(&settings));
    println!("Switchboard worker running {} job workers; stop with Ctrl-C.", settings.job_workers);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("Stopping: running jobs finish first.");
    tokio::task::spawn_blocking(move || crate::startup::Resources { workers: Some(workers), events: None, hub: None, database }.shutdown()).await?;
    Ok(())
}

/// `switchboard job run NAME`: runs a daily job at once (not through the queue).
fn run_job_now(settings: Settings, name: &str, workspace: Option<&str>, may_create: bool) -> anyhow::Result<()> {
    use crate::clients::status_rule::ClientStatus;
    use crate::jobs::prune::PruneJobs;
    use crate::notifications::reminders::FollowUpReminders;
    let Some(kind) = [ClientStatus::KIND, FollowUpReminders::KIND, PruneJobs::KIND].into_iter().find(|k| k.as_str() == name) else {
        bail!("unknown job {name:?}: choose client-status, follow-up-reminders or prune-jobs");
    };
    let database = open_database(&settings, may_create)?;
    let pool = database.connect_and_migrate(3)?;
    let mut conn = pool.get()?;
    let chosen: Vec<_> = match workspace {
        // Matched as the unique index on lower(name) matches, by PostgreSQL.
        Some(w) => crate::workspaces::find_by_name(&mut conn, w)?.into_iter().collect(),
        None => crate::workspaces::all(&mut conn)?,
    };
    if chosen.is_empty() {
        bail!("no such workspace");
    }
    let now = Clock::default().now();
    for ws in chosen {
        let started = std::time::Instant::now();
        let done = match kind {
            ClientStatus::KIND => crate::clients::status_rule::apply(&pool, ws.id, now, ws.hand_status_days)?,
            PruneJobs::KIND => crate::jobs::prune::prune(&mut conn, ws.id, now, settings.job_retention_days)?,
            _ => crate::notifications::reminders::send(&mut conn, &ws, now.with_timezone(&ws.zone()).date_naive(), &settings.base_url())?,
        };
        let what = match kind {
            ClientStatus::KIND => "clients changed status",
            PruneJobs::KIND => "finished jobs pruned",
            _ => "owners reminded",
        };
        println!("{}: {done} {what} in {} ms", ws.name, started.elapsed().as_millis());
    }
    Ok(())
}

/// How long after SIGTERM or SIGINT the HTTP server may take to stop (its own graceful
/// timeout is 10 s; actix has been seen to wait on a kept-alive connection for ever).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves `STOP_GRACE` after the first SIGTERM or SIGINT (actix receives them too and
/// starts its graceful stop; this only bounds how long that may take).
async fn stopping_took_too_long() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tokio::time::sleep(STOP_GRACE).await;
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    eprintln!("Using {}.", describe_database(&settings));
    let app = Application::build(settings.clone(), Clock::default()).await?;
    let url = match &settings.public_url {
        Some(url) => url.to_string(),
        None => format!("http://{}:{}/", settings.addr.ip(), app.port()),
    };
    let pool = app.pool.clone();
    let has_users = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let mut conn = pool.get()?;
        Ok(users::any_exist(&mut conn)?)
    })
    .await??;
    println!("Switchboard is running at {url}");
    if !has_users {
        println!("No users yet. Create the first admin in the browser at {url}setup");
        println!(
            "or on the command line: SWITCHBOARD_PASSWORD='…' switchboard user add --workspace 'My team' --email you@example.com --name 'Your Name' --role admin"
        );
    }
    let (server, resources) = app.into_parts();
    // Open event streams never finish on their own: end them at the first signal so the
    // graceful stop is not held by them (browsers reconnect to whichever instance is up).
    if let Some(hub) = resources.hub.clone() {
        tokio::spawn(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            hub.close_all();
        });
    }
    let result = tokio::select! {
        result = server => result,
        () = stopping_took_too_long() => {
            tracing::warn!(grace_secs = STOP_GRACE.as_secs(), "the HTTP server had not stopped after SIGTERM (an open connection held it); stopping anyway");
            Ok(())
        }
    };
    // Workers finish their jobs, then the private cluster stops (after the last request).
    tokio::task::spawn_blocking(move || resources.shutdown()).await.ok();
    result.context("HTTP server failed")
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("SWITCHBOARD_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the new user: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn add_user(settings: Settings, args: UserAdd, may_create: bool) -> anyhow::Result<()> {
    let role = Role::parse(&args.role).map_err(anyhow::Error::msg)?;
    let email = crate::web::forms::email(&args.email).map_err(anyhow::Error::msg)?;
    let name = crate::web::forms::required_text(&args.name, "Name", 100).map_err(anyhow::Error::msg)?;
    let workspace = crate::web::forms::required_text(&args.workspace, "Workspace", 100).map_err(anyhow::Error::msg)?;
    let password = read_password()?;
    password::check_new(&password).map_err(anyhow::Error::msg)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let database = open_database(&settings, may_create)?;
        let pool = database.connect_and_migrate(2)?;
        let password_hash = password::hash(&password)?;
        let account = NewAccount { workspace, email, name, role, password_hash };
        let mut conn = pool.get()?;
        let (user, created) = service::create_in_workspace(&mut conn, &account, None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        if created {
            println!("Created workspace {:?}.", account.workspace);
        }
        println!("Created {} {} <{}>. They can sign in now.", user.role, user.name, user.email);
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn database_urls_are_shown_without_their_secrets() {
        assert_eq!(without_secrets("postgres://app:s3cret@db.internal:5432/crm?sslmode=require"), "postgres://app@db.internal:5432/crm");
        assert_eq!(without_secrets("postgresql://app:p%40ss@db/crm"), "postgresql://app@db/crm");
        assert_eq!(without_secrets("postgres://db/crm?password=s3cret"), "postgres://db/crm");
        assert_eq!(without_secrets("postgres://switchboard@/t_1?host=%2Ftmp%2Frun"), "postgres://switchboard@/t_1");
    }
}
