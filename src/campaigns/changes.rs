//! Changes to a campaign's own row (issue 12 part 1, issue 19 item 16), each in the caller's
//! transaction and audited there: create, edit a draft, delete a draft, duplicate.
//!
//! - Only a draft is edited (409 otherwise): its name, channels, departments and WhatsApp
//!   sender, with the new-campaign form's own checks (a manager: only their departments).
//!   A channel that already has a batch stays (the batch would have no channel).
//! - Only a draft with no batches is deleted (409 with the reason otherwise; a started
//!   campaign stays on record: complete it instead), once confirmed (422 without).
//! - Duplicating copies the settings, departments and audience into a new draft named
//!   "Copy of …"; never its batches, messages or counters.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::campaigns::campaign_form::{CampaignForm, NewCampaign, validate};
use crate::campaigns::query::{batch_channels, department_ids};
use crate::campaigns::{Campaign, CampaignScope, CampaignStatus};
use crate::db::schema::{campaign_batches, campaign_clients, campaign_departments, campaigns};
use crate::error::AppError;
use crate::web::forms::FormErrors;

/// Writes a checked new campaign and its departments, audited (`entry` names no id yet).
/// Returns its id.
pub fn create(tx: &mut PgConnection, scope: &CampaignScope, checked: &NewCampaign, entry: Entry) -> Result<i64, AppError> {
    let id: i64 = diesel::insert_into(campaigns::table)
        .values((
            campaigns::workspace_id.eq(scope.workspace_id),
            campaigns::name.eq(&checked.name),
            campaigns::channels.eq(&checked.channels),
            campaigns::whatsapp_from.eq(&checked.whatsapp_from),
            campaigns::created_by.eq(scope.user_id),
        ))
        .returning(campaigns::id)
        .get_result(tx)?;
    let rows: Vec<_> = checked
        .departments
        .iter()
        .map(|d| (campaign_departments::workspace_id.eq(scope.workspace_id), campaign_departments::campaign_id.eq(id), campaign_departments::department_id.eq(*d)))
        .collect();
    diesel::insert_into(campaign_departments::table).values(rows).execute(tx)?;
    let entry = Entry { entity_id: Some(id.to_string()), ..entry }.after(json!({
        "name": checked.name, "channels": checked.channels, "department_ids": checked.departments, "whatsapp_from": checked.whatsapp_from,
    }));
    audit::record(tx, &entry)?;
    Ok(id)
}

/// The campaign's row, locked for update, if its status is still `draft`; else why not.
fn lock_draft(tx: &mut PgConnection, w: i64, id: i64, what: &str) -> Result<(), AppError> {
    let status: String = campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id)).select(campaigns::status).for_update().first(tx)?;
    if status != CampaignStatus::Draft.as_str() {
        return Err(AppError::Conflict(format!("Only a draft can be {what}: this campaign is {status}.")));
    }
    Ok(())
}

/// Writes the checked fields over the campaign and replaces its departments.
fn update(tx: &mut PgConnection, w: i64, id: i64, checked: &NewCampaign) -> QueryResult<()> {
    diesel::update(campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id)))
        .set((
            campaigns::name.eq(&checked.name),
            campaigns::channels.eq(&checked.channels),
            campaigns::whatsapp_from.eq(&checked.whatsapp_from),
            campaigns::updated_at.eq(diesel::dsl::now),
        ))
        .execute(tx)?;
    diesel::delete(campaign_departments::table.filter(campaign_departments::workspace_id.eq(w)).filter(campaign_departments::campaign_id.eq(id))).execute(tx)?;
    let rows: Vec<_> = checked
        .departments
        .iter()
        .map(|d| (campaign_departments::workspace_id.eq(w), campaign_departments::campaign_id.eq(id), campaign_departments::department_id.eq(*d)))
        .collect();
    diesel::insert_into(campaign_departments::table).values(rows).execute(tx)?;
    Ok(())
}

/// Saves a draft's fields (`form`, checked as a new campaign's are), audited. `Err` holds the
/// campaign's name and the form's errors (nothing written).
pub fn edit(tx: &mut PgConnection, scope: &CampaignScope, id: i64, form: &CampaignForm, entry: Entry) -> Result<Result<(), (String, FormErrors)>, AppError> {
    let campaign = scope.find(tx, id)?;
    lock_draft(tx, scope.workspace_id, id, "edited")?;
    let mut checked = validate(tx, scope, form)?;
    let kept = batch_channels(tx, scope.workspace_id, id)?;
    if let Ok(c) = &checked {
        if let Some(dropped) = kept.iter().find(|k| !c.channels.contains(k)) {
            let (a, label) = match dropped.as_str() {
                "sms" => ("an", "SMS"),
                "email" => ("an", "email"),
                _ => ("a", "WhatsApp"),
            };
            let mut errors = FormErrors::default();
            errors.add("channels", format!("This campaign has {a} {label} batch, so {label} stays among its channels."));
            checked = Err(errors);
        }
    }
    let checked = match checked {
        Ok(c) => c,
        Err(errors) => return Ok(Err((campaign.name, errors))),
    };
    let before_departments = department_ids(tx, scope.workspace_id, id)?;
    update(tx, scope.workspace_id, id, &checked)?;
    let entry = entry
        .before(json!({ "name": campaign.name, "channels": campaign.channels, "department_ids": before_departments, "whatsapp_from": campaign.whatsapp_from }))
        .after(json!({ "name": checked.name, "channels": checked.channels, "department_ids": checked.departments, "whatsapp_from": checked.whatsapp_from }));
    audit::record(tx, &entry)?;
    Ok(Ok(()))
}

/// Deletes a draft with no batches once `confirmed`, audited; returns its name.
pub fn delete(tx: &mut PgConnection, scope: &CampaignScope, id: i64, confirmed: bool, entry: Entry) -> Result<String, AppError> {
    let campaign = scope.find(tx, id)?;
    let w = scope.workspace_id;
    lock_draft(tx, w, id, "deleted")?;
    let batches: i64 = campaign_batches::table.filter(campaign_batches::workspace_id.eq(w)).filter(campaign_batches::campaign_id.eq(id)).count().get_result(tx)?;
    if batches > 0 {
        return Err(AppError::Conflict(format!(
            "This draft has {batches} batch{}, so it cannot be deleted: complete it instead.",
            if batches == 1 { "" } else { "es" }
        )));
    }
    if !confirmed {
        return Err(AppError::Validation("Tick “Yes, delete this draft” to delete it.".into()));
    }
    let clients: i64 = campaign_clients::table.filter(campaign_clients::workspace_id.eq(w)).filter(campaign_clients::campaign_id.eq(id)).count().get_result(tx)?;
    let departments = department_ids(tx, w, id)?;
    diesel::delete(campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id))).execute(tx)?;
    let entry = entry.before(json!({ "name": campaign.name, "channels": campaign.channels, "department_ids": departments, "clients": clients }));
    audit::record(tx, &entry)?;
    Ok(campaign.name)
}

/// A new draft copied from `source` (see the module's notes), audited (`entry` names no id
/// yet); returns (its id, clients copied).
pub fn duplicate(tx: &mut PgConnection, scope: &CampaignScope, source: &Campaign, entry: Entry) -> Result<(i64, usize), AppError> {
    let (copy_id, clients) = copy(tx, scope.workspace_id, scope.user_id, source)?;
    let entry = Entry { entity_id: Some(copy_id.to_string()), ..entry }.after(json!({
        "name": format!("Copy of {}", source.name).chars().take(200).collect::<String>(),
        "source_id": source.id,
        "source_name": source.name,
        "clients": clients,
    }));
    audit::record(tx, &entry)?;
    Ok((copy_id, clients))
}

/// A new draft with the campaign's settings, departments and audience; returns (id, clients).
fn copy(tx: &mut PgConnection, w: i64, user_id: i64, source: &Campaign) -> QueryResult<(i64, usize)> {
    let name: String = format!("Copy of {}", source.name).chars().take(200).collect();
    let id: i64 = diesel::insert_into(campaigns::table)
        .values((
            campaigns::workspace_id.eq(w),
            campaigns::name.eq(&name),
            campaigns::channels.eq(&source.channels),
            campaigns::whatsapp_from.eq(&source.whatsapp_from),
            campaigns::created_by.eq(user_id),
        ))
        .returning(campaigns::id)
        .get_result(tx)?;
    diesel::sql_query(
        "INSERT INTO campaign_departments (workspace_id, campaign_id, department_id) \
         SELECT workspace_id, $3, department_id FROM campaign_departments WHERE workspace_id = $1 AND campaign_id = $2",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(source.id)
    .bind::<BigInt, _>(id)
    .execute(tx)?;
    let clients = diesel::sql_query(
        "INSERT INTO campaign_clients (workspace_id, campaign_id, client_id) \
         SELECT workspace_id, $3, client_id FROM campaign_clients WHERE workspace_id = $1 AND campaign_id = $2",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(source.id)
    .bind::<BigInt, _>(id)
    .execute(tx)?;
    Ok((id, clients))
}
