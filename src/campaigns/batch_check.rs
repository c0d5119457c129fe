//! The batch form (issue 12 part 3) and its check: everything a batch row needs, checked
//! before anything is written, or the one reason it cannot be made (422).
//!
//! Template variables (`var_1`, `var_2`, …): a value that is exactly one of the client
//! fields `name`, `company`, `email`, `phone` is that field of each recipient
//! (`{"1": {"field": "name"}}`); anything else is fixed text (`{"2": {"text": "Friday"}}`).
//! SMS and email bodies use `{{name}}`, `{{company}}`, `{{email}}`, `{{phone}}`.
//! Flow mode (`flow_id`): the flow must be of this workspace (another workspace's id is
//! refused like a missing one: 422 "Choose a flow.", never saying it exists), have no
//! problems (`flows::problems`) and only approved templates; the variables fill in every
//! step's template. The batch keeps the flow as it is now (`flow_snapshot`, later edits
//! change nothing for it), and its `template_id` is the snapshot's first step's template:
//! dispatch sends that, as for a template batch; `flow_replies` sends the next steps.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::campaigns::batches::channel_label;
use crate::clients::fields::FIELDS;
use crate::campaigns::{BatchChannel, Campaign, flow_store, flows};
use crate::error::AppError;
use crate::messaging::account::{Account, LoadError};
use crate::messaging::compose::{SMS_MAX_CHARS, approved_templates};
use crate::messaging::{Channel, templates};
use crate::web::time::TimeError;

pub const SUBJECT_MAX_CHARS: usize = 300;
pub const EMAIL_BODY_MAX_CHARS: usize = 100_000;
/// The HTML body's limit (the column allows 500 000).
pub const EMAIL_HTML_MAX_CHARS: usize = 200_000;

#[derive(Deserialize, Default, Clone)]
pub struct BatchForm {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub template_id: String,
    #[serde(default)]
    pub flow_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub subject: String,
    /// An email batch's optional HTML body.
    #[serde(default)]
    pub html_body: String,
    #[serde(default)]
    pub send_at: String,
    /// `var_1`, `var_2`, … (and the CSRF token, ignored).
    #[serde(flatten)]
    pub rest: HashMap<String, String>,
}

impl BatchForm {
    pub fn var(&self, name: &str) -> &str {
        self.rest.get(&format!("var_{name}")).map(|v| v.trim()).unwrap_or_default()
    }
}


/// Why a batch form was refused (422); the message is the one the page shows. Nothing is
/// written.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    SendAt(#[from] TimeError),
    #[error("Send at is in the past; leave it empty to send now.")]
    SendAtPast,
    #[error("Twilio is not configured: add the account in Settings → Twilio first.")]
    NotConfigured,
    /// The settings cannot be read, or the token not opened with this secret key.
    #[error(transparent)]
    Account(#[from] LoadError),
    /// No sender of the channel (as the page names it).
    #[error("No {0} sender is set up: add one in Settings → Twilio.")]
    NoSender(&'static str),
    #[error("Mode must be template or flow.")]
    Mode,
    #[error("Choose an approved template.")]
    NoTemplate,
    #[error("Choose a flow.")]
    NoFlow,
    #[error(transparent)]
    Flow(#[from] flows::NotSendable),
    /// A template variable (its number) left empty.
    #[error("Fill in variable {{{{{0}}}}}: a client field (name, company, email, phone) or text.")]
    MissingVariable(String),
    /// A template variable (its number) longer than allowed.
    #[error("Variable {{{{{0}}}}} is longer than {max} characters.", max = templates::VARIABLE_MAX_CHARS)]
    VariableTooLong(String),
    #[error("Write the message.")]
    NoBody,
    #[error("An SMS must be at most {SMS_MAX_CHARS} characters.")]
    SmsTooLong,
    #[error("Write the subject.")]
    NoSubject,
    #[error("The subject must be at most {SUBJECT_MAX_CHARS} characters.")]
    SubjectTooLong,
    #[error("Write the email.")]
    NoEmailBody,
    #[error("The email must be at most {EMAIL_BODY_MAX_CHARS} characters.")]
    EmailTooLong,
    #[error("The HTML email must be at most {EMAIL_HTML_MAX_CHARS} characters.")]
    HtmlTooLong,
}

/// The variables `{"1": {"field": "name"}, "2": {"text": "Friday"}}` for `names`, or why not.
fn variables_of(form: &BatchForm, names: &[String]) -> Result<Value, Refusal> {
    let mut variables = serde_json::Map::new();
    for name in names {
        let value = form.var(name);
        if value.is_empty() {
            return Err(Refusal::MissingVariable(name.clone()));
        }
        if value.chars().count() > templates::VARIABLE_MAX_CHARS {
            return Err(Refusal::VariableTooLong(name.clone()));
        }
        let spec = if FIELDS.contains(&value) { json!({ "field": value }) } else { json!({ "text": value }) };
        variables.insert(name.clone(), spec);
    }
    Ok(Value::Object(variables))
}

/// A flow batch's values: the flow's snapshot (checked sendable), its first step's template
/// and the variables of every step's template.
fn check_flow(conn: &mut PgConnection, ws: i64, form: &BatchForm, checked: &mut NewBatch) -> QueryResult<Result<(), Refusal>> {
    let flow = match form.flow_id.trim().parse::<i64>() {
        Ok(id) => flow_store::get(conn, ws, id)?,
        Err(_) => None,
    };
    let Some(flow) = flow else { return Ok(Err(Refusal::NoFlow)) };
    let infos: HashMap<i64, flows::TemplateInfo> = flow_store::template_infos(conn, ws)?.into_iter().collect();
    let snapshot = match flows::snapshot(&flow, &infos) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why.into())),
    };
    let approved = approved_templates(conn, ws)?;
    let mut names: Vec<String> = snapshot.steps.iter().filter_map(|s| approved.iter().find(|t| t.id == s.template_id)).flat_map(|t| t.placeholders()).collect();
    names.sort_by_key(|n| n.parse::<u32>().unwrap_or(u32::MAX));
    names.dedup();
    checked.variables = match variables_of(form, &names) {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    checked.mode = "flow";
    checked.template_id = snapshot.first().map(|s| s.template_id);
    checked.flow_id = Some(flow.id);
    checked.flow_snapshot = Some(serde_json::to_value(&snapshot).unwrap_or_default());
    Ok(Ok(()))
}

/// A batch row's values (what the form asks for, checked).
#[derive(Clone, Debug)]
pub struct NewBatch {
    pub channel: BatchChannel,
    pub mode: &'static str,
    pub template_id: Option<i64>,
    pub variables: Value,
    pub subject: Option<String>,
    pub body: String,
    pub html_body: Option<String>,
    pub sender: Option<String>,
    pub send_at: DateTime<Utc>,
    pub flow_id: Option<i64>,
    pub flow_snapshot: Option<Value>,
}

pub fn check(conn: &mut PgConnection, at_rest_key: &[u8; 32], ws: i64, campaign: &Campaign, channel: BatchChannel, form: &BatchForm, zone: crate::web::time::Zone) -> Result<Result<NewBatch, Refusal>, AppError> {
    let send_at = match form.send_at.trim() {
        "" => Utc::now(),
        typed => match zone.parse_input(typed, "Send at") {
            Ok(at) if at < Utc::now() - chrono::Duration::minutes(1) => return Ok(Err(Refusal::SendAtPast)),
            Ok(at) => at,
            Err(problem) => return Ok(Err(problem.into())),
        },
    };
    let sender = match channel {
        BatchChannel::Email => None,
        BatchChannel::WhatsApp | BatchChannel::Sms => {
            let account = match Account::load(conn, at_rest_key, ws) {
                Ok(Some(account)) => account,
                Ok(None) => return Ok(Err(Refusal::NotConfigured)),
                Err(why) => return Ok(Err(why.into())),
            };
            let wanted = if channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms };
            match account.sender(wanted, campaign.whatsapp_from.as_deref()) {
                Some(sender) => Some(sender.key().to_string()),
                None => return Ok(Err(Refusal::NoSender(channel_label(channel)))),
            }
        }
    };
    let mut checked = NewBatch { channel, mode: "text", template_id: None, variables: json!({}), subject: None, body: String::new(), html_body: None, sender, send_at, flow_id: None, flow_snapshot: None };
    match channel {
        BatchChannel::WhatsApp => {
            match form.mode.trim() {
                "template" | "" => {}
                "flow" => return Ok(check_flow(conn, ws, form, &mut checked)?.map(|()| checked)),
                _ => return Ok(Err(Refusal::Mode)),
            }
            let template = match form.template_id.trim().parse::<i64>() {
                Ok(id) => approved_templates(conn, ws)?.into_iter().find(|t| t.id == id),
                Err(_) => None,
            };
            let Some(template) = template else { return Ok(Err(Refusal::NoTemplate)) };
            checked.variables = match variables_of(form, &template.placeholders()) {
                Ok(v) => v,
                Err(why) => return Ok(Err(why)),
            };
            checked.mode = "template";
            checked.template_id = Some(template.id);
        }
        BatchChannel::Sms => {
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err(Refusal::NoBody));
            }
            if body.chars().count() > SMS_MAX_CHARS {
                return Ok(Err(Refusal::SmsTooLong));
            }
            checked.body = body.to_string();
        }
        BatchChannel::Email => {
            let subject = form.subject.trim();
            if subject.is_empty() {
                return Ok(Err(Refusal::NoSubject));
            }
            if subject.chars().count() > SUBJECT_MAX_CHARS {
                return Ok(Err(Refusal::SubjectTooLong));
            }
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err(Refusal::NoEmailBody));
            }
            if body.chars().count() > EMAIL_BODY_MAX_CHARS {
                return Ok(Err(Refusal::EmailTooLong));
            }
            let html_body = form.html_body.trim();
            if html_body.chars().count() > EMAIL_HTML_MAX_CHARS {
                return Ok(Err(Refusal::HtmlTooLong));
            }
            checked.mode = "email";
            checked.subject = Some(subject.to_string());
            checked.body = body.to_string();
            checked.html_body = Some(html_body.to_string()).filter(|h| !h.is_empty());
        }
    }
    Ok(Ok(checked))
}
