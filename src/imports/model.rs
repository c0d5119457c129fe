//! Import rows and their states: who may see which, creation at upload, the recent list.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::clients::query::Scope;
use crate::db::schema::{import_errors, imports};
use crate::imports::mapping::{ImportSettings, Problem};
use crate::users::role::Role;

crate::text_enum! {
    /// Where an import is, stored in `imports.status` (its CHECK lists the same texts):
    /// uploading → uploaded (mapping) → queued → running → done or failed; a failed import
    /// whose file is kept can go back to uploaded.
    pub enum ImportStatus {
        /// The file is still arriving; not listed, swept after a day.
        Uploading => "uploading",
        /// Stored: the preview and mapping page.
        Uploaded => "uploaded",
        /// Started, waiting for a worker.
        Queued => "queued",
        Running => "running",
        Done => "done",
        /// Nothing was written; see `error`.
        Failed => "failed",
    }
}

impl ImportStatus {
    /// Done or failed: the report is final and the page stops polling.
    pub fn finished(self) -> bool {
        matches!(self, ImportStatus::Done | ImportStatus::Failed)
    }
}

crate::text_enum! {
    /// What a running import is doing, stored in `imports.phase`; the empty text when it is
    /// not running.
    pub enum ImportPhase {
        None => "",
        /// Streaming the file through the row checks into staging.
        Reading => "reading",
        /// Looking for duplicates, matches and conflicts.
        Checking => "checking",
        Writing => "writing",
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = imports)]
pub struct Import {
    pub workspace_id: i64,
    pub id: i64,
    pub user_id: i64,
    pub filename: String,
    pub size_bytes: i64,
    pub line_count: i64,
    pub status: ImportStatus,
    pub phase: ImportPhase,
    pub encoding: String,
    pub delimiter: String,
    pub headers: serde_json::Value,
    pub settings: Option<serde_json::Value>,
    pub rows_read: i64,
    pub rows_created: i64,
    pub rows_updated: i64,
    pub rows_unchanged: i64,
    pub rows_skipped: i64,
    pub rows_rejected: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Import {
    pub fn headers(&self) -> Vec<String> {
        serde_json::from_value(self.headers.clone()).unwrap_or_default()
    }

    pub fn settings(&self) -> Option<ImportSettings> {
        self.settings.clone().and_then(|s| serde_json::from_value(s).ok())
    }

    /// Rows expected (line breaks less the header), never below what was read.
    pub fn rows_expected(&self) -> i64 {
        (self.line_count - 1).max(self.rows_read).max(1)
    }

    pub fn finished(&self) -> bool {
        self.status.finished()
    }

    pub fn delimiter_label(&self) -> &'static str {
        match self.delimiter.as_str() {
            ";" => "semicolon",
            "\t" => "tab",
            _ => "comma",
        }
    }
}

/// Admins see every import of the workspace; others their own.
pub fn visible(scope: &Scope) -> imports::BoxedQuery<'static, diesel::pg::Pg> {
    let query = imports::table.filter(imports::workspace_id.eq(scope.workspace_id)).into_boxed();
    if scope.role == Role::Admin { query } else { query.filter(imports::user_id.eq(scope.user_id)) }
}

pub fn find(conn: &mut PgConnection, scope: &Scope, id: i64) -> QueryResult<Option<Import>> {
    visible(scope).filter(imports::id.eq(id)).select(Import::as_select()).first(conn).optional()
}

pub fn recent(conn: &mut PgConnection, scope: &Scope, limit: i64) -> QueryResult<Vec<Import>> {
    visible(scope)
        .filter(imports::status.ne(ImportStatus::Uploading))
        .order((imports::created_at.desc(), imports::id.desc()))
        .limit(limit)
        .select(Import::as_select())
        .load(conn)
}

/// Uploads never started, and files of failed imports, are removed after a day.
pub fn sweep(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM imports WHERE status IN ($1, $2) AND created_at < now() - interval '1 day'")
        .bind::<Text, _>(ImportStatus::Uploading)
        .bind::<Text, _>(ImportStatus::Uploaded)
        .execute(conn)?;
    diesel::sql_query(
        "DELETE FROM import_chunks ch USING imports i WHERE i.workspace_id = ch.workspace_id AND i.id = ch.import_id \
         AND i.status = $1 AND i.finished_at < now() - interval '1 day'",
    )
    .bind::<Text, _>(ImportStatus::Failed)
    .execute(conn)?;
    Ok(())
}

/// A rejected row as stored.
#[derive(Clone, Debug)]
pub struct Rejected {
    pub row_number: i64,
    pub problems: Vec<Problem>,
    pub raw: Vec<String>,
}

impl Rejected {
    pub fn reasons(&self) -> String {
        self.problems
            .iter()
            .map(|p| if p.column.is_empty() { p.reason.clone() } else { format!("{}: {}", p.column, p.reason) })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn insert_errors(conn: &mut PgConnection, workspace_id: i64, import_id: i64, rows: &[Rejected]) -> QueryResult<()> {
    for chunk in rows.chunks(1_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    import_errors::workspace_id.eq(workspace_id),
                    import_errors::import_id.eq(import_id),
                    import_errors::row_number.eq(r.row_number),
                    import_errors::problems.eq(serde_json::to_value(&r.problems).unwrap_or_default()),
                    import_errors::raw.eq(serde_json::to_value(&r.raw).unwrap_or_default()),
                )
            })
            .collect();
        diesel::insert_into(import_errors::table).values(values).on_conflict_do_nothing().execute(conn)?;
    }
    Ok(())
}

/// Rejected rows in row order after `after`, at most `limit`.
pub fn errors_page(conn: &mut PgConnection, workspace_id: i64, import_id: i64, after: Option<i64>, limit: i64) -> QueryResult<Vec<Rejected>> {
    let mut query = import_errors::table
        .filter(import_errors::workspace_id.eq(workspace_id))
        .filter(import_errors::import_id.eq(import_id))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(import_errors::row_number.gt(after));
    }
    let rows: Vec<(i64, serde_json::Value, serde_json::Value)> = query
        .order(import_errors::row_number)
        .limit(limit)
        .select((import_errors::row_number, import_errors::problems, import_errors::raw))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row_number, problems, raw)| Rejected {
            row_number,
            problems: serde_json::from_value(problems).unwrap_or_default(),
            raw: serde_json::from_value(raw).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_statuses_are_the_texts_the_migration_allows() {
        let migration = include_str!("../../migrations/2026-11-27-000600_create_imports/up.sql");
        let listed = ImportStatus::ALL.map(|s| format!("'{s}'")).join(", ");
        assert!(migration.contains(&format!("CHECK (status IN ({listed}))")), "the enum lists {listed}");
        assert_eq!(ImportStatus::ALL.map(ImportStatus::as_str), ["uploading", "uploaded", "queued", "running", "done", "failed"]);
        assert!(migration.contains("phase          text NOT NULL DEFAULT ''"), "no phase is the empty text");
        assert_eq!(ImportPhase::ALL.map(ImportPhase::as_str), ["", "reading", "checking", "writing"]);
    }

    #[test]
    fn only_done_and_failed_imports_are_finished() {
        let finished: Vec<_> = ImportStatus::ALL.into_iter().filter(|s| s.finished()).collect();
        assert_eq!(finished, [ImportStatus::Done, ImportStatus::Failed]);
    }
}
