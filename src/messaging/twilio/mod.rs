//! Twilio as a [`Provider`]: Programmable Messaging (`/2010-04-01/Accounts/{sid}/…`) and
//! the Content API (`/v1/ContentAndApprovals`), over HTTP Basic with the account SID and
//! auth token. `TWILIO_API_BASE` / `TWILIO_CONTENT_BASE` point every call elsewhere (the
//! tests' fake Twilio). WhatsApp addresses carry Twilio's `whatsapp:` prefix on the wire
//! only; the shared types hold plain E.164.

pub mod signature;
pub mod webhook;

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::messaging::{
    AccountInfo, Accepted, Channel, CheckError, Content, Download, DownloadError, MessageStatus, OutboundMessage, Provider, ProviderError, ProviderMessage, ProviderTemplate,
    Sender,
};

/// How long a call may take. A send that times out may have been carried out.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The Content API's page size (its maximum is 1,000).
const TEMPLATE_PAGE: u32 = 500;
/// At most this many pages of templates (a runaway `next_page_url` ends here).
const MAX_TEMPLATE_PAGES: usize = 100;

pub struct Twilio {
    http: Client,
    api_base: Url,
    content_base: Url,
    account_sid: String,
    auth_token: SecretString,
}

impl Twilio {
    pub fn new(api_base: &Url, content_base: &Url, account_sid: &str, auth_token: SecretString) -> Twilio {
        Twilio::with_timeout(api_base, content_base, account_sid, auth_token, TIMEOUT)
    }

    /// With another time limit per call (tests of a provider that answers too late).
    // reqwest's builder fails only when its TLS backend cannot start (the bundled rustls
    // always can), and `Client::new()` would panic the same way.
    #[allow(clippy::expect_used)]
    pub fn with_timeout(api_base: &Url, content_base: &Url, account_sid: &str, auth_token: SecretString, timeout: Duration) -> Twilio {
        let http = Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with a timeout");
        Twilio { http, api_base: api_base.clone(), content_base: content_base.clone(), account_sid: account_sid.to_string(), auth_token }
    }

    fn api(&self, tail: &str) -> String {
        format!("{}/2010-04-01/Accounts/{}{tail}", self.api_base.as_str().trim_end_matches('/'), self.account_sid)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
    }

    fn get_json(&self, url: &str) -> Result<Value, ProviderError> {
        let response = self.authed(self.http.get(url)).send().map_err(|e| before_or_unknown(&e))?;
        json_or_error(response)
    }
}

/// Twilio's address for a channel: `whatsapp:+1…` or `+1…`.
pub fn address(channel: Channel, e164: &str) -> String {
    match channel {
        Channel::WhatsApp => format!("whatsapp:{e164}"),
        Channel::Sms => e164.to_string(),
    }
}

/// The E.164 part of a Twilio address, and the channel it names.
pub fn parse_address(address: &str) -> (Channel, String) {
    match address.strip_prefix("whatsapp:") {
        Some(number) => (Channel::WhatsApp, number.trim().to_string()),
        None => (Channel::Sms, address.trim().to_string()),
    }
}

/// Twilio's message status words in ours. `accepted`, `scheduled`, `queued` and `sending`
/// all mean "Twilio has it, not sent yet".
pub fn status_from_twilio(status: &str) -> Option<MessageStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => MessageStatus::Accepted,
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" => MessageStatus::Read,
        "undelivered" => MessageStatus::Undelivered,
        "failed" | "canceled" => MessageStatus::Failed,
        "receiving" | "received" => MessageStatus::Received,
        _ => return None,
    })
}

/// A request that failed before an answer: safe to repeat only if it never reached Twilio.
fn before_or_unknown(error: &reqwest::Error) -> ProviderError {
    if error.is_connect() || error.is_builder() {
        ProviderError::Retry { reason: format!("Twilio could not be reached: {}", root_cause(error)), after: None }
    } else {
        ProviderError::Unknown(format!("no answer from Twilio: {}", root_cause(error)))
    }
}

fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.min(3_600)))
}

/// A 2xx answer's JSON, or the error it stands for: 429 and 5xx may be retried; other 4xx
/// carry Twilio's error code and are permanent.
fn json_or_error(response: Response) -> Result<Value, ProviderError> {
    let status = response.status();
    let after = retry_after(&response);
    let body: Value = match response.text() {
        Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        Err(e) if status.is_success() => return Err(ProviderError::Unknown(format!("Twilio's answer was cut off: {}", root_cause(&e)))),
        Err(_) => Value::Null,
    };
    if status.is_success() {
        return Ok(body);
    }
    let code = body["code"].as_i64().map(|c| c as i32);
    let message = body["message"].as_str().unwrap_or(status.canonical_reason().unwrap_or("error")).to_string();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(ProviderError::Retry { reason: format!("Twilio answered {}: {message}", status.as_u16()), after })
    } else {
        Err(ProviderError::Permanent { code, reason: message })
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// Twilio's dates are RFC 2822 ("Thu, 30 Jul 2015 20:12:31 +0000").
fn date(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.as_str()?).ok().map(|d| d.with_timezone(&Utc))
}

fn message_from_json(value: &Value) -> Option<ProviderMessage> {
    Some(ProviderMessage {
        provider_id: value["sid"].as_str()?.to_string(),
        from: parse_address(value["from"].as_str().unwrap_or_default()).1,
        to: parse_address(value["to"].as_str().unwrap_or_default()).1,
        body: text(&value["body"]),
        status: status_from_twilio(value["status"].as_str().unwrap_or_default()).unwrap_or(MessageStatus::Accepted),
        created_at: date(&value["date_created"]),
        error_code: value["error_code"].as_i64().map(|c| c as i32),
        error_message: value["error_message"].as_str().map(str::to_string),
    })
}

/// One entry of `/v1/ContentAndApprovals`.
fn template_from_json(value: &Value) -> Option<ProviderTemplate> {
    let types = value["types"].as_object();
    let mut body = String::new();
    let mut media = Vec::new();
    let mut buttons = Vec::new();
    for (kind, spec) in types.into_iter().flatten() {
        if body.is_empty() {
            body = text(&spec["body"]);
        }
        if kind == "twilio/media" {
            media.extend(spec["media"].as_array().into_iter().flatten().filter_map(|m| m.as_str().map(str::to_string)));
        }
        for action in spec["actions"].as_array().into_iter().flatten() {
            let title = text(&action["title"]);
            let id = action["id"].as_str().map(str::to_string).unwrap_or_else(|| title.clone());
            if !title.is_empty() {
                buttons.push((id, title));
            }
        }
    }
    let mut variables: Vec<(String, String)> =
        value["variables"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
    variables.sort_by_key(|(k, _)| (k.parse::<u32>().unwrap_or(u32::MAX), k.clone()));
    // The approval as `approval_requests` (ContentAndApprovals) or its `whatsapp` part.
    let approval = &value["approval_requests"];
    let approval = if approval["whatsapp"].is_object() { &approval["whatsapp"] } else { approval };
    let approval_status = match approval["status"].as_str().unwrap_or("unsubmitted").to_ascii_lowercase().as_str() {
        s @ ("approved" | "pending" | "rejected" | "paused" | "disabled") => s.to_string(),
        "received" | "submitted" | "in_review" => "pending".to_string(),
        _ => "unsubmitted".to_string(),
    };
    Some(ProviderTemplate {
        provider_id: value["sid"].as_str()?.to_string(),
        name: value["friendly_name"].as_str().map(str::to_string).unwrap_or_else(|| text(&approval["name"])),
        language: text(&value["language"]),
        body,
        variables,
        media,
        buttons,
        approval_status,
        category: text(&approval["category"]),
        rejection_reason: text(&approval["rejection_reason"]),
    })
}

impl Provider for Twilio {
    fn send(&self, message: &OutboundMessage) -> Result<Accepted, ProviderError> {
        let mut form: Vec<(&str, String)> = vec![("To", address(message.channel, &message.to)), ("StatusCallback", message.status_url.clone())];
        match &message.from {
            Sender::Number(number) => form.push(("From", address(message.channel, number))),
            Sender::Pool(service) => form.push(("MessagingServiceSid", service.clone())),
        }
        match &message.content {
            Content::Text(body) => form.push(("Body", body.clone())),
            Content::Template { provider_id, variables } => {
                form.push(("ContentSid", provider_id.clone()));
                let map: serde_json::Map<String, Value> = variables.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                form.push(("ContentVariables", Value::Object(map).to_string()));
            }
        }
        let response = self.authed(self.http.post(self.api("/Messages.json")).form(&form)).send().map_err(|e| before_or_unknown(&e))?;
        let body = json_or_error(response)?;
        let provider_id = body["sid"].as_str().ok_or_else(|| ProviderError::Unknown("Twilio's answer had no message SID".into()))?;
        Ok(Accepted {
            provider_id: provider_id.to_string(),
            status: status_from_twilio(body["status"].as_str().unwrap_or("queued")).unwrap_or(MessageStatus::Accepted),
        })
    }

    fn fetch(&self, provider_id: &str) -> Result<ProviderMessage, ProviderError> {
        let body = self.get_json(&self.api(&format!("/Messages/{provider_id}.json")))?;
        message_from_json(&body).ok_or_else(|| ProviderError::Permanent { code: None, reason: "Twilio's answer was not a message".into() })
    }

    fn find_sent(&self, channel: Channel, from: &Sender, to: &str, since: DateTime<Utc>) -> Result<Vec<ProviderMessage>, ProviderError> {
        let mut url = Url::parse(&self.api("/Messages.json")).map_err(|e| ProviderError::Permanent { code: None, reason: e.to_string() })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("To", &address(channel, to));
            if let Sender::Number(number) = from {
                query.append_pair("From", &address(channel, number));
            }
            // Twilio filters by date only; the time is checked below.
            query.append_pair("DateSent>", &since.date_naive().pred_opt().unwrap_or(since.date_naive()).format("%Y-%m-%d").to_string());
            query.append_pair("PageSize", "100");
        }
        let body = self.get_json(url.as_str())?;
        let since = since - chrono::Duration::seconds(5);
        Ok(body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(message_from_json)
            .filter(|m| m.created_at.is_none_or(|t| t >= since))
            .collect())
    }

    fn list_templates(&self) -> Result<Vec<ProviderTemplate>, ProviderError> {
        let base = self.content_base.as_str().trim_end_matches('/');
        let mut next = Some(format!("{base}/v1/ContentAndApprovals?PageSize={TEMPLATE_PAGE}"));
        let mut templates = Vec::new();
        for _ in 0..MAX_TEMPLATE_PAGES {
            let Some(url) = next.take() else { break };
            let body = self.get_json(&url)?;
            templates.extend(body["contents"].as_array().into_iter().flatten().filter_map(template_from_json));
            // The next page's path and query, always asked of the configured server.
            next = body["meta"]["next_page_url"].as_str().filter(|u| !u.is_empty()).and_then(|u| Url::parse(u).ok()).map(|u| {
                let tail = &u[url::Position::BeforePath..];
                format!("{base}{tail}")
            });
        }
        Ok(templates)
    }

    fn check(&self) -> Result<AccountInfo, CheckError> {
        let response = self.authed(self.http.get(self.api(".json"))).send().map_err(|e| CheckError::Unreachable(root_cause(&e)))?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(CheckError::BadToken),
            StatusCode::NOT_FOUND => Err(CheckError::UnknownAccount),
            status if status.is_success() => {
                let raw = response.text().map_err(|e| CheckError::Other(root_cause(&e)))?;
                let body: Value = serde_json::from_str(&raw).map_err(|e| CheckError::Other(e.to_string()))?;
                Ok(AccountInfo { name: text(&body["friendly_name"]), status: text(&body["status"]) })
            }
            status => Err(CheckError::Other(format!("HTTP {}", status.as_u16()))),
        }
    }

    /// Twilio's media URLs are on its API host and need the account's credentials (when
    /// the account requires authenticated media); they answer with a redirect to the
    /// file's store, where reqwest does not carry the credentials (another host). Any other
    /// host gets no credentials.
    fn download(&self, url: &str, max_bytes: u64) -> Result<Download, DownloadError> {
        use std::io::Read;
        let parsed = Url::parse(url).map_err(|e| DownloadError::Failed(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(DownloadError::Failed("not an http(s) URL".into()));
        }
        let request = self.http.get(parsed.clone());
        let ours = parsed.origin() == self.api_base.origin();
        let response = if ours { self.authed(request) } else { request }.send().map_err(|e| DownloadError::Failed(root_cause(&e)))?;
        match response.status() {
            status if status.is_success() => {}
            status @ (StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) => return Err(DownloadError::Failed(format!("HTTP {}", status.as_u16()))),
            status if status.is_client_error() => return Err(DownloadError::Refused(format!("HTTP {}", status.as_u16()))),
            status => return Err(DownloadError::Failed(format!("HTTP {}", status.as_u16()))),
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(DownloadError::TooLarge);
        }
        let header = |name| response.headers().get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let filename = header(reqwest::header::CONTENT_DISPOSITION).as_deref().and_then(crate::messaging::media::disposition_filename);
        let mut bytes = Vec::new();
        response.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| DownloadError::Failed(e.to_string()))?;
        if bytes.len() as u64 > max_bytes {
            return Err(DownloadError::TooLarge);
        }
        Ok(Download { bytes, content_type, filename })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_addresses_carry_the_prefix_on_the_wire_only() {
        assert_eq!(address(Channel::WhatsApp, "+14155550123"), "whatsapp:+14155550123");
        assert_eq!(address(Channel::Sms, "+14155550123"), "+14155550123");
        assert_eq!(parse_address("whatsapp:+14155550123"), (Channel::WhatsApp, "+14155550123".to_string()));
        assert_eq!(parse_address("+14155550123"), (Channel::Sms, "+14155550123".to_string()));
    }

    #[test]
    fn twilio_statuses_map_onto_ours() {
        assert_eq!(status_from_twilio("queued"), Some(MessageStatus::Accepted));
        assert_eq!(status_from_twilio("delivered"), Some(MessageStatus::Delivered));
        assert_eq!(status_from_twilio("undelivered"), Some(MessageStatus::Undelivered));
        assert_eq!(status_from_twilio("read"), Some(MessageStatus::Read));
        assert_eq!(status_from_twilio("bogus"), None);
    }

    #[test]
    fn a_content_api_entry_becomes_a_template() {
        let entry = serde_json::json!({
            "sid": "HX1234", "friendly_name": "order_update", "language": "en",
            "variables": {"2": "order", "1": "name"},
            "types": {"twilio/quick-reply": {"body": "Hi {{1}}, order {{2}} shipped.", "actions": [{"title": "Track", "id": "track"}, {"title": "Stop"}]}},
            "approval_requests": {"name": "order_update", "category": "UTILITY", "status": "approved", "rejection_reason": ""}
        });
        let t = template_from_json(&entry).unwrap();
        assert_eq!(t.provider_id, "HX1234");
        assert_eq!(t.body, "Hi {{1}}, order {{2}} shipped.");
        assert_eq!(t.variables, vec![("1".into(), "name".into()), ("2".into(), "order".into())]);
        assert_eq!(t.buttons, vec![("track".into(), "Track".into()), ("Stop".into(), "Stop".into())]);
        assert_eq!((t.approval_status.as_str(), t.category.as_str()), ("approved", "UTILITY"));
        let rejected = serde_json::json!({"sid": "HX9", "approval_requests": {"whatsapp": {"status": "rejected", "rejection_reason": "Promotional"}}});
        let t = template_from_json(&rejected).unwrap();
        assert_eq!((t.approval_status.as_str(), t.rejection_reason.as_str()), ("rejected", "Promotional"));
    }
}
