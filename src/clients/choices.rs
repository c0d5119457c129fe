//! What the client list's filters and bulk bar offer: the workspace's users, departments and
//! tags, read in one statement (issue 20: under load each statement costs the list more
//! than the rows it reads).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

/// A user as the filters name them.
#[derive(Clone, Debug)]
pub struct UserChoice {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// Active users first, then by name.
    pub users: Vec<UserChoice>,
    /// (id, name) by name.
    pub departments: Vec<(i64, String)>,
    /// (id, name, colour) by name.
    pub tags: Vec<(i64, String, String)>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    colour: String,
    #[diesel(sql_type = Bool)]
    active: bool,
}

pub fn load(conn: &mut PgConnection, workspace_id: i64) -> QueryResult<Choices> {
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT 'user' AS kind, id, name, '' AS colour, active FROM users WHERE workspace_id = $1 \
         UNION ALL SELECT 'department', id, name, '', true FROM departments WHERE workspace_id = $1 \
         UNION ALL SELECT 'tag', id, name, colour, true FROM tags WHERE workspace_id = $1 \
         ORDER BY kind, active DESC, name, id",
    )
    .bind::<BigInt, _>(workspace_id)
    .load(conn)?;
    let mut choices = Choices::default();
    for r in rows {
        match r.kind.as_str() {
            "user" => choices.users.push(UserChoice { id: r.id, name: r.name, active: r.active }),
            "department" => choices.departments.push((r.id, r.name)),
            _ => choices.tags.push((r.id, r.name, r.colour)),
        }
    }
    Ok(choices)
}
