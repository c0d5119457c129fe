//! Batches (issue 12 part 3): `GET/POST /campaigns/{id}/whatsapp-messages`, `…/sms-messages`
//! and `…/emails` — one send of one message to every client attached to the campaign, now
//! or at `send_at` (a local time in the workspace's zone, typed as the client page's
//! 24-hour field) — with the WhatsApp template's live preview for the first attached client
//! and the SMS body's segment count; and the public unsubscribe link of campaign emails,
//! `GET/POST /unsubscribe/{token}`.
//!
//! Creating a batch is one transaction: the batch row; ONE set-based `INSERT … SELECT` of a
//! recipient per attached client (`queued`, or `skipped` with the reason: "Opted out of
//! WhatsApp on 2026-11-02", "No phone number", "No email address" — opted-out clients stay
//! attached and are skipped per channel); its dispatch job (`campaigns::dispatch`). The
//! campaign must have the channel and not be completed (409 with the reason).
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

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::audit::Action;
use crate::audit::{self, Actor, Entry};
use crate::campaigns::{BatchChannel, BatchStatus, Campaign, CampaignScope, CampaignStatus, dispatch, flow_pages, flows};
use crate::clients::model::Client;
use crate::db;
use crate::db::schema::{campaign_batches, campaign_clients, clients, whatsapp_flows, whatsapp_templates, workspaces};
use crate::email::Email;
use crate::error::AppError;
use crate::jobs::run::JobEnv;
use crate::messaging::account::Account;
use crate::messaging::compose::{SMS_MAX_CHARS, TemplateChoice, approved_templates};
use crate::messaging::fragments::{Preview, SmsSegments};
use crate::messaging::{Channel, segments, templates};
use crate::web::state::AppState;
use crate::web::ctx::{Ctx, Layout, RequestMeta};
use crate::web::escape::named_entities;
use crate::web::flash;
use crate::web::forms::{OnceForm, Query};
use crate::web::once::{Claim, Once};
use crate::web::htmx::Htmx;
use crate::web::render::{html_status, respond, see_other};

/// The client fields a message may use.
pub const FIELDS: [&str; 4] = ["name", "company", "email", "phone"];
pub const SUBJECT_MAX_CHARS: usize = 300;
pub const EMAIL_BODY_MAX_CHARS: usize = 100_000;
/// The HTML body's limit (the column allows 500 000).
pub const EMAIL_HTML_MAX_CHARS: usize = 200_000;
/// Where the unsubscribe link records the opt-out.
pub const UNSUBSCRIBE_SOURCE: &str = "unsubscribe link";

/// A batch as dispatch reads it.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = campaign_batches)]
pub struct Batch {
    pub workspace_id: i64,
    pub id: i64,
    pub campaign_id: i64,
    pub channel: BatchChannel,
    pub mode: String,
    pub template_id: Option<i64>,
    pub variables: Value,
    pub subject: Option<String>,
    pub body: String,
    /// An email batch's optional HTML body (the plain `body` is always sent beside it).
    pub html_body: Option<String>,
    pub sender: Option<String>,
    pub send_at: DateTime<Utc>,
    pub status: BatchStatus,
    pub created_by: Option<i64>,
}

pub fn load(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Batch>> {
    campaign_batches::table.find((workspace_id, id)).select(Batch::as_select()).first(conn).optional()
}

pub fn workspace_zone(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<String> {
    workspaces::table.find(workspace_id).select(workspaces::time_zone).first(conn)
}

fn channel_label(channel: BatchChannel) -> &'static str {
    match channel {
        BatchChannel::WhatsApp => "WhatsApp",
        BatchChannel::Sms => "SMS",
        BatchChannel::Email => "email",
    }
}

/// Why a client gets nothing from a batch on `channel`, if so. The same rules as the
/// set-based insert's (`recipients_sql`), for a client whose turn has come.
pub fn skip_reason(channel: BatchChannel, client: &Client, zone: &str) -> Option<String> {
    let zone = crate::web::time::Zone::named(zone);
    let opted = match channel {
        BatchChannel::WhatsApp => client.opt_out_whatsapp_at,
        BatchChannel::Sms => client.opt_out_sms_at,
        BatchChannel::Email => client.opt_out_email_at,
    };
    if let Some(at) = opted {
        return Some(format!("Opted out of {} on {}", channel_label(channel), zone.date(at)));
    }
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().is_empty();
    match channel {
        BatchChannel::Email if blank(&client.email) => Some("No email address".into()),
        BatchChannel::WhatsApp | BatchChannel::Sms if blank(&client.phone) => Some("No phone number".into()),
        _ => None,
    }
}

/// Who a new batch's recipients are.
#[derive(Clone, Copy, Debug)]
pub enum RecipientSource {
    /// The campaign's attached clients (`$3` = the campaign).
    Attached,
    /// The failed recipients of an earlier batch (`$3` = that batch): a re-target.
    FailedOf,
}

/// One recipient per client of `source`, in one statement, each queued or skipped with the
/// reason. `$1` workspace, `$2` the new batch, `$3` campaign or earlier batch (see
/// [`RecipientSource`]), `$4` the workspace's zone (the opt-out date in the reason).
pub fn recipients_sql(channel: BatchChannel, source: RecipientSource) -> String {
    let (opt_out, address, missing) = match channel {
        BatchChannel::WhatsApp => ("opt_out_whatsapp_at", "phone", "No phone number"),
        BatchChannel::Sms => ("opt_out_sms_at", "phone", "No phone number"),
        BatchChannel::Email => ("opt_out_email_at", "email", "No email address"),
    };
    let label = channel_label(channel);
    let (from, which) = match source {
        RecipientSource::Attached => ("campaign_clients cc", "cc.campaign_id = $3"),
        RecipientSource::FailedOf => ("campaign_recipients cc", "cc.batch_id = $3 AND cc.status = 'failed'"),
    };
    format!(
        "INSERT INTO campaign_recipients (workspace_id, batch_id, client_id, status, skip_reason) \
         SELECT cc.workspace_id, $2, cc.client_id, \
           CASE WHEN c.{opt_out} IS NOT NULL OR coalesce(btrim(c.{address}), '') = '' THEN 'skipped' ELSE 'queued' END, \
           CASE WHEN c.{opt_out} IS NOT NULL THEN 'Opted out of {label} on ' || to_char(c.{opt_out} AT TIME ZONE $4, 'YYYY-MM-DD') \
                WHEN coalesce(btrim(c.{address}), '') = '' THEN '{missing}' END \
         FROM {from} JOIN clients c ON c.workspace_id = cc.workspace_id AND c.id = cc.client_id \
         WHERE cc.workspace_id = $1 AND {which} ORDER BY cc.client_id"
    )
}

/// The values of a client's fields, as `templates::render` takes them.
fn field_values(client: &Client) -> Vec<(String, String)> {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    vec![
        ("name".into(), client.name.clone()),
        ("company".into(), v(&client.company)),
        ("email".into(), v(&client.email)),
        ("phone".into(), v(&client.phone)),
    ]
}

/// `text` with each `{{name}}`, `{{company}}`, `{{email}}`, `{{phone}}` (spaces inside the
/// braces allowed) replaced by the client's value; anything else in braces stays as written.
pub fn fill_fields(text: &str, client: &Client) -> String {
    fill_values(text, &field_values(client))
}

fn fill_values(text: &str, values: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| values.iter().find(|(k, _)| k == after[..end].trim()).map(|(_, v)| (end, v))) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn field_of(client: &Client, field: &str) -> String {
    field_values(client).into_iter().find(|(k, _)| k == field).map(|(_, v)| v).unwrap_or_default()
}

/// A batch's variables for one client: `[("1", "Amara"), ("2", "Friday")]`.
pub fn variables_for(variables: &Value, client: &Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = variables
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, spec)| {
                    let value = match (spec.get("field").and_then(Value::as_str), spec.get("text").and_then(Value::as_str)) {
                        (Some(field), _) => field_of(client, field),
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

/// The body and template variables of a WhatsApp or SMS batch's message to `client`.
pub fn render_message(conn: &mut PgConnection, batch: &Batch, client: &Client) -> QueryResult<(String, Value)> {
    match batch.template_id {
        Some(template_id) => {
            let body: String = whatsapp_templates::table.find((batch.workspace_id, template_id)).select(whatsapp_templates::body).first(conn)?;
            let vars = variables_for(&batch.variables, client);
            let object: serde_json::Map<String, Value> = vars.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            Ok((templates::render(&body, &vars), Value::Object(object)))
        }
        None => Ok((fill_fields(&batch.body, client), json!({}))),
    }
}

/// A campaign email to `client` (multipart/alternative: plain and HTML), its unsubscribe
/// link at the end of the plain body. The HTML part is the batch's own `html_body` when it
/// has one — its `{{name}}`… fields filled with HTML-escaped values (a client's name is
/// never markup), the link an `<a>` where `{{unsubscribe}}` is, else a footer — or else
/// the plain body, escaped, in paragraphs, with the footer (`templates/campaigns/email/`).
pub fn render_email(env: &JobEnv, batch: &Batch, client: &Client) -> askama::Result<Email> {
    let link = unsubscribe_url(&crate::messaging::send::public_base(&env.settings), &env.at_rest_key, batch.workspace_id, client.id);
    let text = fill_fields(&batch.body, client);
    let subject = fill_fields(batch.subject.as_deref().unwrap_or_default(), client);
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
    let mut values: Vec<(String, String)> = field_values(client).into_iter().map(|(k, v)| (k, named_entities(&v))).collect();
    values.push(("unsubscribe".into(), UnsubscribeLink { link }.render()?));
    let has_link = has_unsubscribe(html_body);
    let mut body = fill_values(html_body, &values);
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

// ---------------------------------------------------------------------------------------
// The unsubscribe link: `{workspace}.{client}.{mac}`, the MAC an HMAC-SHA256 of the two ids
// under the at-rest key (derived from the secret key), so a link opts out its own client
// only and cannot be forged or guessed.

fn mac(key: &[u8; 32], workspace_id: i64, client_id: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("switchboard-unsubscribe-email:{workspace_id}:{client_id}").as_bytes());
    mac
}

pub fn unsubscribe_token(key: &[u8; 32], workspace_id: i64, client_id: i64) -> String {
    let tag = mac(key, workspace_id, client_id).finalize().into_bytes();
    format!("{workspace_id}.{client_id}.{}", hex::encode(&tag[..16]))
}

/// The (workspace, client) a token names, if its MAC holds.
pub fn read_unsubscribe_token(key: &[u8; 32], token: &str) -> Option<(i64, i64)> {
    let mut parts = token.split('.');
    let (ws, client, tag) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, hex::decode(parts.next()?).ok()?);
    if parts.next().is_some() || tag.len() != 16 {
        return None;
    }
    mac(key, ws, client).verify_truncated_left(&tag).ok().map(|_| (ws, client))
}

pub fn unsubscribe_url(base: &url::Url, key: &[u8; 32], workspace_id: i64, client_id: i64) -> String {
    format!("{}/unsubscribe/{}", base.as_str().trim_end_matches('/'), unsubscribe_token(key, workspace_id, client_id))
}

#[derive(Template)]
#[template(path = "campaigns/unsubscribe.html", blocks = ["content"])]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    workspace: String,
    done: bool,
}
crate::pages!(UnsubscribePage);

impl UnsubscribePage {
    fn action(&self) -> String {
        format!("/unsubscribe/{}", self.token)
    }
}

fn unsubscribe_target(conn: &mut PgConnection, key: &[u8; 32], token: &str) -> Result<(i64, i64, String), AppError> {
    let (ws, client_id) = read_unsubscribe_token(key, token).ok_or(AppError::NotFound)?;
    let workspace: String = workspaces::table.find(ws).select(workspaces::name).first(conn).optional()?.ok_or(AppError::NotFound)?;
    clients::table.find((ws, client_id)).select(clients::id).first::<i64>(conn).optional()?.ok_or(AppError::NotFound)?;
    Ok((ws, client_id, workspace))
}

/// Public (no session): asks to confirm (a link opened by a mail scanner changes nothing).
pub async fn unsubscribe_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let t = token.clone();
    let (_, _, workspace) = db::run(&state.pool, move |conn| unsubscribe_target(conn, &key, &t)).await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribe"), token, workspace, done: false };
    respond(&htmx, StatusCode::OK, &page)
}

/// Records the opt-out from email (`unsubscribe link`), audited; the first opt-out's time
/// is kept when the link is used again.
pub async fn unsubscribe(session: Session, req: HttpRequest, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let meta = RequestMeta::of(&req);
    let t = token.clone();
    let workspace = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let (ws, client_id, workspace) = unsubscribe_target(tx, &key, &t)?;
            let changed = diesel::update(clients::table.find((ws, client_id)))
                .filter(clients::opt_out_email_at.is_null())
                .set((clients::opt_out_email_at.eq(Some(Utc::now())), clients::opt_out_email_source.eq(UNSUBSCRIBE_SOURCE), clients::updated_at.eq(diesel::dsl::now)))
                .execute(tx)?;
            if changed > 0 {
                let entry = Entry::new(ws, Actor::System, Action::ClientsOptedOut, "clients", client_id)
                    .from_request(&meta)
                    .before(json!({ "opt_out_email": false }))
                    .after(json!({ "opt_out_email": true, "source": UNSUBSCRIBE_SOURCE }));
                audit::record(tx, &entry)?;
            }
            Ok::<_, AppError>(workspace)
        })
    })
    .await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribed"), token, workspace, done: true };
    respond(&htmx, StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------
// The batch pages.

#[derive(Deserialize, Default, Clone)]
pub struct BatchForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    flow_id: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    subject: String,
    /// An email batch's optional HTML body.
    #[serde(default)]
    html_body: String,
    #[serde(default)]
    send_at: String,
    /// `var_1`, `var_2`, … (and the CSRF token, ignored).
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl BatchForm {
    fn var(&self, name: &str) -> &str {
        self.rest.get(&format!("var_{name}")).map(|v| v.trim()).unwrap_or_default()
    }
}

/// One variable input of the form.
pub struct VarInput {
    pub key: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "campaigns/batch_new.html", blocks = ["content"])]
struct NewBatchPage {
    layout: Layout,
    campaign: Campaign,
    channel: &'static str,
    segment: &'static str,
    audience: i64,
    templates: Vec<TemplateChoice>,
    /// The workspace's flows: (id, name, problems).
    flows: Vec<(i64, String, usize)>,
    vars: Vec<VarInput>,
    form: BatchForm,
    error: Option<String>,
    segments: String,
}
crate::pages!(NewBatchPage);

impl NewBatchPage {
    fn selected_template(&self, id: &i64) -> bool {
        self.form.template_id.trim() == id.to_string()
    }
    fn selected_flow(&self, id: &i64) -> bool {
        self.form.flow_id.trim() == id.to_string()
    }
}

fn batch_channel(channel: BatchChannel) -> &'static str {
    channel.as_str()
}

/// The campaign if it may get a batch on `channel` (409 with the reason otherwise).
fn sendable(conn: &mut PgConnection, scope: &CampaignScope, id: i64, channel: BatchChannel) -> Result<Campaign, AppError> {
    let campaign = scope.find(conn, id)?;
    if campaign.status == CampaignStatus::Completed {
        return Err(AppError::Conflict("This campaign is completed: it sends nothing more.".into()));
    }
    if !campaign.has_channel(channel) {
        return Err(AppError::Conflict(format!("This campaign does not send {}: add the channel to the campaign first.", channel_label(channel))));
    }
    Ok(campaign)
}

fn audience(conn: &mut PgConnection, ws: i64, campaign_id: i64) -> QueryResult<i64> {
    campaign_clients::table.filter(campaign_clients::workspace_id.eq(ws)).filter(campaign_clients::campaign_id.eq(campaign_id)).count().get_result(conn)
}

async fn show_form(ctx: &Ctx, state: &AppState, id: i64, channel: BatchChannel, form: BatchForm, error: Option<String>, status: StatusCode) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(ctx)?;
    let (campaign, audience, templates, flows) = db::run(&state.pool, move |conn| {
        let campaign = sendable(conn, &scope, id, channel)?;
        let n = audience(conn, scope.workspace_id, id)?;
        let (templates, flows) =
            if channel == BatchChannel::WhatsApp { (approved_templates(conn, scope.workspace_id)?, flow_choices(conn, scope.workspace_id)?) } else { (Vec::new(), Vec::new()) };
        Ok::<_, AppError>((campaign, n, templates, flows))
    })
    .await?;
    let most = templates.iter().map(|t| t.placeholders().len()).max().unwrap_or(0).max(1);
    let vars = (1..=most).map(|n| VarInput { key: n.to_string(), value: form.var(&n.to_string()).to_string() }).collect();
    let segments = segments::count(&form.body).describe();
    let page = NewBatchPage {
        layout: ctx.layout(format!("New {} batch", channel_label(channel)), "campaigns"),
        campaign,
        channel: batch_channel(channel),
        segment: channel.segment(),
        audience,
        templates,
        flows,
        vars,
        form,
        error,
        segments,
    };
    respond(&ctx.meta.htmx, status, &page)
}

pub async fn whatsapp_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let form = BatchForm { mode: "template".into(), ..BatchForm::default() };
    show_form(&ctx, &state, path.into_inner(), BatchChannel::WhatsApp, form, None, StatusCode::OK).await
}

pub async fn sms_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    show_form(&ctx, &state, path.into_inner(), BatchChannel::Sms, BatchForm::default(), None, StatusCode::OK).await
}

pub async fn email_form(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    show_form(&ctx, &state, path.into_inner(), BatchChannel::Email, BatchForm::default(), None, StatusCode::OK).await
}

pub async fn create_whatsapp(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::WhatsApp, form, once).await
}

pub async fn create_sms(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::Sms, form, once).await
}

pub async fn create_email(ctx: Ctx, state: Data<AppState>, path: Path<i64>, OnceForm(form, once): OnceForm<BatchForm>) -> Result<HttpResponse, AppError> {
    create(ctx, state, path.into_inner(), BatchChannel::Email, form, once).await
}

/// The flows the form offers: (id, name, how many problems stop it being sent).
fn flow_choices(conn: &mut PgConnection, ws: i64) -> QueryResult<Vec<(i64, String, usize)>> {
    let infos: HashMap<i64, flows::TemplateInfo> = flow_pages::template_infos(conn, ws)?.into_iter().collect();
    let rows: Vec<flows::Flow> =
        whatsapp_flows::table.filter(whatsapp_flows::workspace_id.eq(ws)).order((whatsapp_flows::name, whatsapp_flows::id)).select(flows::Flow::as_select()).limit(500).load(conn)?;
    Ok(rows.into_iter().map(|f| (f.id, f.name.clone(), flows::problems(&f.steps(), &infos).len())).collect())
}

/// The variables `{"1": {"field": "name"}, "2": {"text": "Friday"}}` for `names`, or why not.
fn variables_of(form: &BatchForm, names: &[String]) -> Result<Value, String> {
    let mut variables = serde_json::Map::new();
    for name in names {
        let value = form.var(name);
        if value.is_empty() {
            return Err(format!("Fill in variable {{{{{name}}}}}: a client field (name, company, email, phone) or text."));
        }
        if value.chars().count() > templates::VARIABLE_MAX_CHARS {
            return Err(format!("Variable {{{{{name}}}}} is longer than {} characters.", templates::VARIABLE_MAX_CHARS));
        }
        let spec = if FIELDS.contains(&value) { json!({ "field": value }) } else { json!({ "text": value }) };
        variables.insert(name.clone(), spec);
    }
    Ok(Value::Object(variables))
}

/// A flow batch's values: the flow's snapshot (checked sendable), its first step's template
/// and the variables of every step's template.
fn check_flow(conn: &mut PgConnection, ws: i64, form: &BatchForm, checked: &mut NewBatch) -> QueryResult<Result<(), String>> {
    let flow = match form.flow_id.trim().parse::<i64>() {
        Ok(id) => whatsapp_flows::table.find((ws, id)).select(flows::Flow::as_select()).first(conn).optional()?,
        Err(_) => None,
    };
    let Some(flow) = flow else { return Ok(Err("Choose a flow.".into())) };
    let infos: HashMap<i64, flows::TemplateInfo> = flow_pages::template_infos(conn, ws)?.into_iter().collect();
    let snapshot = match flows::snapshot(&flow, &infos) {
        Ok(s) => s,
        Err(why) => return Ok(Err(why)),
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

fn check(conn: &mut PgConnection, state: &AppState, ws: i64, campaign: &Campaign, channel: BatchChannel, form: &BatchForm, zone: crate::web::time::Zone) -> Result<Result<NewBatch, String>, AppError> {
    let send_at = match form.send_at.trim() {
        "" => Utc::now(),
        typed => match zone.parse_input(typed, "Send at") {
            Ok(at) if at < Utc::now() - chrono::Duration::minutes(1) => return Ok(Err("Send at is in the past; leave it empty to send now.".into())),
            Ok(at) => at,
            Err(problem) => return Ok(Err(problem)),
        },
    };
    let sender = match channel {
        BatchChannel::Email => None,
        BatchChannel::WhatsApp | BatchChannel::Sms => {
            let account = match Account::load(conn, &state.at_rest_key, ws) {
                Ok(Some(account)) => account,
                Ok(None) => return Ok(Err("Twilio is not configured: add the account in Settings → Twilio first.".into())),
                Err(why) => return Ok(Err(why)),
            };
            let wanted = if channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms };
            match account.sender(wanted, campaign.whatsapp_from.as_deref()) {
                Some(sender) => Some(sender.key().to_string()),
                None => return Ok(Err(format!("No {} sender is set up: add one in Settings → Twilio.", channel_label(channel)))),
            }
        }
    };
    let mut checked = NewBatch { channel, mode: "text", template_id: None, variables: json!({}), subject: None, body: String::new(), html_body: None, sender, send_at, flow_id: None, flow_snapshot: None };
    match channel {
        BatchChannel::WhatsApp => {
            match form.mode.trim() {
                "template" | "" => {}
                "flow" => return Ok(check_flow(conn, ws, form, &mut checked)?.map(|()| checked)),
                _ => return Ok(Err("Mode must be template or flow.".into())),
            }
            let template = match form.template_id.trim().parse::<i64>() {
                Ok(id) => approved_templates(conn, ws)?.into_iter().find(|t| t.id == id),
                Err(_) => None,
            };
            let Some(template) = template else { return Ok(Err("Choose an approved template.".into())) };
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
                return Ok(Err("Write the message.".into()));
            }
            if body.chars().count() > SMS_MAX_CHARS {
                return Ok(Err(format!("An SMS must be at most {SMS_MAX_CHARS} characters.")));
            }
            checked.body = body.to_string();
        }
        BatchChannel::Email => {
            let subject = form.subject.trim();
            if subject.is_empty() {
                return Ok(Err("Write the subject.".into()));
            }
            if subject.chars().count() > SUBJECT_MAX_CHARS {
                return Ok(Err(format!("The subject must be at most {SUBJECT_MAX_CHARS} characters.")));
            }
            let body = form.body.trim();
            if body.is_empty() {
                return Ok(Err("Write the email.".into()));
            }
            if body.chars().count() > EMAIL_BODY_MAX_CHARS {
                return Ok(Err(format!("The email must be at most {EMAIL_BODY_MAX_CHARS} characters.")));
            }
            let html_body = form.html_body.trim();
            if html_body.chars().count() > EMAIL_HTML_MAX_CHARS {
                return Ok(Err(format!("The HTML email must be at most {EMAIL_HTML_MAX_CHARS} characters.")));
            }
            checked.mode = "email";
            checked.subject = Some(subject.to_string());
            checked.body = body.to_string();
            checked.html_body = Some(html_body.to_string()).filter(|h| !h.is_empty());
        }
    }
    Ok(Ok(checked))
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    skipped: i64,
}

/// Writes the batch, its recipients (one statement) and its dispatch, in the caller's
/// transaction. Returns (batch id, queued, skipped).
pub fn insert_batch(tx: &mut PgConnection, ws: i64, campaign_id: i64, new: &NewBatch, created_by: Option<i64>, zone: &str) -> QueryResult<(i64, i64, i64)> {
    let channel = new.channel;
    let batch_id: i64 = diesel::insert_into(campaign_batches::table)
        .values((
            campaign_batches::workspace_id.eq(ws),
            campaign_batches::campaign_id.eq(campaign_id),
            campaign_batches::channel.eq(channel.as_str()),
            campaign_batches::mode.eq(new.mode),
            campaign_batches::template_id.eq(new.template_id),
            campaign_batches::variables.eq(&new.variables),
            campaign_batches::subject.eq(&new.subject),
            campaign_batches::body.eq(&new.body),
            campaign_batches::html_body.eq(&new.html_body),
            campaign_batches::sender.eq(&new.sender),
            campaign_batches::send_at.eq(new.send_at),
            campaign_batches::created_by.eq(created_by),
            campaign_batches::flow_id.eq(new.flow_id),
            campaign_batches::flow_snapshot.eq(&new.flow_snapshot),
        ))
        .returning(campaign_batches::id)
        .get_result(tx)?;
    diesel::sql_query(recipients_sql(channel, RecipientSource::Attached))
        .bind::<BigInt, _>(ws)
        .bind::<BigInt, _>(batch_id)
        .bind::<BigInt, _>(campaign_id)
        .bind::<Text, _>(zone)
        .execute(tx)?;
    let counted: Counted = diesel::sql_query(
        "SELECT coalesce(sum(n) FILTER (WHERE key = 'queued'), 0)::int8 AS queued, coalesce(sum(n) FILTER (WHERE key = 'skipped'), 0)::int8 AS skipped \
         FROM campaign_batch_counts WHERE workspace_id = $1 AND batch_id = $2",
    )
    .bind::<BigInt, _>(ws)
    .bind::<BigInt, _>(batch_id)
    .get_result(tx)?;
    dispatch::enqueue(tx, ws, batch_id, new.send_at)?;
    Ok((batch_id, counted.queued, counted.skipped))
}

/// What a batch form's submission made: a batch, or nothing new (a repeat of a submission
/// already done, shown where the first one's result is).
enum Made {
    Batch { batch_id: i64, queued: i64, skipped: i64, send_at: DateTime<Utc> },
    Repeat(Option<String>),
}

async fn create(ctx: Ctx, state: Data<AppState>, id: i64, channel: BatchChannel, form: BatchForm, once: Once) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let zone = ctx.zone();
    let entry = ctx.audit(Action::CampaignsBatchCreated, "campaigns", id);
    let (st, f) = (state.clone(), form.clone());
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let campaign = sendable(tx, &scope, id, channel)?;
            let c = match check(tx, &st, scope.workspace_id, &campaign, channel, &f, zone)? {
                Ok(c) => c,
                Err(problem) => return Ok(Err(problem)),
            };
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Ok(Made::Repeat(first)));
            }
            let (batch_id, queued, skipped) = insert_batch(tx, scope.workspace_id, id, &c, Some(scope.user_id), zone.name())?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{id}/{}/{batch_id}/recipients", channel.segment()))?;
            audit::record(
                tx,
                &entry.after(json!({
                    "batch_id": batch_id,
                    "channel": channel.as_str(),
                    "mode": c.mode,
                    "template_id": c.template_id,
                    "flow_id": c.flow_id,
                    "send_at": c.send_at,
                    "queued": queued,
                    "skipped": skipped,
                })),
            )?;
            Ok::<_, AppError>(Ok(Made::Batch { batch_id, queued, skipped, send_at: c.send_at }))
        })
    })
    .await?;
    match outcome {
        Ok(Made::Repeat(first)) => Ok(see_other(&first.unwrap_or_else(|| format!("/campaigns/{id}")))),
        Ok(Made::Batch { batch_id, queued, skipped, send_at }) => {
            let when = if send_at <= Utc::now() { "now".to_string() } else { format!("at {}", zone.time(send_at)) };
            let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
            flash::success(&ctx.session, format!("Batch {batch_id}: sending to {queued} recipients {when}{skipped}."));
            Ok(see_other(&format!("/campaigns/{id}/{}/{batch_id}/recipients", channel.segment())))
        }
        Err(problem) => show_form(&ctx, &state, id, channel, form, Some(problem), StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}


/// The template filled in for the first attached client (htmx swaps it under the form).
pub async fn preview(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<crate::messaging::compose::PreviewQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = path.into_inner();
    let template_id = q.template_id.trim().parse::<i64>().ok();
    let (template, client) = db::run(&state.pool, move |conn| {
        let campaign = scope.find(conn, id)?;
        let template = match template_id {
            Some(t) => approved_templates(conn, scope.workspace_id)?.into_iter().find(|x| x.id == t),
            None => None,
        };
        let client: Option<Client> = campaign_clients::table
            .inner_join(clients::table.on(clients::workspace_id.eq(campaign_clients::workspace_id).and(clients::id.eq(campaign_clients::client_id))))
            .filter(campaign_clients::workspace_id.eq(scope.workspace_id))
            .filter(campaign_clients::campaign_id.eq(campaign.id))
            .order(campaign_clients::client_id)
            .select(Client::as_select())
            .first(conn)
            .optional()?;
        Ok::<_, AppError>((template, client))
    })
    .await?;
    let (text, who) = match (template, client) {
        (None, _) => ("Choose a template to see the message.".to_string(), String::new()),
        (Some(t), client) => {
            let mut variables = serde_json::Map::new();
            for name in t.placeholders() {
                let value = q.rest.get(&format!("var_{name}")).map(|v| v.trim().to_string()).unwrap_or_default();
                if value.is_empty() {
                    continue;
                }
                let spec = if FIELDS.contains(&value.as_str()) { json!({ "field": value }) } else { json!({ "text": value }) };
                variables.insert(name, spec);
            }
            let variables = Value::Object(variables);
            match client {
                Some(c) => {
                    let vars = variables_for(&variables, &c);
                    (templates::render(&t.body, &vars), format!("As {} will see it:", c.name))
                }
                None => (templates::render(&t.body, &[]), "No client is attached yet.".to_string()),
            }
        }
    };
    html_status(StatusCode::OK, &Preview { id: "batch-preview", who: &who, text: &text })
}

#[derive(Deserialize)]
pub struct SegmentsQuery {
    #[serde(default)]
    body: String,
}

/// "2 segments · GSM-7, 153 characters each" for the SMS body typed so far.
pub async fn sms_segments(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(q): Query<SegmentsQuery>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = path.into_inner();
    db::run(&state.pool, move |conn| scope.find(conn, id).map(|_| ())).await?;
    html_status(StatusCode::OK, &SmsSegments::of(&q.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_names_its_client_and_cannot_be_altered() {
        let key = crate::crypto::derive(b"a secret key of at least thirty-two characters");
        let token = unsubscribe_token(&key, 7, 42);
        assert!(token.starts_with("7.42.") && token.len() == "7.42.".len() + 32, "{token}");
        assert_eq!(read_unsubscribe_token(&key, &token), Some((7, 42)));
        let tag = &token["7.42.".len()..];
        assert_eq!(read_unsubscribe_token(&key, &format!("7.43.{tag}")), None, "another client");
        assert_eq!(read_unsubscribe_token(&key, &format!("8.42.{tag}")), None, "another workspace");
        assert_eq!(read_unsubscribe_token(&crate::crypto::derive(b"another key entirely, also long enough"), &token), None);
        assert_eq!(read_unsubscribe_token(&key, &format!("{token}.1")), None);
        assert_eq!(read_unsubscribe_token(&key, "garbage"), None);
    }
}
