//! Canned replies: the rows, who may see and change which, the checks of a draft, and the
//! changes (each in the caller's transaction, audited).
//!
//! Rules:
//! - Everyone sees the workspace's replies and their own; another person's own reply, and
//!   another workspace's, are not found.
//! - Everyone manages their own; only admins manage the workspace's (an admin may move one
//!   of their own to the workspace or back, by the "shared" choice).
//! - A shortcut is unique among the workspace's and among each person's own.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::authz::{Role, Scope};
use crate::db::schema::canned_replies;
use crate::db::like_contains;
use crate::web::forms::{self, FormErrors};

/// Replies listed per page on `/canned-replies`.
pub const PER_PAGE: i64 = 50;
/// At most this many in the composer's picker.
pub const PICKER_MAX: i64 = 8;
pub const TITLE_MAX: usize = 100;
pub const SHORTCUT_MAX: usize = 30;
/// WhatsApp's limit on a free-text message.
pub const BODY_MAX: usize = 4096;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = canned_replies, check_for_backend(Pg))]
pub struct CannedReply {
    pub workspace_id: i64,
    pub id: i64,
    /// `None`: the workspace's.
    pub owner_id: Option<i64>,
    pub title: String,
    pub shortcut: String,
    pub body: String,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CannedReply {
    pub fn shared(&self) -> bool {
        self.owner_id.is_none()
    }

    /// Whether the person of `scope` may change or delete it.
    pub fn editable_by(&self, scope: &Scope) -> bool {
        match self.owner_id {
            None => scope.role == Role::Admin,
            Some(owner) => owner == scope.user_id,
        }
    }

    fn audit_json(&self) -> Value {
        json!({ "title": self.title, "shortcut": self.shortcut, "body": self.body, "shared": self.shared() })
    }
}

/// What the form sends.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct CannedForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub shortcut: String,
    #[serde(default)]
    pub body: String,
    /// "1": the workspace's (admins only).
    #[serde(default)]
    pub shared: Option<String>,
}

impl CannedForm {
    pub fn of(reply: &CannedReply) -> CannedForm {
        CannedForm { title: reply.title.clone(), shortcut: reply.shortcut.clone(), body: reply.body.clone(), shared: reply.shared().then(|| "1".to_string()) }
    }

    pub fn is_shared(&self) -> bool {
        self.shared.as_deref().is_some_and(|s| !s.is_empty() && s != "0")
    }
}

/// A checked reply to write.
#[derive(Clone, Debug)]
pub struct Draft {
    pub title: String,
    pub shortcut: String,
    pub body: String,
    pub shared: bool,
}

/// A shortcut as typed ("/Ship" → "ship"), or why not.
fn shortcut(value: &str) -> Result<String, String> {
    let value = value.trim().trim_start_matches('/').to_lowercase();
    if value.is_empty() {
        return Err("Shortcut is required.".into());
    }
    let ok = value.chars().count() <= SHORTCUT_MAX
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(format!("Shortcut: up to {SHORTCUT_MAX} letters a–z, digits, - and _, starting with a letter or digit (like ship-delay)."));
    }
    Ok(value)
}

impl Draft {
    /// The form checked, or the errors by field.
    pub fn parse(form: &CannedForm) -> Result<Draft, FormErrors> {
        let mut errors = FormErrors::default();
        let title = errors.take("title", forms::required_text(&form.title, "Title", TITLE_MAX));
        let shortcut = errors.take("shortcut", shortcut(&form.shortcut));
        let body = form.body.trim();
        if body.is_empty() {
            errors.add("body", "Text is required.");
        } else if body.chars().count() > BODY_MAX {
            errors.add("body", format!("Text must be at most {BODY_MAX} characters."));
        }
        match (title, shortcut) {
            (Some(title), Some(shortcut)) if errors.is_empty() => Ok(Draft { title, shortcut, body: body.to_string(), shared: form.is_shared() }),
            _ => Err(errors),
        }
    }
}

/// Why a change was refused (nothing written).
#[derive(Debug, thiserror::Error)]
pub enum CannedError {
    /// Another person's own reply, another workspace's, or none.
    #[error("not found")]
    NotFound,
    #[error("Only admins manage the workspace's canned replies.")]
    NotAdmin,
    #[error("The shortcut /{0} is already taken.")]
    ShortcutTaken(String),
    #[error(transparent)]
    Db(#[from] DieselError),
}

/// The replies `scope` sees: the workspace's and their own.
fn visible(scope: &Scope) -> canned_replies::BoxedQuery<'static, Pg> {
    canned_replies::table
        .filter(canned_replies::workspace_id.eq(scope.workspace_id))
        .filter(canned_replies::owner_id.is_null().or(canned_replies::owner_id.eq(scope.user_id)))
        .into_boxed()
}

/// A page of the replies `scope` sees, by shortcut (the workspace's first on a tie), and
/// whether there is a next page.
pub fn page(conn: &mut PgConnection, scope: &Scope, page: i64) -> QueryResult<(Vec<CannedReply>, bool)> {
    let mut rows: Vec<CannedReply> = visible(scope)
        .order((canned_replies::shortcut, canned_replies::owner_id.is_not_null(), canned_replies::id))
        .limit(PER_PAGE + 1)
        .offset((page.max(1) - 1) * PER_PAGE)
        .select(CannedReply::as_select())
        .load(conn)?;
    let more = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    Ok((rows, more))
}

pub fn find(conn: &mut PgConnection, scope: &Scope, id: i64) -> QueryResult<Option<CannedReply>> {
    visible(scope).filter(canned_replies::id.eq(id)).select(CannedReply::as_select()).first(conn).optional()
}

/// The picker's choices for what follows the `/` typed: shortcuts that start with it first,
/// then titles and texts that contain it; the person's own before the workspace's.
pub fn matching(conn: &mut PgConnection, scope: &Scope, typed: &str) -> QueryResult<Vec<CannedReply>> {
    let typed = typed.trim().to_lowercase();
    let mut query = visible(scope);
    if !typed.is_empty() {
        let contains = like_contains(&typed);
        query = query.filter(
            canned_replies::shortcut
                .like(contains.clone())
                .or(crate::db::lower(canned_replies::title).like(contains.clone()))
                .or(crate::db::lower(canned_replies::body).like(contains)),
        );
    }
    let starts = format!("{}%", crate::db::escape_like(&typed));
    query
        .order((
            canned_replies::shortcut.like(starts).desc(),
            canned_replies::owner_id.is_null(),
            canned_replies::shortcut,
            canned_replies::id,
        ))
        .limit(PICKER_MAX)
        .select(CannedReply::as_select())
        .load(conn)
}

fn unique(result: QueryResult<CannedReply>, shortcut: &str) -> Result<CannedReply, CannedError> {
    result.map_err(|e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => CannedError::ShortcutTaken(shortcut.to_string()),
        e => CannedError::Db(e),
    })
}

/// Writes a new reply: the workspace's when the draft is shared (admins only), else the
/// person's own.
pub fn create(tx: &mut PgConnection, scope: &Scope, draft: &Draft, entry: Entry) -> Result<CannedReply, CannedError> {
    if draft.shared && scope.role != Role::Admin {
        return Err(CannedError::NotAdmin);
    }
    let owner = (!draft.shared).then_some(scope.user_id);
    let reply = unique(
        diesel::insert_into(canned_replies::table)
            .values((
                canned_replies::workspace_id.eq(scope.workspace_id),
                canned_replies::owner_id.eq(owner),
                canned_replies::title.eq(&draft.title),
                canned_replies::shortcut.eq(&draft.shortcut),
                canned_replies::body.eq(&draft.body),
                canned_replies::created_by.eq(scope.user_id),
            ))
            .returning(CannedReply::as_returning())
            .get_result(tx),
        &draft.shortcut,
    )?;
    audit::record(tx, &Entry { entity_id: Some(reply.id.to_string()), ..entry.after(reply.audit_json()) })?;
    Ok(reply)
}

/// The reply `scope` may change, locked; `NotFound` when they cannot see it, `NotAdmin`
/// when it is the workspace's and they are not an admin.
fn editable(tx: &mut PgConnection, scope: &Scope, id: i64) -> Result<CannedReply, CannedError> {
    let reply = find(tx, scope, id)?.ok_or(CannedError::NotFound)?;
    if !reply.editable_by(scope) {
        return Err(CannedError::NotAdmin);
    }
    Ok(canned_replies::table.find((scope.workspace_id, id)).select(CannedReply::as_select()).for_update().first(tx)?)
}

pub fn update(tx: &mut PgConnection, scope: &Scope, id: i64, draft: &Draft, entry: Entry) -> Result<CannedReply, CannedError> {
    let before = editable(tx, scope, id)?;
    if draft.shared && scope.role != Role::Admin {
        return Err(CannedError::NotAdmin);
    }
    let owner = (!draft.shared).then_some(before.owner_id.unwrap_or(scope.user_id));
    let after = unique(
        diesel::update(canned_replies::table.find((scope.workspace_id, id)))
            .set((
                canned_replies::owner_id.eq(owner),
                canned_replies::title.eq(&draft.title),
                canned_replies::shortcut.eq(&draft.shortcut),
                canned_replies::body.eq(&draft.body),
                canned_replies::updated_at.eq(diesel::dsl::now),
            ))
            .returning(CannedReply::as_returning())
            .get_result(tx),
        &draft.shortcut,
    )?;
    audit::record(tx, &entry.before(before.audit_json()).after(after.audit_json()))?;
    Ok(after)
}

pub fn delete(tx: &mut PgConnection, scope: &Scope, id: i64, entry: Entry) -> Result<CannedReply, CannedError> {
    let reply = editable(tx, scope, id)?;
    diesel::delete(canned_replies::table.find((scope.workspace_id, id))).execute(tx)?;
    audit::record(tx, &entry.before(reply.audit_json()))?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(title: &str, shortcut: &str, body: &str) -> CannedForm {
        CannedForm { title: title.into(), shortcut: shortcut.into(), body: body.into(), shared: None }
    }

    #[test]
    fn a_shortcut_is_lower_case_without_its_slash() {
        let draft = Draft::parse(&form(" Delivery delay ", "/Ship-Delay", " Hi {{first_name}}\r\nsorry ")).unwrap();
        assert_eq!((draft.title.as_str(), draft.shortcut.as_str(), draft.body.as_str(), draft.shared), ("Delivery delay", "ship-delay", "Hi {{first_name}}\r\nsorry", false));
        for bad in ["", "/", "-ship", "ship delay", "é", &"a".repeat(31)] {
            let errors = Draft::parse(&form("T", bad, "B")).unwrap_err();
            assert!(errors.get("shortcut").is_some(), "{bad:?}");
        }
    }

    #[test]
    fn every_field_is_checked_at_once() {
        let errors = Draft::parse(&form("", "ok", &"x".repeat(BODY_MAX + 1))).unwrap_err();
        assert_eq!(errors.get("title"), Some("Title is required."));
        assert_eq!(errors.get("body"), Some("Text must be at most 4096 characters."));
        assert!(errors.get("shortcut").is_none());
        assert!(CannedForm { shared: Some("1".into()), ..form("T", "s", "B") }.is_shared());
    }
}
