//! The import run, as a job: claim the import, stream the stored file through the
//! row checks into a temporary staging table with COPY, then find duplicates, matches,
//! scope and uniqueness conflicts and write everything with set-based SQL, all in one
//! transaction. All-or-nothing mode rolls back on the first rejected row and records every
//! rejected row; progress goes to the `imports` row on a separate connection.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::BufWriter;

use anyhow::Context;
use diesel::pg::CopyFormat;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::json;

use crate::authz::Role;
use crate::csv_io::rows::Row;
use crate::db::Pool;
use crate::db::schema::{imports, jobs};
use crate::imports::file::{self, ChunkReader, Format};
use crate::imports::mapping::{ImportSettings, Key, Mode, OnExisting, Problem, RowChecker, Target};
use crate::imports::model::{Import, ImportPhase, ImportStatus, Rejected};
use crate::imports::query;
use crate::jobs::queue::Job as QueuedJob;
use crate::jobs::run::{JobEnv, JobError};
use crate::jobs::{JobHandler, Kind};

diesel::table! {
    /// The staging table: temporary, dropped at commit.
    import_rows (rn) {
        rn -> Int8,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        company -> Nullable<Text>,
        status -> Nullable<Text>,
        notes -> Nullable<Text>,
        tags -> Nullable<Text>,
        phone_formatted -> Nullable<Text>,
    }
}

const PROGRESS_EVERY: i64 = 10_000;

/// The `import` job (see [`job`]).
pub struct ImportJob;

impl ImportJob {
    pub const KIND: Kind = Kind::new("import");
}

impl JobHandler for ImportJob {
    fn kind(&self) -> Kind {
        Self::KIND
    }

    fn run(&self, env: &JobEnv, job: &QueuedJob) -> Result<(), JobError> {
        self::job(env, job)
    }
}

/// The `import` job. The import records its own outcome (a failed import is a finished
/// job); the job is retried only if the worker died, and then the import starts over (its
/// transaction never committed).
pub fn job(env: &crate::jobs::run::JobEnv, job: &crate::jobs::queue::Job) -> Result<(), crate::jobs::run::JobError> {
    #[derive(serde::Deserialize)]
    struct Payload {
        import_id: i64,
    }
    let p: Payload = crate::jobs::run::payload(job)?;
    run(&env.pool, job.workspace_id, p.import_id);
    Ok(())
}

/// The job's idempotency key: one run per import at a time.
fn job_key(import_id: i64) -> String {
    format!("import:{import_id}")
}

/// Enqueues the run of a queued import, in the caller's transaction.
pub fn enqueue(conn: &mut PgConnection, workspace_id: i64, import_id: i64) -> QueryResult<Option<i64>> {
    let job = crate::jobs::NewJob::new(workspace_id, ImportJob::KIND, json!({ "import_id": import_id })).key(job_key(import_id)).attempts(3);
    crate::jobs::enqueue(conn, &job)
}

/// Deletes the finished run's job, so starting the import again enqueues a new one under
/// the same key.
pub fn forget_job(conn: &mut PgConnection, workspace_id: i64, import_id: i64) -> QueryResult<usize> {
    diesel::delete(jobs::table.filter(jobs::workspace_id.eq(workspace_id)).filter(jobs::idempotency_key.eq(job_key(import_id)))).execute(conn)
}

/// Runs a queued import to its end; an unexpected error marks it failed (nothing written).
pub fn run(pool: &Pool, workspace_id: i64, import_id: i64) {
    if let Err(e) = execute(pool, workspace_id, import_id) {
        tracing::error!(import_id, error = format!("{e:#}"), "import failed");
        let message = "The import stopped on an unexpected error and nothing was written. Try again, or ask your administrator to check the logs.";
        if let Ok(mut conn) = pool.get() {
            let _ = diesel::update(imports::table.filter(imports::workspace_id.eq(workspace_id)).filter(imports::id.eq(import_id)))
                .set((imports::status.eq(ImportStatus::Failed), imports::phase.eq(ImportPhase::None), imports::error.eq(message), imports::finished_at.eq(diesel::dsl::now)))
                .execute(&mut conn);
        }
    }
}

struct Job {
    import: Import,
    settings: ImportSettings,
    headers: Vec<String>,
    format: Format,
    user_id: i64,
    user_label: String,
    role: Role,
    country: String,
}

impl Job {
    fn w(&self) -> i64 {
        self.import.workspace_id
    }
    fn id(&self) -> i64 {
        self.import.id
    }
    fn assignee(&self) -> Option<i64> {
        if self.role == Role::Agent { Some(self.user_id) } else { self.settings.assignee }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    read: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    skipped: i64,
    rejected: i64,
}

enum RunError {
    Db(diesel::result::Error),
    /// All-or-nothing with rejected rows: rolled back; the SQL-found rejects still need their cells.
    Rejected { counts: Counts, found: Vec<(i64, Problem)> },
}

impl From<diesel::result::Error> for RunError {
    fn from(e: diesel::result::Error) -> Self {
        RunError::Db(e)
    }
}

fn execute(pool: &Pool, w: i64, id: i64) -> anyhow::Result<()> {
    let mut conn = pool.get().context("pool checkout")?;
    // `running` too: a worker that died mid-import left it so, and nothing it did committed.
    let claimed: Option<Import> = diesel::update(
        imports::table.filter(imports::workspace_id.eq(w)).filter(imports::id.eq(id)).filter(imports::status.eq_any([ImportStatus::Queued, ImportStatus::Running])),
    )
        .set((imports::status.eq(ImportStatus::Running), imports::phase.eq(ImportPhase::Reading), imports::started_at.eq(diesel::dsl::now)))
        .returning(Import::as_returning())
        .get_result(&mut conn)
        .optional()?;
    let Some(import) = claimed else { return Ok(()) };
    let settings = import.settings().context("the import has no settings")?;
    let user = crate::users::model::find(&mut conn, w, import.user_id)?.context("the importing user is gone")?;
    let country = crate::workspaces::find(&mut conn, w)?.default_country;
    let job = Job {
        headers: import.headers(),
        format: Format::of(&import.encoding, &import.delimiter),
        settings,
        user_id: user.id,
        user_label: user.email.clone(),
        role: user.role,
        country,
        import,
    };
    let rejected = RefCell::new(Vec::<Rejected>::new());
    let outcome = conn.transaction(|tx| import_in(tx, pool, &job, &rejected));
    match outcome {
        Ok(counts) => {
            tracing::info!(import_id = id, ?counts, "import done");
            if (counts.created + counts.updated) as usize >= crate::db::VACUUM_AFTER_ROWS {
                // The list and search at their steady speed when the job ends (see `db::vacuum_analyze`).
                crate::db::vacuum_analyze_after(&mut conn, &[crate::db::Vacuumed::Clients, crate::db::Vacuumed::ClientTags]);
            }
            Ok(())
        }
        Err(RunError::Rejected { counts, found }) => {
            let mut rows = rejected.into_inner();
            rows.extend(with_cells(pool, &job, found)?);
            rows.sort_by_key(|r| r.row_number);
            conn.transaction(|tx| -> anyhow::Result<()> {
                query::insert_errors(tx, w, id, &rows)?;
                let message = format!(
                    "{} row{} rejected, so nothing was imported. Fix {} and upload the file again, or choose to import only the valid rows.",
                    rows.len(),
                    if rows.len() == 1 { " was" } else { "s were" },
                    if rows.len() == 1 { "it" } else { "them" }
                );
                diesel::update(imports::table.filter(imports::workspace_id.eq(w)).filter(imports::id.eq(id)))
                    .set((
                        imports::status.eq(ImportStatus::Failed),
                        imports::phase.eq(ImportPhase::None),
                        imports::error.eq(message),
                        imports::rows_read.eq(counts.read),
                        imports::rows_rejected.eq(rows.len() as i64),
                        imports::finished_at.eq(diesel::dsl::now),
                    ))
                    .execute(tx)?;
                crate::audit::record(tx, &audit_entry(&job, crate::audit::Action::ImportsFailed).after(json!({ "rows_read": counts.read, "rows_rejected": rows.len() })))?;
                Ok(())
            })?;
            tracing::info!(import_id = id, rejected = rows.len(), "import rejected, nothing written");
            Ok(())
        }
        Err(RunError::Db(e)) => Err(e.into()),
    }
}

fn audit_entry(job: &Job, action: crate::audit::Action) -> crate::audit::Entry {
    let actor = crate::audit::Actor::User { id: job.user_id, label: job.user_label.clone() };
    let mut entry = crate::audit::Entry::new(job.w(), actor, action, "imports", job.id());
    entry.ip = job.settings.ip.clone();
    entry.request_id = job.settings.request_id.clone();
    entry
}

fn progress(pool: &Pool, job: &Job, phase: ImportPhase, read: i64) {
    if let Ok(mut conn) = pool.get() {
        let target = imports::table.filter(imports::workspace_id.eq(job.w())).filter(imports::id.eq(job.id()));
        let _ = if phase == ImportPhase::Writing {
            diesel::update(target)
                .set((imports::phase.eq(phase), imports::rows_read.eq(read), imports::writing_started_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>("now()"))))
                .execute(&mut conn)
        } else {
            diesel::update(target).set((imports::phase.eq(phase), imports::rows_read.eq(read))).execute(&mut conn)
        };
    }
}

fn chunk_fetcher(pool: &Pool, job: &Job) -> impl FnMut(i32) -> QueryResult<Option<Vec<u8>>> {
    let (pool, w, id) = (pool.clone(), job.w(), job.id());
    move |seq| {
        let mut conn = pool.get().map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
        file::load_chunk(&mut conn, w, id, seq)
    }
}

fn io_error(e: impl std::error::Error + Send + Sync + 'static) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// The whole import inside one transaction.
fn import_in(tx: &mut PgConnection, pool: &Pool, job: &Job, rejected: &RefCell<Vec<Rejected>>) -> Result<Counts, RunError> {
    let mut counts = Counts::default();
    let mut clock = PhaseClock::new(job.id());
    let blank = stage(tx, pool, job, rejected, &mut counts.read)?;
    clock.lap("staged");
    progress(pool, job, ImportPhase::Checking, counts.read);
    for sql in [
        "CREATE INDEX ON import_rows (email)",
        "CREATE INDEX ON import_rows (phone)",
        "CREATE INDEX ON import_rows (client_id)",
        "ANALYZE import_rows",
    ] {
        diesel::sql_query(sql).execute(tx)?;
    }
    clock.lap("indexed");
    let mut found = find_rejects(tx, job)?;
    clock.lap("checked");
    let all_or_nothing = job.settings.mode == Mode::AllOrNothing;
    if all_or_nothing && (!found.is_empty() || !rejected.borrow().is_empty()) {
        counts.rejected = (found.len() + rejected.borrow().len()) as i64;
        return Err(RunError::Rejected { counts, found });
    }
    counts.skipped = blank;
    if job.settings.on_existing == OnExisting::Skip {
        counts.skipped += diesel::sql_query("DELETE FROM import_rows WHERE client_id IS NOT NULL").execute(tx)? as i64;
    }
    progress(pool, job, ImportPhase::Writing, counts.read);
    let w = job.w();
    diesel::sql_query(
        "INSERT INTO tags (workspace_id, name) \
         SELECT DISTINCT ON (lower(n.name)) $1, n.name FROM import_rows r, unnest(string_to_array(r.tags, ';')) AS n(name) \
         WHERE r.tags IS NOT NULL ORDER BY lower(n.name), r.rn \
         ON CONFLICT (workspace_id, lower(name)) DO NOTHING",
    )
    .bind::<BigInt, _>(w)
    .execute(tx)?;
    let matched = diesel::sql_query("SELECT 1 FROM import_rows WHERE client_id IS NOT NULL").execute(tx)? as i64;
    clock.lap("tags");
    counts.updated = update_existing(tx, job)?;
    counts.unchanged = matched - counts.updated;
    clock.lap("updated");
    let (created, lost) = insert_new(tx, job)?;
    clock.lap("inserted");
    counts.created = created;
    if !lost.is_empty() {
        if all_or_nothing {
            found.extend(lost);
            counts.rejected = (found.len() + rejected.borrow().len()) as i64;
            return Err(RunError::Rejected { counts, found });
        }
        found.extend(lost);
    }
    link_tags_and_department(tx, job)?;
    clock.lap("linked");
    let mut rows = std::mem::take(&mut *rejected.borrow_mut());
    rows.extend(with_cells(pool, job, found).map_err(|e| RunError::Db(diesel::result::Error::QueryBuilderError(e.into())))?);
    rows.sort_by_key(|r| r.row_number);
    counts.rejected = rows.len() as i64;
    query::insert_errors(tx, w, job.id(), &rows)?;
    diesel::update(imports::table.filter(imports::workspace_id.eq(w)).filter(imports::id.eq(job.id())))
        .set((
            imports::status.eq(ImportStatus::Done),
            imports::phase.eq(ImportPhase::None),
            imports::rows_read.eq(counts.read),
            imports::rows_created.eq(counts.created),
            imports::rows_updated.eq(counts.updated),
            imports::rows_unchanged.eq(counts.unchanged),
            imports::rows_skipped.eq(counts.skipped),
            imports::rows_rejected.eq(counts.rejected),
            // The wall clock, not the transaction's start (`now()`): the saving phase began
            // inside this transaction, and its length is the estimate's history.
            imports::finished_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>("clock_timestamp()")),
        ))
        .execute(tx)?;
    file::delete_chunks(tx, w, job.id())?;
    let summary = json!({
        "filename": job.import.filename, "rows_read": counts.read, "created": counts.created, "updated": counts.updated,
        "unchanged": counts.unchanged, "skipped": counts.skipped, "rejected": counts.rejected,
    });
    crate::audit::record(tx, &audit_entry(job, crate::audit::Action::ImportsCompleted).after(summary))?;
    clock.lap("finished");
    Ok(counts)
}

/// Logs how long each step took (at debug level), for tuning.
struct PhaseClock {
    import_id: i64,
    last: std::time::Instant,
}

impl PhaseClock {
    fn new(import_id: i64) -> Self {
        PhaseClock { import_id, last: std::time::Instant::now() }
    }

    fn lap(&mut self, step: &str) {
        let now = std::time::Instant::now();
        tracing::debug!(import_id = self.import_id, step, ms = (now - self.last).as_millis() as u64, "import step");
        self.last = now;
    }
}

/// Streams the file through the row checks into `import_rows`; returns the blank rows.
///
/// Each row takes the id it will have if it is new (`new_id`) from the clients' sequence as
/// it is copied in; a row that matches a client (`client_id`) or is rejected leaves a gap in
/// the ids, as a rolled-back insert does. Taking the ids later with an `UPDATE` of the
/// staging table cost 7 to 10 s at 1M rows (a second version of every row and its index
/// entries), and `nextval(pg_get_serial_sequence(…))` looked the sequence up again per row.
fn stage(tx: &mut PgConnection, pool: &Pool, job: &Job, rejected: &RefCell<Vec<Rejected>>, read: &mut i64) -> Result<i64, RunError> {
    #[derive(QueryableByName)]
    struct Sequence {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let sequence: Sequence = diesel::sql_query("SELECT pg_get_serial_sequence('clients', 'id') AS name").get_result(tx)?;
    diesel::sql_query(format!(
        "CREATE TEMP TABLE import_rows (rn bigint NOT NULL, name text, email text, phone text, company text, status text, \
         notes text, tags text, phone_formatted text, client_id bigint, new_id bigint NOT NULL DEFAULT nextval('{}'::regclass)) ON COMMIT DROP",
        sequence.name.replace('\'', "''")
    ))
    .execute(tx)?;
    let checker = RowChecker { settings: &job.settings, headers: &job.headers, country: &job.country };
    let tally = RefCell::new((0i64, 0i64)); // (read, blank)
    diesel::copy_from(import_rows::table)
        .from_raw_data(import_rows::table, |sink| {
            let mut rows = job.format.rows(ChunkReader::new(chunk_fetcher(pool, job)), job.headers.len());
            let mut out = csv::WriterBuilder::new().has_headers(false).from_writer(BufWriter::with_capacity(256 * 1024, sink));
            let mut row = Row::default();
            let mut index: i64 = 0;
            let (mut read, mut blank) = (0i64, 0i64);
            while rows.read_row(&mut row).map_err(io_error)? {
                index += 1;
                if index == 1 {
                    continue; // the header
                }
                read += 1;
                match checker.check_row(&row) {
                    Ok(None) => blank += 1,
                    Ok(Some(row)) => {
                        let tags = row.tags.join(";");
                        let cells: [&str; 9] = [
                            &index.to_string(),
                            row.name.as_deref().unwrap_or(""),
                            row.email.as_deref().unwrap_or(""),
                            row.phone.as_deref().unwrap_or(""),
                            row.company.as_deref().unwrap_or(""),
                            row.status.unwrap_or(""),
                            row.notes.as_deref().unwrap_or(""),
                            &tags,
                            row.phone_formatted.as_deref().unwrap_or(""),
                        ];
                        out.write_record(cells).map_err(io_error)?;
                    }
                    Err(problems) => rejected.borrow_mut().push(Rejected {
                        row_number: index,
                        problems,
                        raw: row.record.iter().map(str::to_string).collect(),
                    }),
                }
                if read % PROGRESS_EVERY == 0 {
                    progress(pool, job, ImportPhase::Reading, read);
                }
            }
            out.flush().map_err(io_error)?;
            *tally.borrow_mut() = (read, blank);
            Ok::<_, diesel::result::Error>(())
        })
        .with_format(CopyFormat::Csv)
        .execute(tx)?;
    let (total, blank) = tally.into_inner();
    *read = total;
    Ok(blank)
}

#[derive(QueryableByName)]
struct Hit {
    #[diesel(sql_type = BigInt)]
    rn: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    other: Option<i64>,
}

/// Rows the database rejects: duplicates inside the file, matches outside the user's
/// scope, and email/phone already used by another client. Each is removed from staging.
fn find_rejects(tx: &mut PgConnection, job: &Job) -> QueryResult<Vec<(i64, Problem)>> {
    let w = job.w();
    let column = |t: Target| job.settings.column_of(&job.headers, t);
    let mut found = Vec::new();
    for (field, target) in [("email", Target::Email), ("phone", Target::Phone)] {
        let hits: Vec<Hit> = diesel::sql_query(format!(
            "DELETE FROM import_rows r USING (SELECT rn, min(rn) OVER (PARTITION BY {field}) AS first FROM import_rows WHERE {field} IS NOT NULL) d \
             WHERE r.rn = d.rn AND d.rn > d.first RETURNING r.rn, d.first AS other"
        ))
        .load(tx)?;
        found.extend(hits.into_iter().map(|h| {
            (h.rn, Problem { column: column(target), reason: format!("Same {field} as row {}.", h.other.unwrap_or_default()) })
        }));
    }
    let key = job.settings.key.as_str();
    diesel::sql_query(format!("UPDATE import_rows r SET client_id = c.id FROM clients c WHERE c.workspace_id = $1 AND c.{key} = r.{key}"))
        .bind::<BigInt, _>(w)
        .execute(tx)?;
    // A row without the key (say no email) still finds its client by the other field.
    let other = match job.settings.key {
        Key::Email => "phone",
        Key::Phone => "email",
    };
    diesel::sql_query(format!(
        "UPDATE import_rows r SET client_id = c.id FROM clients c \
         WHERE r.client_id IS NULL AND r.{key} IS NULL AND c.workspace_id = $1 AND c.{other} = r.{other}"
    ))
    .bind::<BigInt, _>(w)
    .execute(tx)?;
    let hidden = match job.role {
        Role::Admin => None,
        Role::Agent => Some("NOT coalesce(c.assigned_to = $2, false)"),
        Role::Manager => Some(
            "NOT (coalesce(c.assigned_to = $2, false) OR EXISTS (SELECT 1 FROM client_departments cd JOIN user_departments ud \
             ON ud.workspace_id = cd.workspace_id AND ud.department_id = cd.department_id \
             WHERE cd.workspace_id = c.workspace_id AND cd.client_id = c.id AND ud.user_id = $2))",
        ),
    };
    if let Some(hidden) = hidden {
        let hits: Vec<Hit> = diesel::sql_query(format!(
            "DELETE FROM import_rows r USING clients c WHERE c.workspace_id = $1 AND c.id = r.client_id AND {hidden} \
             RETURNING r.rn, NULL::bigint AS other"
        ))
        .bind::<BigInt, _>(w)
        .bind::<BigInt, _>(job.user_id)
        .load(tx)?;
        let reason = format!("A client with this {key} already exists and is not yours to change.");
        found.extend(hits.into_iter().map(|h| (h.rn, Problem { column: column(job.settings.key.target()), reason: reason.clone() })));
    }
    if job.settings.on_existing == OnExisting::Skip {
        // Matched rows will be skipped, so their other fields cannot conflict.
        return Ok(found);
    }
    let target = if other == "phone" { Target::Phone } else { Target::Email };
    let hits: Vec<Hit> = diesel::sql_query(format!(
        "DELETE FROM import_rows r USING clients c WHERE c.workspace_id = $1 AND c.{other} = r.{other} \
         AND c.id IS DISTINCT FROM r.client_id RETURNING r.rn, NULL::bigint AS other"
    ))
    .bind::<BigInt, _>(w)
    .load(tx)?;
    found.extend(hits.into_iter().map(|h| (h.rn, Problem { column: column(target), reason: format!("Another client already has this {other}.") })));
    Ok(found)
}

/// Updates matched clients where a value, a tag or the department is new; audits each.
fn update_existing(tx: &mut PgConnection, job: &Job) -> QueryResult<i64> {
    let w = job.w();
    diesel::sql_query("SELECT 1 FROM clients c JOIN import_rows r ON c.workspace_id = $1 AND c.id = r.client_id FOR UPDATE OF c")
        .bind::<BigInt, _>(w)
        .execute(tx)?;
    diesel::sql_query(
        "CREATE TEMP TABLE import_updates ON COMMIT DROP AS \
         SELECT c.id, c.name AS old_name, c.email AS old_email, c.phone AS old_phone, c.company AS old_company, \
                c.status AS old_status, c.notes AS old_notes, \
                coalesce(r.name, c.name) AS name, coalesce(r.email, c.email) AS email, coalesce(r.phone, c.phone) AS phone, \
                CASE WHEN r.phone IS NULL THEN c.phone_formatted ELSE r.phone_formatted END AS phone_formatted, \
                coalesce(r.company, c.company) AS company, coalesce(r.status, c.status) AS status, \
                CASE WHEN r.notes IS NULL OR strpos(c.notes, r.notes) > 0 THEN c.notes \
                     WHEN c.notes = '' THEN r.notes ELSE left(c.notes || E'\\n' || r.notes, 10000) END AS notes, \
                ARRAY(SELECT t.name FROM unnest(string_to_array(r.tags, ';')) AS n(name) \
                      JOIN tags t ON t.workspace_id = $1 AND lower(t.name) = lower(n.name) \
                      WHERE NOT EXISTS (SELECT 1 FROM client_tags ct WHERE ct.workspace_id = $1 AND ct.client_id = c.id AND ct.tag_id = t.id) \
                      ORDER BY t.name) AS tags_added, \
                ARRAY(SELECT t.id FROM unnest(string_to_array(r.tags, ';')) AS n(name) \
                      JOIN tags t ON t.workspace_id = $1 AND lower(t.name) = lower(n.name)) AS tag_ids_linked, \
                ($2::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM client_departments cd \
                      WHERE cd.workspace_id = $1 AND cd.client_id = c.id AND cd.department_id = $2)) AS department_added \
         FROM import_rows r JOIN clients c ON c.workspace_id = $1 AND c.id = r.client_id",
    )
    .bind::<BigInt, _>(w)
    .bind::<Nullable<BigInt>, _>(job.settings.department_id)
    .execute(tx)?;
    diesel::sql_query(
        "DELETE FROM import_updates WHERE (name, email, phone, company, status, notes) \
         IS NOT DISTINCT FROM (old_name, old_email, old_phone, old_company, old_status, old_notes) \
         AND cardinality(tags_added) = 0 AND NOT department_added",
    )
    .execute(tx)?;
    let updated = diesel::sql_query(
        "UPDATE clients c SET name = u.name, email = u.email, phone = u.phone, phone_formatted = u.phone_formatted, company = u.company, status = u.status, \
           notes = u.notes, version = c.version + 1, \
           tag_ids = CASE WHEN c.tag_ids IS NULL THEN NULL \
             ELSE ARRAY(SELECT DISTINCT i FROM unnest(c.tag_ids || u.tag_ids_linked) AS i ORDER BY i) END, \
           status_source = CASE WHEN u.status <> u.old_status THEN 'hand' ELSE c.status_source END, \
           status_changed_at = CASE WHEN u.status <> u.old_status THEN now() ELSE c.status_changed_at END \
         FROM import_updates u WHERE c.workspace_id = $1 AND c.id = u.id",
    )
    .bind::<BigInt, _>(w)
    .execute(tx)?;
    diesel::sql_query(
        "INSERT INTO audit_logs (workspace_id, actor_kind, actor_user_id, actor_label, action, module, entity_id, before, after, ip, request_id) \
         SELECT $1, 'user', $2, $3, $8, 'clients', u.id::text, \
           jsonb_build_object('name', old_name, 'email', old_email, 'phone', old_phone, 'company', old_company, 'status', old_status, 'notes', old_notes), \
           jsonb_build_object('name', name, 'email', email, 'phone', phone, 'company', company, 'status', status, 'notes', notes, \
             'tags_added', to_jsonb(tags_added), 'department_added', CASE WHEN department_added THEN $4::bigint END, 'import_id', $5::bigint), \
           $6, $7 \
         FROM import_updates u ORDER BY u.id",
    )
    .bind::<BigInt, _>(w)
    .bind::<BigInt, _>(job.user_id)
    .bind::<Text, _>(&job.user_label)
    .bind::<Nullable<BigInt>, _>(job.settings.department_id)
    .bind::<BigInt, _>(job.id())
    .bind::<Nullable<Text>, _>(&job.settings.ip)
    .bind::<Nullable<Text>, _>(&job.settings.request_id)
    .bind::<Text, _>(crate::audit::Action::ClientsImportUpdated.as_str())
    .execute(tx)?;
    Ok(updated as i64)
}

/// Inserts the new clients (the rows no client matched) with the ids they took in staging
/// (so tags and departments join by id), each marked with the import (whose audit entry
/// records the creation); returns how many were created and the rows someone else's
/// concurrent insert took the email or phone of.
///
/// The insert skips conflicts only when someone else took an email or phone since the checks
/// (see `insert_skipping_conflicts`).
fn insert_new(tx: &mut PgConnection, job: &Job) -> QueryResult<(i64, Vec<(i64, Problem)>)> {
    let w = job.w();
    let (created, plain) = insert_skipping_conflicts(tx, |on_conflict| {
        diesel::sql_query(format!(
            "INSERT INTO clients (workspace_id, id, name, email, phone, phone_formatted, company, status, status_source, assigned_to, notes, import_id, tag_ids) \
             OVERRIDING SYSTEM VALUE \
             SELECT $1, new_id, left(coalesce(name, email, phone), 200), email, phone, phone_formatted, company, coalesce(status, 'warm'), \
                    CASE WHEN status IS NULL THEN 'rule' ELSE 'hand' END, $2, coalesce(notes, ''), $3, coalesce(g.ids, '{{}}') \
             FROM import_rows r LEFT JOIN ( \
               SELECT r.rn, array_agg(DISTINCT t.id ORDER BY t.id) AS ids \
               FROM import_rows r, unnest(string_to_array(r.tags, ';')) AS n(name) \
               JOIN tags t ON t.workspace_id = $1 AND lower(t.name) = lower(n.name) \
               WHERE r.tags IS NOT NULL AND r.client_id IS NULL GROUP BY r.rn) g ON g.rn = r.rn \
             WHERE r.client_id IS NULL ORDER BY r.rn{on_conflict}"
        ))
        .bind::<BigInt, _>(w)
        .bind::<Nullable<BigInt>, _>(job.assignee())
        .bind::<BigInt, _>(job.id())
    })?;
    if plain {
        return Ok((created as i64, Vec::new()));
    }
    tracing::debug!(import_id = job.id(), "an email or phone was taken during the import; inserted around it");
    let lost: Vec<Hit> = diesel::sql_query(
        "DELETE FROM import_rows r WHERE r.client_id IS NULL AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.workspace_id = $1 AND c.id = r.new_id) \
         RETURNING r.rn, NULL::bigint AS other",
    )
    .bind::<BigInt, _>(w)
    .load(tx)?;
    let reason = "A client with this email or phone was added by someone else during the import.";
    let column = job.settings.column_of(&job.headers, job.settings.key.target());
    Ok((created as i64, lost.into_iter().map(|h| (h.rn, Problem { column: column.clone(), reason: reason.into() })).collect()))
}

/// Runs `insert("")`, a plain `INSERT`, in a savepoint; after a unique violation runs
/// `insert(" ON CONFLICT DO NOTHING")` instead. Speculative insertion (`ON CONFLICT`) costs
/// 3 % more per client and 14 % more per tag link (measured at 100k–1M rows), so the import
/// pays it only when a conflict is there. Returns the rows inserted and whether the plain
/// insert did it.
fn insert_skipping_conflicts<Q>(tx: &mut PgConnection, insert: impl Fn(&str) -> Q) -> QueryResult<(usize, bool)>
where
    Q: RunQueryDsl<PgConnection> + diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId,
{
    match tx.transaction(|savepoint| insert("").execute(savepoint)) {
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok((insert(" ON CONFLICT DO NOTHING").execute(tx)?, false))
        }
        inserted => Ok((inserted?, true)),
    }
}

/// Links tags and the department: the new clients' tag links with a plain insert (nobody
/// else can see those clients yet; only two spellings of one tag in a row, say `Ä` and `ä`,
/// can conflict), the matched clients' skipping the links they have.
fn link_tags_and_department(tx: &mut PgConnection, job: &Job) -> QueryResult<()> {
    let w = job.w();
    let links = |new: bool| {
        move |on_conflict: &str| {
            diesel::sql_query(format!(
                "INSERT INTO client_tags (workspace_id, client_id, tag_id) \
                 SELECT $1::bigint, coalesce(r.client_id, r.new_id), t.id FROM import_rows r, unnest(string_to_array(r.tags, ';')) AS n(name) \
                 JOIN tags t ON t.workspace_id = $1 AND lower(t.name) = lower(n.name) \
                 WHERE r.tags IS NOT NULL AND (r.client_id IS NULL) = {new} ORDER BY 2, 3{on_conflict}"
            ))
            .bind::<BigInt, _>(w)
        }
    };
    insert_skipping_conflicts(tx, links(true))?;
    links(false)(" ON CONFLICT DO NOTHING").execute(tx)?;
    if let Some(department) = job.settings.department_id {
        diesel::sql_query(
            "INSERT INTO client_departments (workspace_id, client_id, department_id) \
             SELECT $1, coalesce(client_id, new_id), $2 FROM import_rows ORDER BY 2 ON CONFLICT DO NOTHING",
        )
        .bind::<BigInt, _>(w)
        .bind::<BigInt, _>(department)
        .execute(tx)?;
    }
    Ok(())
}

/// The original cells of rows the database rejected, read again from the stored file.
fn with_cells(pool: &Pool, job: &Job, found: Vec<(i64, Problem)>) -> anyhow::Result<Vec<Rejected>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut wanted: HashMap<i64, Vec<Problem>> = HashMap::new();
    for (rn, problem) in found {
        wanted.entry(rn).or_default().push(problem);
    }
    let mut left: HashSet<i64> = wanted.keys().copied().collect();
    let mut cells: HashMap<i64, Vec<String>> = HashMap::new();
    let mut rows = job.format.rows(ChunkReader::new(chunk_fetcher(pool, job)), job.headers.len());
    let mut row = Row::default();
    let mut index: i64 = 0;
    while !left.is_empty() && rows.read_row(&mut row)? {
        index += 1;
        if left.remove(&index) {
            cells.insert(index, row.record.iter().map(str::to_string).collect());
        }
    }
    Ok(wanted
        .into_iter()
        .map(|(row_number, problems)| Rejected { row_number, problems, raw: cells.remove(&row_number).unwrap_or_default() })
        .collect())
}
