//! A workspace's tags: the list (with how many clients carry each), lookups by name in any
//! case, find-or-create, rename and delete. Which clients carry which tags is in `model`.

use diesel::prelude::*;

use crate::db::lower;
use crate::db::schema::{client_tags, tags};

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
#[derive(Debug)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub colour: String,
    /// How many clients carry it.
    pub clients: i64,
}

/// Every tag by name, with its colour and how many clients carry it.
pub fn list_with_client_counts(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Vec<TagRow>> {
    let counts: Vec<(i64, i64)> = client_tags::table
        .filter(client_tags::workspace_id.eq(workspace_id))
        .group_by(client_tags::tag_id)
        .select((client_tags::tag_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(list(conn, workspace_id)?
        .into_iter()
        .map(|(id, name, colour)| TagRow { id, name, colour, clients: counts.iter().find(|(t, _)| *t == id).map_or(0, |(_, n)| *n) })
        .collect())
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
