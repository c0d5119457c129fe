//! A private PostgreSQL cluster for when `DATABASE_URL` is unset: `initdb` on first use,
//! `postgres` as a child process (as an unprivileged user when we run as root), reached over
//! a Unix socket in a 0700 folder, stopped when we stop and reused on the next start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use nix::unistd::{Gid, Uid, User};

/// The database role and database the app uses inside its private cluster.
pub const DB_USER: &str = "switchboard";
pub const DB_NAME: &str = "switchboard";

/// Options for a cluster: durable for the app, fast and throwaway for tests.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// `-c name=value` settings passed to `postgres`.
    pub server_settings: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Settings for the app's own cluster: durable, with room for bulk writes (a large CSV
    /// import) before a checkpoint forces full-page writes.
    /// `SWITCHBOARD_PG_SETTINGS` adds to (or overrides) them, e.g. to profile the database.
    pub fn app() -> Self {
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut server_settings = vec![s("max_wal_size", "2GB"), s("shared_buffers", "256MB")];
        server_settings.extend(extra_settings(&std::env::var("SWITCHBOARD_PG_SETTINGS").unwrap_or_default()));
        Self { server_settings }
    }

    /// Settings for test clusters: no durability, more connections.
    pub fn throwaway() -> Self {
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        Self {
            server_settings: vec![
                s("fsync", "off"),
                s("synchronous_commit", "off"),
                s("full_page_writes", "off"),
                s("max_connections", "300"),
            ],
        }
    }
}

/// `name=value` pairs separated by spaces (a value may hold commas:
/// `shared_preload_libraries=pg_stat_statements,auto_explain auto_explain.log_min_duration=5ms`);
/// a word without `=` is ignored. Later settings win over earlier ones, as with `-c`.
fn extra_settings(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

pub struct LocalCluster {
    socket_dir: PathBuf,
    /// `None` when another process already runs this cluster and we only connect to it.
    child: Option<ServerProcess>,
}

/// The `postgres` child. It is spawned and reaped by a thread of its own that lives as long
/// as the server: the kernel's parent-death signal follows the spawning *thread*, so a
/// short-lived (e.g. blocking-pool) thread would take the server down with it.
struct ServerProcess {
    pid: nix::unistd::Pid,
    exit: Arc<Mutex<Option<ExitStatus>>>,
}

impl ServerProcess {
    fn spawn(mut cmd: Command) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let exit = Arc::new(Mutex::new(None));
        let exit_slot = exit.clone();
        std::thread::Builder::new().name("postgres-owner".into()).spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let status = child.wait();
                if let (Ok(status), Ok(mut slot)) = (status, exit_slot.lock()) {
                    *slot = Some(status);
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })?;
        let pid = rx.recv()?.context("cannot start postgres")?;
        Ok(Self { pid: nix::unistd::Pid::from_raw(pid as i32), exit })
    }

    fn exited(&self) -> Option<ExitStatus> {
        self.exit.lock().ok().and_then(|slot| *slot)
    }
}

impl LocalCluster {
    /// Whether `data_dir` already holds an initialised cluster (running or not).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join("pg").join("PG_VERSION").is_file()
    }

    /// Initialises (once) and starts the cluster in `data_dir/pg`, then makes sure the
    /// `switchboard` database exists.
    pub fn start(data_dir: &Path, pg_bin: Option<&Path>, options: &ClusterOptions) -> anyhow::Result<Self> {
        let bin = find_pg_bin(pg_bin)?;
        fs::create_dir_all(data_dir)
            .with_context(|| format!("SWITCHBOARD_DATA_DIR={} is not usable", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("SWITCHBOARD_DATA_DIR={} is not usable", data_dir.display()))?;
        let owner = ServerUser::pick()?;
        owner.check_can_reach(&data_dir)?;
        let pg_dir = data_dir.join("pg");
        let socket_dir = socket_dir_for(&data_dir);
        for dir in [&pg_dir, &socket_dir] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            owner.chown(dir)?;
        }
        if !pg_dir.join("PG_VERSION").exists() {
            init_cluster(&bin, &pg_dir, &owner)?;
        }
        let mut cluster = Self { socket_dir, child: None };
        if cluster.answers() {
            tracing::info!(dir = %pg_dir.display(), "reusing the PostgreSQL cluster that is already running");
        } else {
            cluster.child = Some(spawn_postgres(&bin, &pg_dir, &cluster.socket_dir, &owner, options, &data_dir)?);
            cluster.wait_until_ready(&data_dir)?;
        }
        cluster.create_database(DB_NAME)?;
        Ok(cluster)
    }

    /// libpq URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        let host: String = url::form_urlencoded::byte_serialize(self.socket_dir.to_string_lossy().as_bytes()).collect();
        format!("postgres://{DB_USER}@/{db}?host={host}")
    }

    pub fn create_database(&self, db: &str) -> anyhow::Result<()> {
        let mut conn = PgConnection::establish(&self.url("postgres")).context("cannot connect to the private cluster")?;
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(db)
            .get_result(&mut conn)?;
        if !found.exists {
            diesel::sql_query(format!("CREATE DATABASE \"{}\"", db.replace('"', "")))
                .execute(&mut conn)
                .with_context(|| format!("cannot create database {db}"))?;
        }
        Ok(())
    }

    fn answers(&self) -> bool {
        self.socket_dir.join(".s.PGSQL.5432").exists() && PgConnection::establish(&self.url("postgres")).is_ok()
    }

    fn wait_until_ready(&mut self, data_dir: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.answers() {
                return Ok(());
            }
            if let Some(child) = self.child.as_ref() {
                if let Some(status) = child.exited() {
                    bail!(
                        "PostgreSQL exited ({status}) while starting; see {}",
                        data_dir.join("postgres.log").display()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!("PostgreSQL did not start within 60 s; see {}", data_dir.join("postgres.log").display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT), waiting for the server to exit.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            use nix::sys::signal::{Signal, kill};
            for (signal, patience) in [(Signal::SIGINT, 30), (Signal::SIGQUIT, 10)] {
                let _ = kill(child.pid, signal);
                let deadline = Instant::now() + Duration::from_secs(patience);
                while Instant::now() < deadline {
                    if child.exited().is_some() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `SWITCHBOARD_PG_BIN`, else the newest `/usr/lib/postgresql/N/bin` (Debian), else `PATH`.
pub fn find_pg_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = explicit {
        if has_server(dir) {
            return Ok(dir.to_path_buf());
        }
        bail!("SWITCHBOARD_PG_BIN={} does not contain initdb and postgres", dir.display());
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default() {
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries not found: install them (sudo apt-get install postgresql) \
         or set SWITCHBOARD_PG_BIN, or set DATABASE_URL to use an existing server"
    )
}

/// Unix socket paths are limited to about 107 bytes; fall back to a private folder in /tmp.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("run");
    if dir.as_os_str().len() + "/.s.PGSQL.5432".len() < 100 {
        return dir;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("switchboard-{}", &hex::encode(digest)[..16]))
}

/// The OS user the server runs as: ourselves, or an unprivileged user when we are root
/// (PostgreSQL refuses to run as root).
struct ServerUser {
    /// `None`: run as the current user.
    drop_to: Option<(Uid, Gid, String)>,
}

impl ServerUser {
    fn pick() -> anyhow::Result<Self> {
        if !Uid::effective().is_root() {
            return Ok(Self { drop_to: None });
        }
        for name in ["postgres", "nobody"] {
            if let Some(user) = User::from_name(name)? {
                return Ok(Self { drop_to: Some((user.uid, user.gid, name.to_string())) });
            }
        }
        bail!("running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")
    }

    fn chown(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid, _)) = &self.drop_to {
            nix::unistd::chown(path, Some(*uid), Some(*gid))
                .with_context(|| format!("cannot hand {} to the PostgreSQL user", path.display()))?;
        }
        Ok(())
    }

    /// Every parent folder must let the server user pass, or initdb fails obscurely.
    fn check_can_reach(&self, data_dir: &Path) -> anyhow::Result<()> {
        let Some((_, _, name)) = &self.drop_to else { return Ok(()) };
        for dir in data_dir.ancestors().skip(1) {
            let mode = fs::metadata(dir)?.permissions().mode();
            if mode & 0o001 == 0 {
                bail!(
                    "SWITCHBOARD_DATA_DIR={} is not usable: running as root, PostgreSQL runs as '{name}', \
                     which cannot enter {}; choose a data dir under a world-traversable folder \
                     (e.g. SWITCHBOARD_DATA_DIR=/var/lib/switchboard) or set DATABASE_URL",
                    data_dir.display(),
                    dir.display()
                );
            }
        }
        Ok(())
    }

    fn command(&self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid, _)) = &self.drop_to {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
            cmd.env("HOME", "/tmp");
        }
        cmd
    }
}

fn init_cluster(bin: &Path, pg_dir: &Path, owner: &ServerUser) -> anyhow::Result<()> {
    tracing::info!(dir = %pg_dir.display(), "initialising a private PostgreSQL cluster");
    let output = owner
        .command(bin.join("initdb"))
        .arg("-D")
        .arg(pg_dir)
        .args(["-U", DB_USER, "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=reject"])
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .context("cannot run initdb")?;
    if !output.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn spawn_postgres(
    bin: &Path,
    pg_dir: &Path,
    socket_dir: &Path,
    owner: &ServerUser,
    options: &ClusterOptions,
    data_dir: &Path,
) -> anyhow::Result<ServerProcess> {
    let log_path = data_dir.join("postgres.log");
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    writeln!(log, "--- starting postgres")?;
    let mut cmd = owner.command(bin.join("postgres"));
    cmd.arg("-D")
        .arg(pg_dir)
        .arg("-k")
        .arg(socket_dir)
        .args(["-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"]);
    for (name, value) in &options.server_settings {
        cmd.arg("-c").arg(format!("{name}={value}"));
    }
    cmd.current_dir("/").stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // If we die without stopping it, the kernel tells the server to shut down fast.
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT).map_err(std::io::Error::from)
        });
    }
    ServerProcess::spawn(cmd)
}

#[cfg(test)]
mod tests {
    use super::extra_settings;

    #[test]
    fn extra_settings_are_name_value_pairs_split_on_spaces_keeping_commas_in_values() {
        let pairs = extra_settings(" shared_preload_libraries=pg_stat_statements,auto_explain  auto_explain.log_min_duration=5ms junk =x ");
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("shared_preload_libraries", "pg_stat_statements,auto_explain"), ("auto_explain.log_min_duration", "5ms")]);
        assert!(extra_settings("").is_empty());
    }
}
