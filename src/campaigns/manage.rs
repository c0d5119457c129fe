//! Changing a campaign after it is made (issue 19 item 16): edit a draft, delete a draft,
//! duplicate any campaign, and send its first message to oneself as a test.
//!
//! Decisions:
//! - Only a draft is edited (409 otherwise): its name, channels, departments and WhatsApp
//!   sender, with the new-campaign form's own checks (a manager: only their departments).
//!   A channel that already has a batch stays (the batch would have no channel).
//! - Only a draft with no batches is deleted (409 with the reason otherwise; a started
//!   campaign stays on record: complete it instead), after a ticked confirmation (422 without).
//! - Duplicating copies the settings, departments and audience into a new draft named
//!   "Copy of …"; never its batches, messages or counters. Once per submitted form.
//! - The test send takes the campaign's first WhatsApp or SMS batch (its template, or its
//!   SMS text), fills its variables from the signed-in user's name, and sends it to the
//!   phone typed in the form (user profiles hold no phone number), as a message of no
//!   client and no batch: the same `send-message` job and checks as a real send (Twilio
//!   account, sender, approved template), and nothing in the campaign's counters.
//! - Every change is audited in its transaction; another workspace's (or, for a manager,
//!   another department's) campaign is 404 on every route.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Role;
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, CampaignStatus, batches};
use crate::campaigns::handlers::{CampaignForm, NewCampaign, NewPage, form_choices, validate};
use crate::clients::domain::PhoneE164;
use crate::clients::model::Client;
use crate::db;
use crate::db::schema::{campaign_batches, campaign_clients, campaign_departments, campaigns};
use crate::error::AppError;
use crate::messaging::account::Account;
use crate::messaging::Channel;
use crate::messaging::compose;
use crate::messaging::store::NewOutbound;
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm, OnceForm};
use crate::web::once::Claim;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// The campaign's row, locked for update, if its status is still `draft`; else why not.
fn lock_draft(tx: &mut PgConnection, w: i64, id: i64, what: &str) -> Result<(), AppError> {
    let status: String = campaigns::table.filter(campaigns::workspace_id.eq(w)).filter(campaigns::id.eq(id)).select(campaigns::status).for_update().first(tx)?;
    if status != CampaignStatus::Draft.as_str() {
        return Err(AppError::Conflict(format!("Only a draft can be {what}: this campaign is {status}.")));
    }
    Ok(())
}

/// The campaign's department ids.
fn department_ids(conn: &mut PgConnection, w: i64, id: i64) -> QueryResult<Vec<i64>> {
    campaign_departments::table
        .filter(campaign_departments::workspace_id.eq(w))
        .filter(campaign_departments::campaign_id.eq(id))
        .order(campaign_departments::department_id)
        .select(campaign_departments::department_id)
        .load(conn)
}

/// The channels of the campaign's batches (those a draft's edit may not drop).
fn batch_channels(conn: &mut PgConnection, w: i64, id: i64) -> QueryResult<Vec<String>> {
    campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(id))
        .select(campaign_batches::channel)
        .distinct()
        .load(conn)
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

/// The form as the campaign is now.
fn form_of(campaign: &Campaign, departments: &[i64]) -> CampaignForm {
    CampaignForm {
        name: campaign.name.clone(),
        channels: campaign.channels.clone(),
        department_ids: departments.iter().map(i64::to_string).collect(),
        whatsapp_from: campaign.whatsapp_from.clone().unwrap_or_default(),
    }
}

/// The edit form of campaign `(id, name)`.
async fn edit_page(ctx: &Ctx, state: &AppState, scope: CampaignScope, (id, name): (i64, String), form: CampaignForm, errors: FormErrors, status: StatusCode) -> Result<HttpResponse, AppError> {
    let (departments, senders) = db::run(&state.pool, move |conn| Ok(form_choices(conn, &scope)?)).await?;
    let page = NewPage {
        layout: ctx.layout(format!("Edit “{name}”"), "campaigns"),
        editing: Some(id),
        form,
        errors,
        departments,
        senders,
        department_required: scope.role != Role::Admin,
    };
    respond(&ctx.meta.htmx, status, &page)
}

/// `GET /campaigns/{id}/edit`: the new-campaign form, filled; a draft's only.
pub async fn edit_campaign_form(ctx: Ctx, state: Data<AppState>, id: Path<i64>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let (campaign, departments) = db::run(&state.pool, move |conn| {
        let campaign = scope.find(conn, id)?;
        if campaign.status != CampaignStatus::Draft {
            return Err(AppError::Conflict(format!("Only a draft can be edited: this campaign is {}.", campaign.status.as_str())));
        }
        let departments = department_ids(conn, scope.workspace_id, id)?;
        Ok((campaign, departments))
    })
    .await?;
    let form = form_of(&campaign, &departments);
    edit_page(&ctx, &state, scope, (id, campaign.name), form, FormErrors::default(), StatusCode::OK).await
}

/// `POST /campaigns/{id}`: saves a draft's fields, checked as a new campaign's are.
pub async fn update_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<CampaignForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsUpdated, "campaigns", id);
    let f = form.clone();
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let campaign = scope.find(tx, id)?;
            lock_draft(tx, scope.workspace_id, id, "edited")?;
            let mut checked = validate(tx, &scope, &f)?;
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
            Ok::<_, AppError>(Ok(()))
        })
    })
    .await?;
    match outcome {
        Ok(()) => {
            flash::success(&ctx.session, "Campaign saved.");
            Ok(see_other(&format!("/campaigns/{id}")))
        }
        Err((name, errors)) => edit_page(&ctx, &state, scope, (id, name), form, errors, StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /campaigns/{id}/delete`: a draft with no batches, once confirmed.
pub async fn delete_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<DeleteForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsDeleted, "campaigns", id);
    let confirmed = form.confirm == "yes";
    let name = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
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
            Ok::<_, AppError>(campaign.name)
        })
    })
    .await?;
    flash::success(&ctx.session, format!("Campaign “{name}” deleted."));
    Ok(see_other("/campaigns"))
}

#[derive(Debug, Default, Deserialize)]
pub struct DuplicateForm {}

/// `POST /campaigns/{id}/duplicate`: a new draft with the same settings and audience.
pub async fn duplicate_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, OnceForm(_form, once): OnceForm<DuplicateForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsDuplicated, "campaigns", "");
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let source = scope.find(tx, id)?;
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Err(first));
            }
            let (copy_id, clients) = copy(tx, scope.workspace_id, scope.user_id, &source)?;
            let entry = audit::Entry { entity_id: Some(copy_id.to_string()), ..entry }.after(json!({
                "name": format!("Copy of {}", source.name).chars().take(200).collect::<String>(),
                "source_id": source.id,
                "source_name": source.name,
                "clients": clients,
            }));
            audit::record(tx, &entry)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{copy_id}"))?;
            Ok::<_, AppError>(Ok((copy_id, clients)))
        })
    })
    .await?;
    match outcome {
        Err(first) => Ok(see_other(first.as_deref().unwrap_or("/campaigns"))),
        Ok((copy_id, clients)) => {
            let who = if clients == 1 { "1 client".to_string() } else { format!("{} clients", crate::web::numbers::thousands(clients as i64)) };
            flash::success(&ctx.session, format!("Copied as a new draft with the same settings and {who}; batches and messages are not copied."));
            Ok(see_other(&format!("/campaigns/{copy_id}")))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TestSendForm {
    #[serde(default)]
    phone: String,
}

/// The campaign's first WhatsApp or SMS batch.
fn first_phone_batch(conn: &mut PgConnection, w: i64, campaign_id: i64) -> QueryResult<Option<batches::Batch>> {
    campaign_batches::table
        .filter(campaign_batches::workspace_id.eq(w))
        .filter(campaign_batches::campaign_id.eq(campaign_id))
        .filter(campaign_batches::channel.eq_any([BatchChannel::WhatsApp.as_str(), BatchChannel::Sms.as_str()]))
        .order((campaign_batches::created_at, campaign_batches::id))
        .select(batches::Batch::as_select())
        .first(conn)
        .optional()
}

/// A stand-in client for the test: the user's name, the typed phone.
fn stand_in(w: i64, name: &str, phone: &str) -> Client {
    let now = chrono::Utc::now();
    Client {
        workspace_id: w,
        id: 0,
        name: name.to_string(),
        email: None,
        phone: Some(phone.to_string()),
        company: None,
        status: "new".into(),
        status_source: "rule".into(),
        assigned_to: None,
        notes: String::new(),
        opt_out_whatsapp_at: None,
        opt_out_whatsapp_source: None,
        opt_out_sms_at: None,
        opt_out_sms_source: None,
        opt_out_email_at: None,
        opt_out_email_source: None,
        last_contacted_at: None,
        version: 0,
        created_at: now,
        updated_at: now,
        import_id: None,
        phone_formatted: None,
    }
}

/// The test message, checked as a real send is; `Err` is the reason shown.
fn test_message(tx: &mut PgConnection, state: &AppState, scope: &CampaignScope, campaign: &Campaign, user_name: &str, phone: &str) -> Result<Result<NewOutbound, String>, AppError> {
    let w = scope.workspace_id;
    let Some(batch) = first_phone_batch(tx, w, campaign.id)? else {
        return Ok(Err("This campaign has no WhatsApp or SMS batch yet: make one, then test its first message.".into()));
    };
    let country = crate::workspaces::find(tx, w)?.default_country;
    let phone = match PhoneE164::parse(phone, &country) {
        Ok(p) => p,
        Err(_) if phone.trim().is_empty() => return Ok(Err("Type the phone number to send the test to.".into())),
        Err(why) => return Ok(Err(why)),
    };
    let account = match Account::load(tx, &state.at_rest_key, w) {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Err("Twilio is not configured: add the account in Settings → Twilio first.".into())),
        Err(why) => return Ok(Err(why)),
    };
    let channel = if batch.channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms };
    let Some(sender) = account.sender(channel, batch.sender.as_deref()) else {
        return Ok(Err(match channel {
            Channel::WhatsApp => "No WhatsApp sender is set up: add a WhatsApp number in Settings → Twilio.".into(),
            Channel::Sms => "No SMS sender is set up: add an SMS number or a messaging service in Settings → Twilio.".into(),
        }));
    };
    if let Some(template_id) = batch.template_id {
        match compose::find_template(tx, w, template_id)? {
            None => return Ok(Err("The batch's WhatsApp template no longer exists: sync the templates, then make a new batch.".into())),
            Some(t) if t.approval_status != "approved" => {
                return Ok(Err(format!("The template {} is not approved by WhatsApp ({}).", t.name, t.approval_status)));
            }
            Some(_) => {}
        }
    }
    let client = stand_in(w, user_name, phone.as_str());
    let (body, variables) = batches::render_message(tx, &batch, &client)?;
    Ok(Ok(NewOutbound {
        workspace_id: w,
        client_id: None,
        channel,
        sender: sender.key().to_string(),
        recipient: phone.as_str().to_string(),
        body,
        template_id: batch.template_id,
        variables,
        created_by: Some(scope.user_id),
        batch_id: None,
    }))
}

/// `POST /campaigns/{id}/test-send`: the campaign's first message to the typed phone.
pub async fn test_send(ctx: Ctx, state: Data<AppState>, id: Path<i64>, OnceForm(form, once): OnceForm<TestSendForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsTestSent, "campaigns", id);
    let user_name = ctx.user.name.clone();
    let st = state.clone();
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|tx| {
            let campaign = scope.find(tx, id)?;
            let new = match test_message(tx, &st, &scope, &campaign, &user_name, &form.phone)? {
                Ok(new) => new,
                Err(why) => return Ok(Err(why)),
            };
            if once.claim(tx, scope.workspace_id, scope.user_id)? == Claim::First {
                compose::queue(tx, &new, entry.before(json!({ "name": campaign.name })))?;
            }
            Ok::<_, AppError>(Ok(new.recipient))
        })
    })
    .await?;
    match outcome {
        Ok(to) => {
            flash::success(&ctx.session, format!("Test message queued to {to}; it is not counted in the campaign."));
            Ok(see_other(&format!("/campaigns/{id}")))
        }
        Err(why) => Err(AppError::Validation(format!("The test was not sent: {why}"))),
    }
}
