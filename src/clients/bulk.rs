//! `POST /clients/bulk`: one action on the selected clients or on every client matching the
//! list's filter, in one transaction, each changed client audited with before/after.

use actix_web::HttpResponse;
use actix_web::web::Data;
use futures_util::future::LocalBoxFuture;
use diesel::{Connection, PgConnection};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::authz::{Role, Scope};
use crate::clients::domain::ClientStatus;
use crate::clients::{model, tags};
use crate::clients::query::ClientQuery;
use crate::db;
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{self, HtmlForm};
use crate::web::render::see_other;
use crate::web::state::AppState;

/// An action of the bulk bar that another feature carries out ("Add to campaign" is the
/// campaigns'), registered at start-up (`registry::client_bulk_actions`): the clients know
/// only its form value.
pub trait BulkExtension: Send + Sync {
    /// The form's `action` it answers.
    fn action(&self) -> &'static str;

    /// Carries the action out on `selection`.
    fn run<'a>(&'a self, ctx: &'a Ctx, state: &'a AppState, selection: Selection) -> LocalBoxFuture<'a, Result<HttpResponse, AppError>>;
}

/// The bulk actions other features add, by their form value.
#[derive(Default)]
pub struct BulkExtensions(Vec<Box<dyn BulkExtension>>);

impl BulkExtensions {
    pub fn with(mut self, extension: impl BulkExtension + 'static) -> Self {
        self.0.push(Box::new(extension));
        self
    }

    fn find(&self, action: &str) -> Option<&dyn BulkExtension> {
        self.0.iter().find(|e| e.action() == action).map(|e| e.as_ref())
    }
}

/// What an extension acts on: the ticked clients, or every client matching the list's
/// filter, and the bar's choice for it (e.g. the campaign).
pub struct Selection {
    /// The `campaign_id` field: what the extension's select chose.
    pub choice: String,
    /// The list's filter when "all matching" is chosen.
    pub all_matching: Option<ClientQuery>,
    pub client_ids: Vec<i64>,
}

/// Most clients one bulk action may touch.
pub const MAX_TARGETS: usize = 200_000;

#[derive(Deserialize)]
pub struct BulkForm {
    #[serde(default)]
    action: String,
    /// `selected` (the ticked rows) or `all-matching` (every client matching the filter below;
    /// `all` is the same).
    #[serde(default)]
    target: String,
    #[serde(default)]
    client_ids: Vec<i64>,
    #[serde(default)]
    assign_to: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    confirm: String,
    /// "Add to campaign": the campaign to attach the clients to (issue 12).
    #[serde(default)]
    campaign_id: String,
    // The list's filter, for target=all.
    q: Option<String>,
    filter_status: Option<String>,
    department: Option<String>,
    #[serde(rename = "filter_tag")]
    tag_filter: Option<String>,
    assignee: Option<String>,
    /// `?import=ID` on the list.
    filter_import: Option<String>,
}

enum Action {
    Assign(Option<i64>),
    Status(ClientStatus),
    Tag(String),
    Untag(String),
    Delete,
}

impl Action {
    /// What each changed client's audit row records.
    fn audited(&self) -> audit::Action {
        match self {
            Action::Assign(_) => audit::Action::ClientsBulkAssign,
            Action::Status(_) => audit::Action::ClientsBulkStatus,
            Action::Tag(_) => audit::Action::ClientsBulkTag,
            Action::Untag(_) => audit::Action::ClientsBulkUntag,
            Action::Delete => audit::Action::ClientsBulkDelete,
        }
    }

    /// The tables whose rows the action rewrites, vacuumed after a large one.
    fn rewrites(&self) -> &'static [db::Vacuumed] {
        match self {
            Action::Assign(_) | Action::Status(_) => &[db::Vacuumed::Clients],
            // Tagging rewrites the clients too: their rows keep the tag ids for the list.
            Action::Tag(_) | Action::Untag(_) => &[db::Vacuumed::Clients, db::Vacuumed::ClientTags],
            Action::Delete => &[db::Vacuumed::Clients, db::Vacuumed::ClientTags],
        }
    }
}

impl BulkForm {
    /// The list's filter the form carries (for "all matching").
    fn list_query(&self) -> ClientQuery {
        ClientQuery {
            q: self.q.clone(),
            status: self.filter_status.clone(),
            department: self.department.clone(),
            tag: self.tag_filter.clone(),
            assignee: self.assignee.clone(),
            sort: None,
            page: None,
            import: self.filter_import.clone(),
        }
    }
}

fn parse_action(form: &BulkForm, role: Role) -> Result<Action, AppError> {
    let invalid = |m: &str| AppError::Validation(m.to_string());
    match form.action.as_str() {
        "assign" if role == Role::Agent => Err(AppError::Forbidden("Agents cannot reassign clients.".into())),
        "assign" => match form.assign_to.trim() {
            "" | "none" => Ok(Action::Assign(None)),
            id => id.parse().map(|id| Action::Assign(Some(id))).map_err(|_| invalid("Choose a user to assign to.")),
        },
        "status" => ClientStatus::parse(&form.status).map(Action::Status).map_err(|e| invalid(&e.to_string())),
        "tag" | "untag" => {
            let tag = forms::required_text(&form.tag, "Tag", 50).map_err(|e| invalid(&e.to_string()))?;
            Ok(if form.action == "tag" { Action::Tag(tag) } else { Action::Untag(tag) })
        }
        "delete" if !role.at_least(Role::Manager) => Err(AppError::Forbidden("Only managers and admins can delete clients.".into())),
        "delete" if form.confirm != "delete" => Err(invalid("Tick the confirmation box to delete clients.")),
        "delete" => Ok(Action::Delete),
        _ => Err(invalid("Choose an action: assign, status, tag, untag or delete.")),
    }
}

pub async fn bulk_update_clients(ctx: Ctx, state: Data<AppState>, extensions: Data<BulkExtensions>, HtmlForm(form): HtmlForm<BulkForm>) -> Result<HttpResponse, AppError> {
    // Without CSS every action's fields show: a ticked delete confirmation beside another
    // action is a mistake to point out, never ignored.
    if form.confirm == "delete" && form.action != "delete" {
        return Err(AppError::Validation("The delete confirmation is ticked but the action is not Delete: untick it, or choose Delete.".into()));
    }
    if let Some(extension) = extensions.find(&form.action) {
        let all_matching = matches!(form.target.as_str(), "all" | "all-matching").then(|| form.list_query());
        let selection = Selection { choice: form.campaign_id, all_matching, client_ids: form.client_ids };
        return extension.run(&ctx, &state, selection).await;
    }
    let scope = ctx.scope();
    let action = parse_action(&form, scope.role)?;
    let filter = match form.target.as_str() {
        "all" | "all-matching" => Some(form.list_query().parse().map_err(|e| AppError::Validation(e.to_string()))?),
        "selected" | "" if !form.client_ids.is_empty() => None,
        _ => return Err(AppError::Validation("Select at least one client, or choose all matching.".into())),
    };
    let template = ctx.audit(action.audited(), "clients", "");
    let rewrites = action.rewrites();
    let ids = form.client_ids.clone();
    let (count, label) = state.db(move |conn| {
        conn.transaction(|tx| {
            // Only clients this user may see: foreign or invisible ids drop out silently.
            let targets = match &filter {
                Some(f) => f.ids(tx, &scope, MAX_TARGETS as i64 + 1)?,
                None => scope.visible_ids(tx, &ids)?,
            };
            if targets.len() > MAX_TARGETS {
                return Err(AppError::Validation(format!("A bulk action can change at most {MAX_TARGETS} clients; narrow the filter.")));
            }
            apply(tx, &scope, &action, &targets, &template)
        })
    })
    .await?;
    // Many rewritten rows would leave the list and search slow until autovacuum came
    // (issue 20); vacuumed now, after the answer.
    if count >= db::VACUUM_AFTER_ROWS {
        for table in rewrites {
            db::vacuum_analyze_later(&state.pool, *table);
        }
    }
    flash::success(&ctx.session, format!("{label} {count} client{}.", if count == 1 { "" } else { "s" }));
    let back = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            [("q", &form.q), ("status", &form.filter_status), ("department", &form.department), ("tag", &form.tag_filter), ("assignee", &form.assignee)]
                .into_iter()
                .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v))),
        )
        .finish();
    Ok(see_other(&if back.is_empty() { "/clients".to_string() } else { format!("/clients?{back}") }))
}

/// Audit rows for the changed clients, written in chunks.
fn audit_each(tx: &mut PgConnection, template: &Entry, changes: Vec<(i64, serde_json::Value, serde_json::Value)>) -> Result<(), AppError> {
    let entries: Vec<Entry> = changes
        .into_iter()
        .map(|(id, before, after)| {
            Entry { entity_id: Some(id.to_string()), ..template.clone() }.before(before).after(after)
        })
        .collect();
    Ok(audit::record_many(tx, &entries)?)
}

fn apply(tx: &mut PgConnection, scope: &Scope, action: &Action, ids: &[i64], template: &Entry) -> Result<(usize, &'static str), AppError> {
    let w = scope.workspace_id;
    match action {
        Action::Assign(user) => {
            if let Some(user) = user {
                let ok = crate::users::model::find(tx, w, *user)?.is_some_and(|u| u.active);
                if !ok {
                    return Err(AppError::Validation("Choose an active user of this workspace.".into()));
                }
            }
            let before = model::assign_many(tx, w, ids, *user)?;
            let count = before.len();
            let changes = before.into_iter().map(|(id, old)| (id, json!({ "assigned_to": old }), json!({ "assigned_to": user }))).collect();
            audit_each(tx, template, changes)?;
            Ok((count, "Assigned"))
        }
        Action::Status(status) => {
            let before = model::set_status_many(tx, w, ids, status.as_str())?;
            let count = before.len();
            let changes = before.into_iter().map(|(id, old)| (id, json!({ "status": old }), json!({ "status": status }))).collect();
            audit_each(tx, template, changes)?;
            Ok((count, "Changed the status of"))
        }
        Action::Tag(name) => {
            let tag_id = tags::id_creating(tx, w, name)?;
            let new = model::tag_many(tx, w, ids, tag_id)?;
            let changes = new.iter().map(|id| (*id, json!({}), json!({ "tag_added": name }))).collect();
            audit_each(tx, template, changes)?;
            Ok((new.len(), "Tagged"))
        }
        Action::Untag(name) => {
            let Some(tag_id) = tags::find_id(tx, w, name)? else { return Ok((0, "Untagged")) };
            let removed = model::untag_many(tx, w, ids, tag_id)?;
            let changes = removed.iter().map(|id| (*id, json!({ "tag": name }), json!({}))).collect();
            audit_each(tx, template, changes)?;
            Ok((removed.len(), "Untagged"))
        }
        Action::Delete => {
            let before = model::delete_many(tx, w, ids)?;
            let changes = before
                .iter()
                .map(|c| (c.id, json!({ "name": c.name, "email": c.email, "phone": c.phone }), json!(null)))
                .collect();
            audit_each(tx, template, changes)?;
            Ok((before.len(), "Deleted"))
        }
    }
}
