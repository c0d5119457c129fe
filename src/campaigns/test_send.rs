//! The test send (issue 19 item 16): the campaign's first WhatsApp or SMS batch (its
//! template, or its SMS text), its variables filled from the signed-in user's name, to the
//! phone typed in the form (user profiles hold no phone number), as a message of no client
//! and no batch: the same `send-message` job and checks as a real send (Twilio account,
//! sender, approved template), and nothing in the campaign's counters.

use diesel::prelude::*;

use crate::audit::Entry;
use crate::campaigns::{BatchChannel, Campaign, CampaignScope, batches};
use crate::clients::domain::{PhoneE164, PhoneError};
use crate::clients::model::Client;
use crate::db::schema::campaign_batches;
use crate::error::AppError;
use crate::messaging::Channel;
use crate::messaging::account::Account;
use crate::messaging::compose;
use crate::messaging::store::NewOutbound;

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

/// Why the test message was refused; the message is the one the page shows (after "The
/// test was not sent: ").
#[derive(Debug, thiserror::Error)]
pub enum TestRefusal {
    #[error("This campaign has no WhatsApp or SMS batch yet: make one, then test its first message.")]
    NoBatch,
    #[error("Type the phone number to send the test to.")]
    NoPhone,
    #[error(transparent)]
    Phone(#[from] PhoneError),
    #[error("The batch's WhatsApp template no longer exists: sync the templates, then make a new batch.")]
    TemplateGone,
    /// What a person's message would be refused for (no account, no sender, a template
    /// not approved).
    #[error(transparent)]
    Send(#[from] compose::Refusal),
}

/// The test message, checked as a real send is; `Err` is the reason shown.
pub fn message(tx: &mut PgConnection, at_rest_key: &[u8; 32], scope: &CampaignScope, campaign: &Campaign, user_name: &str, phone: &str) -> Result<Result<NewOutbound, TestRefusal>, AppError> {
    let w = scope.workspace_id;
    let Some(batch) = first_phone_batch(tx, w, campaign.id)? else {
        return Ok(Err(TestRefusal::NoBatch));
    };
    let country = crate::workspaces::find(tx, w)?.default_country;
    let phone = match PhoneE164::parse(phone, &country) {
        Ok(p) => p,
        Err(_) if phone.trim().is_empty() => return Ok(Err(TestRefusal::NoPhone)),
        Err(why) => return Ok(Err(why.into())),
    };
    let account = match Account::load(tx, at_rest_key, w) {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Err(compose::Refusal::NotConfigured.into())),
        Err(why) => return Ok(Err(compose::Refusal::from(why).into())),
    };
    let channel = if batch.channel == BatchChannel::WhatsApp { Channel::WhatsApp } else { Channel::Sms };
    let Some(sender) = account.sender(channel, batch.sender.as_deref()) else {
        return Ok(Err(compose::Refusal::no_sender(channel).into()));
    };
    if let Some(template_id) = batch.template_id {
        match compose::find_template(tx, w, template_id)? {
            None => return Ok(Err(TestRefusal::TemplateGone)),
            Some(t) if t.approval_status != "approved" => {
                return Ok(Err(compose::Refusal::NotApproved { name: t.name, status: t.approval_status }.into()));
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

/// Queues the test message (`send-message`), audited with `entry`.
pub fn queue(tx: &mut PgConnection, new: &NewOutbound, entry: Entry) -> Result<(), AppError> {
    compose::queue(tx, new, entry)?;
    Ok(())
}
