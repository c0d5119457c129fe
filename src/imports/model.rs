//! Import rows, their states and rejected rows; the queries are in `query`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::imports;
use crate::imports::mapping::{ImportSettings, Problem, Target};

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

/// A new import, created in `uploading` from what its file's first chunk says.
#[derive(Debug, Insertable)]
#[diesel(table_name = imports)]
pub struct NewImport<'a> {
    pub workspace_id: i64,
    pub user_id: i64,
    pub filename: &'a str,
    pub encoding: &'a str,
    pub delimiter: String,
    pub headers: serde_json::Value,
}

/// A rejected row as stored.
#[derive(Clone, Debug)]
pub struct Rejected {
    pub row_number: i64,
    pub problems: Vec<Problem>,
    pub raw: Vec<String>,
}

impl Rejected {
    /// The row's client as a person knows it, for the report: its name (or first and last
    /// name), else its email, else its phone; at most 80 characters. `columns` is the run's mapping.
    pub fn who(&self, columns: &[Target]) -> String {
        let cell = |t: Target| columns.iter().position(|c| *c == t).and_then(|i| self.raw.get(i)).map(|s| s.trim()).filter(|s| !s.is_empty());
        let full = || {
            let parts: Vec<&str> = [cell(Target::FirstName), cell(Target::LastName)].into_iter().flatten().collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        };
        let who = cell(Target::Name).map(str::to_owned).or_else(full).or_else(|| cell(Target::Email).or(cell(Target::Phone)).map(str::to_owned));
        who.map(|w| w.chars().take(80).collect()).unwrap_or_default()
    }

    pub fn reasons(&self) -> String {
        self.problems
            .iter()
            .map(|p| if p.column.is_empty() { p.reason.clone() } else { format!("{}: {}", p.column, p.reason) })
            .collect::<Vec<_>>()
            .join(" ")
    }
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
