//! A fake Twilio on 127.0.0.1 for the tests and benchmarks: it speaks the REST shapes
//! Switchboard uses (Messages.json create, fetch and list; the account; the Content API's
//! ContentAndApprovals pages), checks HTTP Basic credentials, counts every send, can be
//! told to misbehave (429 with Retry-After, 500, 503, a slow answer, a message accepted whose
//! answer is lost; once, or on every Nth create call: a flaky provider), and sends status
//! callbacks signed the way Twilio signs them.
//!
//! Blocking, a thread per connection, one request per connection (`Connection: close`), so
//! "accepted but the answer is lost" is a socket closed after the message was recorded.
//! Self-contained (no test-support imports), so benches can include it by path.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

/// An answer of the fake: status line, extra headers, body.
type Answer = (String, Vec<(String, String)>, String);

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";

/// What the next create request gets instead of a normal answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with `Retry-After: secs`; nothing recorded.
    TooManyRequests { retry_after: u64 },
    /// 500; nothing recorded.
    ServerError,
    /// 503 without Retry-After; nothing recorded.
    Unavailable,
    /// Records the message and answers after this long (a client with a shorter timeout
    /// gives up not knowing the message was taken).
    Slow(Duration),
    /// Records the message, then closes the connection without answering.
    AcceptAndLoseAnswer,
    /// 400 with this Twilio error code and message; nothing recorded.
    Refuse { code: i64, message: String },
}

#[derive(Clone, Debug)]
pub struct SentMessage {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub messaging_service_sid: Option<String>,
    pub body: Option<String>,
    pub content_sid: Option<String>,
    pub content_variables: Option<String>,
    pub status_callback: Option<String>,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub params: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    account_sid: String,
    auth_token: String,
    friendly_name: String,
    messages: Vec<SentMessage>,
    faults: VecDeque<Fault>,
    /// Recipients that texted STOP to Twilio: sends to them are refused with 21610.
    unsubscribed: HashSet<String>,
    /// Inbound media by their `ME…` sid: the bytes, the content type they are served as, and
    /// the file name their store gives (`Content-Disposition`), if any.
    media: HashMap<String, (Vec<u8>, String, Option<String>)>,
    /// Content API entries (raw JSON as Twilio returns them).
    templates: Vec<Value>,
    requests: HashMap<String, u64>,
    /// Create calls so far, and the fault every Nth of them gets (when no queued fault).
    creates: u64,
    every: Option<(u64, Fault)>,
    /// Create calls answered with a fault from `every`.
    refused_every: u64,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stopped: Arc<AtomicBool>,
    sids: Arc<AtomicU64>,
    /// Sends accepted (recorded), whatever happened to the answer.
    pub accepted: Arc<AtomicU64>,
}

impl FakeTwilio {
    pub fn start() -> FakeTwilio {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Twilio");
        let port = listener.local_addr().unwrap().port();
        let state = State {
            account_sid: ACCOUNT_SID.into(),
            auth_token: AUTH_TOKEN.into(),
            friendly_name: "Acme Messaging".into(),
            ..State::default()
        };
        let fake = FakeTwilio {
            port,
            state: Arc::new(Mutex::new(state)),
            stopped: Arc::new(AtomicBool::new(false)),
            sids: Arc::new(AtomicU64::new(1)),
            accepted: Arc::new(AtomicU64::new(0)),
        };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if server.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        fake
    }

    /// `TWILIO_API_BASE` and `TWILIO_CONTENT_BASE` for the app.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }

    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// A flaky provider: every `n`th create call (the `n`th, `2n`th, …) gets `fault`, for
    /// as long as the fake runs; `push_fault` faults come first.
    pub fn fail_every(&self, n: u64, fault: Fault) {
        self.state.lock().unwrap().every = Some((n.max(1), fault));
    }

    /// No more faults every Nth call (the count of create calls goes on).
    pub fn reliable(&self) {
        self.state.lock().unwrap().every = None;
    }

    /// Create calls answered with the fault of [`FakeTwilio::fail_every`].
    pub fn refused_every(&self) -> u64 {
        self.state.lock().unwrap().refused_every
    }

    pub fn unsubscribe(&self, number: &str) {
        self.state.lock().unwrap().unsubscribed.insert(number.to_string());
    }

    pub fn add_template(&self, entry: Value) {
        self.state.lock().unwrap().templates.push(entry);
    }

    /// A Content API entry: a text template (or quick-reply when `buttons` is not empty).
    pub fn template(sid: &str, name: &str, body: &str, status: &str, buttons: &[&str]) -> Value {
        let kind = if buttons.is_empty() {
            json!({"twilio/text": {"body": body}})
        } else {
            let actions: Vec<Value> = buttons.iter().map(|b| json!({"title": b, "id": b.to_lowercase()})).collect();
            json!({"twilio/quick-reply": {"body": body, "actions": actions}})
        };
        let mut variables = serde_json::Map::new();
        for i in 1..=9 {
            if body.contains(&format!("{{{{{i}}}}}")) {
                variables.insert(i.to_string(), Value::String(format!("sample {i}")));
            }
        }
        json!({
            "sid": sid, "account_sid": ACCOUNT_SID, "friendly_name": name, "language": "en",
            "variables": variables, "types": kind,
            "approval_requests": {"name": name, "category": "UTILITY", "status": status, "rejection_reason": if status == "rejected" { "Promotional content" } else { "" }}
        })
    }

    pub fn messages(&self) -> Vec<SentMessage> {
        self.state.lock().unwrap().messages.clone()
    }

    /// How many messages were accepted for `to` (a Twilio address: `whatsapp:+1…` or `+1…`).
    pub fn sends_to(&self, to: &str) -> usize {
        self.state.lock().unwrap().messages.iter().filter(|m| m.to == to).count()
    }

    /// How many requests hit `METHOD /path` (path without the query).
    pub fn requests(&self, key: &str) -> u64 {
        self.state.lock().unwrap().requests.get(key).copied().unwrap_or(0)
    }

    /// Sets a recorded message's status (what the later fetch and list answer).
    pub fn set_status(&self, sid: &str, status: &str) {
        if let Some(m) = self.state.lock().unwrap().messages.iter_mut().find(|m| m.sid == sid) {
            m.status = status.to_string();
        }
    }

    /// An inbound attachment the fake serves: its media URL, as Twilio's webhook gives it
    /// (`MediaUrl{n}`). Like Twilio, the URL answers an authenticated request with a
    /// redirect to the file's store (`/media-files/{sid}`, no credentials needed).
    pub fn add_media(&self, sid: &str, bytes: &[u8], content_type: &str) -> String {
        self.state.lock().unwrap().media.insert(sid.to_string(), (bytes.to_vec(), content_type.to_string(), None));
        self.media_url(sid)
    }

    /// [`add_media`] whose store names the file.
    pub fn add_named_media(&self, sid: &str, bytes: &[u8], content_type: &str, filename: &str) -> String {
        self.state.lock().unwrap().media.insert(sid.to_string(), (bytes.to_vec(), content_type.to_string(), Some(filename.to_string())));
        self.media_url(sid)
    }

    /// The media URL of `sid`, whether or not the fake has it (a failing URL when not).
    pub fn media_url(&self, sid: &str) -> String {
        format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM0000000000000000000000000000001/Media/{sid}", self.base())
    }

    fn serve(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Some(request) = read_request(&mut stream) else { return };
        let key = format!("{} {}", request.method, request.path);
        *self.state.lock().unwrap().requests.entry(key).or_default() += 1;
        if let Some(sid) = request.path.strip_prefix("/media-files/") {
            let file = self.state.lock().unwrap().media.get(sid).cloned();
            let (status, bytes, content_type, filename) = match file {
                Some((bytes, content_type, filename)) => ("200 OK", bytes, content_type, filename),
                None => ("404 Not Found", b"not found".to_vec(), "text/plain".to_string(), None),
            };
            let disposition = filename.map(|name| format!("Content-Disposition: attachment; filename=\"{name}\"\r\n")).unwrap_or_default();
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{disposition}Connection: close\r\n\r\n", bytes.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes);
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let answer = self.route(&request);
        if let Some((status, headers, body)) = answer {
            let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    fn authorised(&self, request: &Request) -> bool {
        let state = self.state.lock().unwrap();
        let expected = format!("Basic {}", STANDARD.encode(format!("{}:{}", state.account_sid, state.auth_token)));
        request.header("authorization").is_some_and(|h| h == expected)
    }

    /// `None`: close without answering.
    fn route(&self, request: &Request) -> Option<Answer> {
        let ok = |status: &str, body: Value| Some((status.to_string(), vec![], body.to_string()));
        if !self.authorised(request) {
            return ok("401 Unauthorized", json!({"code": 20003, "message": "Authenticate", "status": 401}));
        }
        let account = self.state.lock().unwrap().account_sid.clone();
        let prefix = format!("/2010-04-01/Accounts/{account}");
        let path = request.path.as_str();
        if request.method == "GET" && path == "/v1/ContentAndApprovals" {
            return ok("200 OK", self.content_page(request));
        }
        if path.starts_with("/2010-04-01/Accounts/") && !path.starts_with(&prefix) {
            return ok("404 Not Found", json!({"code": 20404, "message": "The requested resource was not found", "status": 404}));
        }
        let rest = &path[prefix.len().min(path.len())..];
        match (request.method.as_str(), rest) {
            ("GET", ".json") => {
                let name = self.state.lock().unwrap().friendly_name.clone();
                ok("200 OK", json!({"sid": account, "friendly_name": name, "status": "active", "type": "Full"}))
            }
            ("POST", "/Messages.json") => self.create(request),
            ("GET", "/Messages.json") => ok("200 OK", self.list(request)),
            ("GET", tail) if tail.starts_with("/Messages/") && tail.contains("/Media/") => {
                let sid = tail.rsplit('/').next().unwrap_or("").to_string();
                if self.state.lock().unwrap().media.contains_key(&sid) {
                    Some(("307 Temporary Redirect".to_string(), vec![("Location".to_string(), format!("/media-files/{sid}"))], String::new()))
                } else {
                    ok("404 Not Found", json!({"code": 20404, "message": "The requested resource was not found", "status": 404}))
                }
            }
            ("GET", tail) if tail.starts_with("/Messages/") && tail.ends_with(".json") => {
                let sid = &tail["/Messages/".len()..tail.len() - ".json".len()];
                match self.state.lock().unwrap().messages.iter().find(|m| m.sid == sid) {
                    Some(m) => ok("200 OK", message_json(m)),
                    None => ok("404 Not Found", json!({"code": 20404, "message": "The requested resource was not found", "status": 404})),
                }
            }
            _ => ok("404 Not Found", json!({"code": 20404, "message": "Unknown route", "status": 404})),
        }
    }

    fn create(&self, request: &Request) -> Option<Answer> {
        let form = request.form();
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let fault = {
            let mut state = self.state.lock().unwrap();
            state.creates += 1;
            let queued = state.faults.pop_front();
            let every = match &state.every {
                Some((n, fault)) if queued.is_none() && state.creates % n == 0 => Some(fault.clone()),
                _ => None,
            };
            if every.is_some() {
                state.refused_every += 1;
            }
            queued.or(every)
        };
        let error = |status: &str, code: i64, message: &str| {
            Some((status.to_string(), vec![], json!({"code": code, "message": message, "status": status[..3].parse::<u16>().unwrap()}).to_string()))
        };
        match &fault {
            Some(Fault::TooManyRequests { retry_after }) => {
                return Some((
                    "429 Too Many Requests".into(),
                    vec![("Retry-After".into(), retry_after.to_string())],
                    json!({"code": 20429, "message": "Too Many Requests", "status": 429}).to_string(),
                ));
            }
            Some(Fault::ServerError) => return error("500 Internal Server Error", 20500, "Internal Server Error"),
            Some(Fault::Unavailable) => return error("503 Service Unavailable", 20503, "Service Unavailable"),
            Some(Fault::Refuse { code, message }) => return error("400 Bad Request", *code, message),
            _ => {}
        }
        let to = get("To").unwrap_or_default();
        let number = to.strip_prefix("whatsapp:").unwrap_or(&to);
        let valid = number.starts_with('+') && number.len() >= 8 && number[1..].chars().all(|c| c.is_ascii_digit());
        if !valid {
            return error("400 Bad Request", 21211, &format!("The 'To' number {to} is not a valid phone number."));
        }
        if self.state.lock().unwrap().unsubscribed.contains(number) {
            return error("400 Bad Request", 21610, "Attempt to send to unsubscribed recipient");
        }
        if get("From").is_none() && get("MessagingServiceSid").is_none() {
            return error("400 Bad Request", 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
        }
        if get("Body").is_none() && get("ContentSid").is_none() {
            return error("400 Bad Request", 21602, "Message body is required.");
        }
        let sid = format!("SM{:032x}", self.sids.fetch_add(1, Ordering::SeqCst) as u128 * 7919 + 0xabcdef);
        let message = SentMessage {
            sid,
            to: to.clone(),
            from: get("From").unwrap_or_default(),
            messaging_service_sid: get("MessagingServiceSid"),
            body: get("Body"),
            content_sid: get("ContentSid"),
            content_variables: get("ContentVariables"),
            status_callback: get("StatusCallback"),
            status: "queued".into(),
            created_at: chrono::Utc::now(),
            params: form.clone(),
        };
        let body = message_json(&message);
        self.state.lock().unwrap().messages.push(message);
        self.accepted.fetch_add(1, Ordering::SeqCst);
        match fault {
            Some(Fault::AcceptAndLoseAnswer) => return None,
            Some(Fault::Slow(delay)) => std::thread::sleep(delay),
            _ => {}
        }
        Some(("201 Created".into(), vec![], body.to_string()))
    }

    fn list(&self, request: &Request) -> Value {
        let query = request.query();
        let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (to, from) = (get("To"), get("From"));
        let state = self.state.lock().unwrap();
        let messages: Vec<Value> = state
            .messages
            .iter()
            .rev()
            .filter(|m| to.as_ref().is_none_or(|t| &m.to == t) && from.as_ref().is_none_or(|f| &m.from == f))
            .map(message_json)
            .collect();
        json!({"messages": messages, "next_page_uri": null, "page": 0, "page_size": 50})
    }

    fn content_page(&self, request: &Request) -> Value {
        let query = request.query();
        let size = query.iter().find(|(k, _)| k == "PageSize").and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(50).clamp(1, 1000);
        let page = query.iter().find(|(k, _)| k == "Page").and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
        let state = self.state.lock().unwrap();
        let contents: Vec<Value> = state.templates.iter().skip(page * size).take(size).cloned().collect();
        let next = ((page + 1) * size < state.templates.len())
            .then(|| format!("https://content.twilio.com/v1/ContentAndApprovals?PageSize={size}&Page={}&PageToken=PT{}", page + 1, page + 1));
        json!({"contents": contents, "meta": {"page": page, "page_size": size, "next_page_url": next}})
    }

    /// Posts a status callback for `sid` to `url` (the message's StatusCallback), signed
    /// with the account's token as Twilio signs it. Returns the HTTP status.
    pub fn send_status(&self, url: &str, sid: &str, status: &str, error_code: Option<&str>) -> u16 {
        let (to, from) = {
            let state = self.state.lock().unwrap();
            state.messages.iter().find(|m| m.sid == sid).map(|m| (m.to.clone(), m.from.clone())).unwrap_or_default()
        };
        let mut form = vec![
            ("AccountSid".to_string(), ACCOUNT_SID.to_string()),
            ("ApiVersion".into(), "2010-04-01".into()),
            ("From".into(), from),
            ("MessageSid".into(), sid.into()),
            ("MessageStatus".into(), status.into()),
            ("SmsSid".into(), sid.into()),
            ("SmsStatus".into(), status.into()),
            ("To".into(), to),
        ];
        if let Some(code) = error_code {
            form.push(("ErrorCode".into(), code.into()));
        }
        self.post_signed(url, &form)
    }

    /// Posts a form to `url` signed with the account's token; returns the HTTP status.
    pub fn post_signed(&self, url: &str, form: &[(String, String)]) -> u16 {
        let token = self.state.lock().unwrap().auth_token.clone();
        let signature = twilio_signature(&token, url, form);
        post_form(url, form, Some(&signature))
    }
}

/// Twilio's signature, written out here from Twilio's documentation (not the app's code):
/// the URL, then each POST parameter name and value sorted by name, HMAC-SHA1, base64.
pub fn twilio_signature(token: &str, url: &str, form: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = form.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let data: String = std::iter::once(url.to_string()).chain(sorted.iter().map(|(k, v)| format!("{k}{v}"))).collect();
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A blocking form POST (no HTTP client crate needed by benches): returns the status code.
pub fn post_form(url: &str, form: &[(String, String)], signature: Option<&str>) -> u16 {
    let parsed = url::Url::parse(url).expect("callback URL");
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let target = &parsed[url::Position::BeforePath..];
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
    let Ok(mut stream) = TcpStream::connect((host.as_str(), port)) else { return 0 };
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: TwilioProxy/1.1\r\n",
        parsed.host_str().map(|h| match parsed.port() { Some(p) => format!("{h}:{p}"), None => h.to_string() }).unwrap_or_default(),
        body.len()
    );
    if let Some(sig) = signature {
        head.push_str(&format!("X-Twilio-Signature: {sig}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes())).is_err() {
        return 0;
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    let _ = reader.read_line(&mut status_line);
    status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn message_json(m: &SentMessage) -> Value {
    json!({
        "sid": m.sid, "account_sid": ACCOUNT_SID, "to": m.to, "from": m.from,
        "messaging_service_sid": m.messaging_service_sid, "body": m.body.clone().unwrap_or_default(),
        "status": m.status, "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
        "date_created": m.created_at.to_rfc2822(), "date_sent": null, "date_updated": m.created_at.to_rfc2822(),
        "error_code": null, "error_message": null, "price": null,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{}.json", m.sid)
    })
}

struct Request {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }

    fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.raw_query.as_bytes()).into_owned().collect()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request { method, path, raw_query, headers, body })
}

/// Twilio's side of delivery, running on its own: every accepted message with a
/// StatusCallback, once `ready` says the app has it (its SID recorded), gets the signed
/// callbacks `sent` then `delivered`, as Twilio posts them. Stops when dropped.
pub struct AutoDeliver {
    stop: Arc<AtomicBool>,
    /// Callbacks the app did not answer with 2xx, as "sid status → code".
    pub refused: Arc<Mutex<Vec<String>>>,
}

impl Drop for AutoDeliver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl FakeTwilio {
    pub fn auto_deliver(&self, ready: impl Fn(&SentMessage) -> bool + Send + 'static) -> AutoDeliver {
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (fake, s, r) = (self.clone(), stop.clone(), refused.clone());
        std::thread::spawn(move || {
            let mut done: HashSet<String> = HashSet::new();
            while !s.load(Ordering::SeqCst) {
                for m in fake.messages() {
                    let Some(url) = m.status_callback.clone() else { continue };
                    if done.contains(&m.sid) || !ready(&m) {
                        continue;
                    }
                    for status in ["sent", "delivered"] {
                        fake.set_status(&m.sid, status);
                        let code = fake.send_status(&url, &m.sid, status, None);
                        if !(200..300).contains(&code) {
                            r.lock().unwrap().push(format!("{} {status} → {code}", m.sid));
                        }
                    }
                    done.insert(m.sid.clone());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        AutoDeliver { stop, refused }
    }
}

/// [`AUTH_TOKEN`] sealed under the test apps' at-rest key, as a `bytea` SQL literal
/// (`'\x…'`) for `twilio_settings.auth_token_sealed`.
pub fn sealed_token_sql() -> String {
    let key = switchboard::crypto::derive("test-secret-key-".repeat(4).as_bytes());
    let hex: String = switchboard::crypto::seal(&key, AUTH_TOKEN.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("'\\x{hex}'")
}
