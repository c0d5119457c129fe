//! `POST /clients/bulk`: one action on the selected clients or on every client matching the
//! list's filter, in one transaction, each changed client audited with before/after.

use actix_web::HttpResponse;
use actix_web::web::Data;
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
            Action::Tag(_) | Action::Untag(_) => &[db::Vacuumed::ClientTags],
            Action::Delete => &[db::Vacuumed::Clients, db::Vacuumed::ClientTags],
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

pub async fn bulk_update_clients(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<BulkForm>) -> Result<HttpResponse, AppError> {
    // Without CSS every action's fields show: a ticked delete confirmation beside another
    // action is a mistake to point out, never ignored.
    if form.confirm == "delete" && form.action != "delete" {
        return Err(AppError::Validation("The delete confirmation is ticked but the action is not Delete: untick it, or choose Delete.".into()));
    }
    if form.action == "campaign" {
        return add_to_campaign(&ctx, &state, form).await;
    }
    let scope = ctx.scope();
    let action = parse_action(&form, scope.role)?;
    let list_query = ClientQuery {
        q: form.q.clone(),
        status: form.filter_status.clone(),
        department: form.department.clone(),
        tag: form.tag_filter.clone(),
        assignee: form.assignee.clone(),
        sort: None,
        page: None,
        import: form.filter_import.clone(),
    };
    let filter = match form.target.as_str() {
        "all" | "all-matching" => Some(list_query.parse().map_err(|e| AppError::Validation(e.to_string()))?),
        "selected" | "" if !form.client_ids.is_empty() => None,
        _ => return Err(AppError::Validation("Select at least one client, or choose all matching.".into())),
    };
    let template = ctx.audit(action.audited(), "clients", "");
    let rewrites = action.rewrites();
    let ids = form.client_ids.clone();
    let (count, label) = db::run(&state.pool, move |conn| {
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

/// "Add to campaign" (issue 12): the ticked clients are attached to the campaign (its
/// `attach-clients` with `mode=selected`); "all matching" goes to the campaign's Confirm page
/// with the list's filter in words (`mode=filter`). Agents have no campaigns (403).
async fn add_to_campaign(ctx: &Ctx, state: &AppState, form: BulkForm) -> Result<HttpResponse, AppError> {
    use crate::campaigns::audience::{AttachForm, from_client_list};
    let all_matching = match form.target.as_str() {
        "all" | "all-matching" => Some(AttachForm {
            mode: "filter".into(),
            q: form.q,
            status: form.filter_status,
            department: form.department,
            tag: form.tag_filter,
            assignee: form.assignee,
            import: form.filter_import,
            client_ids: Vec::new(),
        }),
        _ => None,
    };
    from_client_list(ctx, state, &form.campaign_id, all_matching, form.client_ids).await
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
