//! A batch's message to one client (issue 12 part 3): the client fields
//! (`clients::fields`) and template variables filled in, and a
//! campaign email's plain and HTML bodies with the unsubscribe link
//! (`templates/campaigns/email/`).

use askama::Template;
use serde_json::Value;

use crate::campaigns::batches::Batch;
use crate::campaigns::opt_out::unsubscribe_url;
use crate::clients::fields;
use crate::clients::model::Client;
use crate::email::Email;
use crate::jobs::run::JobEnv;
use crate::web::escape::named_entities;

/// A batch's variables for one client: `[("1", "Amara"), ("2", "Friday")]`.
pub fn variables_for(variables: &Value, client: &Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = variables
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, spec)| {
                    let value = match (spec.get("field").and_then(Value::as_str), spec.get("text").and_then(Value::as_str)) {
                        (Some(field), _) => fields::value(client, field),
                        (None, Some(text)) => text.to_string(),
                        _ => String::new(),
                    };
                    (k.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
    out
}

/// A campaign email to `client` (multipart/alternative: plain and HTML), its unsubscribe
/// link at the end of the plain body. The HTML part is the batch's own `html_body` when it
/// has one — its `{{name}}`… fields filled with HTML-escaped values (a client's name is
/// never markup), the link an `<a>` where `{{unsubscribe}}` is, else a footer — or else
/// the plain body, escaped, in paragraphs, with the footer (`templates/campaigns/email/`).
pub fn render_email(env: &JobEnv, batch: &Batch, client: &Client) -> askama::Result<Email> {
    let link = unsubscribe_url(&crate::messaging::send::public_base(&env.settings), &env.at_rest_key, batch.workspace_id, client.id);
    let text = fields::fill(&batch.body, client);
    let subject = fields::fill(batch.subject.as_deref().unwrap_or_default(), client);
    let html = match batch.html_body.as_deref().filter(|h| !h.trim().is_empty()) {
        Some(html_body) => render_html_body(html_body, client, &link)?,
        None => TextAsHtml { paragraphs: text.split("\n\n").map(|p| p.split('\n').collect()).collect(), link: &link }.render()?,
    };
    Ok(Email {
        to: client.email.clone().unwrap_or_default().trim().to_string(),
        subject,
        text: format!("{text}\n\n--\nTo stop receiving these emails, unsubscribe: {link}\n"),
        html,
    })
}

/// `campaigns/email/text.html`: the plain body's paragraphs, each as its lines.
#[derive(Template)]
#[template(path = "campaigns/email/text.html", escape = "named-html")]
struct TextAsHtml<'a> {
    paragraphs: Vec<Vec<&'a str>>,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "campaigns/email/footer.html", escape = "named-html")]
struct UnsubscribeFooter<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "campaigns/email/unsubscribe_link.html", escape = "named-html")]
struct UnsubscribeLink<'a> {
    link: &'a str,
}

#[derive(Template)]
#[template(path = "campaigns/email/document.html", escape = "named-html")]
struct WholeDocument<'a> {
    body: &'a str,
}

/// Whether `text` has a `{{unsubscribe}}` placeholder (spaces inside the braces allowed).
fn has_unsubscribe(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        if after.find("}}").is_some_and(|end| after[..end].trim() == "unsubscribe") {
            return true;
        }
        rest = after;
    }
    false
}

/// An email batch's HTML body for `client`: the fields escaped, `{{unsubscribe}}` the link
/// (or the footer appended — before `</body>` when the body is a whole document).
pub fn render_html_body(html_body: &str, client: &Client, link: &str) -> askama::Result<String> {
    let mut values: Vec<(String, String)> = fields::values(client).into_iter().map(|(k, v)| (k, named_entities(&v))).collect();
    values.push(("unsubscribe".into(), UnsubscribeLink { link }.render()?));
    let has_link = has_unsubscribe(html_body);
    let mut body = fields::fill_values(html_body, &values);
    let whole = body.to_ascii_lowercase().contains("<html");
    if !has_link {
        let footer = UnsubscribeFooter { link }.render()?;
        match body.to_ascii_lowercase().rfind("</body>") {
            Some(at) => body.insert_str(at, &footer),
            None => {
                body.push('\n');
                body.push_str(&footer);
            }
        }
    }
    if whole { Ok(body) } else { WholeDocument { body: &body }.render() }
}
