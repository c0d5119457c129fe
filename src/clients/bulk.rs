//! `POST /clients/bulk`: one action on the selected clients or on every client matching the
//! list's filter, in one transaction, each changed client audited with before/after.

use actix_web::HttpResponse;
use actix_web::web::Data;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::clients::domain::ClientStatus;
use crate::clients::query::{ClientQuery, Scope};
use crate::db;
use crate::db::schema::{client_tags, clients, tags};
use crate::error::AppError;
use crate::startup::AppState;
use crate::users::role::Role;
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{self, HtmlForm};
use crate::web::render::see_other;

/// Most clients one bulk action may touch.
pub const MAX_TARGETS: usize = 200_000;

#[derive(Deserialize)]
pub struct BulkForm {
    #[serde(default)]
    action: String,
    /// `selected` (the ticked rows) or `all` (every client matching the filter below).
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
    // The list's filter, for target=all.
    q: Option<String>,
    filter_status: Option<String>,
    department: Option<String>,
    #[serde(rename = "filter_tag")]
    tag_filter: Option<String>,
    assignee: Option<String>,
}

enum Action {
    Assign(Option<i64>),
    Status(ClientStatus),
    Tag(String),
    Untag(String),
    Delete,
}

fn parse_action(form: &BulkForm, role: Role) -> Result<Action, AppError> {
    let invalid = |m: &str| AppError::Validation(m.to_string());
    match form.action.as_str() {
        "assign" if role == Role::Agent => Err(AppError::Forbidden("Agents cannot reassign clients.".into())),
        "assign" => match form.assign_to.trim() {
            "" | "none" => Ok(Action::Assign(None)),
            id => id.parse().map(|id| Action::Assign(Some(id))).map_err(|_| invalid("Choose a user to assign to.")),
        },
        "status" => ClientStatus::parse(&form.status).map(Action::Status).map_err(|e| invalid(&e)),
        "tag" | "untag" => {
            let tag = forms::required_text(&form.tag, "Tag", 50).map_err(|e| invalid(&e))?;
            Ok(if form.action == "tag" { Action::Tag(tag) } else { Action::Untag(tag) })
        }
        "delete" if !role.at_least(Role::Manager) => Err(AppError::Forbidden("Only managers and admins can delete clients.".into())),
        "delete" if form.confirm != "delete" => Err(invalid("Tick the confirmation box to delete clients.")),
        "delete" => Ok(Action::Delete),
        _ => Err(invalid("Choose an action: assign, status, tag, untag or delete.")),
    }
}

pub async fn bulk_update_clients(ctx: Ctx, state: Data<AppState>, HtmlForm(form): HtmlForm<BulkForm>) -> Result<HttpResponse, AppError> {
    let scope = Scope::of(&ctx);
    let action = parse_action(&form, scope.role)?;
    let list_query = ClientQuery {
        q: form.q.clone(),
        status: form.filter_status.clone(),
        department: form.department.clone(),
        tag: form.tag_filter.clone(),
        assignee: form.assignee.clone(),
        sort: None,
        page: None,
    };
    let filter = match form.target.as_str() {
        "all" => Some(list_query.parse().map_err(AppError::Validation)?),
        "selected" | "" if !form.client_ids.is_empty() => None,
        _ => return Err(AppError::Validation("Select at least one client, or choose all matching.".into())),
    };
    let template = ctx.audit("clients.bulk", "clients", "");
    let ids = form.client_ids.clone();
    let (count, label) = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            // Only clients this user may see: foreign or invisible ids drop out silently.
            let targets: Vec<i64> = match &filter {
                Some(f) => f.query(&scope).select(clients::id).limit(MAX_TARGETS as i64 + 1).load(tx)?,
                None => scope.clients().filter(clients::id.eq_any(&ids)).select(clients::id).load(tx)?,
            };
            if targets.len() > MAX_TARGETS {
                return Err(AppError::Validation(format!("A bulk action can change at most {MAX_TARGETS} clients; narrow the filter.")));
            }
            apply(tx, &scope, &action, &targets, &template)
        })
    })
    .await?;
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

/// `ids` without those in `already`, in their order: a set, so that 200,000 ids against
/// 200,000 already tagged take linear time, not 4·10¹⁰ comparisons.
fn not_in(ids: &[i64], already: Vec<i64>) -> Vec<i64> {
    let already: std::collections::HashSet<i64> = already.into_iter().collect();
    ids.iter().copied().filter(|id| !already.contains(id)).collect()
}

/// Audit rows for the changed clients, written in chunks.
fn audit_each(tx: &mut PgConnection, template: &Entry, action: &str, changes: Vec<(i64, serde_json::Value, serde_json::Value)>) -> Result<(), AppError> {
    let entries: Vec<Entry> = changes
        .into_iter()
        .map(|(id, before, after)| {
            Entry { action: format!("clients.bulk_{action}"), entity_id: Some(id.to_string()), ..template.clone() }.before(before).after(after)
        })
        .collect();
    Ok(audit::record_many(tx, &entries)?)
}

fn apply(tx: &mut PgConnection, scope: &Scope, action: &Action, ids: &[i64], template: &Entry) -> Result<(usize, &'static str), AppError> {
    let w = scope.workspace_id;
    let target = || clients::table.filter(clients::workspace_id.eq(w)).filter(clients::id.eq_any(ids));
    match action {
        Action::Assign(user) => {
            if let Some(user) = user {
                let ok = crate::users::model::find(tx, w, *user)?.is_some_and(|u| u.active);
                if !ok {
                    return Err(AppError::Validation("Choose an active user of this workspace.".into()));
                }
            }
            let before: Vec<(i64, Option<i64>)> = target().filter(clients::assigned_to.is_distinct_from(*user)).select((clients::id, clients::assigned_to)).for_update().load(tx)?;
            let changed: Vec<i64> = before.iter().map(|(id, _)| *id).collect();
            diesel::update(clients::table.filter(clients::workspace_id.eq(w)).filter(clients::id.eq_any(&changed)))
                .set((clients::assigned_to.eq(*user), clients::version.eq(clients::version + 1)))
                .execute(tx)?;
            let changes = before.into_iter().map(|(id, old)| (id, json!({ "assigned_to": old }), json!({ "assigned_to": user }))).collect();
            audit_each(tx, template, "assign", changes)?;
            Ok((changed.len(), "Assigned"))
        }
        Action::Status(status) => {
            let before: Vec<(i64, String)> = target().filter(clients::status.ne(status.as_str())).select((clients::id, clients::status)).for_update().load(tx)?;
            let changed: Vec<i64> = before.iter().map(|(id, _)| *id).collect();
            diesel::update(clients::table.filter(clients::workspace_id.eq(w)).filter(clients::id.eq_any(&changed)))
                .set((
                    clients::status.eq(status.as_str()),
                    clients::status_source.eq("hand"),
                    clients::status_changed_at.eq(diesel::dsl::now),
                    clients::version.eq(clients::version + 1),
                ))
                .execute(tx)?;
            let changes = before.into_iter().map(|(id, old)| (id, json!({ "status": old }), json!({ "status": status }))).collect();
            audit_each(tx, template, "status", changes)?;
            Ok((changed.len(), "Changed the status of"))
        }
        Action::Tag(name) => {
            let tag_id = crate::clients::tags::id_creating(tx, w, name)?;
            let already: Vec<i64> = client_tags::table
                .filter(client_tags::workspace_id.eq(w))
                .filter(client_tags::tag_id.eq(tag_id))
                .filter(client_tags::client_id.eq_any(ids))
                .select(client_tags::client_id)
                .load(tx)?;
            let new = not_in(ids, already);
            for chunk in new.chunks(10_000) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|id| (client_tags::workspace_id.eq(w), client_tags::client_id.eq(*id), client_tags::tag_id.eq(tag_id)))
                    .collect();
                diesel::insert_into(client_tags::table).values(rows).on_conflict_do_nothing().execute(tx)?;
            }
            let changes = new.iter().map(|id| (*id, json!({}), json!({ "tag_added": name }))).collect();
            audit_each(tx, template, "tag", changes)?;
            Ok((new.len(), "Tagged"))
        }
        Action::Untag(name) => {
            let tag_id: Option<i64> = tags::table
                .filter(tags::workspace_id.eq(w))
                .filter(crate::db::lower(tags::name).eq(crate::db::lower(name)))
                .select(tags::id)
                .first(tx)
                .optional()?;
            let Some(tag_id) = tag_id else { return Ok((0, "Untagged")) };
            let removed: Vec<i64> = diesel::delete(
                client_tags::table
                    .filter(client_tags::workspace_id.eq(w))
                    .filter(client_tags::tag_id.eq(tag_id))
                    .filter(client_tags::client_id.eq_any(ids)),
            )
            .returning(client_tags::client_id)
            .get_results(tx)?;
            let changes = removed.iter().map(|id| (*id, json!({ "tag": name }), json!({}))).collect();
            audit_each(tx, template, "untag", changes)?;
            Ok((removed.len(), "Untagged"))
        }
        Action::Delete => {
            let before: Vec<(i64, String, Option<String>, Option<String>)> =
                target().select((clients::id, clients::name, clients::email, clients::phone)).for_update().load(tx)?;
            diesel::delete(target()).execute(tx)?;
            let changes = before
                .iter()
                .map(|(id, name, email, phone)| (*id, json!({ "name": name, "email": email, "phone": phone }), json!(null)))
                .collect();
            audit_each(tx, template, "delete", changes)?;
            Ok((before.len(), "Deleted"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_in_keeps_the_order_and_drops_what_is_already_there() {
        assert_eq!(not_in(&[5, 1, 4, 2, 3], vec![4, 1, 99]), vec![5, 2, 3]);
        assert_eq!(not_in(&[1, 2], vec![]), vec![1, 2]);
        assert!(not_in(&[1, 2], vec![2, 1]).is_empty());
        let ids: Vec<i64> = (0..200_000).collect();
        let already: Vec<i64> = (0..200_000).filter(|i| i % 2 == 0).collect();
        let new = not_in(&ids, already);
        assert_eq!(new.len(), 100_000);
        assert!(new.iter().all(|i| i % 2 == 1));
    }
}
