//! WhatsApp templates as the provider last described them: the sync job (every page of the
//! provider's list upserted by provider id; those gone from the provider become
//! `disabled`), the list query, and the helpers a send form uses: [`render`] and
//! [`approved`].

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::db::schema::{jobs as jobs_table, whatsapp_templates};
use crate::jobs::queue::Job;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{self, JobHandler, JobStatus, Kind, NewJob};
use crate::messaging::account::Account;
use crate::messaging::{ProviderError, ProviderTemplate, Providers};

/// The idempotency key of a workspace's queued or running sync: one at a time.
pub const SYNC_KEY: &str = "sync-templates";

/// The longest value of one template variable, on every form that fills one (the client
/// page, a chat reply, a campaign batch); the inputs' `maxlength` says the same.
pub const VARIABLE_MAX_CHARS: usize = 1000;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = whatsapp_templates)]
pub struct Template {
    pub workspace_id: i64,
    pub id: i64,
    pub provider_id: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub variables: Value,
    pub media: Vec<String>,
    pub buttons: Value,
    pub approval_status: String,
    pub category: String,
    pub rejection_reason: String,
    pub synced_at: DateTime<Utc>,
}

impl Template {
    /// The placeholders with their sample values, in number order.
    pub fn samples(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .variables
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
            .unwrap_or_default();
        out.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
        out
    }

    /// Quick-reply buttons: (id, title).
    pub fn button_titles(&self) -> Vec<String> {
        self.buttons.as_array().map(|a| a.iter().filter_map(|b| b.get("title")?.as_str().map(str::to_string)).collect()).unwrap_or_default()
    }

    pub fn is_approved(&self) -> bool {
        self.approval_status == "approved"
    }
}

/// `body` with each `{{n}}` replaced by its value in `vars` (a placeholder without a value
/// stays as written).
pub fn render(body: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) if !after[..end].trim().is_empty() && after[..end].trim().chars().all(|c| c.is_ascii_digit()) => {
                let key = after[..end].trim();
                match vars.iter().find(|(k, _)| k == key) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The workspace's template `id` if it is approved (only those can be sent).
pub fn approved(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Template>> {
    find(conn, workspace_id, id).map(|t| t.filter(Template::is_approved))
}

pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<Template>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .filter(whatsapp_templates::id.eq(id))
        .select(Template::as_select())
        .first(conn)
        .optional()
}

/// A page of the list: by status (approved | pending | rejected) and language, by name.
/// Returns the page and whether there is a next one.
pub fn list(
    conn: &mut PgConnection,
    workspace_id: i64,
    status: Option<&str>,
    language: Option<&str>,
    page: i64,
    per_page: i64,
) -> QueryResult<(Vec<Template>, bool)> {
    let mut query = whatsapp_templates::table.filter(whatsapp_templates::workspace_id.eq(workspace_id)).into_boxed();
    if let Some(status) = status {
        query = query.filter(whatsapp_templates::approval_status.eq(status.to_string()));
    }
    if let Some(language) = language {
        query = query.filter(whatsapp_templates::language.eq(language.to_string()));
    }
    let mut rows: Vec<Template> = query
        .order((diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)"), whatsapp_templates::id))
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
        .select(Template::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > per_page;
    rows.truncate(per_page as usize);
    Ok((rows, more))
}

/// The languages the workspace's templates use (for the filter).
pub fn languages(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<String>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .filter(whatsapp_templates::language.ne(""))
        .select(whatsapp_templates::language)
        .distinct()
        .order(whatsapp_templates::language)
        .load(conn)
}

/// When the workspace's templates were last synced, if ever.
pub fn last_synced(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Option<DateTime<Utc>>> {
    whatsapp_templates::table
        .filter(whatsapp_templates::workspace_id.eq(workspace_id))
        .select(diesel::dsl::max(whatsapp_templates::synced_at))
        .first(conn)
}

/// Whether a sync is queued or running.
pub fn syncing(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<bool> {
    Ok(jobs::query::count_unfinished(conn, workspace_id, SyncTemplates::KIND)? > 0)
}

/// Queues a sync unless one is queued or running (inside the caller's transaction). The key
/// of finished syncs is let go first, so the unique key admits exactly one unfinished sync.
pub fn enqueue_sync(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Option<i64>> {
    diesel::update(
        jobs_table::table
            .filter(jobs_table::workspace_id.eq(workspace_id))
            .filter(jobs_table::idempotency_key.eq(SYNC_KEY))
            .filter(jobs_table::status.eq_any([JobStatus::Done, JobStatus::Dead, JobStatus::Cancelled])),
    )
    .set(jobs_table::idempotency_key.eq(None::<String>))
    .execute(conn)?;
    jobs::enqueue(conn, &NewJob::new(workspace_id, SyncTemplates::KIND, json!({})).key(SYNC_KEY).attempts(5))
}

/// Upserts what the provider listed and disables what it no longer lists. Returns
/// (upserted, disabled).
pub fn save(conn: &mut PgConnection, workspace_id: i64, listed: &[ProviderTemplate], now: DateTime<Utc>) -> QueryResult<(usize, usize)> {
    for chunk in listed.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|t| {
                let variables: serde_json::Map<String, Value> = t.variables.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                let buttons: Vec<Value> = t.buttons.iter().map(|(id, title)| json!({"id": id, "title": title})).collect();
                let status = match t.approval_status.as_str() {
                    s @ ("approved" | "pending" | "rejected" | "paused" | "disabled" | "unsubmitted") => s.to_string(),
                    "received" => "pending".to_string(),
                    _ => "unsubmitted".to_string(),
                };
                (
                    whatsapp_templates::workspace_id.eq(workspace_id),
                    whatsapp_templates::provider_id.eq(t.provider_id.clone()),
                    whatsapp_templates::name.eq(t.name.clone()),
                    whatsapp_templates::language.eq(t.language.clone()),
                    whatsapp_templates::body.eq(t.body.clone()),
                    whatsapp_templates::variables.eq(Value::Object(variables)),
                    whatsapp_templates::media.eq(t.media.clone()),
                    whatsapp_templates::buttons.eq(Value::Array(buttons)),
                    whatsapp_templates::approval_status.eq(status),
                    whatsapp_templates::category.eq(t.category.clone()),
                    whatsapp_templates::rejection_reason.eq(t.rejection_reason.clone()),
                    whatsapp_templates::synced_at.eq(now),
                )
            })
            .collect();
        use diesel::upsert::excluded;
        diesel::insert_into(whatsapp_templates::table)
            .values(rows)
            .on_conflict((whatsapp_templates::workspace_id, whatsapp_templates::provider_id))
            .do_update()
            .set((
                whatsapp_templates::name.eq(excluded(whatsapp_templates::name)),
                whatsapp_templates::language.eq(excluded(whatsapp_templates::language)),
                whatsapp_templates::body.eq(excluded(whatsapp_templates::body)),
                whatsapp_templates::variables.eq(excluded(whatsapp_templates::variables)),
                whatsapp_templates::media.eq(excluded(whatsapp_templates::media)),
                whatsapp_templates::buttons.eq(excluded(whatsapp_templates::buttons)),
                whatsapp_templates::approval_status.eq(excluded(whatsapp_templates::approval_status)),
                whatsapp_templates::category.eq(excluded(whatsapp_templates::category)),
                whatsapp_templates::rejection_reason.eq(excluded(whatsapp_templates::rejection_reason)),
                whatsapp_templates::synced_at.eq(excluded(whatsapp_templates::synced_at)),
            ))
            .execute(conn)?;
    }
    let ids: Vec<&str> = listed.iter().map(|t| t.provider_id.as_str()).collect();
    let disabled = diesel::update(
        whatsapp_templates::table
            .filter(whatsapp_templates::workspace_id.eq(workspace_id))
            .filter(whatsapp_templates::provider_id.ne_all(ids))
            .filter(whatsapp_templates::approval_status.ne("disabled")),
    )
    .set((whatsapp_templates::approval_status.eq("disabled"), whatsapp_templates::synced_at.eq(now)))
    .execute(conn)?;
    Ok((listed.len(), disabled))
}

/// The `sync-templates` job: reads the workspace's WhatsApp templates from the provider (see [`job`]).
pub struct SyncTemplates {
    pub providers: Providers,
}

impl SyncTemplates {
    pub const KIND: Kind = Kind::new("sync-templates");
}

impl JobHandler for SyncTemplates {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &Job) -> Result<(), JobError> {
        self::job(env, &self.providers, job)
    }
}

/// The `sync-templates` job: every page of the provider's templates, saved in one transaction.
pub fn job(env: &JobEnv, providers: &Providers, job: &Job) -> Result<(), JobError> {
    let w = job.workspace_id;
    let account = {
        let mut conn = env.pool.get()?;
        Account::load(&mut conn, &env.at_rest_key, w).map_err(|e| JobError::Permanent(e.to_string()))?
    };
    let Some(account) = account else { return Err(JobError::Permanent("Twilio is not set up for this workspace".into())) };
    let listed = providers.for_account(&account, &env.settings).list_templates().map_err(|e| match e {
        ProviderError::Permanent { .. } => JobError::Permanent(e.to_string()),
        ProviderError::Retry { .. } | ProviderError::Unknown(_) => JobError::Retry(e.to_string()),
    })?;
    let now = env.clock.now();
    let mut conn = env.pool.get()?;
    conn.transaction(|tx| save(tx, w, &listed, now))?;
    Ok(())
}

/// The numbered placeholders in `body` (`{{1}}`, `{{2}}`…), in order, each once.
pub fn placeholders(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            let name = rest[..end].trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) && !found.iter().any(|f: &String| f == name) {
                found.push(name.to_string());
            }
        }
    }
    found.sort_by_key(|n| n.parse::<u32>().unwrap_or(u32::MAX));
    found
}


#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_listed_once_in_number_order() {
        assert_eq!(super::placeholders("Hi {{2}} {{1}} {{1}} {{x}} {{ 3 }}"), vec!["1", "2", "3"]);
        let vars = vec![("1".to_string(), "{{2}}".to_string()), ("2".to_string(), "Friday".to_string())];
        assert_eq!(super::render("{{1}} and {{2}}", &vars), "{{2}} and Friday", "a value is not expanded again");
    }
}
