//! Every action the code records, in one list: [`Entry::new`](super::Entry::new) (and so
//! `Ctx::audit`) takes an [`Action`], never a free string, so a new action cannot be
//! recorded without being listed here, and the sentence test walks [`Action::ALL`] (a
//! listed action without its own sentence fails it). The two SQL inserts of the trail
//! (an import's updates, the status rule) bind their action from here too.

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// An audited action, `module.verb` as stored in `audit_logs.action`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the order listed.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// As stored, e.g. `users.role_changed`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    AuditExported => "audit.exported",
    AuthLogin => "auth.login",
    AuthLoginFailed => "auth.login_failed",
    AuthLogout => "auth.logout",
    AuthPasswordChanged => "auth.password_changed",
    AuthPasswordReset => "auth.password_reset",
    AuthPasswordResetRequested => "auth.password_reset_requested",
    AuthSessionRevoked => "auth.session_revoked",
    AuthOtherSessionsRevoked => "auth.other_sessions_revoked",
    AuthSessionsRevoked => "auth.sessions_revoked",
    CampaignsCreated => "campaigns.created",
    CampaignsStarted => "campaigns.started",
    CampaignsPaused => "campaigns.paused",
    CampaignsCompleted => "campaigns.completed",
    CampaignsAudienceAttached => "campaigns.audience_attached",
    CampaignsBatchCreated => "campaigns.batch_created",
    CampaignsBatchRetargeted => "campaigns.batch_retargeted",
    CampaignsFlowStepSent => "campaigns.flow_step_sent",
    CampaignsUpdated => "campaigns.updated",
    CampaignsDeleted => "campaigns.deleted",
    CampaignsDuplicated => "campaigns.duplicated",
    CampaignsAudienceRemoved => "campaigns.audience_removed",
    CampaignsTestSent => "campaigns.test_sent",
    ChatsAssigned => "chats.assigned",
    ChatsClosed => "chats.closed",
    ChatsNoteAdded => "chats.note_added",
    ChatsReopened => "chats.reopened",
    CannedRepliesCreated => "canned_replies.created",
    CannedRepliesUpdated => "canned_replies.updated",
    CannedRepliesDeleted => "canned_replies.deleted",
    ChatsOpened => "chats.opened",
    ClientsCreated => "clients.created",
    ClientsUpdated => "clients.updated",
    ClientsImportUpdated => "clients.import_updated",
    ClientsStatusRule => "clients.status_rule",
    ClientsDeleted => "clients.deleted",
    ClientsExported => "clients.exported",
    ClientsOptedOut => "clients.opted_out",
    ClientsBulkAssign => "clients.bulk_assign",
    ClientsBulkStatus => "clients.bulk_status",
    ClientsBulkTag => "clients.bulk_tag",
    ClientsBulkUntag => "clients.bulk_untag",
    ClientsBulkDelete => "clients.bulk_delete",
    CommunicationsLogged => "communications.logged",
    DepartmentsCreated => "departments.created",
    DepartmentsRenamed => "departments.renamed",
    DepartmentsDeleted => "departments.deleted",
    FlowsCreated => "flows.created",
    FlowsUpdated => "flows.updated",
    FollowUpsCreated => "follow_ups.created",
    FollowUpsStatusChanged => "follow_ups.status_changed",
    ImportsUploaded => "imports.uploaded",
    ImportsStarted => "imports.started",
    ImportsRetried => "imports.retried",
    ImportsCompleted => "imports.completed",
    ImportsFailed => "imports.failed",
    JobsRetry => "jobs.retry",
    JobsCancel => "jobs.cancel",
    MessagesQueued => "messages.queued",
    MessagesResent => "messages.resent",
    SeedRun => "seed.run",
    SettingsSmtpSaved => "settings.smtp_saved",
    SettingsSmtpTest => "settings.smtp_test",
    TagsCreated => "tags.created",
    TagsRenamed => "tags.renamed",
    TagsDeleted => "tags.deleted",
    TemplatesSyncRequested => "templates.sync_requested",
    TwilioSettingsSaved => "twilio.settings_saved",
    UsersCreated => "users.created",
    UsersRoleChanged => "users.role_changed",
    UsersDeactivated => "users.deactivated",
    UsersReactivated => "users.reactivated",
    UsersDepartmentsChanged => "users.departments_changed",
    UsersInvitationAccepted => "users.invitation_accepted",
    UsersChatDigestChanged => "users.chat_digest_changed",
    UsersChatKeysChanged => "users.chat_keys_changed",
    UsersNotificationsChanged => "users.notifications_changed",
    UsersNameChanged => "users.name_changed",
    UsersEmailChangeRequested => "users.email_change_requested",
    UsersEmailChangeCancelled => "users.email_change_cancelled",
    UsersEmailChanged => "users.email_changed",
    WorkspacesCreated => "workspaces.created",
    WorkspacesUpdated => "workspaces.updated",
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn names_are_unique_and_module_dot_verb() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{} listed twice", a.as_str());
            let (module, verb) = a.as_str().split_once('.').expect("module.verb");
            assert!(!module.is_empty() && !verb.is_empty() && !verb.contains('.'), "{}", a.as_str());
        }
    }
}
