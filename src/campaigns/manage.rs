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
//!
//! The changes themselves are `campaigns::changes` and `campaigns::test_send`.


use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Action;
use crate::authz::Role;
use crate::campaigns::campaign_form::CampaignForm;
use crate::campaigns::handlers::NewPage;
use crate::campaigns::model::transaction;
use crate::campaigns::{CampaignScope, CampaignStatus, changes, query, test_send};
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::flash;
use crate::web::forms::{FormErrors, HtmlForm, OnceForm};
use crate::web::once::Claim;
use crate::web::render::{respond, see_other};
use crate::web::state::AppState;

/// The edit form of campaign `(id, name)`.
async fn edit_page(ctx: &Ctx, state: &AppState, scope: CampaignScope, (id, name): (i64, String), form: CampaignForm, errors: FormErrors, status: StatusCode) -> Result<HttpResponse, AppError> {
    let (departments, senders) = state.db(move |conn| Ok(query::form_choices(conn, &scope)?)).await?;
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
    let (campaign, departments) = state.db(move |conn| {
        let campaign = scope.find(conn, id)?;
        if campaign.status != CampaignStatus::Draft {
            return Err(AppError::Conflict(format!("Only a draft can be edited: this campaign is {}.", campaign.status.as_str())));
        }
        let departments = query::department_ids(conn, scope.workspace_id, id)?;
        Ok((campaign, departments))
    })
    .await?;
    let form = CampaignForm::of(&campaign, &departments);
    edit_page(&ctx, &state, scope, (id, campaign.name), form, FormErrors::default(), StatusCode::OK).await
}

/// `POST /campaigns/{id}`: saves a draft's fields, checked as a new campaign's are.
pub async fn update_campaign(ctx: Ctx, state: Data<AppState>, id: Path<i64>, HtmlForm(form): HtmlForm<CampaignForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsUpdated, "campaigns", id);
    let f = form.clone();
    let outcome = state.db(move |conn| transaction(conn, |tx| changes::edit(tx, &scope, id, &f, entry))).await?;
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
    let name = state.db(move |conn| transaction(conn, |tx| changes::delete(tx, &scope, id, confirmed, entry))).await?;
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
    let outcome = state.db(move |conn| {
        transaction(conn, |tx| {
            let source = scope.find(tx, id)?;
            if let Claim::Repeat(first) = once.claim(tx, scope.workspace_id, scope.user_id)? {
                return Ok(Err(first));
            }
            let (copy_id, clients) = changes::duplicate(tx, &scope, &source, entry)?;
            once.done(tx, scope.workspace_id, scope.user_id, &format!("/campaigns/{copy_id}"))?;
            Ok(Ok((copy_id, clients)))
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

/// `POST /campaigns/{id}/test-send`: the campaign's first message to the typed phone.
pub async fn test_send(ctx: Ctx, state: Data<AppState>, id: Path<i64>, OnceForm(form, once): OnceForm<TestSendForm>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let id = id.into_inner();
    let entry = ctx.audit(Action::CampaignsTestSent, "campaigns", id);
    let user_name = ctx.user.name.clone();
    let key = state.at_rest_key;
    let outcome = state.db(move |conn| {
        transaction(conn, |tx| {
            let campaign = scope.find(tx, id)?;
            let new = match test_send::message(tx, &key, &scope, &campaign, &user_name, &form.phone)? {
                Ok(new) => new,
                Err(why) => return Ok(Err(why)),
            };
            if once.claim(tx, scope.workspace_id, scope.user_id)? == Claim::First {
                test_send::queue(tx, &new, entry.before(json!({ "name": campaign.name })))?;
            }
            Ok(Ok(new.recipient))
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
