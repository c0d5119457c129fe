//! The campaign form (new campaign, and a draft's edit): its fields, and the check of
//! every field before anything is written.

use diesel::prelude::*;
use serde::Deserialize;

use crate::authz::Role;
use crate::campaigns::{BatchChannel, Campaign, CampaignScope};
use crate::web::forms::{self, FormErrors};

#[derive(Clone, Default, Deserialize)]
pub struct CampaignForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub department_ids: Vec<String>,
    #[serde(default)]
    pub whatsapp_from: String,
}

impl CampaignForm {
    /// The form as the campaign is now.
    pub fn of(campaign: &Campaign, departments: &[i64]) -> CampaignForm {
        CampaignForm {
            name: campaign.name.clone(),
            channels: campaign.channels.clone(),
            department_ids: departments.iter().map(i64::to_string).collect(),
            whatsapp_from: campaign.whatsapp_from.clone().unwrap_or_default(),
        }
    }
}


/// A checked campaign, ready to insert.
pub struct NewCampaign {
    pub name: String,
    pub channels: Vec<String>,
    pub departments: Vec<i64>,
    pub whatsapp_from: Option<String>,
}

/// Every field checked before anything is written; errors by field.
pub fn validate(conn: &mut PgConnection, scope: &CampaignScope, form: &CampaignForm) -> QueryResult<Result<NewCampaign, FormErrors>> {
    let mut errors = FormErrors::default();
    let name = errors.take("name", forms::required_text(&form.name, "Name", 200));
    let mut channels: Vec<String> = Vec::new();
    for c in &form.channels {
        match BatchChannel::parse(c.trim()) {
            Some(ch) if !channels.iter().any(|x| x == ch.as_str()) => channels.push(ch.as_str().to_string()),
            Some(_) => {}
            None => errors.add("channels", "Choose channels from the list: WhatsApp, SMS or email."),
        }
    }
    if channels.is_empty() {
        errors.add("channels", "Choose at least one channel.");
    }
    // Keep the order of the list (whatsapp, sms, email).
    channels.sort_by_key(|c| BatchChannel::ALL.iter().position(|x| x.as_str() == c));
    let ids: Result<Vec<i64>, _> = form.department_ids.iter().map(|d| d.trim()).filter(|d| !d.is_empty()).map(str::parse::<i64>).collect();
    let departments = match ids {
        Err(_) => {
            errors.add("department_ids", "Choose departments from the list.");
            Vec::new()
        }
        Ok(ids) => match crate::departments::check_ids(conn, scope.workspace_id, &ids)? {
            Err(e) => {
                errors.add("department_ids", e);
                Vec::new()
            }
            Ok(ids) => ids,
        },
    };
    if scope.role != Role::Admin && errors.get("department_ids").is_none() {
        let mine = crate::users::model::department_ids_of(conn, scope.workspace_id, scope.user_id)?;
        if departments.is_empty() {
            errors.add("department_ids", "Choose at least one of your departments.");
        } else if departments.iter().any(|d| !mine.contains(d)) {
            errors.add("department_ids", "Choose only your own departments.");
        }
    }
    let whatsapp_from = if channels.iter().any(|c| c == "whatsapp") {
        let senders = crate::messaging::account::stored(conn, scope.workspace_id)?.map(|s| s.whatsapp_from).unwrap_or_default();
        let chosen = form.whatsapp_from.trim();
        if senders.is_empty() {
            errors.add("whatsapp_from", "No WhatsApp sender is set up: an admin adds a WhatsApp number in Settings → Twilio.");
            None
        } else if chosen.is_empty() {
            errors.add("whatsapp_from", "Choose the WhatsApp number to send from.");
            None
        } else if !senders.iter().any(|s| s == chosen) {
            errors.add("whatsapp_from", "Choose one of this workspace’s WhatsApp numbers.");
            None
        } else {
            Some(chosen.to_string())
        }
    } else {
        None
    };
    Ok(match name {
        Some(name) if errors.is_empty() => Ok(NewCampaign { name, channels, departments, whatsapp_from }),
        _ => Err(errors),
    })
}
