//! `GET /clients/export.csv`: the list's filters and role scope, streamed in keyset chunks,
//! formula cells neutralised, phones as `+49 170 1234567` (text to a spreadsheet), audited.
//! `bom=1` is the "for Excel" download: a UTF-8 BOM, and `;` between fields when the
//! workspace's country writes decimal commas (`csv_safe::Dialect::for_excel`).

use actix_web::HttpResponse;
use actix_web::web::Data;
use diesel::PgConnection;
use serde::Deserialize;
use serde_json::json;

use crate::audit;
use crate::audit::Action;
use crate::authz::Scope;
use crate::clients::domain::PhoneE164;
use crate::clients::query::{self, ClientFilter, ClientQuery, ExportChunk};
use crate::csv_safe;
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::forms::Query;
use crate::web::state::AppState;
use crate::web::time::Zone;

pub const CHUNK: i64 = 1_000;

pub const HEADER: [&str; 15] = [
    "id", "name", "email", "phone", "company", "status", "assigned_to", "departments", "tags", "notes",
    "opt_out_whatsapp", "opt_out_sms", "opt_out_email", "last_contacted_at", "created_at",
];

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(flatten)]
    list: ClientQuery,
    bom: Option<String>,
}

pub async fn export_clients(ctx: Ctx, state: Data<AppState>, Query(q): Query<ExportQuery>) -> Result<HttpResponse, AppError> {
    let scope = ctx.scope();
    let filter = q.list.parse().map_err(|e| AppError::Validation(e.to_string()))?;
    let described = json!({ "q": q.list.q, "status": q.list.status, "department": q.list.department, "tag": q.list.tag, "assignee": q.list.assignee });
    let entry = ctx.audit(Action::ClientsExported, "clients", "export").after(json!({ "filter": described }));
    state.db(move |conn| Ok(audit::record(conn, &entry)?)).await?;
    let zone = ctx.zone();
    let filename = format!("clients-{}.csv", zone.day_of(state.clock.now()).format("%Y-%m-%d"));
    let dialect = if matches!(q.bom.as_deref(), Some("1" | "true" | "yes")) {
        let w = scope.workspace_id;
        let country = state.db(move |conn| Ok(crate::workspaces::find(conn, w)?.default_country)).await?;
        csv_safe::Dialect::for_excel(&country)
    } else {
        csv_safe::Dialect::default()
    };
    let separator = dialect.separator;
    Ok(csv_safe::streamed_response(&filename, dialect, &HEADER, state.pool.clone(), move |conn, cursor| {
        chunk(conn, &scope, &filter, zone, separator, cursor)
    }))
}

/// The next `CHUNK` clients after `cursor` (by id) as CSV bytes, and the cursor after them.
fn chunk(conn: &mut PgConnection, scope: &Scope, filter: &ClientFilter, zone: Zone, separator: u8, cursor: Option<i64>) -> Result<(Vec<u8>, Option<i64>), AppError> {
    let ExportChunk { rows, mut department_names, mut tag_names, emails } = query::export_chunk(conn, scope, filter, cursor, CHUNK)?;
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let mut out = Vec::with_capacity(rows.len() * 160);
    for c in &rows {
        let mut departments = department_names.remove(&c.id).unwrap_or_default();
        departments.sort();
        let mut tags = tag_names.remove(&c.id).unwrap_or_default();
        tags.sort();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| zone.time(t)).unwrap_or_default();
        let flag = |t: Option<chrono::DateTime<chrono::Utc>>| if t.is_some() { "yes" } else { "" }.to_string();
        let cells = [
            c.id.to_string(),
            c.name.clone(),
            c.email.clone().unwrap_or_default(),
            c.phone.as_deref().map(|p| PhoneE164::from_stored(p).international()).unwrap_or_default(),
            c.company.clone().unwrap_or_default(),
            c.status.clone(),
            c.assigned_to.and_then(|u| emails.get(&u).cloned()).unwrap_or_default(),
            departments.join("; "),
            tags.join("; "),
            c.notes.clone(),
            flag(c.opt_out_whatsapp_at),
            flag(c.opt_out_sms_at),
            flag(c.opt_out_email_at),
            time(c.last_contacted_at),
            zone.time(c.created_at),
        ];
        out.extend(csv_safe::record_with(separator, cells.iter().map(String::as_str)));
    }
    let next = (rows.len() as i64 == CHUNK).then(|| ids.last().copied()).flatten();
    Ok((out, next))
}
