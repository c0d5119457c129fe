//! The whole route table. Every path is a resource of its own, so a method it does not list
//! answers 405 (a GET to a POST-only route included) and never falls through to a later
//! pattern such as `/clients/{id}`. The same table is listed in [`ROUTES`], so the tests can
//! walk every route and a new one cannot be left out of them.

use actix_web::web::{self, ServiceConfig, get, post};

use crate::{audit_log, auth, campaigns, canned, chat, clients, dashboard, departments, email, events, imports, jobs, messaging, notifications, ops, settings, users, web as sbweb};

/// A campaign email's form (plain and HTML bodies of up to 100,000 and 200,000 characters)
/// may be larger than the app's `MAX_FORM_BYTES`: up to 1 MiB, on that route only.
pub const MAX_EMAIL_FORM_BYTES: usize = 1024 * 1024;

/// The resources that accept larger forms than the app's default.
pub fn form_limits() -> sbweb::state::FormLimits {
    sbweb::state::FormLimits::default().with(r"/campaigns/{id:\d+}/emails", MAX_EMAIL_FORM_BYTES)
}

/// One path of the route table and the methods it accepts.
#[derive(Clone, Copy, Debug)]
pub struct RouteInfo {
    pub path: &'static str,
    /// As written in the table (`get`, `post`, `web::delete`); see [`RouteInfo::methods`].
    written: &'static [&'static str],
}

impl RouteInfo {
    /// The accepted methods, upper-case (`GET`, `POST`, `DELETE`).
    pub fn methods(&self) -> Vec<String> {
        self.written.iter().map(|m| m.rsplit(':').next().unwrap_or(m).trim().to_ascii_uppercase()).collect()
    }

    pub fn accepts(&self, method: &str) -> bool {
        self.methods().iter().any(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Expands the chain below into `configure` (each entry a resource) and `ROUTES`.
/// Entries are `.route(PATH, METHOD().to(HANDLER))` or
/// `.service(web::resource(PATH).route(METHOD().to(HANDLER))…)`.
macro_rules! route_table {
    ($cfg:ident $( . $kind:ident ( $($entry:tt)* ) )*) => {
        pub fn configure($cfg: &mut ServiceConfig) {
            $( route_table!(@register $cfg, $kind ( $($entry)* )); )*
        }

        /// Every path of the table with its methods, in registration order.
        pub const ROUTES: &[RouteInfo] = &[ $( route_table!(@info $kind ( $($entry)* )) ),* ];
    };
    (@register $cfg:ident, route ($path:literal, $($m:ident)::+ () .to($h:path) $(,)?)) => {
        $cfg.service(web::resource($path).route($($m)::+().to($h)))
    };
    (@register $cfg:ident, service (web::resource($path:literal) $(.route($($m:ident)::+ () .to($h:path)))+ $(,)?)) => {
        $cfg.service(web::resource($path) $(.route($($m)::+().to($h)))+)
    };
    (@info route ($path:literal, $($m:ident)::+ () .to($h:path) $(,)?)) => {
        RouteInfo { path: $path, written: &[stringify!($($m)::+)] }
    };
    (@info service (web::resource($path:literal) $(.route($($m:ident)::+ () .to($h:path)))+ $(,)?)) => {
        RouteInfo { path: $path, written: &[$(stringify!($($m)::+)),+] }
    };
}

route_table! {
    cfg.route("/healthz", get().to(ops::healthz))
        .route("/readyz", get().to(ops::readyz))
        .route("/static/{hash}/{file:.*}", get().to(sbweb::assets::serve))
        // Provider webhooks: public, signed, no session, exempt from the CSRF check (web::csrf)
        .service(web::resource("/webhooks/twilio/{workspace_key}/status").route(post().to(messaging::webhooks::status)))
        .service(web::resource("/webhooks/twilio/{workspace_key}/inbound").route(post().to(messaging::webhooks::inbound)))
        // Accounts and sessions
        .service(web::resource("/login").route(get().to(auth::handlers::login_form)).route(post().to(auth::handlers::login)))
        .service(web::resource("/logout").route(post().to(auth::handlers::logout)))
        .service(web::resource("/setup").route(get().to(auth::setup::setup_form)).route(post().to(auth::setup::setup)))
        // Campaign emails' unsubscribe link: public, no session (issue 12).
        .service(web::resource("/unsubscribe/{token}").route(get().to(campaigns::unsubscribe::unsubscribe_form)).route(post().to(campaigns::unsubscribe::unsubscribe)))
        .service(web::resource("/password/forgot").route(get().to(auth::recovery::forgot_form)).route(post().to(auth::recovery::request_reset)))
        .service(web::resource("/password/reset/{token}").route(get().to(auth::recovery::reset_form)).route(post().to(auth::recovery::reset_password)))
        .service(web::resource("/invitations/{token}").route(get().to(auth::recovery::invitation_form)).route(post().to(auth::recovery::accept_invitation)))
        .service(web::resource("/account").route(get().to(auth::account::profile_form)))
        .service(web::resource("/account/name").route(post().to(auth::account::change_name)))
        .service(web::resource("/account/email").route(post().to(auth::account::request_email_change)))
        .service(web::resource("/account/email/cancel").route(post().to(auth::account::cancel_email_change)))
        .service(
            web::resource("/account/email/{token}")
                .route(get().to(auth::account::confirm_email_form))
                .route(post().to(auth::account::confirm_email)),
        )
        .service(web::resource("/account/chat-digest").route(post().to(chat::settings::save_setting)))
        .service(web::resource("/account/chat-keys").route(post().to(chat::settings::save_keys)))
        .service(web::resource("/account/notifications").route(post().to(notifications::handlers::save_choices)))
        .service(web::resource("/account/sessions").route(get().to(auth::handlers::list_sessions)))
        .service(web::resource("/account/sessions/revoke-all").route(post().to(auth::handlers::revoke_all_sessions)))
        .service(web::resource("/account/sessions/revoke-others").route(post().to(auth::handlers::revoke_other_sessions)))
        .service(web::resource("/account/sessions/{id}/revoke").route(post().to(auth::handlers::revoke_session)))
        .service(
            web::resource("/account/password")
                .route(get().to(auth::handlers::password_form))
                .route(post().to(auth::handlers::change_password)),
        )
        // Home
        .service(web::resource("/").route(get().to(dashboard::dashboard)))
        // Clients
        .service(web::resource("/clients").route(get().to(clients::handlers::list_clients)).route(post().to(clients::handlers::create_client)))
        .service(web::resource("/clients/bulk").route(post().to(clients::bulk::bulk_update_clients)))
        .route("/clients/check", get().to(clients::handlers::check_field))
        .route("/clients/counts", get().to(clients::handlers::list_counts))
        .route("/clients/export.csv", get().to(clients::export::export_clients))
        .service(web::resource("/clients/import").route(get().to(imports::upload::upload_form)).route(post().to(imports::upload::upload)))
        .route("/clients/import/sample.csv", get().to(imports::upload::sample_csv))
        .service(web::resource("/imports/{id}").route(get().to(imports::handlers::show_import)))
        .route("/imports/{id}/progress", get().to(imports::handlers::import_progress))
        .service(web::resource("/imports/{id}/start").route(post().to(imports::handlers::start_import)))
        .service(web::resource("/imports/{id}/retry").route(post().to(imports::handlers::retry_import)))
        .route("/imports/{id}/errors.csv", get().to(imports::handlers::errors_csv))
        .service(web::resource("/clients/new").route(get().to(clients::handlers::new_client_form)))
        .service(
            web::resource("/clients/{id}")
                .route(get().to(clients::handlers::show_client))
                .route(post().to(clients::handlers::update_client))
                .route(web::delete().to(clients::handlers::delete_client)),
        )
        .service(web::resource("/clients/{id}/edit").route(get().to(clients::handlers::edit_client_form)))
        .service(web::resource("/clients/{id}/delete").route(post().to(clients::handlers::delete_client)))
        .service(web::resource("/clients/{id}/communications").route(post().to(clients::activity_handlers::log_communication)))
        .service(web::resource("/clients/{id}/follow-ups").route(post().to(clients::activity_handlers::add_follow_up)))
        .service(web::resource("/clients/{id}/messages").route(post().to(clients::messages::send)))
        .service(web::resource("/clients/{id}/messages/preview").route(get().to(clients::messages::preview)))
        .service(web::resource("/clients/{id}/messages/segments").route(get().to(clients::messages::segments)))
        .service(web::resource("/clients/{id}/messages/{message_id}/resend").route(post().to(clients::messages::resend)))
        // Chat inbox (issue 13): assign, close, reopen
        .service(web::resource("/chat/{id}/assign").route(post().to(chat::actions::assign_chat)))
        .service(web::resource("/chat/{id}/close").route(post().to(chat::actions::close_chat)))
        .service(web::resource("/chat/{id}/reopen").route(post().to(chat::actions::reopen_chat)))
        .service(web::resource("/follow-ups").route(get().to(clients::activity_handlers::list_follow_ups)))
        .service(web::resource("/follow-ups/{id}").route(post().to(clients::activity_handlers::update_follow_up)))
        .route("/dashboard/clients", get().to(dashboard::tiles::clients_tile))
        .route("/dashboard/follow-ups", get().to(dashboard::tiles::follow_ups_tile))
        .route("/dashboard/communications", get().to(dashboard::tiles::communications_tile))
        .route("/dashboard/my-follow-ups", get().to(dashboard::tiles::my_follow_ups_tile))
        // Campaigns (admins, managers; issue 12). `/campaigns/new` before `/campaigns/{id}`.
        .service(web::resource("/campaigns").route(get().to(campaigns::handlers::list_campaigns)).route(post().to(campaigns::handlers::create_campaign)))
        .service(
            web::resource("/campaigns/new")
                .route(get().to(campaigns::handlers::new_campaign_form))
                .route(post().to(campaigns::handlers::create_campaign)),
        )
        .service(web::resource("/campaigns/{id}").route(get().to(campaigns::handlers::show_campaign)).route(post().to(campaigns::manage::update_campaign)))
        // Changing a campaign (issue 19 item 16): edit and delete a draft, duplicate, test send, the audience list.
        .service(web::resource("/campaigns/{id}/edit").route(get().to(campaigns::manage::edit_campaign_form)))
        .service(web::resource("/campaigns/{id}/delete").route(post().to(campaigns::manage::delete_campaign)))
        .service(web::resource("/campaigns/{id}/duplicate").route(post().to(campaigns::manage::duplicate_campaign)))
        .service(web::resource("/campaigns/{id}/test-send").route(post().to(campaigns::manage::test_send)))
        .service(web::resource("/campaigns/{id}/clients").route(get().to(campaigns::audience::list_audience)))
        .service(web::resource("/campaigns/{id}/clients/{client_id}/remove").route(post().to(campaigns::audience::remove_client)))
        .service(web::resource("/campaigns/{id}/start").route(post().to(campaigns::handlers::start_campaign)))
        .service(web::resource("/campaigns/{id}/pause").route(post().to(campaigns::handlers::pause_campaign)))
        .service(web::resource("/campaigns/{id}/complete").route(post().to(campaigns::handlers::complete_campaign)))
        .service(
            web::resource("/campaigns/{id}/attach-clients")
                .route(get().to(campaigns::audience::confirm_attach))
                .route(post().to(campaigns::audience::attach_clients)),
        )
        // Campaign recipients dashboards (issue 12 part 6)
        .service(web::resource("/campaigns/{id}/{channel}/{batch}/recipients").route(get().to(campaigns::recipient_pages::show)))
        .route("/campaigns/{id}/{channel}/{batch}/recipients.csv", get().to(campaigns::recipient_pages::failed_csv))
        .service(web::resource("/campaigns/{id}/{channel}/{batch}/recipients/retarget").route(post().to(campaigns::recipient_pages::retarget)))
        .route("/dashboard/campaigns", get().to(campaigns::tiles::campaigns_tile))
        // Chat inbox (issue 13). `/chat/badge` before `/chat/{id}`.
        .service(web::resource("/chat").route(get().to(chat::pages::index)).route(post().to(chat::pages::open)))
        .route("/chat/badge", get().to(chat::pages::badge))
        .route("/media/{id}", get().to(chat::attachments::show))
        .service(web::resource("/chat/{id}").route(get().to(chat::conversation_pages::show)))
        .service(web::resource("/chat/{id}/messages").route(get().to(chat::conversation_pages::messages)).route(post().to(chat::conversation_pages::send)))
        .service(web::resource("/chat/{id}/notes").route(post().to(chat::conversation_pages::note)))
        // Canned replies (issue 22 part 3) and the composers' picker
        .service(web::resource("/canned-replies").route(get().to(canned::pages::list)).route(post().to(canned::pages::create)))
        .route("/canned-replies/{id}/edit", get().to(canned::pages::edit))
        .service(web::resource("/canned-replies/{id}").route(post().to(canned::pages::update)))
        .service(web::resource("/canned-replies/{id}/delete").route(post().to(canned::pages::delete)))
        .route("/chat/{id}/canned-replies", get().to(canned::picker::for_chat))
        .route("/clients/{id}/canned-replies", get().to(canned::picker::for_client))
        // Live events (issue 13): server-sent events for the signed-in user
        .route("/events", get().to(events::stream::events))
        // Notifications
        .service(web::resource("/notifications").route(get().to(notifications::handlers::list_notifications)))
        .route("/notifications/badge", get().to(notifications::handlers::badge))
        .service(web::resource("/notifications/read-all").route(post().to(notifications::handlers::read_all)))
        .service(web::resource("/notifications/{id}/read").route(post().to(notifications::handlers::read_notification)))
        // WhatsApp templates (admin, manager)
        .service(web::resource("/whatsapp-flows").route(get().to(campaigns::flow_pages::list_flows)).route(post().to(campaigns::flow_pages::create_flow)))
        .service(web::resource("/whatsapp-flows/{id}").route(get().to(campaigns::flow_pages::show_flow)).route(post().to(campaigns::flow_pages::save_flow)))
        .service(web::resource("/whatsapp-flows/{id}/steps").route(post().to(campaigns::flow_pages::add_step)))
        .service(web::resource("/whatsapp-flows/{id}/steps/{key}/delete").route(post().to(campaigns::flow_pages::remove_step)))
        .service(web::resource("/campaigns/{id}/whatsapp-messages").route(get().to(campaigns::batch_pages::whatsapp_form)).route(post().to(campaigns::batch_pages::create_whatsapp)))
        .route("/campaigns/{id}/whatsapp-messages/preview", get().to(campaigns::batch_pages::preview))
        .service(web::resource("/campaigns/{id}/sms-messages").route(get().to(campaigns::batch_pages::sms_form)).route(post().to(campaigns::batch_pages::create_sms)))
        .route("/campaigns/{id}/sms-messages/segments", get().to(campaigns::batch_pages::sms_segments))
        .service(web::resource("/campaigns/{id}/emails").route(get().to(campaigns::batch_pages::email_form)).route(post().to(campaigns::batch_pages::create_email)))
        .service(web::resource("/whatsapp-templates").route(get().to(settings::whatsapp_templates::list_templates)))
        .service(web::resource("/whatsapp-templates/sync").route(post().to(settings::whatsapp_templates::sync_templates)))
        .service(web::resource("/whatsapp-templates/{id}").route(get().to(settings::whatsapp_templates::show_template)))
        .route("/whatsapp-templates/{id}/clients", get().to(settings::whatsapp_templates::pick_client))
        // Settings (admin)
        .service(web::resource("/settings/smtp").route(get().to(email::handlers::smtp_form)).route(post().to(email::handlers::save_smtp)))
        .service(web::resource("/settings/smtp/test").route(post().to(email::handlers::send_test_email)))
        .service(web::resource("/settings/twilio").route(get().to(settings::twilio::twilio_form)).route(post().to(settings::twilio::save_twilio)))
        .service(web::resource("/settings/twilio/check").route(post().to(settings::twilio::check_twilio)))
        .service(web::resource("/settings/jobs").route(get().to(jobs::admin::list_jobs)))
        .service(web::resource("/settings/jobs/{id}/retry").route(post().to(jobs::admin::retry_job)))
        .service(web::resource("/settings/jobs/{id}/cancel").route(post().to(jobs::admin::cancel_job)))
        .service(web::resource("/settings").route(get().to(settings::settings_index)))
        .service(web::resource("/settings/design").route(get().to(settings::design::design)))
        .service(
            web::resource("/settings/workspace")
                .route(get().to(settings::workspace::workspace_form))
                .route(post().to(settings::workspace::update_workspace)),
        )
        .service(web::resource("/settings/tags").route(get().to(settings::tags::list_tags)).route(post().to(settings::tags::create_tag)))
        .service(web::resource("/settings/tags/{id}").route(post().to(settings::tags::rename_tag)))
        .service(web::resource("/settings/tags/{id}/delete").route(post().to(settings::tags::delete_tag)))
        .service(
            web::resource("/settings/users")
                .route(get().to(users::handlers::list_users))
                .route(post().to(users::handlers::invite_user)),
        )
        .service(web::resource("/settings/users/{id}/role").route(post().to(users::handlers::change_role)))
        .service(web::resource("/settings/users/{id}/active").route(post().to(users::handlers::set_active)))
        .service(web::resource("/settings/users/{id}/departments").route(post().to(users::handlers::set_departments)))
        .service(
            web::resource("/settings/departments")
                .route(get().to(departments::handlers::list_departments))
                .route(post().to(departments::handlers::create_department)),
        )
        .service(web::resource("/settings/departments/{id}").route(post().to(departments::handlers::rename_department)))
        .service(web::resource("/settings/departments/{id}/delete").route(post().to(departments::handlers::delete_department)))
        // Audit trail (admin, manager)
        .service(web::resource("/audit-logs").route(get().to(audit_log::handlers::list_audit_logs)))
        .service(web::resource("/audit-logs/export.csv").route(get().to(audit_log::handlers::export_audit_logs)))
        .service(web::resource("/audit-logs/{id}").route(get().to(audit_log::handlers::show_audit_log)))
}

#[cfg(test)]
mod form_limit_tests {
    use super::*;

    #[test]
    fn only_a_campaigns_email_form_may_be_larger() {
        let limits = form_limits();
        assert_eq!(limits.of("/campaigns/12/emails"), MAX_EMAIL_FORM_BYTES);
        for other in ["/campaigns/12/sms-messages", "/campaigns//emails", "/campaigns/x/emails", "/campaigns/12/emails/3", "/clients", "/campaigns/1/2/emails"] {
            assert_eq!(limits.of(other), sbweb::state::MAX_FORM_BYTES, "{other}");
        }
    }
}
