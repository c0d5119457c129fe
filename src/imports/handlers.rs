//! `GET /imports/{id}` (mapping with preview while uploaded; progress and report after),
//! `GET /imports/{id}/progress` (the polled fragment), `POST /imports/{id}/start` and
//! `GET /imports/{id}/errors.csv`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use askama::Template;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::{Role, Scope};
use crate::csv_io::sniff::{Choice, UnknownEncoding};
use crate::csv_safe;
use crate::departments::{self, Department};
use crate::error::AppError;
use crate::imports::file::{self, CHUNK_BYTES, Format};
use crate::imports::mapping::{ImportSettings, Key, Mode, OnExisting, Target};
use crate::imports::model::{Import, ImportPhase, ImportStatus, Rejected};
use crate::imports::{query, run};
use crate::imports::upload::{Head, HeadError};
use crate::users::model::{self as users, User};
use crate::web::ctx::{Ctx, Layout};
use crate::web::forms::{HtmlForm, Query};
use crate::web::render::{html_status, respond, see_other};
use crate::web::state::AppState;

const PREVIEW_ROWS: usize = 20;
const REPORT_ROWS: i64 = 100;

/// The mapping form's choices, as typed (also how the page shows them).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MapForm {
    #[serde(default)]
    map: Vec<String>,
    #[serde(default)]
    key: String,
    #[serde(default)]
    on_existing: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    encoding: String,
    #[serde(default)]
    delimiter: String,
}

/// How to read the file for the preview: `?encoding=windows-1252&delimiter=semicolon`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReadAs {
    encoding: Option<String>,
    delimiter: Option<String>,
}

/// Why a "read as" choice was refused; the message is the one the page shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum ReadAsError {
    #[error(transparent)]
    Encoding(#[from] UnknownEncoding),
    #[error("Separator must be comma, semicolon or tab, not {0:?}.")]
    Separator(String),
}

impl ReadAs {
    fn parse(&self) -> Result<(Choice, Option<u8>), ReadAsError> {
        let choice = Choice::parse(self.encoding.as_deref().unwrap_or(""))?;
        let delimiter = match self.delimiter.as_deref().unwrap_or("") {
            "" | "auto" => None,
            "comma" => Some(b','),
            "semicolon" => Some(b';'),
            "tab" => Some(b'\t'),
            other => return Err(ReadAsError::Separator(other.to_string())),
        };
        Ok((choice, delimiter))
    }
}

pub struct Preview {
    pub encoding: String,
    pub delimiter: u8,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The file begins with a byte-order mark.
    pub bom: bool,
}

#[derive(Template)]
#[template(path = "imports/show.html", blocks = ["content", "progress"])]
struct ImportPage {
    layout: Layout,
    import: Import,
    preview: Option<Preview>,
    form: MapForm,
    columns: Vec<Target>,
    problems: Vec<String>,
    departments: Vec<Department>,
    users: Vec<User>,
    role: Role,
    rejected: Vec<Rejected>,
    can_retry: bool,
    targets: [Target; 11],
    /// The mapping the import ran with, to name the rejected rows' clients.
    ran_with: Vec<Target>,
    now: DateTime<Utc>,
    /// Rows saved per second (for the time left while saving).
    saving_rate: f64,
}
crate::pages!(ImportPage);

impl ImportPage {
    fn chosen(&self, column: &usize, target: &Target) -> bool {
        self.columns.get(*column) == Some(target)
    }
    fn percent(&self) -> i64 {
        if self.import.finished() {
            return 100;
        }
        match self.import.phase {
            ImportPhase::Reading => 90 * self.import.rows_read / self.import.rows_expected(),
            ImportPhase::Checking => 92,
            ImportPhase::Writing => 95,
            ImportPhase::None => 0,
        }
    }
    fn who(&self, rejected: &Rejected) -> String {
        rejected.who(&self.ran_with)
    }
    /// While running: "2 min 5 s so far, about 40 s left". Reading's time left comes from
    /// the rows read so far; saving (most of an import: the indexes of a million clients)
    /// from this workspace's earlier saving rate, else the benchmark's; past the estimate it
    /// says "finishing".
    fn timing(&self) -> Option<String> {
        let started = self.import.started_at.filter(|_| self.import.status == ImportStatus::Running)?;
        let elapsed = (self.now - started).num_seconds().max(0);
        let total = self.import.rows_expected();
        let saving = total as f64 / self.saving_rate;
        let left = match self.import.phase {
            ImportPhase::Reading if self.import.rows_read > 0 => {
                let done = self.import.rows_read.min(total);
                Some(elapsed as f64 * (total - done) as f64 / done as f64 + saving)
            }
            ImportPhase::Checking => Some(saving),
            ImportPhase::Writing => {
                let since = self.import.writing_started_at.map_or(0.0, |t| (self.now - t).num_milliseconds().max(0) as f64 / 1000.0);
                Some(saving - since)
            }
            _ => None,
        };
        Some(match left {
            Some(left) if left >= 1.0 => format!("{} so far, about {} left", duration_label(elapsed), duration_label(left as i64)),
            Some(_) => format!("{} so far, finishing", duration_label(elapsed)),
            None => format!("{} so far", duration_label(elapsed)),
        })
    }
    fn phase_label(&self) -> &'static str {
        match (self.import.status, self.import.phase) {
            (ImportStatus::Queued, _) => "Waiting to start…",
            (ImportStatus::Running, ImportPhase::Reading) => "Reading and checking rows…",
            (ImportStatus::Running, ImportPhase::Checking) => "Looking for duplicates and existing clients…",
            (ImportStatus::Running, ImportPhase::Writing) => "Saving clients…",
            (ImportStatus::Done, _) => "Import finished.",
            (ImportStatus::Failed, _) => "Nothing was imported.",
            _ => "Working…",
        }
    }
    fn delimiter_is(&self, name: &str) -> bool {
        let d = self.preview.as_ref().map(|p| p.delimiter).unwrap_or(b',');
        matches!((name, d), ("comma", b',') | ("semicolon", b';') | ("tab", b'\t'))
    }
    fn encoding_is(&self, name: &str) -> bool {
        let e = self.preview.as_ref().map(|p| p.encoding.to_lowercase()).unwrap_or_default();
        match name {
            "utf-8" => e == "utf-8",
            "windows-1252" => e == "windows-1252",
            _ => false,
        }
    }
    fn is(&self, value: &String, expected: &str) -> bool {
        value == expected
    }
    fn id_is(&self, value: &String, id: &i64) -> bool {
        *value == id.to_string()
    }
}

/// The preview from the file's first chunk, read as chosen.
fn preview(conn: &mut PgConnection, import: &Import, choice: Choice, delimiter: Option<u8>) -> Result<Result<Preview, HeadError>, AppError> {
    let first = file::load_chunk(conn, import.workspace_id, import.id, 0)?.unwrap_or_default();
    let whole = (import.size_bytes as usize) <= CHUNK_BYTES;
    let choice = match choice {
        // Without a choice, read it as detected at upload.
        Choice::Auto if import.encoding.eq_ignore_ascii_case("windows-1252") => Choice::Windows1252,
        other => other,
    };
    let delimiter = delimiter.or_else(|| import.delimiter.bytes().next());
    let head = match Head::read_as(&first, whole, choice, delimiter) {
        Ok(head) => head,
        Err(e) => return Ok(Err(e)),
    };
    let format = Format::of(head.encoding, &(head.delimiter as char).to_string());
    let mut reader = format.csv(&first[..]);
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut index = 0;
    while rows.len() < PREVIEW_ROWS && reader.read_record(&mut record).unwrap_or(false) {
        index += 1;
        if index > 1 {
            rows.push(record.iter().take(head.headers.len()).map(|c| c.chars().take(200).collect()).collect());
        }
    }
    let bom = encoding_rs::Encoding::for_bom(&first).is_some();
    Ok(Ok(Preview { encoding: head.encoding.to_string(), delimiter: head.delimiter, headers: head.headers, rows, bom }))
}

/// `75` → "1 min 15 s"; under a minute, "15 s"; an hour or more, "1 h 5 min".
/// Rows saved per second before a workspace has its own history: the 1M-row benchmark in
/// README.md (a million clients and two million tag links saved in about 81 s).
const DEFAULT_SAVING_RATE: f64 = 12_000.0;

fn duration_label(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

struct Loaded {
    import: Import,
    preview: Option<Result<Preview, HeadError>>,
    departments: Vec<Department>,
    users: Vec<User>,
    my_departments: Vec<i64>,
    rejected: Vec<Rejected>,
    /// A failed import whose file is still kept can be mapped and run again.
    can_retry: bool,
    saving_rate: f64,
}

fn load(conn: &mut PgConnection, scope: &Scope, id: i64, read_as: Option<(Choice, Option<u8>)>) -> Result<Loaded, AppError> {
    let import = query::find(conn, scope, id)?.ok_or(AppError::NotFound)?;
    let w = scope.workspace_id;
    let (preview, departments, users, my_departments) = match (import.status, read_as) {
        (ImportStatus::Uploaded, Some((choice, delimiter))) => (
            Some(preview(conn, &import, choice, delimiter)?),
            departments::list(conn, w)?,
            users::list(conn, w)?,
            users::department_ids_of(conn, w, scope.user_id)?,
        ),
        _ => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    let rejected = if import.finished() { query::errors_page(conn, w, id, None, REPORT_ROWS)? } else { Vec::new() };
    let can_retry = import.status == ImportStatus::Failed && file::kept(conn, w, id)?;
    let saving_rate = if import.status == ImportStatus::Running { query::saving_rate(conn, w)?.unwrap_or(DEFAULT_SAVING_RATE) } else { DEFAULT_SAVING_RATE };
    Ok(Loaded { import, preview, departments, users, my_departments, rejected, can_retry, saving_rate })
}

fn page(ctx: &Ctx, loaded: Loaded, form: Option<MapForm>, mut problems: Vec<String>) -> ImportPage {
    let preview = match loaded.preview {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            problems.push(e.to_string());
            None
        }
        None => None,
    };
    let columns: Vec<Target> = match &form {
        Some(f) => f.map.iter().map(|m| Target::parse(m).unwrap_or(Target::Ignore)).collect(),
        None => preview.as_ref().map(|p| p.headers.iter().map(|h| Target::guess(h)).collect()).unwrap_or_default(),
    };
    // A retried import starts from the choices of its last run.
    let previous = loaded.import.settings().filter(|s| form.is_none() && s.columns.len() == columns.len());
    let columns = previous.as_ref().map(|s| s.columns.clone()).unwrap_or(columns);
    let form = form.unwrap_or_else(|| match &previous {
        Some(s) => MapForm {
            map: s.columns.iter().map(|t| t.as_str().to_string()).collect(),
            key: s.key.as_str().into(),
            on_existing: if s.on_existing == OnExisting::Skip { "skip" } else { "update" }.into(),
            mode: if s.mode == Mode::SkipInvalid { "skip_invalid" } else { "all_or_nothing" }.into(),
            department_id: s.department_id.map(|d| d.to_string()).unwrap_or_default(),
            tag: s.tag.clone().unwrap_or_default(),
            assignee: s.assignee.map(|a| a.to_string()).unwrap_or_default(),
            ..MapForm::default()
        },
        None => MapForm {
            key: if columns.contains(&Target::Email) || !columns.contains(&Target::Phone) { "email" } else { "phone" }.into(),
            on_existing: "update".into(),
            mode: "all_or_nothing".into(),
            ..MapForm::default()
        },
    });
    let mine = loaded.my_departments;
    let departments = match ctx.role() {
        Role::Manager => loaded.departments.into_iter().filter(|d| mine.contains(&d.id)).collect(),
        _ => loaded.departments,
    };
    let ran_with = loaded.import.settings().map(|s| s.columns).unwrap_or_default();
    ImportPage {
        ran_with,
        layout: ctx.layout(format!("Import {}", loaded.import.filename), "clients"),
        import: loaded.import,
        preview,
        form,
        columns,
        problems,
        departments,
        users: loaded.users.into_iter().filter(|u| u.active).collect(),
        role: ctx.role(),
        rejected: loaded.rejected,
        can_retry: loaded.can_retry,
        targets: Target::ALL,
        // The run stamps `started_at` with the database's now(), so the wall clock, not the app's.
        now: Utc::now(),
        saving_rate: loaded.saving_rate,
    }
}

pub async fn show_import(ctx: Ctx, state: Data<AppState>, path: Path<i64>, Query(read_as): Query<ReadAs>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let parsed = read_as.parse();
    let chosen = parsed.clone().unwrap_or((Choice::Auto, None));
    let id = path.into_inner();
    let loaded = state.db(move |conn| load(conn, &scope, id, Some(chosen))).await?;
    let page = page(&ctx, loaded, None, parsed.err().map(|e| e.to_string()).into_iter().collect());
    respond(&ctx.meta.htmx, StatusCode::OK, &page)
}

pub async fn import_progress(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let id = path.into_inner();
    let loaded = state.db(move |conn| load(conn, &scope, id, None)).await?;
    let page = page(&ctx, loaded, None, Vec::new());
    html_status(StatusCode::OK, &page.as_progress())
}

enum Started {
    Queued,
    /// The mapping needs fixing: the page again with the problems.
    Invalid(Box<Loaded>, Vec<String>),
}

pub async fn start_import(ctx: Ctx, state: Data<AppState>, path: Path<i64>, HtmlForm(form): HtmlForm<MapForm>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let id = path.into_inner();
    let read_as = ReadAs { encoding: Some(form.encoding.clone()), delimiter: Some(form.delimiter.clone()) };
    let (choice, delimiter) = read_as.parse().map_err(|e| AppError::Validation(e.to_string()))?;
    let entry = ctx.audit(Action::ImportsStarted, "imports", id);
    let (ip, request_id) = (ctx.meta.ip.clone(), ctx.meta.request_id.clone());
    let submitted = form.clone();
    let started = state.db(move |conn| {
        let loaded = load(conn, &scope, id, Some((choice, delimiter)))?;
        if loaded.import.status != ImportStatus::Uploaded {
            return Err(AppError::Conflict("This import has already been started.".into()));
        }
        let columns = match &loaded.preview {
            Some(Ok(preview)) => preview.headers.len(),
            _ => return Ok(Started::Invalid(Box::new(loaded), Vec::new())),
        };
        let (settings, problems) = settings_from(conn, &scope, &loaded.my_departments, &submitted, columns, ip, request_id)?;
        let Some(mut settings) = settings.filter(|_| problems.is_empty()) else {
            return Ok(Started::Invalid(Box::new(loaded), problems));
        };
        // Read above; the match there returned for any other preview.
        let Some(Ok(preview)) = loaded.preview else { return Err(AppError::Unexpected(anyhow::anyhow!("the import's preview went missing"))) };
        settings.bom = preview.bom;
        let entry = entry.after(json!({ "filename": loaded.import.filename, "settings": settings }));
        conn.transaction(|tx| {
            if !query::queue(tx, scope.workspace_id, id, &settings, &preview.encoding, preview.delimiter, &preview.headers)? {
                return Err(AppError::Conflict("This import has already been started.".into()));
            }
            run::enqueue(tx, scope.workspace_id, id)?;
            audit::record(tx, &entry)?;
            Ok(Started::Queued)
        })
    })
    .await?;
    match started {
        Started::Queued => Ok(see_other(&format!("/imports/{id}"))),
        Started::Invalid(loaded, problems) => {
            let page = page(&ctx, *loaded, Some(form), problems);
            respond(&ctx.meta.htmx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

/// The run's settings from the form, with every problem a person must fix. Agents import
/// into their own assignment; managers into one of their departments.
fn settings_from(
    conn: &mut PgConnection,
    scope: &Scope,
    my_departments: &[i64],
    form: &MapForm,
    header_count: usize,
    ip: Option<String>,
    request_id: Option<String>,
) -> Result<(Option<ImportSettings>, Vec<String>), AppError> {
    let mut problems = Vec::new();
    let columns: Vec<Target> = form
        .map
        .iter()
        .map(|m| {
            Target::parse(m).unwrap_or_else(|| {
                problems.push(format!("{m:?} is not a field a column can go to."));
                Target::Ignore
            })
        })
        .collect();
    let key = match form.key.as_str() {
        "phone" => Key::Phone,
        "email" | "" => Key::Email,
        _ => {
            problems.push("Match existing clients by email or by phone.".into());
            Key::Email
        }
    };
    let on_existing = if form.on_existing == "skip" { OnExisting::Skip } else { OnExisting::Update };
    let mode = if form.mode == "skip_invalid" { Mode::SkipInvalid } else { Mode::AllOrNothing };
    let w = scope.workspace_id;
    let department_id = match form.department_id.trim() {
        "" => None,
        raw => match raw.parse::<i64>().ok().map(|d| departments::find(conn, w, d)).transpose()?.flatten() {
            Some(d) if scope.role != Role::Manager || my_departments.contains(&d.id) => Some(d.id),
            _ => {
                problems.push("Choose one of the listed departments.".into());
                None
            }
        },
    };
    if scope.role == Role::Manager && department_id.is_none() && !problems.iter().any(|p| p.contains("department")) {
        problems.push("Choose one of your departments for the imported clients.".into());
    }
    let tag = match form.tag.trim() {
        "" => None,
        t if t.chars().count() > 50 || t.contains([';', ',']) => {
            problems.push("The tag must be at most 50 characters, without commas or semicolons.".into());
            None
        }
        t => Some(t.to_string()),
    };
    let assignee = match (scope.role, form.assignee.trim()) {
        (Role::Agent, _) => Some(scope.user_id),
        (_, "") => None,
        (_, raw) => match raw.parse::<i64>().ok().map(|u| users::find(conn, w, u)).transpose()?.flatten() {
            Some(u) if u.active => Some(u.id),
            _ => {
                problems.push("Assign new clients to an active user of this workspace.".into());
                None
            }
        },
    };
    let settings = ImportSettings { columns, key, on_existing, mode, department_id, tag, assignee, ip, request_id, bom: false };
    problems.extend(settings.problems(header_count));
    Ok((Some(settings), problems))
}

/// `POST /imports/{id}/retry`: a failed import (its file is kept for a day) goes back to
/// the mapping page with its last choices, e.g. to import only the valid rows.
pub async fn retry_import(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let id = path.into_inner();
    let entry = ctx.audit(Action::ImportsRetried, "imports", id);
    state.db(move |conn| {
        conn.transaction(|tx| {
            let import = query::find(tx, &scope, id)?.ok_or(AppError::NotFound)?;
            let w = scope.workspace_id;
            if import.status != ImportStatus::Failed || !file::kept(tx, w, id)? {
                return Err(AppError::Conflict("Only a failed import whose file is still kept (for a day) can be tried again; upload the file again.".into()));
            }
            query::reset_for_retry(tx, w, id)?;
            run::forget_job(tx, w, id)?;
            audit::record(tx, &entry)?;
            Ok(())
        })
    })
    .await?;
    Ok(see_other(&format!("/imports/{id}")))
}

/// `GET /imports/{id}/errors.csv`: the rejected rows' original cells plus `error`, with the
/// uploaded file's separator, and a UTF-8 BOM when the upload had a BOM.
pub async fn errors_csv(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let id = path.into_inner();
    let import = state.db(move |conn| query::find(conn, &scope, id)?.ok_or(AppError::NotFound)).await?;
    let mut header = import.headers();
    let width = header.len();
    header.push("error".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let w = scope.workspace_id;
    let bom = import.settings().is_some_and(|s| s.bom);
    let separator = import.delimiter.bytes().next().unwrap_or(b',');
    let dialect = csv_safe::Dialect { bom, separator };
    Ok(csv_safe::streamed_response(&format!("import-{id}-errors.csv"), dialect, &header, state.pool.clone(), move |conn, cursor| {
        let rows = query::errors_page(conn, w, id, cursor, 1_000)?;
        let mut out = Vec::new();
        for r in &rows {
            let mut cells: Vec<String> = r.raw.clone();
            cells.resize(width, String::new());
            cells.push(format!("Row {}: {}", r.row_number, r.reasons()));
            out.extend(csv_safe::record_with(separator, cells.iter().map(String::as_str)));
        }
        let next = (rows.len() == 1_000).then(|| rows.last().map(|r| r.row_number)).flatten();
        Ok((out, next))
    }))
}
