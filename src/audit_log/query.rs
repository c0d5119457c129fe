//! Reading the trail: who may read which entries, filters, SQL pagination, one entry, the
//! before/after diff.
//!
//! Admins read the whole workspace's trail. Anyone else reads the entries about clients in
//! their client scope (`authz::Scope`: a manager's departments), about themselves
//! and the users who share a department with them, and their own actions. Each part is
//! read by index walks in id order (see the scope_audit_logs migration) that stop at the
//! page, and a page is the newest ids of their union.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::authz::{Role, Scope};
use crate::db::schema::{audit_logs, client_departments, clients, user_departments, users};
use crate::web::time::Zone;

pub const PER_PAGE: i64 = 50;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_logs)]
pub struct AuditLog {
    pub workspace_id: i64,
    pub id: i64,
    pub actor_kind: String,
    pub actor_user_id: Option<i64>,
    pub actor_label: String,
    pub action: String,
    pub module: String,
    pub entity_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The client the entry is about (generated from module and entity_id).
    pub client_id: Option<i64>,
    /// The user the entry is about (generated from module and entity_id).
    pub subject_user_id: Option<i64>,
}

/// The query string as typed; parsed into an `AuditFilter` with readable errors.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub action: Option<String>,
    pub module: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub user: Option<i64>,
    /// Prefix match: `auth.` finds every auth action.
    pub action: Option<String>,
    pub module: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub page: i64,
    /// The zone `from` and `to` are local dates of.
    pub zone: Zone,
}

/// Why the audit log's filter was refused; the message is the one the page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// `From` or `To` is not a date.
    #[error("{0} must be a date like 2026-01-31.")]
    Date(&'static str),
    #[error("User must be chosen from the list.")]
    User,
    #[error("Page must be a positive number.")]
    Page,
    /// `Action` or `Module` is longer than 100 characters.
    #[error("{0} is too long.")]
    TooLong(&'static str),
}

impl AuditQuery {
    pub fn parse(&self) -> Result<AuditFilter, FilterError> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let date = |v: &Option<String>, name: &'static str| -> Result<Option<NaiveDate>, FilterError> {
            text(v).map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| FilterError::Date(name))).transpose()
        };
        let user = text(&self.user).map(|s| s.parse::<i64>().map_err(|_| FilterError::User)).transpose()?;
        let page = text(&self.page)
            .map(|s| s.parse::<i64>().ok().filter(|p| (1..=1_000_000).contains(p)).ok_or(FilterError::Page))
            .transpose()?
            .unwrap_or(1);
        let long = |v: Option<String>, name: &'static str| -> Result<Option<String>, FilterError> {
            match v {
                Some(s) if s.chars().count() > 100 => Err(FilterError::TooLong(name)),
                other => Ok(other),
            }
        };
        Ok(AuditFilter {
            user,
            action: long(text(&self.action), "Action")?,
            module: long(text(&self.module), "Module")?,
            from: date(&self.from, "From")?,
            to: date(&self.to, "To")?,
            page,
            zone: Zone::default(),
        })
    }
}

fn like_prefix(value: &str) -> String {
    format!("{}%", crate::db::escape_like(value))
}

type Query = audit_logs::BoxedQuery<'static, diesel::pg::Pg>;

/// Up to this many clients in a reader's scope, the clients part reads just those clients'
/// entries through their index; above it, it walks the trail newest first and probes each
/// entry's client against the scope (with that many clients, their entries are common).
pub const FEW_CLIENTS: usize = 2_000;

/// What a non-admin may read, resolved once per request.
struct Reach {
    user_id: i64,
    /// Themselves and the users who share a department with them.
    users: Vec<i64>,
    /// The clients they may open when at most `FEW_CLIENTS`; `None` when more.
    few_clients: Option<Vec<i64>>,
}

impl Reach {
    /// The same rule as `Scope::clients` (assigned to them; for managers, also in their
    /// departments), read from the assignee and department indexes.
    fn of(conn: &mut PgConnection, scope: &Scope) -> QueryResult<Reach> {
        let w = scope.workspace_id;
        let departments: Vec<i64> = user_departments::table
            .filter(user_departments::workspace_id.eq(w))
            .filter(user_departments::user_id.eq(scope.user_id))
            .select(user_departments::department_id)
            .load(conn)?;
        let mut users: Vec<i64> = user_departments::table
            .filter(user_departments::workspace_id.eq(w))
            .filter(user_departments::department_id.eq_any(&departments))
            .select(user_departments::user_id)
            .load(conn)?;
        users.push(scope.user_id);
        users.sort_unstable();
        users.dedup();
        let cap = FEW_CLIENTS as i64 + 1;
        let mut few: Vec<i64> = clients::table
            .filter(clients::workspace_id.eq(w))
            .filter(clients::assigned_to.eq(scope.user_id))
            .select(clients::id)
            .limit(cap)
            .load(conn)?;
        if scope.role == Role::Manager && few.len() <= FEW_CLIENTS {
            let in_departments: Vec<i64> = client_departments::table
                .filter(client_departments::workspace_id.eq(w))
                .filter(client_departments::department_id.eq_any(&departments))
                .select(client_departments::client_id)
                .limit(cap)
                .load(conn)?;
            few.extend(in_departments);
            few.sort_unstable();
            few.dedup();
        }
        let few_clients = (few.len() <= FEW_CLIENTS).then_some(few);
        Ok(Reach { user_id: scope.user_id, users, few_clients })
    }

    /// Whether `entry` is theirs to read.
    fn sees(&self, conn: &mut PgConnection, scope: &Scope, entry: &AuditLog) -> QueryResult<bool> {
        if entry.actor_user_id == Some(self.user_id) || entry.subject_user_id.is_some_and(|u| self.users.contains(&u)) {
            return Ok(true);
        }
        match entry.client_id {
            Some(client) => Ok(!scope.visible_ids(conn, &[client])?.is_empty()),
            None => Ok(false),
        }
    }

    /// The newest `n` ids of `base` they may read: one index walk per part (per user for
    /// the users part), merged.
    fn newest(&self, conn: &mut PgConnection, scope: &Scope, base: impl Fn() -> Query, n: i64) -> QueryResult<Vec<i64>> {
        let newest = |query: Query, conn: &mut PgConnection| query.order(audit_logs::id.desc()).limit(n).select(audit_logs::id).load::<i64>(conn);
        let mut ids = newest(base().filter(audit_logs::actor_user_id.eq(self.user_id)), conn)?;
        for user in &self.users {
            ids.extend(newest(base().filter(audit_logs::subject_user_id.eq(*user)), conn)?);
        }
        match &self.few_clients {
            Some(few) if few.is_empty() => {}
            Some(few) => ids.extend(newest(base().filter(audit_logs::client_id.eq_any(few.clone())), conn)?),
            None => ids.extend(newest(base().filter(audit_logs::client_id.assume_not_null().eq_any(scope.clients().select(clients::id))), conn)?),
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(n as usize);
        Ok(ids)
    }
}

/// The rows of `ids` (all of the workspace), in the order of `ids`.
fn rows_of(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Vec<AuditLog>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = audit_logs::table
        .filter(audit_logs::workspace_id.eq(workspace_id))
        .filter(audit_logs::id.eq_any(ids))
        .select(AuditLog::as_select())
        .load::<AuditLog>(conn)?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(rows)
}

impl AuditFilter {
    /// Ids of the entries `scope` may read that match the filter, newest first, below
    /// `before_id` when given: `limit` of them after skipping `offset`.
    fn ids(&self, conn: &mut PgConnection, scope: &Scope, before_id: Option<i64>, offset: i64, limit: i64) -> QueryResult<Vec<i64>> {
        let base = || {
            let query = self.query(scope.workspace_id);
            match before_id {
                Some(before_id) => query.filter(audit_logs::id.lt(before_id)),
                None => query,
            }
        };
        if scope.role == Role::Admin {
            return base().order(audit_logs::id.desc()).offset(offset).limit(limit).select(audit_logs::id).load(conn);
        }
        let ids = Reach::of(conn, scope)?.newest(conn, scope, base, offset + limit)?;
        Ok(ids.into_iter().skip(offset as usize).collect())
    }

    fn query(&self, workspace_id: i64) -> Query {
        let mut query = audit_logs::table.filter(audit_logs::workspace_id.eq(workspace_id)).into_boxed();
        if let Some(user) = self.user {
            query = query.filter(audit_logs::actor_user_id.eq(user));
        }
        if let Some(action) = &self.action {
            query = query.filter(audit_logs::action.like(like_prefix(action)).escape('\\'));
        }
        if let Some(module) = &self.module {
            query = query.filter(audit_logs::module.eq(module.clone()));
        }
        if let Some(from) = self.from {
            query = query.filter(audit_logs::created_at.ge(self.zone.start_of(from)));
        }
        if let Some(to) = self.to {
            query = query.filter(audit_logs::created_at.lt(self.zone.start_of(to.succ_opt().unwrap_or(to))));
        }
        query
    }

    /// One page of what `scope` may read, newest first, plus whether another page follows.
    pub fn list(&self, conn: &mut PgConnection, scope: &Scope) -> QueryResult<(Vec<AuditLog>, bool)> {
        let mut ids = self.ids(conn, scope, None, (self.page.max(1) - 1) * PER_PAGE, PER_PAGE + 1)?;
        let has_next = ids.len() as i64 > PER_PAGE;
        ids.truncate(PER_PAGE as usize);
        Ok((rows_of(conn, scope.workspace_id, &ids)?, has_next))
    }

    /// A chunk for the streamed export: what `scope` may read with `id < before_id`, newest first.
    pub fn chunk(&self, conn: &mut PgConnection, scope: &Scope, before_id: Option<i64>, size: i64) -> QueryResult<Vec<AuditLog>> {
        let ids = self.ids(conn, scope, before_id, 0, size)?;
        rows_of(conn, scope.workspace_id, &ids)
    }
}

/// The newest `limit` entries `scope` may read.
/// A user of the workspace in the "by" filter.
#[derive(Clone, Debug, Queryable)]
pub struct UserChoice {
    pub id: i64,
    pub name: String,
}

/// The workspace's users for the "by" filter: active ones first, by name.
pub fn user_choices(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<UserChoice>> {
    users::table
        .filter(users::workspace_id.eq(workspace_id))
        .order((users::active.desc(), users::name, users::id))
        .select((users::id, users::name))
        .load(conn)
}

pub fn recent(conn: &mut PgConnection, scope: &Scope, limit: i64) -> QueryResult<Vec<AuditLog>> {
    let ids = AuditFilter::default().ids(conn, scope, None, 0, limit)?;
    rows_of(conn, scope.workspace_id, &ids)
}

/// The entry, when `scope` may read it (`None` otherwise, as for an entry that does not exist).
pub fn find(conn: &mut PgConnection, scope: &Scope, id: i64) -> QueryResult<Option<AuditLog>> {
    let entry = audit_logs::table
        .filter(audit_logs::workspace_id.eq(scope.workspace_id))
        .filter(audit_logs::id.eq(id))
        .select(AuditLog::as_select())
        .first(conn)
        .optional()?;
    match entry {
        Some(entry) if scope.role != Role::Admin && !Reach::of(conn, scope)?.sees(conn, scope, &entry)? => Ok(None),
        other => Ok(other),
    }
}

/// One line of the before/after comparison.
#[derive(Debug, PartialEq)]
pub struct DiffLine {
    pub field: String,
    pub before: String,
    pub after: String,
    pub changed: bool,
}

fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Field-by-field comparison of two JSON objects (other JSON values compare as one field).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<DiffLine> {
    let mut fields: Vec<String> = Vec::new();
    for side in [before, after].into_iter().flatten() {
        if let Value::Object(map) = side {
            for key in map.keys() {
                if !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
    }
    if fields.is_empty() {
        if before.is_none() && after.is_none() {
            return Vec::new();
        }
        let (b, a) = (show(before), show(after));
        return vec![DiffLine { field: "value".into(), changed: b != a, before: b, after: a }];
    }
    fields.sort();
    fields
        .into_iter()
        .map(|field| {
            let b = show(before.and_then(|v| v.get(&field)));
            let a = show(after.and_then(|v| v.get(&field)));
            DiffLine { changed: b != a, field, before: b, after: a }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_marks_changed_fields() {
        let lines = diff(Some(&json!({"role": "agent", "name": "Ann"})), Some(&json!({"role": "manager", "name": "Ann"})));
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().any(|l| l.field == "role" && l.changed && l.before == "agent" && l.after == "manager"));
        assert!(lines.iter().any(|l| l.field == "name" && !l.changed));
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        let q = |from: &str, page: &str| AuditQuery { from: Some(from.into()), page: Some(page.into()), ..Default::default() };
        assert!(q("yesterday", "1").parse().unwrap_err().to_string().contains("From"));
        assert!(q("", "0").parse().unwrap_err().to_string().contains("Page"));
        assert!(q("", "x").parse().is_err());
        assert_eq!(q("2026-01-02", "").parse().unwrap().page, 1);
        assert_eq!(like_prefix("a_b%"), "a\\_b\\%%");
    }
}
