//! Who wrote a message (issue 22 part 5): the client, a person of the workspace, a campaign
//! (a message of a campaign batch), or a flow step (the message a quick-reply tap sent). The
//! conversation's outbound bubbles name it; the inbox's preview starts with it.
//!
//! Read for a page's messages in a statement of their own ([`of_messages`]): three joins
//! more in the inbox's query cost its planner milliseconds a page.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text};

use crate::messaging::Direction;

/// The author's columns of message `m` (with [`JOINS`]).
const COLUMNS: &str = "m.direction AS author_direction, m.created_by AS author_id, au.name AS author_name, \
     m.batch_id AS author_batch, ac.name AS author_campaign, \
     EXISTS (SELECT 1 FROM campaign_flow_answers af WHERE af.workspace_id = m.workspace_id AND af.sent_message_id = m.id) AS author_flow";

/// The joins [`COLUMNS`] reads: the person, and the campaign of the batch.
const JOINS: &str = "LEFT JOIN users au ON au.workspace_id = m.workspace_id AND au.id = m.created_by \
     LEFT JOIN campaign_batches ab ON ab.workspace_id = m.workspace_id AND ab.id = m.batch_id \
     LEFT JOIN campaigns ac ON ac.workspace_id = ab.workspace_id AND ac.id = ab.campaign_id";

/// What [`COLUMNS`] selects.
#[derive(Clone, Debug, QueryableByName)]
struct AuthorColumns {
    #[diesel(sql_type = Nullable<Text>)]
    author_direction: Option<Direction>,
    #[diesel(sql_type = Nullable<BigInt>)]
    author_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    author_name: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    author_batch: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    author_campaign: Option<String>,
    #[diesel(sql_type = Bool)]
    author_flow: bool,
}

impl AuthorColumns {
    /// The author, `None` without a message.
    fn author(&self) -> Option<Author> {
        Some(match self.author_direction? {
            Direction::Inbound => Author::Client,
            Direction::Outbound if self.author_flow => Author::FlowStep,
            Direction::Outbound if self.author_batch.is_some() => Author::Campaign(self.author_campaign.clone()),
            Direction::Outbound => match (self.author_id, &self.author_name) {
                (Some(id), Some(name)) => Author::Person { id, name: name.clone() },
                _ => Author::Unsigned,
            },
        })
    }
}

/// Who wrote a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    /// The client (an inbound message).
    Client,
    /// A person of the workspace, from a page.
    Person { id: i64, name: String },
    /// A campaign batch's send (the campaign's name; `None` if it is gone).
    Campaign(Option<String>),
    /// The next step of a WhatsApp flow, sent by a quick-reply tap.
    FlowStep,
    /// Outbound with no person and no batch (written before authors were kept).
    Unsigned,
}

impl Author {
    /// How an outbound bubble names its author.
    pub fn label(&self) -> String {
        match self {
            Author::Client => "The client".to_string(),
            Author::Person { name, .. } => name.clone(),
            Author::Campaign(Some(name)) => format!("Campaign: {name}"),
            Author::Campaign(None) => "Campaign".to_string(),
            Author::FlowStep => "Flow step".to_string(),
            Author::Unsigned => "Switchboard".to_string(),
        }
    }

    /// The inbox preview's prefix for `reader`: "You" for their own message, the author's
    /// label for anyone else's, none for the client's.
    pub fn prefix(&self, reader: i64) -> Option<String> {
        match self {
            Author::Client => None,
            Author::Person { id, .. } if *id == reader => Some("You".to_string()),
            other => Some(other.label()),
        }
    }
}

#[derive(QueryableByName)]
struct Authored {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(embed)]
    columns: AuthorColumns,
}

/// The authors of the messages `ids` of a workspace, in one statement: `(message id, author)`.
pub fn of_messages(conn: &mut PgConnection, workspace_id: i64, ids: &[i64]) -> QueryResult<Vec<(i64, Author)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Authored> = diesel::sql_query(format!("SELECT m.id, {COLUMNS} FROM messages m {JOINS} WHERE m.workspace_id = $1 AND m.id = ANY($2)"))
        .bind::<BigInt, _>(workspace_id)
        .bind::<Array<BigInt>, _>(ids)
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|r| r.columns.author().map(|a| (r.id, a))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(id: Option<i64>, name: Option<&str>, batch: Option<i64>, campaign: Option<&str>, flow: bool) -> AuthorColumns {
        AuthorColumns {
            author_direction: Some(Direction::Outbound),
            author_id: id,
            author_name: name.map(str::to_string),
            author_batch: batch,
            author_campaign: campaign.map(str::to_string),
            author_flow: flow,
        }
    }

    #[test]
    fn a_batch_names_its_campaign_a_tap_its_flow_step_and_a_person_themselves() {
        let lena = outbound(Some(7), Some("Lena"), None, None, false).author().unwrap();
        assert_eq!(lena.label(), "Lena");
        assert_eq!(lena.prefix(7).as_deref(), Some("You"));
        assert_eq!(lena.prefix(8).as_deref(), Some("Lena"));
        // A campaign created by Lena is the campaign's send, not hers.
        let campaign = outbound(Some(7), Some("Lena"), Some(3), Some("Spring offer"), false).author().unwrap();
        assert_eq!((campaign.label(), campaign.prefix(7)), ("Campaign: Spring offer".to_string(), Some("Campaign: Spring offer".to_string())));
        assert_eq!(outbound(Some(7), Some("Lena"), Some(3), Some("Spring offer"), true).author().unwrap().label(), "Flow step");
        assert_eq!(outbound(None, None, None, None, false).author(), Some(Author::Unsigned));
        let client = AuthorColumns { author_direction: Some(Direction::Inbound), ..outbound(None, None, None, None, false) };
        assert_eq!(client.author().unwrap().prefix(7), None);
        let none = AuthorColumns { author_direction: None, ..outbound(None, None, None, None, false) };
        assert_eq!(none.author(), None);
    }
}
