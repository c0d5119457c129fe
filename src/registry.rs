//! Where the features plug into the shared core at start-up, one line each: every job kind
//! and scheduled job, what an inbound message does beyond being stored, and the client
//! list's bulk actions that other features carry out. The core (`jobs`,
//! `messaging`) knows none of them, so a new job kind or inbound consumer lives in its
//! feature's folder plus one line here; the route table is `routes.rs`.

use crate::{auth, campaigns, chat, clients, email, events, imports, jobs, messaging, notifications, web};

/// Every job kind with its handler, and what the scheduler runs on each tick, messages sent
/// through Twilio.
pub fn jobs() -> jobs::Registry {
    jobs_with(&messaging::Providers::default())
}

/// [`jobs()`], messages sent through `providers` (the tests' in-process double).
pub fn jobs_with(providers: &messaging::Providers) -> jobs::Registry {
    jobs::Registry::new()
        .job(jobs::run::Noop)
        .job(jobs::prune::PruneJobs)
        .job(events::PruneEvents)
        .job(clients::status_rule::ClientStatus)
        .job(notifications::reminders::FollowUpReminders)
        .job(email::send::SendEmail {
            campaigns: email::send::CampaignMail { unsubscribe_url: campaigns::opt_out::unsubscribe_url, outcome: campaigns::dispatch::email_outcome },
        })
        .job(imports::run::ImportJob)
        .job(messaging::templates::SyncTemplates { providers: providers.clone() })
        .job(messaging::send::SendMessage { providers: providers.clone() })
        .job(messaging::media::FetchMedia { providers: providers.clone() })
        .job(messaging::reconcile::ReconcileMessages { providers: providers.clone() })
        .job(campaigns::dispatch::DispatchBatch { providers: providers.clone() })
        .job(campaigns::stalls::CheckBatches)
        .job(chat::digest::ChatDigest)
        // Expired sessions go whether or not anyone signs in (an indexed range delete).
        .cleanup(auth::session_store::delete_expired)
        // So do one-time form keys older than a day.
        .cleanup(|conn, _now| web::once::prune(conn))
        // So do rate events past any window, however quiet the reset form is.
        .cleanup(auth::throttle::forget_stale_events)
        // Messages stuck in `sending` once a lease ran out, looked up at the provider.
        .enqueue_due(messaging::reconcile::enqueue_due)
        // Each subscriber's hourly chat digest (issue 13), one job per user and hour.
        .enqueue_due(chat::digest::enqueue_due)
        // Campaign batches left "sending" with nothing scheduled (issue 18): resumed or failed.
        .enqueue_due(campaigns::stalls::enqueue_checks)
        // Hourly, whatever the workspace's time: the live events replay only an hour back.
        .hourly(events::PruneEvents::KIND)
        .daily(clients::status_rule::ClientStatus::KIND)
        .daily(notifications::reminders::FollowUpReminders::KIND)
        .daily(jobs::prune::PruneJobs::KIND)
}

/// What an inbound message does beyond being stored (`messaging::inbound::record`): the
/// clients find or create its sender, then each consumer, in this order, in the message's
/// transaction.
pub fn inbound() -> messaging::inbound::Consumers {
    messaging::inbound::Consumers::new(clients::inbound::ByPhone)
        .then(campaigns::inbound::Replies)
        .then(campaigns::inbound::FlowAnswers)
        .then(clients::inbound::Communication)
        .then(chat::inbound::Notice)
}

/// The client list's bulk actions that other features carry out (`clients::bulk`).
pub fn client_bulk_actions() -> clients::bulk::BulkExtensions {
    clients::bulk::BulkExtensions::default().with(campaigns::audience::AddToCampaign)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_keeps_its_stored_name_and_the_schedule_names_registered_kinds() {
        let registry = super::jobs();
        let mut kinds: Vec<&str> = registry.kinds().map(|k| k.as_str()).collect();
        kinds.sort_unstable();
        // Stored in `jobs.kind`: existing rows need these exact names.
        assert_eq!(kinds, [
            "chat-digest",
            "check-batches",
            "client-status",
            "dispatch-batch",
            "fetch-media",
            "follow-up-reminders",
            "import",
            "noop",
            "prune-events",
            "prune-jobs",
            "reconcile-messages",
            "send-email",
            "send-message",
            "sync-templates",
        ]);
        for kind in registry.hourly_kinds().iter().chain(registry.daily_kinds()) {
            assert!(registry.handler(kind.as_str()).is_some(), "{kind} is scheduled but has no handler");
        }
        let daily: Vec<&str> = registry.daily_kinds().iter().map(|k| k.as_str()).collect();
        assert_eq!(daily, ["client-status", "follow-up-reminders", "prune-jobs"]);
    }

    #[test]
    fn a_finished_email_job_drops_its_message_and_other_kinds_only_what_is_sealed() {
        assert_eq!(super::jobs().private_fields(), serde_json::json!({"send-email": ["text", "html"]}));
    }

    #[test]
    fn inbound_consumers_are_called_in_the_order_inbound_record_had_them() {
        // The reply and the flow answer first (as before the registry), the communication
        // before the chat's notice.
        assert_eq!(super::inbound().names(), ["campaign reply", "flow answer", "client communication", "chat notice"]);
    }
}
