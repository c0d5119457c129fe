//! What the client list shows beside its rows: the filters' users, departments and tags, the
//! bulk bar's open campaigns and the status counters, read in one statement (issue 20: under
//! load each statement costs the list more than the rows it reads). The statement is built
//! with Diesel's query builder, so it stays prepared from one request to the next.

use diesel::dsl::AsExprOf;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz};

use crate::authz::{Role, Scope};
use crate::dashboard::query::{StatusCounts, counter_rows};
use crate::db::schema::{campaigns, client_counts, departments, tags, users};

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
    /// The campaigns the bulk bar may add clients to (in scope, not completed), newest first.
    pub campaigns: Vec<(i64, String)>,
    /// The status counters of the scope, when asked for.
    pub counters: Option<StatusCounts>,
}

/// One row of the statement: what it is, and its fields (`n` is a counter's count,
/// `at` a campaign's creation).
type Row = (String, i64, String, String, bool, Option<chrono::DateTime<chrono::Utc>>);

/// The choices of `scope`'s workspace, with the open campaigns it may add clients to (none
/// for agents) and the counters of `scope` when `counters` (admins' and agents' counters only: a
/// manager's counts are not counter rows).
pub fn load(conn: &mut PgConnection, scope: &Scope, counters: bool) -> QueryResult<Choices> {
    let w = scope.workspace_id;
    let kind = |k: &'static str| -> AsExprOf<&'static str, Text> { k.into_sql::<Text>() };
    let no_colour = || "".into_sql::<Text>();
    let no_time = || None::<chrono::DateTime<chrono::Utc>>.into_sql::<Nullable<Timestamptz>>();
    let users = users::table
        .filter(users::workspace_id.eq(w))
        .select((kind("user"), users::id, users::name, no_colour(), users::active, no_time()));
    let departments = departments::table
        .filter(departments::workspace_id.eq(w))
        .select((kind("department"), departments::id, departments::name, no_colour(), true.into_sql::<Bool>(), no_time()));
    let tags = tags::table
        .filter(tags::workspace_id.eq(w))
        .select((kind("tag"), tags::id, tags::name, tags::colour, true.into_sql::<Bool>(), no_time()));
    let counters = counters && scope.role != Role::Manager;
    let counts = counter_rows(scope)
        .filter(counters.into_sql::<Bool>())
        .select((kind("counter"), client_counts::n, client_counts::status, no_colour(), true.into_sql::<Bool>(), no_time()));
    let open = scope
        .campaigns()
        .filter(campaigns::status.ne("completed"))
    .order((campaigns::created_at.desc(), campaigns::id.desc()))
    .limit(200)
    .select((kind("campaign"), campaigns::id, campaigns::name, no_colour(), true.into_sql::<Bool>(), campaigns::created_at.nullable()));
    let rows: Vec<Row> = users.union_all(departments).union_all(tags).union_all(counts).union_all(open).load(conn)?;
    Ok(Choices::from_rows(rows, counters))
}

impl Choices {
    fn from_rows(rows: Vec<Row>, counters: bool) -> Self {
        let mut choices = Choices { counters: counters.then(StatusCounts::default), ..Default::default() };
        let mut campaigns = Vec::new();
        for (kind, id, name, colour, active, at) in rows {
            match kind.as_str() {
                "user" => choices.users.push(UserChoice { id, name, active }),
                "department" => choices.departments.push((id, name)),
                "tag" => choices.tags.push((id, name, colour)),
                "counter" => {
                    if let Some(c) = choices.counters.as_mut() {
                        c.add(&name, id);
                    }
                }
                _ => campaigns.push((at, id, name)),
            }
        }
        // Ordered here: the parts of a UNION keep no order of their own. The private
        // cluster's collation (C.UTF-8) orders names as Rust does.
        choices.users.sort_by(|a, b| (!a.active, &a.name, a.id).cmp(&(!b.active, &b.name, b.id)));
        choices.departments.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        choices.tags.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        campaigns.sort_by_key(|&(at, id, _)| std::cmp::Reverse((at, id)));
        choices.campaigns = campaigns.into_iter().map(|(_, id, name)| (id, name)).collect();
        choices
    }
}
