//! Client rows, inserts and changes, and their departments and tags.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::db::schema::{client_departments, client_tags, clients, tags};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct Client {
    pub workspace_id: i64,
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub status: String,
    /// `rule`: the daily status rule sets the status; `hand`: a person picked it, and the
    /// rule leaves it alone for the workspace's `hand_status_days`.
    pub status_source: String,
    pub assigned_to: Option<i64>,
    pub notes: String,
    pub opt_out_whatsapp_at: Option<DateTime<Utc>>,
    pub opt_out_whatsapp_source: Option<String>,
    pub opt_out_sms_at: Option<DateTime<Utc>>,
    pub opt_out_sms_source: Option<String>,
    pub opt_out_email_at: Option<DateTime<Utc>>,
    pub opt_out_email_source: Option<String>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The import that created the client, if one did.
    pub import_id: Option<i64>,
    /// The phone as people write it, when it was formatted on the way in (see `phone_display`).
    pub phone_formatted: Option<String>,
}

/// Channels a client can opt out of.
pub const CHANNELS: [&str; 3] = ["whatsapp", "sms", "email"];

/// A client as the list shows it: the columns of its row, no more (the list read all 22
/// columns, notes included, for the nine it shows).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ListedClient {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub status: String,
    pub assigned_to: Option<i64>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub phone_formatted: Option<String>,
}

impl ListedClient {
    pub fn phone_display(&self) -> String {
        phone_display(&self.phone_formatted, &self.phone)
    }
}

/// The phone as people write it in its country (`+44 20 7946 0011`): formatted when it was
/// written (a list of 50 clients then formats none), or here for a row written without it.
fn phone_display(formatted: &Option<String>, phone: &Option<String>) -> String {
    match (formatted, phone) {
        (Some(formatted), _) => formatted.clone(),
        (None, Some(phone)) => crate::clients::domain::PhoneE164::from_stored(phone).international(),
        (None, None) => String::new(),
    }
}

impl Client {
    pub fn phone_display(&self) -> String {
        phone_display(&self.phone_formatted, &self.phone)
    }

    pub fn audit_json(&self, department_ids: &[i64], tag_names: &[String]) -> serde_json::Value {
        json!({
            "name": self.name, "email": self.email, "phone": self.phone, "company": self.company,
            "status": self.status, "assigned_to": self.assigned_to, "notes": self.notes,
            "department_ids": department_ids, "tags": tag_names, "opt_outs": self.opt_outs(),
        })
    }

    /// (channel, since, source) for each channel the client opted out of.
    pub fn opt_out_details(&self) -> Vec<(&'static str, DateTime<Utc>, String)> {
        [
            ("whatsapp", self.opt_out_whatsapp_at, &self.opt_out_whatsapp_source),
            ("sms", self.opt_out_sms_at, &self.opt_out_sms_source),
            ("email", self.opt_out_email_at, &self.opt_out_email_source),
        ]
        .into_iter()
        .filter_map(|(c, at, source)| at.map(|at| (c, at, source.clone().unwrap_or_default())))
        .collect()
    }

    pub fn opt_outs(&self) -> Vec<&'static str> {
        self.opt_out_details().into_iter().map(|(c, _, _)| c).collect()
    }
}

/// Sets which channels the client opted out of. A channel already opted out keeps its
/// original time and source; one no longer listed is cleared.
pub fn set_opt_outs(conn: &mut PgConnection, workspace_id: i64, id: i64, channels: &[String], source: &str) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Bool, Text};
    let has = |c: &str| channels.iter().any(|x| x == c);
    diesel::sql_query(
        "UPDATE clients SET \
           opt_out_whatsapp_at = CASE WHEN $3 THEN coalesce(opt_out_whatsapp_at, now()) END, \
           opt_out_whatsapp_source = CASE WHEN $3 THEN coalesce(opt_out_whatsapp_source, $6) END, \
           opt_out_sms_at = CASE WHEN $4 THEN coalesce(opt_out_sms_at, now()) END, \
           opt_out_sms_source = CASE WHEN $4 THEN coalesce(opt_out_sms_source, $6) END, \
           opt_out_email_at = CASE WHEN $5 THEN coalesce(opt_out_email_at, now()) END, \
           opt_out_email_source = CASE WHEN $5 THEN coalesce(opt_out_email_source, $6) END \
         WHERE workspace_id = $1 AND id = $2",
    )
    .bind::<BigInt, _>(workspace_id)
    .bind::<BigInt, _>(id)
    .bind::<Bool, _>(has("whatsapp"))
    .bind::<Bool, _>(has("sms"))
    .bind::<Bool, _>(has("email"))
    .bind::<Text, _>(source)
    .execute(conn)
    .map(|_| ())
}

/// The fields a person sets, already parsed.
#[derive(Clone, Debug, AsChangeset, Insertable)]
#[diesel(table_name = clients, treat_none_as_null = true)]
pub struct ClientFields {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// `phone` as people write it (`PhoneE164::international`).
    pub phone_formatted: Option<String>,
    pub company: Option<String>,
    pub status: String,
    pub assigned_to: Option<i64>,
    pub notes: String,
}

/// The client by id within the workspace, whoever may see it (for reloading after a write).
pub fn find(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<Client> {
    clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(id)).select(Client::as_select()).first(conn)
}

/// Who owns the status after a save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusSource {
    /// A person picked it: the daily rule leaves it alone for a while.
    Hand,
    /// The daily rule sets it from activity.
    Rule,
}

impl StatusSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Hand => "hand",
            StatusSource::Rule => "rule",
        }
    }
}

/// Inserts the client; `source` says whether a person picked its status.
pub fn insert(conn: &mut PgConnection, workspace_id: i64, fields: &ClientFields, source: StatusSource) -> QueryResult<Client> {
    diesel::insert_into(clients::table)
        .values((clients::workspace_id.eq(workspace_id), fields, clients::status_source.eq(source.as_str())))
        .returning(Client::as_returning())
        .get_result(conn)
}

/// Applies the change only if nobody else changed the client since `version`. `source`
/// `Some(Hand)` marks the status hand-set from now, `Some(Rule)` hands it back to the daily
/// rule, `None` leaves it as it was.
pub fn update_if_version(
    conn: &mut PgConnection,
    workspace_id: i64,
    id: i64,
    version: i32,
    fields: &ClientFields,
    source: Option<StatusSource>,
) -> QueryResult<Option<Client>> {
    let target = clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(id)).filter(clients::version.eq(version));
    let updated = diesel::update(target)
        .set((fields, clients::version.eq(version + 1)))
        .returning(Client::as_returning())
        .get_result(conn)
        .optional()?;
    if updated.is_none() {
        return Ok(None);
    }
    let row = clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(id));
    match source {
        // A status set by hand is kept from the daily rule for a while.
        Some(StatusSource::Hand) => {
            diesel::update(row).set((clients::status_source.eq("hand"), clients::status_changed_at.eq(diesel::dsl::now))).execute(conn)?;
        }
        Some(StatusSource::Rule) => {
            diesel::update(row).set(clients::status_source.eq("rule")).execute(conn)?;
        }
        None => return Ok(updated),
    }
    find(conn, workspace_id, id).map(Some)
}

pub fn delete(conn: &mut PgConnection, workspace_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq(id))).execute(conn)
}

/// The client (in any scope) already using this email or phone, for duplicate messages.
pub fn find_duplicate(conn: &mut PgConnection, workspace_id: i64, email: Option<&str>, phone: Option<&str>, except: Option<i64>) -> QueryResult<Option<(i64, String, &'static str)>> {
    for (field, value) in [("email", email), ("phone", phone)] {
        let Some(value) = value else { continue };
        let mut query = clients::table.filter(clients::workspace_id.eq(workspace_id)).into_boxed();
        query = if field == "email" { query.filter(clients::email.eq(value)) } else { query.filter(clients::phone.eq(value)) };
        if let Some(id) = except {
            query = query.filter(clients::id.ne(id));
        }
        if let Some((id, name)) = query.select((clients::id, clients::name)).first::<(i64, String)>(conn).optional()? {
            return Ok(Some((id, name, field)));
        }
    }
    Ok(None)
}

pub fn department_ids(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<Vec<i64>> {
    client_departments::table
        .filter(client_departments::workspace_id.eq(workspace_id))
        .filter(client_departments::client_id.eq(client_id))
        .select(client_departments::department_id)
        .order(client_departments::department_id)
        .load(conn)
}

pub fn set_departments(conn: &mut PgConnection, workspace_id: i64, client_id: i64, ids: &[i64]) -> QueryResult<()> {
    diesel::delete(client_departments::table.filter(client_departments::workspace_id.eq(workspace_id)).filter(client_departments::client_id.eq(client_id)))
        .execute(conn)?;
    let rows: Vec<_> = ids
        .iter()
        .map(|d| (client_departments::workspace_id.eq(workspace_id), client_departments::client_id.eq(client_id), client_departments::department_id.eq(*d)))
        .collect();
    diesel::insert_into(client_departments::table).values(rows).execute(conn).map(|_| ())
}

pub fn tag_names(conn: &mut PgConnection, workspace_id: i64, client_id: i64) -> QueryResult<Vec<String>> {
    client_tags::table
        .inner_join(tags::table.on(tags::workspace_id.eq(client_tags::workspace_id).and(tags::id.eq(client_tags::tag_id))))
        .filter(client_tags::workspace_id.eq(workspace_id))
        .filter(client_tags::client_id.eq(client_id))
        .select(tags::name)
        .order(tags::name)
        .load(conn)
}

/// Sets the client's tags by name, creating tags that do not exist yet.
pub fn set_tags(conn: &mut PgConnection, workspace_id: i64, client_id: i64, names: &[String]) -> QueryResult<()> {
    let tag_ids = names.iter().map(|name| crate::clients::tags::id_creating(conn, workspace_id, name)).collect::<QueryResult<Vec<i64>>>()?;
    diesel::delete(client_tags::table.filter(client_tags::workspace_id.eq(workspace_id)).filter(client_tags::client_id.eq(client_id))).execute(conn)?;
    let rows: Vec<_> = tag_ids
        .iter()
        .map(|t| (client_tags::workspace_id.eq(workspace_id), client_tags::client_id.eq(client_id), client_tags::tag_id.eq(*t)))
        .collect();
    diesel::insert_into(client_tags::table).values(rows).on_conflict_do_nothing().execute(conn)?;
    refresh_tag_ids(conn, workspace_id, &[client_id])
}

/// Copies the clients' tag links into the ids their rows keep for the list (see the
/// migration `client_tag_ids`); run after a statement that changes links.
fn refresh_tag_ids(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<()> {
    let linked = diesel::dsl::array::<diesel::sql_types::BigInt, _>(
        client_tags::table
            .filter(client_tags::workspace_id.eq(clients::workspace_id))
            .filter(client_tags::client_id.eq(clients::id))
            .order(client_tags::tag_id)
            .select(client_tags::tag_id),
    );
    diesel::update(clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq_any(ids)))
        .set(clients::tag_ids.eq(linked.nullable()))
        .execute(conn)
        .map(|_| ())
}

// Many clients at once (the bulk actions). Each locks the rows it changes and returns what
// they were, for the audit trail; `ids` are clients the caller may see.

/// Assigns the clients to `user` (`None`: unassigned); returns (id, previous assignee) of
/// those that changed.
pub fn assign_many(conn: &mut PgConnection, workspace_id: i64, ids: &[i64], user: Option<i64>) -> QueryResult<Vec<(i64, Option<i64>)>> {
    let before: Vec<(i64, Option<i64>)> = clients::table
        .filter(clients::workspace_id.eq(workspace_id))
        .filter(clients::id.eq_any(ids))
        .filter(clients::assigned_to.is_distinct_from(user))
        .select((clients::id, clients::assigned_to))
        .for_update()
        .load(conn)?;
    let changed: Vec<i64> = before.iter().map(|(id, _)| *id).collect();
    diesel::update(clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq_any(&changed)))
        .set((clients::assigned_to.eq(user), clients::version.eq(clients::version + 1)))
        .execute(conn)?;
    Ok(before)
}

/// Sets the clients' status by hand; returns (id, previous status) of those that changed.
pub fn set_status_many(conn: &mut PgConnection, workspace_id: i64, ids: &[i64], status: &str) -> QueryResult<Vec<(i64, String)>> {
    let before: Vec<(i64, String)> = clients::table
        .filter(clients::workspace_id.eq(workspace_id))
        .filter(clients::id.eq_any(ids))
        .filter(clients::status.ne(status))
        .select((clients::id, clients::status))
        .for_update()
        .load(conn)?;
    let changed: Vec<i64> = before.iter().map(|(id, _)| *id).collect();
    diesel::update(clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq_any(&changed)))
        .set((
            clients::status.eq(status),
            clients::status_source.eq(StatusSource::Hand.as_str()),
            clients::status_changed_at.eq(diesel::dsl::now),
            clients::version.eq(clients::version + 1),
        ))
        .execute(conn)?;
    Ok(before)
}

/// Adds the tag to the clients; returns those that did not carry it yet, in `ids` order.
pub fn tag_many(conn: &mut PgConnection, workspace_id: i64, ids: &[i64], tag_id: i64) -> QueryResult<Vec<i64>> {
    let already: Vec<i64> = client_tags::table
        .filter(client_tags::workspace_id.eq(workspace_id))
        .filter(client_tags::tag_id.eq(tag_id))
        .filter(client_tags::client_id.eq_any(ids))
        .select(client_tags::client_id)
        .load(conn)?;
    let new = not_in(ids, already);
    for chunk in new.chunks(10_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|id| (client_tags::workspace_id.eq(workspace_id), client_tags::client_id.eq(*id), client_tags::tag_id.eq(tag_id)))
            .collect();
        diesel::insert_into(client_tags::table).values(rows).on_conflict_do_nothing().execute(conn)?;
        refresh_tag_ids(conn, workspace_id, chunk)?;
    }
    Ok(new)
}

/// `ids` without those in `already`, in their order: a set, so that 200,000 ids against
/// 200,000 already tagged take linear time, not 4·10¹⁰ comparisons.
fn not_in(ids: &[i64], already: Vec<i64>) -> Vec<i64> {
    let already: std::collections::HashSet<i64> = already.into_iter().collect();
    ids.iter().copied().filter(|id| !already.contains(id)).collect()
}

/// Takes the tag off the clients; returns those that carried it.
pub fn untag_many(conn: &mut PgConnection, workspace_id: i64, ids: &[i64], tag_id: i64) -> QueryResult<Vec<i64>> {
    let removed: Vec<i64> = diesel::delete(
        client_tags::table
            .filter(client_tags::workspace_id.eq(workspace_id))
            .filter(client_tags::tag_id.eq(tag_id))
            .filter(client_tags::client_id.eq_any(ids)),
    )
    .returning(client_tags::client_id)
    .get_results(conn)?;
    for chunk in removed.chunks(10_000) {
        refresh_tag_ids(conn, workspace_id, chunk)?;
    }
    Ok(removed)
}

/// What the audit trail keeps of a deleted client.
#[derive(Clone, Debug, Queryable)]
pub struct DeletedClient {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Deletes the clients; returns what each was.
pub fn delete_many(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Vec<DeletedClient>> {
    let target = || clients::table.filter(clients::workspace_id.eq(workspace_id)).filter(clients::id.eq_any(ids));
    let before = target().select((clients::id, clients::name, clients::email, clients::phone)).for_update().load(conn)?;
    diesel::delete(target()).execute(conn)?;
    Ok(before)
}

/// The client `id` when `scope` may see it.
pub fn visible(conn: &mut PgConnection, scope: &crate::authz::Scope, id: i64) -> QueryResult<Option<Client>> {
    scope.clients().filter(clients::id.eq(id)).select(Client::as_select()).first(conn).optional()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_in_keeps_the_order_and_drops_what_is_already_there() {
        assert_eq!(not_in(&[5, 1, 4, 2, 3], vec![4, 1, 99]), vec![5, 2, 3]);
        assert_eq!(not_in(&[1, 2], vec![]), vec![1, 2]);
        assert!(not_in(&[1, 2], vec![2, 1]).is_empty());
        let ids: Vec<i64> = (0..200_000).collect();
        let already: Vec<i64> = (0..200_000).filter(|i| i % 2 == 0).collect();
        let new = not_in(&ids, already);
        assert_eq!(new.len(), 100_000);
        assert!(new.iter().all(|i| i % 2 == 1));
    }
}
