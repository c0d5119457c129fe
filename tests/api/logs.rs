//! What the running binary writes to its log: no secret (reset and invitation tokens, CSRF
//! tokens, the SMTP password, the secret key) and no ERROR or WARN for expected conditions.
//! The binary runs as a subprocess on the test's database with its stderr captured.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use switchboard::users::tokens::{self, Purpose};
use switchboard::authz::Role;

use crate::support::{Browser, PASSWORD, TestApp, assert_redirects_to, csrf_in, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
pub(crate) const SECRET_KEY: &str = "log-test-secret-key-that-must-never-be-logged";

pub(crate) struct Logged {
    child: Child,
    log: std::path::PathBuf,
    pub(crate) base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `switchboard serve` on the test app's database, logging at `level` into a file.
pub(crate) async fn serve_logged(app: &TestApp, level: &str, smtp_url: Option<&str>) -> Logged {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("switchboard-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("stderr.log");
    let mut cmd = Command::new(BIN);
    cmd.env("DATABASE_URL", &app.database_url)
        .env("SWITCHBOARD_ADDR", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_DATA_DIR", &dir)
        .env("SWITCHBOARD_SECRET_KEY", SECRET_KEY)
        .env("SWITCHBOARD_WORKERS", "1")
        .env("RUST_LOG", level)
        .env_remove("SMTP_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(url) = smtp_url {
        cmd.env("SMTP_URL", url);
    }
    let mut child = cmd.spawn().expect("start switchboard");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return Logged { child, log, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("switchboard did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

impl Logged {
    /// Stops the server (SIGTERM) and returns everything it logged.
    pub(crate) fn stop(mut self) -> String {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        // The binary bounds its own stop (20 s after SIGTERM); never hang the suite on it.
        let deadline = Instant::now() + Duration::from_secs(40);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("switchboard did not stop within 40 s of SIGTERM:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(&self.log).unwrap();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        log
    }
}

/// The log lines at `level` (JSON lines, as the binary writes when stderr is not a terminal).
pub(crate) fn lines_at<'a>(log: &'a str, level: &str) -> Vec<&'a str> {
    let marker = format!("\"level\":\"{level}\"");
    log.lines().filter(|l| l.contains(&marker)).collect()
}

async fn wait_for(app: &TestApp, sql: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if app.count(sql) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never true: {sql}");
}

#[tokio::test]
async fn reset_invitation_and_upload_leave_no_token_or_secret_in_the_log() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    let admin = app.create_user("Acme", "ann@acme.test", Role::Admin);
    let invited = app.create_user("Acme", "bob@acme.test", Role::Agent);
    let smtp_password = "smtp-pa55word-never-logged";
    let server = serve_logged(&app, "debug", Some(&format!("smtp://mailer:{smtp_password}@127.0.0.1:{}", free_port()))).await;
    let now = app.clock.now();
    let reset = tokens::issue(&mut app.conn(), &admin, Purpose::Reset, now).unwrap();
    let invite = tokens::issue(&mut app.conn(), &invited, Purpose::Invite, now).unwrap();
    let mut tokens = vec![reset.clone(), invite.clone()];

    // A password reset: the page, a refused post (no CSRF token), a mistyped one, the real one.
    let visitor = Browser::new(&server.base);
    let page = visitor.get_html(&format!("/password/reset/{reset}")).await;
    let anonymous_csrf = csrf_in(&page).unwrap();
    tokens.push(anonymous_csrf.clone());
    let path = format!("/password/reset/{reset}");
    assert_eq!(visitor.post_raw(&path, &[("password", "x")]).await.status(), StatusCode::FORBIDDEN);
    let mistyped = [("csrf_token", anonymous_csrf.as_str()), ("password", "new password 12"), ("confirm", "other")];
    assert_eq!(visitor.post_raw(&path, &mistyped).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let good = [("csrf_token", anonymous_csrf.as_str()), ("password", "new password 12"), ("confirm", "new password 12")];
    assert_redirects_to(&visitor.post_raw(&path, &good).await, "/login");
    // A link used twice is dead.
    assert_eq!(visitor.get(&path).await.status(), StatusCode::NOT_FOUND);
    // The forgotten-password form mails a fresh link (the job fails against a closed SMTP port).
    assert_eq!(visitor.post("/password/forgot", &[("email", "ann@acme.test")]).await.status(), StatusCode::OK);

    // An invitation.
    let path = format!("/invitations/{invite}");
    let guest = Browser::new(&server.base);
    guest.get_html(&path).await;
    let form = [("name", "Bob"), ("password", "bob password 12"), ("confirm", "bob password 12")];
    assert_redirects_to(&guest.post(&path, &form).await, "/login");

    // An upload, and one sent the old way with the token in the query string.
    let signed_in = Browser::new(&server.base);
    assert_redirects_to(&signed_in.login("bob@acme.test", "bob password 12").await, "/");
    let admin_browser = Browser::new(&server.base);
    assert_redirects_to(&admin_browser.login("ann@acme.test", "new password 12").await, "/");
    let csrf = admin_browser.csrf().await;
    tokens.push(csrf.clone());
    let r = admin_browser.upload("/clients/import", "c.csv", b"name,email\nAda,ada@example.com\n".to_vec()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let part = reqwest::multipart::Part::bytes(b"name\nAda\n".to_vec()).file_name("d.csv");
    let old_style = reqwest::multipart::Form::new().part("file", part);
    let r = admin_browser.client.post(admin_browser.url(&format!("/clients/import?csrf_token={csrf}"))).multipart(old_style).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    wait_for(&app, "SELECT count(*) FROM jobs WHERE kind = 'send-email' AND last_error IS NOT NULL").await;

    let log = server.stop();
    // The paths were logged (so the test looks at something), with the tokens cut out.
    assert!(log.contains("/password/reset/[redacted]"), "the reset path is logged, redacted");
    assert!(log.contains("/invitations/[redacted]"), "the invitation path is logged, redacted");
    assert!(log.contains("/clients/import"), "the upload is logged");
    for token in &tokens {
        assert!(!log.contains(token.as_str()), "a token ({}…) is in the log", &token[..8]);
    }
    assert!(!log.contains(smtp_password), "the SMTP password is in the log");
    assert!(!log.contains(SECRET_KEY), "the secret key is in the log");
    assert!(!log.contains(PASSWORD) && !log.contains("new password 12"), "a password is in the log");
}

#[tokio::test]
async fn a_signed_out_home_page_and_mail_waiting_for_smtp_log_no_error_or_warning() {
    let app = spawn_app_with(|s| s.job_workers = 0).await;
    app.create_user("Acme", "ann@acme.test", Role::Admin);
    let server = serve_logged(&app, "info", None).await;
    let visitor = Browser::new(&server.base);
    for path in ["/", "/clients", "/settings/jobs"] {
        assert_redirects_to(&visitor.get(path).await, "/login");
    }
    assert_eq!(visitor.post("/password/forgot", &[("email", "ann@acme.test")]).await.status(), StatusCode::OK);
    wait_for(&app, "SELECT count(*) FROM jobs WHERE kind = 'send-email' AND last_error IS NOT NULL").await;
    let log = server.stop();
    assert_eq!(lines_at(&log, "ERROR"), Vec::<&str>::new(), "nothing at ERROR");
    assert_eq!(lines_at(&log, "WARN"), Vec::<&str>::new(), "nothing at WARN");
    assert!(lines_at(&log, "INFO").iter().any(|l| l.contains("waits") || l.contains("waiting")), "the waiting mail is noted once at INFO:\n{log}");
    assert_eq!(app.count("SELECT count(*) FROM jobs WHERE kind = 'send-email' AND status = 'waiting'"), 1);
}
