//! The imports' queries: who may see which import, its state changes from upload to start
//! (the run's own are in `run`), the sweep of abandoned files, and the rejected rows.

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::json;

use crate::authz::Scope;
use crate::db::schema::{import_errors, imports};
use crate::imports::mapping::ImportSettings;
use crate::imports::model::{Import, ImportPhase, ImportStatus, NewImport, Rejected};

/// Admins see every import of the workspace; others their own (`authz::Scope::imports`).
pub fn visible(scope: &Scope) -> imports::BoxedQuery<'static, diesel::pg::Pg> {
    scope.imports()
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

/// Inserts a new import (status `uploading`); returns its id.
pub fn insert(conn: &mut PgConnection, new: &NewImport) -> QueryResult<i64> {
    diesel::insert_into(imports::table).values(new).returning(imports::id).get_result(conn)
}

/// The whole file is stored: the import is `uploaded`, with the file's size and line breaks.
pub fn mark_uploaded(conn: &mut PgConnection, workspace_id: i64, id: i64, size_bytes: i64, line_count: i64) -> QueryResult<usize> {
    diesel::update(imports::table.filter(imports::workspace_id.eq(workspace_id)).filter(imports::id.eq(id)))
        .set((imports::status.eq(ImportStatus::Uploaded), imports::size_bytes.eq(size_bytes), imports::line_count.eq(line_count)))
        .execute(conn)
}

/// Deletes an import (its stored chunks and rejected rows go with it).
pub fn delete(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(imports::table.filter(imports::workspace_id.eq(workspace_id)).filter(imports::id.eq(id))).execute(conn)
}

/// Moves an `uploaded` import to `queued` with the run's settings and the encoding,
/// separator and header it is read with; returns false when it was not `uploaded` any more
/// (started meanwhile), and then changes nothing.
pub fn queue(
    conn: &mut PgConnection,
    workspace_id: i64,
    id: i64,
    settings: &ImportSettings,
    encoding: &str,
    delimiter: u8,
    headers: &[String],
) -> QueryResult<bool> {
    let settings = serde_json::to_value(settings).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let queued = diesel::update(
        imports::table.filter(imports::workspace_id.eq(workspace_id)).filter(imports::id.eq(id)).filter(imports::status.eq(ImportStatus::Uploaded)),
    )
    .set((
        imports::status.eq(ImportStatus::Queued),
        imports::settings.eq(settings),
        imports::encoding.eq(encoding),
        imports::delimiter.eq((delimiter as char).to_string()),
        imports::headers.eq(json!(headers)),
    ))
    .execute(conn)?;
    Ok(queued == 1)
}

/// A failed import goes back to `uploaded`, to be mapped and run again: its rejected rows,
/// error, counts and times are cleared.
pub fn reset_for_retry(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<()> {
    diesel::delete(import_errors::table.filter(import_errors::workspace_id.eq(workspace_id)).filter(import_errors::import_id.eq(id))).execute(conn)?;
    diesel::update(imports::table.filter(imports::workspace_id.eq(workspace_id)).filter(imports::id.eq(id)))
        .set((
            imports::status.eq(ImportStatus::Uploaded),
            imports::phase.eq(ImportPhase::None),
            imports::error.eq(None::<String>),
            imports::rows_read.eq(0),
            imports::rows_rejected.eq(0),
            imports::started_at.eq(None::<chrono::DateTime<chrono::Utc>>),
            imports::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
        ))
        .execute(conn)?;
    Ok(())
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


/// Rows this workspace's imports saved per second, over its last five finished imports
/// that recorded when saving began; `None` below 1,000 rows of history.
pub fn saving_rate(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Option<f64>> {
    #[derive(QueryableByName)]
    struct Rate {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
        rows: Option<f64>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
        seconds: Option<f64>,
    }
    let r: Rate = diesel::sql_query(
        "SELECT sum(rows_created + rows_updated)::float8 AS rows, \
                sum(extract(epoch FROM finished_at - writing_started_at))::float8 AS seconds \
         FROM (SELECT rows_created, rows_updated, finished_at, writing_started_at FROM imports \
               WHERE workspace_id = $1 AND status = 'done' AND writing_started_at IS NOT NULL AND finished_at > writing_started_at \
               ORDER BY finished_at DESC LIMIT 5) recent",
    )
    .bind::<diesel::sql_types::BigInt, _>(workspace_id)
    .get_result(conn)?;
    Ok(match (r.rows, r.seconds) {
        (Some(rows), Some(seconds)) if rows >= 1_000.0 && seconds > 0.0 => Some(rows / seconds),
        _ => None,
    })
}
