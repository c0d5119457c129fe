//! The getting-started checklist an admin sees on the dashboard of a new workspace (issue 10
//! item 7): each step ticks itself off when its condition holds, and the list goes away once
//! every step that can be done today is done. Four EXISTS queries scoped to the workspace.

use diesel::dsl::exists;
use diesel::prelude::*;

use crate::db::schema::{clients, smtp_settings, twilio_settings, users};

/// One step: where to do it, whether it is done, and whether it can be done yet.
pub struct Step {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    pub done: bool,
    /// `false`: the page comes with a later release ("coming soon"), never counted as open.
    pub available: bool,
}

/// The steps, or nothing when every available one is done. `smtp_from_env`: the server has
/// `SMTP_URL`, which serves every workspace without stored settings.
pub fn steps(conn: &mut PgConnection, workspace_id: i64, user_id: i64, smtp_from_env: bool) -> QueryResult<Vec<Step>> {
    let (has_clients, has_colleague, has_smtp, has_twilio): (bool, bool, bool, bool) = diesel::select((
        exists(clients::table.filter(clients::workspace_id.eq(workspace_id))),
        // Invitations are users waiting to set their password, so they count too.
        exists(users::table.filter(users::workspace_id.eq(workspace_id)).filter(users::id.ne(user_id))),
        exists(smtp_settings::table.filter(smtp_settings::workspace_id.eq(workspace_id))),
        exists(twilio_settings::table.filter(twilio_settings::workspace_id.eq(workspace_id))),
    ))
    .get_result(conn)?;
    let steps = vec![
        Step { key: "clients", label: "Import clients", href: "/clients/import", done: has_clients, available: true },
        Step { key: "colleague", label: "Invite a colleague", href: "/settings/users", done: has_colleague, available: true },
        Step { key: "email", label: "Set up email", href: "/settings/smtp", done: has_smtp || smtp_from_env, available: true },
        Step { key: "twilio", label: "Connect Twilio", href: "/settings/twilio", done: has_twilio, available: true },
    ];
    Ok(if steps.iter().all(|s| s.done || !s.available) { Vec::new() } else { steps })
}
