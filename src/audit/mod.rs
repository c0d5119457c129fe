//! The audit trail: every mutation writes one row, inside the mutation's own transaction,
//! through `record`. The table refuses UPDATE, DELETE and TRUNCATE (a trigger). The pages
//! that read it are `audit_log`.

pub mod action;

use diesel::prelude::*;
use serde_json::Value;

pub use action::Action;

use crate::db::schema::audit_logs;

#[derive(Clone, Debug)]
pub enum Actor {
    User { id: i64, label: String },
    Webhook,
    System,
}

impl Actor {
    /// A user, labelled by their email.
    pub fn user(id: i64, email: &str) -> Self {
        Actor::User { id, label: email.to_string() }
    }
}

/// Where a change was asked from: the client IP and request id of a request
/// (`web::ctx::RequestMeta`).
pub trait Origin {
    fn ip(&self) -> Option<String>;
    fn request_id(&self) -> Option<String>;
}

/// One audited change.
#[derive(Clone, Debug)]
pub struct Entry {
    pub workspace_id: i64,
    pub actor: Actor,
    /// `module.verb`, e.g. `users.role_changed`.
    pub action: Action,
    pub module: String,
    pub entity_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Entry {
    pub fn new(workspace_id: i64, actor: Actor, action: Action, module: &str, entity_id: impl ToString) -> Self {
        Entry {
            workspace_id,
            actor,
            action,
            module: module.to_string(),
            entity_id: Some(entity_id.to_string()),
            before: None,
            after: None,
            ip: None,
            request_id: None,
        }
    }

    /// The request's client IP and id.
    pub fn from_request(mut self, origin: &impl Origin) -> Self {
        self.ip = origin.ip();
        self.request_id = origin.request_id();
        self
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }
}

/// Writes the entry with the caller's connection, so it commits or rolls back with the change.
pub fn record(conn: &mut PgConnection, entry: &Entry) -> QueryResult<()> {
    record_many(conn, std::slice::from_ref(entry))
}

/// Writes many entries (e.g. one per client of a bulk action) in multi-row inserts.
pub fn record_many(conn: &mut PgConnection, entries: &[Entry]) -> QueryResult<()> {
    for chunk in entries.chunks(2_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|entry| {
                let (kind, user_id, label) = match &entry.actor {
                    Actor::User { id, label } => ("user", Some(*id), label.as_str()),
                    Actor::Webhook => ("webhook", None, "webhook"),
                    Actor::System => ("system", None, "system"),
                };
                (
                    audit_logs::workspace_id.eq(entry.workspace_id),
                    audit_logs::actor_kind.eq(kind),
                    audit_logs::actor_user_id.eq(user_id),
                    audit_logs::actor_label.eq(label),
                    audit_logs::action.eq(entry.action.as_str()),
                    audit_logs::module.eq(&entry.module),
                    audit_logs::entity_id.eq(&entry.entity_id),
                    audit_logs::before.eq(&entry.before),
                    audit_logs::after.eq(&entry.after),
                    audit_logs::ip.eq(&entry.ip),
                    audit_logs::request_id.eq(&entry.request_id),
                )
            })
            .collect();
        diesel::insert_into(audit_logs::table).values(rows).execute(conn)?;
    }
    Ok(())
}
