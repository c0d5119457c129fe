//! Which clients a user may see, and the list: search, filters, sort, pages — all in SQL.

use std::collections::HashMap;

use diesel::dsl::{array, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable};
use serde::Deserialize;

use crate::authz::{Role, Scope};
use crate::clients::domain::{ClientStatus, UnknownStatus, phone_digits};
use crate::clients::model::{Client, ListedClient};
use crate::db::like_contains;
use crate::db::schema::{client_departments, client_tags, clients, departments, tags, users};
use crate::web::numbers::Count;

pub const PER_PAGE: i64 = 50;

diesel::define_sql_function! {
    /// The kept tag ids, or those read from the links where none are kept.
    fn coalesce(kept: Nullable<Array<BigInt>>, read: Array<BigInt>) -> Array<BigInt>;
}

/// A client of the list with the ids of its tags.
pub type TaggedClient = (ListedClient, Vec<i64>);

/// The list's query string as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientQuery {
    pub q: Option<String>,
    pub status: Option<String>,
    pub department: Option<String>,
    pub tag: Option<String>,
    pub assignee: Option<String>,
    pub sort: Option<String>,
    pub page: Option<String>,
    /// `?import=ID`: the clients that import created (issue 10 item 14).
    pub import: Option<String>,
}

/// The list's order. With no order chosen, the list is by name, and a search shows the
/// newest matches first: matches of a common term sit at the same place inside every run of
/// a first name in name order (all the "… Smith"s after the "… Lee"s), so the first page of a
/// name-ordered search walks a share of the whole workspace, while in creation order the
/// matches are spread evenly and a page costs the same at any size (see README, Benchmark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Name,
    Created,
    LastContacted,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Created => "created",
            Sort::LastContacted => "last_contacted",
        }
    }
}

/// Counts past this are shown as "1,000+" unless a counter knows them exactly.
pub const COUNT_BOUND: i64 = 1000;

/// The list's status tabs: how many clients of each status match the search and filters.
#[derive(Clone, Copy, Debug, Default)]
pub struct TabCounts {
    pub hot: Count,
    pub warm: Count,
    pub inactive: Count,
}

impl TabCounts {
    /// The counters' figures, exact.
    pub fn exact(c: crate::dashboard::query::StatusCounts) -> Self {
        TabCounts { hot: Count::exact(c.hot), warm: Count::exact(c.warm), inactive: Count::exact(c.inactive) }
    }

    /// Every status: the sum, "+" when a part stopped at the bound.
    pub fn all(&self) -> Count {
        let parts = [self.hot, self.warm, self.inactive];
        Count { n: parts.iter().map(|c| c.n).sum(), more: parts.iter().any(|c| c.more) }
    }

    pub fn of(&self, status: Option<ClientStatus>) -> Count {
        match status {
            None => self.all(),
            Some(ClientStatus::Hot) => self.hot,
            Some(ClientStatus::Warm) => self.warm,
            Some(ClientStatus::Inactive) => self.inactive,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ClientFilter {
    pub q: Option<String>,
    pub status: Option<ClientStatus>,
    pub department: Option<i64>,
    pub tag: Option<i64>,
    /// `Some(None)`: unassigned clients.
    pub assignee: Option<Option<i64>>,
    pub sort: Sort,
    /// Whether the order was picked (`sort=`), rather than the default for the query.
    pub sort_chosen: bool,
    pub page: i64,
    /// Only the clients created by this import.
    pub import: Option<i64>,
}

/// Why the client list's filter was refused; the message is the one the page shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("Search is limited to 100 characters.")]
    SearchTooLong,
    /// A department, tag, import or assignee that is not an id.
    #[error("{0} must be chosen from the list.")]
    NotListed(&'static str),
    #[error("Sort must be name, created or last_contacted.")]
    Sort,
    #[error("Page must be a positive number.")]
    Page,
    #[error(transparent)]
    Status(#[from] UnknownStatus),
}

impl ClientQuery {
    pub fn parse(&self) -> Result<ClientFilter, FilterError> {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let id = |v: &Option<String>, what: &'static str| -> Result<Option<i64>, FilterError> {
            text(v).map(|s| s.parse::<i64>().map_err(|_| FilterError::NotListed(what))).transpose()
        };
        let q = text(&self.q);
        if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
            return Err(FilterError::SearchTooLong);
        }
        let assignee = match text(&self.assignee).as_deref() {
            None => None,
            Some("none") => Some(None),
            Some(s) => Some(Some(s.parse::<i64>().map_err(|_| FilterError::NotListed("Assignee"))?)),
        };
        let sort = match text(&self.sort).as_deref() {
            None if q.is_some() => Sort::Created,
            None | Some("name") => Sort::Name,
            Some("created") => Sort::Created,
            Some("last_contacted") => Sort::LastContacted,
            Some(_) => return Err(FilterError::Sort),
        };
        let page = text(&self.page)
            .map(|s| s.parse::<i64>().ok().filter(|p| (1..=100_000).contains(p)).ok_or(FilterError::Page))
            .transpose()?
            .unwrap_or(1);
        Ok(ClientFilter {
            q,
            status: text(&self.status).map(|s| ClientStatus::parse(&s)).transpose()?,
            department: id(&self.department, "Department")?,
            tag: id(&self.tag, "Tag")?,
            assignee,
            sort,
            sort_chosen: text(&self.sort).is_some(),
            page,
            import: id(&self.import, "Import")?,
        })
    }
}

impl ClientFilter {
    pub fn query(&self, scope: &Scope) -> clients::BoxedQuery<'static, Pg> {
        let mut query = scope.clients();
        match self.q.as_deref().map(|q| (q, phone_digits(q))) {
            Some((_, Some(digits))) => {
                // The reversed numbers that start with the reversed digits, as a byte range
                // (an index range even in a generic plan, unlike LIKE with a parameter); the
                // last digit's successor in ASCII is the range's end ('9' → ':').
                let from: String = digits.chars().rev().collect();
                let mut to = from.clone();
                let last = to.pop().map_or(b'0', |c| c as u8);
                to.push((last + 1) as char);
                query = query.filter(
                    sql::<Bool>("reverse(clients.phone) ~>=~ ")
                        .bind::<diesel::sql_types::Text, _>(from)
                        .sql(" AND reverse(clients.phone) ~<~ ")
                        .bind::<diesel::sql_types::Text, _>(to),
                );
            }
            Some((q, None)) => query = query.filter(clients::search.like(like_contains(q)).escape('\\')),
            None => {}
        }
        if let Some(status) = self.status {
            query = query.filter(clients::status.eq(status.as_str()));
        }
        if let Some(department) = self.department {
            query = query.filter(
                sql::<Bool>("EXISTS (SELECT 1 FROM client_departments f WHERE f.workspace_id = clients.workspace_id AND f.client_id = clients.id AND f.department_id = ")
                    .bind::<BigInt, _>(department)
                    .sql(")"),
            );
        }
        if let Some(tag) = self.tag {
            query = query.filter(
                sql::<Bool>("EXISTS (SELECT 1 FROM client_tags f WHERE f.workspace_id = clients.workspace_id AND f.client_id = clients.id AND f.tag_id = ")
                    .bind::<BigInt, _>(tag)
                    .sql(")"),
            );
        }
        if let Some(import) = self.import {
            query = query.filter(clients::import_id.eq(import));
        }
        match self.assignee {
            Some(Some(user)) => query = query.filter(clients::assigned_to.eq(user)),
            Some(None) => query = query.filter(clients::assigned_to.is_null()),
            None => {}
        }
        query
    }

    /// Whether the per-(assignee, status) counters answer this filter's status tabs: no
    /// search and no filter but the status (which the tabs split by anyway), for the roles
    /// whose scope is a set of counter rows (the workspace, or one assignee).
    pub fn counters_cover(&self, scope: &Scope) -> bool {
        self.q.is_none() && self.department.is_none() && self.tag.is_none() && self.assignee.is_none() && self.import.is_none() && scope.role != Role::Manager
    }


    /// The status tabs' counts for this search and these filters (whatever the status).
    pub fn tab_counts(&self, conn: &mut PgConnection, scope: &Scope) -> QueryResult<TabCounts> {
        if self.counters_cover(scope) {
            return Ok(TabCounts::exact(crate::dashboard::query::client_status_counts(conn, scope)?));
        }
        // One statement, three counts, each stopping at `COUNT_BOUND + 1` rows: a search that
        // matches a million clients reads at most 3,003 of them.
        let part = |status: ClientStatus| {
            ClientFilter { status: Some(status), ..self.clone() }.query(scope).select(sql::<Integer>("1")).limit(COUNT_BOUND + 1)
        };
        let parts = [part(ClientStatus::Hot), part(ClientStatus::Warm), part(ClientStatus::Inactive)];
        let (hot, warm, inactive): (i64, i64, i64) = CountsOf(parts).get_result(conn)?;
        let bounded = |n| Count::bounded(n, COUNT_BOUND);
        Ok(TabCounts { hot: bounded(hot), warm: bounded(warm), inactive: bounded(inactive) })
    }

    /// The ids of up to `limit` matching clients, in no particular order.
    pub fn ids(&self, conn: &mut PgConnection, scope: &Scope, limit: i64) -> QueryResult<Vec<i64>> {
        self.query(scope).select(clients::id).limit(limit).load(conn)
    }

    /// One page in the chosen order with each client's tag ids (kept on the row, see the
    /// migration `client_tag_ids`), plus whether another page follows. With no search and no filter the page is one statement read straight from
    /// the order's index. Otherwise the page's ids come first, from an index-only scan (see
    /// the migration) planned for this search, and then their rows by primary key, a
    /// statement that stays prepared: planned together, the two took 0.46 ms to plan
    /// against 0.14 ms for the ids alone.
    pub fn list(&self, conn: &mut PgConnection, scope: &Scope) -> QueryResult<(Vec<TaggedClient>, bool)> {
        let tag_ids = coalesce(
            clients::tag_ids,
            array::<BigInt, _>(
                client_tags::table
                    .filter(client_tags::workspace_id.eq(clients::workspace_id))
                    .filter(client_tags::client_id.eq(clients::id))
                    .select(client_tags::tag_id),
            ),
        );
        let offset = (self.page - 1) * PER_PAGE;
        let mut rows: Vec<TaggedClient> = if self.reads_in_order(scope) {
            OnePage { query: self.sort.order(scope.clients()).select((ListedClient::as_select(), tag_ids)), offset }.load(conn)?
        } else {
            let ids: Vec<i64> = self.sort.order(self.query(scope)).limit(PER_PAGE + 1).offset(offset).select(clients::id).load(conn)?;
            let mut rows: Vec<TaggedClient> = clients::table
                .filter(clients::workspace_id.eq(scope.workspace_id))
                .filter(clients::id.eq_any(&ids))
                .select((ListedClient::as_select(), tag_ids))
                .load(conn)?;
            rows.sort_by_key(|(c, _)| ids.iter().position(|id| *id == c.id));
            rows
        };
        let has_next = rows.len() as i64 > PER_PAGE;
        rows.truncate(PER_PAGE as usize);
        Ok((rows, has_next))
    }

    /// Whether the page can be read in the order's index without a filter on its rows: no
    /// search and no filter, over the whole workspace (or an agent's clients by name, which
    /// `clients_assigned_idx` keeps in order).
    fn reads_in_order(&self, scope: &Scope) -> bool {
        let unfiltered = self.q.is_none()
            && self.status.is_none()
            && self.department.is_none()
            && self.tag.is_none()
            && self.assignee.is_none()
            && self.import.is_none();
        unfiltered && (scope.role == Role::Admin || (scope.role == Role::Agent && self.sort == Sort::Name))
    }
}

impl Sort {
    fn order<'a>(self, query: clients::BoxedQuery<'a, Pg>) -> clients::BoxedQuery<'a, Pg> {
        match self {
            Sort::Name => query.order((clients::sort_name, clients::id)),
            Sort::Created => query.order((clients::created_at.desc(), clients::id.desc())),
            Sort::LastContacted => query.order((clients::last_contacted_at.desc().nulls_last(), clients::id.desc())),
        }
    }
}

/// `<query> LIMIT 51 [OFFSET $1]`: a page and one row more. Diesel binds a limit as a
/// parameter, and PostgreSQL never keeps a generic plan for a statement whose limit it cannot
/// see, so it planned the list anew on every request (0.3 ms, as long as running it). With
/// the limit written out, the first page's statement stays prepared with its plan; later
/// pages bind their offset and are planned each time, as before.
struct OnePage<Q> {
    query: Q,
    offset: i64,
}

const _: () = assert!(PER_PAGE + 1 == 51, "OnePage writes the limit out");

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for OnePage<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT 51");
        if self.offset > 0 {
            out.push_sql(" OFFSET ");
            out.push_bind_param::<BigInt, _>(&self.offset)?;
        }
        Ok(())
    }
}

impl<Q> QueryId for OnePage<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for OnePage<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> RunQueryDsl<PgConnection> for OnePage<Q> {}

/// `SELECT (SELECT count(*) FROM (<q1>) c), (…), (…)`: the rows of three queries counted in
/// one round trip (Diesel has no subquery in `FROM`).
struct CountsOf<Q>([Q; 3]);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for CountsOf<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        for (i, part) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(SELECT count(*) FROM (" } else { ", (SELECT count(*) FROM (" });
            part.walk_ast(out.reborrow())?;
            out.push_sql(") c)");
        }
        Ok(())
    }
}

impl<Q> QueryId for CountsOf<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for CountsOf<Q> {
    type SqlType = (BigInt, BigInt, BigInt);
}

impl<Q> RunQueryDsl<PgConnection> for CountsOf<Q> {}

/// Up to `limit` clients in `scope` whose name, phone or email contains `search` (any case),
/// by name: (id, name, phone). The template preview's client picker.
pub fn pick(conn: &mut PgConnection, scope: &Scope, search: &str, limit: i64) -> QueryResult<Vec<(i64, String, Option<String>)>> {
    let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    scope
        .clients()
        .filter(clients::name.ilike(pattern.clone()).or(clients::phone.ilike(pattern.clone())).or(clients::email.ilike(pattern)))
        .order((clients::name, clients::id))
        .limit(limit)
        .select((clients::id, clients::name, clients::phone))
        .load(conn)
}

/// The id and name of the client `id` when `scope` may see it.
pub fn name_of(conn: &mut PgConnection, scope: &Scope, id: i64) -> QueryResult<Option<(i64, String)>> {
    scope.clients().filter(clients::id.eq(id)).select((clients::id, clients::name)).first(conn).optional()
}

/// A chunk of the CSV export: the clients and, by client id, their departments' and tags'
/// names; the workspace's users' emails by id (the assignee column).
pub struct ExportChunk {
    pub rows: Vec<Client>,
    pub department_names: HashMap<i64, Vec<String>>,
    pub tag_names: HashMap<i64, Vec<String>>,
    pub emails: HashMap<i64, String>,
}

/// The next `limit` clients of the filter in `scope` after `after` (by id), with their names.
pub fn export_chunk(conn: &mut PgConnection, scope: &Scope, filter: &ClientFilter, after: Option<i64>, limit: i64) -> QueryResult<ExportChunk> {
    let mut query = filter.query(scope);
    if let Some(after) = after {
        query = query.filter(clients::id.gt(after));
    }
    let rows: Vec<Client> = query.order(clients::id).limit(limit).select(Client::as_select()).load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let w = scope.workspace_id;
    let mut department_names: HashMap<i64, Vec<String>> = HashMap::new();
    for (client, name) in client_departments::table
        .inner_join(departments::table.on(departments::workspace_id.eq(client_departments::workspace_id).and(departments::id.eq(client_departments::department_id))))
        .filter(client_departments::workspace_id.eq(w))
        .filter(client_departments::client_id.eq_any(&ids))
        .select((client_departments::client_id, departments::name))
        .load::<(i64, String)>(conn)?
    {
        department_names.entry(client).or_default().push(name);
    }
    let mut tag_names: HashMap<i64, Vec<String>> = HashMap::new();
    for (client, name) in client_tags::table
        .inner_join(tags::table.on(tags::workspace_id.eq(client_tags::workspace_id).and(tags::id.eq(client_tags::tag_id))))
        .filter(client_tags::workspace_id.eq(w))
        .filter(client_tags::client_id.eq_any(&ids))
        .select((client_tags::client_id, tags::name))
        .load::<(i64, String)>(conn)?
    {
        tag_names.entry(client).or_default().push(name);
    }
    let emails: HashMap<i64, String> = users::table.filter(users::workspace_id.eq(w)).select((users::id, users::email)).load(conn)?.into_iter().collect();
    Ok(ExportChunk { rows, department_names, tag_names, emails })
}

/// The list's `?import=ID` names an import this user may see (`authz::Scope::imports`).
pub fn import_visible(conn: &mut PgConnection, scope: &Scope, import: i64) -> QueryResult<bool> {
    use crate::db::schema::imports;
    diesel::select(diesel::dsl::exists(scope.imports().filter(imports::id.eq(import)))).get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_list_parameters_are_refused_with_a_reason() {
        let q = |sort: &str, status: &str| ClientQuery { sort: Some(sort.into()), status: Some(status.into()), ..Default::default() };
        assert!(q("price", "").parse().unwrap_err().to_string().contains("Sort"));
        assert!(q("", "cold").parse().unwrap_err().to_string().contains("Status"));
        assert_eq!(q("created", "hot").parse().unwrap().sort, Sort::Created);
        let search = |sort: &str| ClientQuery { q: Some("smi".into()), sort: Some(sort.into()), ..Default::default() };
        assert_eq!(search("").parse().unwrap().sort, Sort::Created, "a search shows the newest matches first");
        assert_eq!(search("name").parse().unwrap().sort, Sort::Name, "unless the name order is chosen");
        assert_eq!(ClientQuery::default().parse().unwrap().sort, Sort::Name);
        let page = ClientQuery { page: Some("0".into()), ..Default::default() };
        assert!(page.parse().is_err());
        assert_eq!(like_contains("50%_O'Neil"), "%50\\%\\_o'neil%");
    }
}
