//! The stored WhatsApp flows (`whatsapp_flows`) and the templates their steps use: what
//! `/whatsapp-flows` and the batch form read and write.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::campaigns::flows::{self, Flow, Step, TemplateInfo};
use crate::db::schema::{whatsapp_flows, whatsapp_templates};
use crate::error::AppError;
use crate::web::forms;


/// Every template of the workspace as validation and the editor need it.
pub fn template_infos(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(i64, TemplateInfo)>> {
    let rows: Vec<(i64, String, String, serde_json::Value)> = whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .order((whatsapp_templates::name, whatsapp_templates::id))
        .select((whatsapp_templates::id, whatsapp_templates::name, whatsapp_templates::approval_status, whatsapp_templates::buttons))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, status, buttons)| {
            let buttons = buttons
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| Some((b["id"].as_str()?.to_string(), b["title"].as_str().unwrap_or_default().to_string())))
                .collect();
            (id, TemplateInfo { name, approved: status == "approved", buttons })
        })
        .collect())
}

/// The flow (404 unless it is this workspace's).
pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> Result<Flow, AppError> {
    whatsapp_flows::table.find((workspace_id, id)).select(Flow::as_select()).first(conn).optional()?.ok_or(AppError::NotFound)
}

/// The flow if it is this workspace's.
pub fn get(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Flow>> {
    whatsapp_flows::table.find((workspace_id, id)).select(Flow::as_select()).first(conn).optional()
}

/// The workspace's flows by name (the first 500).
pub fn list(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<Flow>> {
    whatsapp_flows::table.filter(whatsapp_flows::workspace_id.eq(workspace_id)).order(whatsapp_flows::name).select(Flow::as_select()).limit(500).load(conn)
}

/// The flows the form offers: (id, name, how many problems stop it being sent).
pub fn choices(conn: &mut PgConnection, ws: i64) -> QueryResult<Vec<(i64, String, usize)>> {
    let infos: HashMap<i64, flows::TemplateInfo> = template_infos(conn, ws)?.into_iter().collect();
    let rows: Vec<flows::Flow> =
        whatsapp_flows::table.filter(whatsapp_flows::workspace_id.eq(ws)).order((whatsapp_flows::name, whatsapp_flows::id)).select(flows::Flow::as_select()).limit(500).load(conn)?;
    Ok(rows.into_iter().map(|f| (f.id, f.name.clone(), flows::problems(&f.steps(), &infos).len())).collect())
}

/// A new flow of one step, audited (`entry`); returns its id.
pub fn create(tx: &mut PgConnection, workspace_id: i64, user_id: i64, name: &str, first_template: i64, entry: Entry) -> Result<i64, AppError> {
    let steps = serde_json::to_value(vec![Step { key: "s1".into(), template_id: first_template, next: Default::default() }]).unwrap_or_default();
    let id: i64 = diesel::insert_into(whatsapp_flows::table)
        .values((whatsapp_flows::workspace_id.eq(workspace_id), whatsapp_flows::name.eq(name), whatsapp_flows::steps.eq(&steps), whatsapp_flows::created_by.eq(user_id)))
        .returning(whatsapp_flows::id)
        .get_result(tx)?;
    audit::record(tx, &entry.after(json!({ "id": id, "name": name })))?;
    Ok(id)
}

/// Saves the flow's name (`choices["name"]`, 422 when blank) and where each button leads
/// (`next_{step}_{button}` = a step's key or "" for the end), audited (`entry`).
pub fn save(tx: &mut PgConnection, workspace_id: i64, id: i64, choices: &HashMap<String, String>, entry: Entry) -> Result<(), AppError> {
    let flow = find(tx, workspace_id, id)?;
    let name = forms::required_text(choices.get("name").map_or("", String::as_str), "Name", 200).map_err(|e| AppError::Validation(e.to_string()))?;
    let infos: HashMap<i64, TemplateInfo> = template_infos(tx, workspace_id)?.into_iter().collect();
    let mut steps = flow.steps();
    let keys: Vec<String> = steps.iter().map(|s| s.key.clone()).collect();
    for (i, step) in steps.iter_mut().enumerate() {
        let buttons = infos.get(&step.template_id).map(|t| t.buttons.clone()).unwrap_or_default();
        step.next = buttons
            .iter()
            .enumerate()
            .filter_map(|(b, (button, _))| {
                let chosen = choices.get(&format!("next_{i}_{b}"))?;
                // Only a step of this flow, or the end.
                let next = keys.iter().find(|k| *k == chosen).cloned();
                Some((button.clone(), next))
            })
            .collect();
    }
    diesel::update(whatsapp_flows::table.find((workspace_id, id)))
        .set((whatsapp_flows::name.eq(&name), whatsapp_flows::steps.eq(serde_json::to_value(&steps).unwrap_or_default()), whatsapp_flows::updated_at.eq(diesel::dsl::now)))
        .execute(tx)?;
    audit::record(tx, &entry.after(json!({ "name": name, "steps": steps.len() })))?;
    Ok(())
}

/// Appends a step sending `template_id` (an approved template: 400 otherwise) to the flow.
pub fn add_step(tx: &mut PgConnection, workspace_id: i64, id: i64, template_id: Option<i64>) -> Result<(), AppError> {
    // Another workspace's flow is not found, whatever the form says.
    let flow = find(tx, workspace_id, id)?;
    let infos = template_infos(tx, workspace_id)?;
    let Some(template_id) = template_id.filter(|c| infos.iter().any(|(t, info)| t == c && info.approved)) else {
        return Err(AppError::BadRequest("Choose an approved template for the step.".into()));
    };
    let mut steps = flow.steps();
    let key = flows::next_key(&steps);
    steps.push(Step { key, template_id, next: Default::default() });
    set_steps(tx, workspace_id, id, &steps)
}

/// Removes step `key` (404 if the flow has none); buttons that led to it now lead nowhere.
pub fn remove_step(tx: &mut PgConnection, workspace_id: i64, id: i64, key: &str) -> Result<(), AppError> {
    let flow = find(tx, workspace_id, id)?;
    let mut steps = flow.steps();
    let before = steps.len();
    steps.retain(|s| s.key != key);
    if steps.len() == before {
        return Err(AppError::NotFound);
    }
    for step in &mut steps {
        for next in step.next.values_mut() {
            if next.as_deref() == Some(key) {
                // Unmapped again: the page asks where it leads now.
                *next = Some(String::new());
            }
        }
        step.next.retain(|_, next| next.as_deref() != Some(""));
    }
    set_steps(tx, workspace_id, id, &steps)
}

fn set_steps(tx: &mut PgConnection, workspace_id: i64, id: i64, steps: &[Step]) -> Result<(), AppError> {
    diesel::update(whatsapp_flows::table.find((workspace_id, id)))
        .set((whatsapp_flows::steps.eq(serde_json::to_value(steps).unwrap_or_default()), whatsapp_flows::updated_at.eq(diesel::dsl::now)))
        .execute(tx)?;
    Ok(())
}
