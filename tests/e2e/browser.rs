//! A headless Chromium session per test, through a chromedriver we start ourselves.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const INSTALL: &str = "headless Chromium is needed for the browser tests: sudo apt-get install chromium chromium-driver";

pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempdir::Dir,
}

mod tempdir {
    /// A throwaway profile folder, removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find(candidates: &[&str]) -> Option<String> {
    candidates.iter().find(|c| Path::new(c).exists()).map(|c| c.to_string())
}

impl Chrome {
    pub async fn start() -> Chrome {
        Chrome::start_in_zone(None).await
    }

    /// A browser whose clock is in the time zone `zone` (the `TZ` chromedriver and Chromium
    /// inherit), or the machine's own with `None`.
    pub async fn start_in_zone(zone: Option<&str>) -> Chrome {
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]).expect(INSTALL);
        let chromedriver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]).expect(INSTALL);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(chromedriver);
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(INSTALL);
        let profile = tempdir::Dir(std::env::temp_dir().join(format!("switchboard-chrome-{}", uuid::Uuid::new_v4().simple())));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.0.display()),
                ]
            }),
        );
        // The browser's console, read back by `console_errors`.
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
                Ok(client) => return Chrome { client, driver, _profile: profile },
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last_error}");
    }

    /// Signs in through the login form and waits for the dashboard.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("button[type=submit]").await;
        self.wait_for_heading("Dashboard").await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks the first element matching `css`, retrying while htmx swaps it out.
    pub async fn click(&self, css: &str) {
        let mut last = String::new();
        for _ in 0..50 {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot click {css}: {last}");
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    /// The text of the first element matching `css`; retried while htmx swaps it out.
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            if let Some(text) = self.try_text(css).await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never had readable text");
    }

    async fn try_text(&self, css: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    }

    /// Waits up to 20 s until an element matching `css` exists and contains `needle`; returns
    /// its text. The element may be missing meanwhile (a list that appears when a job ends):
    /// the browser tests share two cores with the suite, so a job can take seconds there.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = None;
        for _ in 0..200 {
            last = self.try_text(css).await;
            if last.as_deref().is_some_and(|text| text.contains(needle)) {
                return last.unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match last {
            Some(text) => panic!("{css} never contained {needle:?}; it read:\n{text}"),
            None => panic!("{css} never appeared with {needle:?}"),
        }
    }

    /// Waits until the page's main heading reads `text`.
    pub async fn wait_for_heading(&self, text: &str) {
        for _ in 0..100 {
            if let Ok(h1) = self.client.find(Locator::Css("main h1")).await {
                if h1.text().await.unwrap_or_default() == text {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let source = self.client.source().await.unwrap_or_default();
        panic!("heading {text:?} never appeared; page was:\n{source}");
    }

    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Content-Security-Policy violations the page reported (collected by app.js).
    pub async fn csp_violations(&self) -> Vec<String> {
        let value = self.eval("return window.__cspViolations || ['app.js did not load'];").await;
        serde_json::from_value(value).unwrap_or_default()
    }

    /// Console messages of level SEVERE since the last call (chromedriver's log endpoint
    /// drains what it returns): script errors, failed loads, CSP reports.
    /// Ends the test's browser after checking its console (issue 19): any error a page logged
    /// (an htmx syntax error, a script error, a CSP violation) fails the test. Left out are
    /// failed requests (tests provoke 4xx answers on purpose, and their pages are checked by
    /// what they show) and the event stream's own error `Event`, which htmx's SSE extension
    /// logs as "[object Event]" when a stream ends: signing out ends the session's streams at
    /// once (issue 18), and the browser reconnects by itself.
    pub async fn finish(&self) {
        let errors: Vec<String> = self
            .console_errors()
            .await
            .into_iter()
            .filter(|e| {
                let failed_request = e.contains("Failed to load resource");
                let stream_ended = e.contains("/vendor/htmx-") && e.ends_with("\"[object Event]\"");
                !failed_request && !stream_ended
            })
            .collect();
        assert_eq!(errors, Vec::<String>::new(), "the browser's console has errors");
        self.client.clone().close().await.unwrap();
    }

    pub async fn console_errors(&self) -> Vec<String> {
        let value = self.client.issue_cmd(BrowserLog).await.expect("browser log");
        value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs axe-core (vendored under tests/e2e/vendor, loaded only here) on the current page
    /// and returns its serious and critical violations, one line each.
    pub async fn axe_violations(&self) -> Vec<String> {
        const AXE: &str = include_str!("vendor/axe.min.js");
        self.client.execute(&format!("{AXE}\nreturn true;"), vec![]).await.expect("load axe-core");
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
              .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
              .catch(e => done(['axe failed: ' + e]));";
        let value = self.client.execute_async(script, vec![]).await.expect("axe.run");
        serde_json::from_value(value).unwrap_or_default()
    }

    /// Saves a PNG of the whole window under target/screenshots/ (for a reviewer to look at).
    pub async fn screenshot(&self, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }
}

/// chromedriver's `POST /session/{id}/se/log` (not part of W3C WebDriver, so fantoccini has
/// no method for it).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_string()))
    }
}
