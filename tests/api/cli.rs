//! The binary itself: `serve` with its own PostgreSQL cluster, `user add`, a graceful stop
//! that takes the cluster down, and a restart that reuses it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{Browser, PASSWORD, assert_redirects_to};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

struct Serving {
    child: Child,
    stdout: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn command(data_dir: &std::path::Path, port: u16) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DATABASE_URL")
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .env("SWITCHBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn");
    cmd
}

/// Starts `switchboard` and waits for its "running at" line.
fn serve(data_dir: &std::path::Path, port: u16) -> Serving {
    let mut child = command(data_dir, port).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start switchboard");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let done = line.contains("Switchboard is running at");
        stdout.push(line);
        if done {
            // A few more lines may follow (first-run hints); read them without blocking forever.
            std::thread::spawn(move || for _ in lines {});
            std::thread::sleep(Duration::from_millis(100));
            return Serving { child, stdout };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("switchboard did not start: {stdout:?}");
}

fn stop(mut serving: Serving) -> std::process::ExitStatus {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(serving.child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    serving.child.wait().unwrap()
}

#[tokio::test]
async fn serve_runs_its_own_cluster_stops_it_on_sigterm_and_reuses_it() {
    let data_dir = std::env::temp_dir().join(format!("switchboard-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let first = tokio::task::spawn_blocking({
        let d = data_dir.clone();
        move || serve(&d, port)
    })
    .await
    .unwrap();
    assert!(first.stdout.iter().any(|l| l.contains(&format!("{base}/"))), "prints the URL: {:?}", first.stdout);
    let readyz = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(readyz.status(), StatusCode::OK);
    let secret = data_dir.join("secret_key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600, "secret key is private");

    // `user add` while the server runs uses the same cluster.
    let output = command(&data_dir, port)
        .args(["user", "add", "--workspace", "Acme", "--email", "ann@acme.test", "--name", "Ann", "--role", "admin"])
        .env("SWITCHBOARD_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(output.status.success(), "user add: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Created workspace"));

    let app = Browser::new(&base);
    assert_redirects_to(&app.login("ann@acme.test", PASSWORD).await, "/");

    let status = tokio::task::spawn_blocking(move || stop(first)).await.unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    assert!(!data_dir.join("pg/postmaster.pid").exists(), "the cluster stopped with the app");

    // The restart reuses the cluster and its data, and no longer suggests /setup.
    let second = tokio::task::spawn_blocking({
        let d = data_dir.clone();
        move || serve(&d, port)
    })
    .await
    .unwrap();
    assert!(!second.stdout.iter().any(|l| l.contains("No users yet")));
    let app = Browser::new(&base);
    assert_redirects_to(&app.login("ann@acme.test", PASSWORD).await, "/");
    tokio::task::spawn_blocking(move || stop(second)).await.unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn bad_configuration_stops_with_one_line_naming_the_variable() {
    let output = Command::new(BIN).arg("migrate").env("DATABASE_URL", "mysql://x").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL must start with postgres://"), "{stderr}");
    let output = Command::new(BIN).args(["job", "run", "nope"]).env("DATABASE_URL", "postgres://x@127.0.0.1:1/x").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown job"));
}

#[tokio::test]
async fn seed_fills_a_workspace_with_clients_and_their_history() {
    let app = crate::support::spawn_app().await;
    let hash = switchboard::users::password::hash(PASSWORD).unwrap();
    switchboard::seed::run(&app.pool, "Demo", 250, &hash).unwrap();
    assert_eq!(app.count("SELECT count(*) FROM clients"), 250);
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE phone !~ '^\\+[1-9][0-9]{6,14}$'"), 0);
    assert!(app.count("SELECT count(*) FROM communications") > 250);
    assert!(app.count("SELECT count(*) FROM follow_ups") > 100);
    assert_eq!(app.count("SELECT count(*) FROM clients c WHERE NOT EXISTS (SELECT 1 FROM client_departments d WHERE d.client_id = c.id)"), 0);
    assert_eq!(app.count("SELECT count(DISTINCT status) FROM clients"), 3);
    // The seed stores each phone's written form as the app would have formatted it (issue 20:
    // the list shows it without formatting 50 numbers a request).
    let phones: Vec<(String, Option<String>)> = {
        use diesel::prelude::*;
        use switchboard::db::schema::clients;
        clients::table.filter(clients::phone.is_not_null()).select((clients::phone.assume_not_null(), clients::phone_formatted)).load(&mut app.conn()).unwrap()
    };
    assert!(phones.len() > 200);
    for (phone, formatted) in phones {
        assert_eq!(formatted, Some(switchboard::clients::domain::PhoneE164::from_stored(&phone).international()), "{phone}");
    }
    let inconsistent = app.count(
        "SELECT count(*) FROM clients c WHERE last_contacted_at IS DISTINCT FROM (SELECT max(occurred_at) FROM communications m WHERE m.client_id = c.id)",
    );
    assert_eq!(inconsistent, 0, "last contacted is the newest communication");
    // Running it again adds more without colliding.
    switchboard::seed::run(&app.pool, "Demo", 50, &hash).unwrap();
    assert_eq!(app.count("SELECT count(*) FROM clients"), 300);
    let agent = Browser::new(&app.base);
    assert_redirects_to(&agent.login("agent3@seed.example", PASSWORD).await, "/");
    let list = agent.get_html("/clients").await;
    assert!(list.matches("<tr id=\"client-").count() > 10, "an agent has clients of their own");
}

#[tokio::test]
async fn job_run_applies_a_daily_job_at_once() {
    use diesel::RunQueryDsl;
    let app = crate::support::spawn_app().await;
    let me = app.create_user("Acme", "owner@acme.test", switchboard::authz::Role::Admin);
    diesel::sql_query(format!(
        "INSERT INTO clients (workspace_id, name, status, status_source, created_at) VALUES ({0}, 'Old', 'warm', 'rule', now() - interval '60 days')",
        me.workspace_id
    ))
    .execute(&mut app.conn())
    .unwrap();
    let output = Command::new(BIN).args(["job", "run", "client-status", "--workspace", "acme"]).env("DATABASE_URL", &app.database_url).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Using the database at DATABASE_URL=postgres://switchboard@/t_"), "says which database: {stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Acme: 1 clients changed status"));
    assert_eq!(app.count("SELECT count(*) FROM clients WHERE name = 'Old' AND status = 'inactive'"), 1);
    let output = Command::new(BIN).args(["job", "run", "follow-up-reminders"]).env("DATABASE_URL", &app.database_url).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Acme: 0 owners reminded"));
}

/// `seed`, `user add` and `job run` started from a folder without the app's data: before,
/// they created a new, empty private cluster there and reported success.
#[test]
fn one_shot_commands_refuse_to_create_a_private_cluster_unless_asked() {
    let elsewhere = std::env::temp_dir().join(format!("switchboard-cli-elsewhere-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(&elsewhere)
            .env_remove("DATABASE_URL")
            .env_remove("SWITCHBOARD_DATA_DIR")
            .env("SWITCHBOARD_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let expected_dir = elsewhere.join("data").join("pg");
    for args in [
        &["seed", "--workspace", "Demo", "--clients", "10"][..],
        &["user", "add", "--workspace", "Acme", "--email", "ann@acme.test", "--name", "Ann", "--role", "admin"],
        &["job", "run", "client-status"],
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail: {stderr}");
        assert!(stderr.contains(&expected_dir.display().to_string()), "{args:?} names the data dir: {stderr}");
        assert!(stderr.contains("--init-private-cluster"), "{args:?} says how to create one: {stderr}");
        assert!(!elsewhere.join("data").exists(), "{args:?} created nothing");
    }

    // Asked explicitly, the command creates the cluster and says which database it used.
    let output = run(&["user", "add", "--init-private-cluster", "--workspace", "Acme", "--email", "ann@acme.test", "--name", "Ann"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("Using the private PostgreSQL cluster in {}", expected_dir.display())), "{stderr}");
    assert!(expected_dir.join("PG_VERSION").is_file());
    assert!(!expected_dir.join("postmaster.pid").exists(), "the cluster stopped with the command");
    // Now that it exists, the next command uses it without the flag.
    let output = run(&["job", "run", "client-status", "--workspace", "ACME"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Acme: 0 clients changed status"), "{stdout}");
    let _ = std::fs::remove_dir_all(&elsewhere);
}
