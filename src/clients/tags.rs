//! A workspace's tags: the list (with how many clients carry each), lookups by name in any
//! case, find-or-create, rename and delete. Which clients carry which tags is in `model`.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::lower;
use crate::db::schema::{client_tags, tags};
use crate::web::numbers::Count;

/// (id, name, colour) of the workspace's tags, by name.
pub fn list(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<(i64, String, String)>> {
    tags::table.filter(tags::workspace_id.eq(workspace_id)).order(tags::name).select((tags::id, tags::name, tags::colour)).load(conn)
}

/// The palette a tag's colour is chosen from: names, mapped to colours by the stylesheet
/// (`.chip.tag-<name>`). The first is the default; the database checks the same list.
pub const COLOURS: &[&str] = &["grey", "red", "orange", "yellow", "green", "teal", "blue", "purple"];

/// The palette name, or `None` for anything else.
pub fn colour(name: &str) -> Option<&'static str> {
    COLOURS.iter().copied().find(|c| *c == name.trim())
}

/// A tag as the settings page lists it.
#[derive(Debug, QueryableByName)]
pub struct TagRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub colour: String,
    /// How many clients carry it, up to `CLIENTS_BOUND + 1`.
    #[diesel(sql_type = BigInt)]
    clients_found: i64,
}

/// The settings page counts each tag's clients up to this and says "1,000+" beyond, as the
/// client list's tabs do: an exact count read every link of the workspace (two million at a
/// million clients) on every visit (issue 20).
pub const CLIENTS_BOUND: i64 = crate::clients::query::COUNT_BOUND;

impl TagRow {
    /// How many clients carry it.
    pub fn clients(&self) -> Count {
        Count::bounded(self.clients_found, CLIENTS_BOUND)
    }
}

/// Every tag by name, with its colour and how many clients carry it (each count stopping
/// past `CLIENTS_BOUND`), in one statement.
pub fn list_with_client_counts(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<TagRow>> {
    diesel::sql_query(
        "SELECT t.id, t.name, t.colour, \
           (SELECT count(*) FROM (SELECT 1 FROM client_tags ct WHERE ct.workspace_id = t.workspace_id AND ct.tag_id = t.id LIMIT $2) c) AS clients_found \
         FROM tags t WHERE t.workspace_id = $1 ORDER BY t.name",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(CLIENTS_BOUND + 1)
    .load(conn)
}

/// (name, colour) of the tags a client carries, by name.
pub fn of_client(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<Vec<(String, String)>> {
    client_tags::table
        .inner_join(tags::table.on(tags::workspace_id.eq(client_tags::workspace_id).and(tags::id.eq(client_tags::tag_id))))
        .filter(client_tags::workspace_id.eq(workspace_id))
        .filter(client_tags::client_id.eq(client_id))
        .order(tags::name)
        .select((tags::name, tags::colour))
        .load(conn)
}

/// A new tag; `None` when the name is taken (in any case).
pub fn create(conn: &mut PgConnection, workspace_id: i64, name: &str, colour: &str) -> QueryResult<Option<i64>> {
    diesel::insert_into(tags::table)
        .values((tags::workspace_id.eq(workspace_id), tags::name.eq(name), tags::colour.eq(colour)))
        .on_conflict_do_nothing()
        .returning(tags::id)
        .get_result::<i64>(conn)
        .optional()
}

/// (name, colour) of the tag.
pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<(String, String)>> {
    tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.eq(id)).select((tags::name, tags::colour)).first(conn).optional()
}

pub fn set_colour(conn: &mut PgConnection, workspace_id: i64, id: i64, colour: &str) -> QueryResult<usize> {
    diesel::update(tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.eq(id))).set(tags::colour.eq(colour)).execute(conn)
}

/// The tag's name.
pub fn find_name(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Option<String>> {
    tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.eq(id)).select(tags::name).first(conn).optional()
}

/// The id of the tag with this name in any case. "Any case" is PostgreSQL's `lower()`, the
/// folding of the unique index, never Rust's `to_lowercase` (they differ on `İ` and final `ς`).
pub fn find_id(conn: &mut PgConnection, workspace_id: i64, name: &str) -> QueryResult<Option<i64>> {
    tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(lower(tags::name).eq(lower(name))).select(tags::id).first(conn).optional()
}

/// Whether another tag than `except` has this name in any case.
pub fn name_taken(conn: &mut PgConnection, workspace_id: i64, name: &str, except: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.ne(except)).filter(lower(tags::name).eq(lower(name))),
    ))
    .get_result(conn)
}

/// The id of the tag with this name (any case, see [`find_id`]), created when missing; a tag
/// created meanwhile is found, not duplicated.
pub fn id_creating(conn: &mut PgConnection, workspace_id: i64, name: &str) -> QueryResult<i64> {
    if let Some(id) = find_id(conn, workspace_id, name)? {
        return Ok(id);
    }
    let created = diesel::insert_into(tags::table)
        .values((tags::workspace_id.eq(workspace_id), tags::name.eq(name)))
        .on_conflict_do_nothing()
        .returning(tags::id)
        .get_result::<i64>(conn)
        .optional()?;
    match created {
        Some(id) => Ok(id),
        None => find_id(conn, workspace_id, name)?.ok_or(diesel::result::Error::NotFound),
    }
}

pub fn rename(conn: &mut PgConnection, workspace_id: i64, id: i64, name: &str) -> QueryResult<usize> {
    diesel::update(tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.eq(id))).set(tags::name.eq(name)).execute(conn)
}

/// Deletes the tag (its client links go with it, by foreign key).
pub fn delete(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(tags::table.filter(tags::workspace_id.eq(workspace_id)).filter(tags::id.eq(id))).execute(conn)
}
