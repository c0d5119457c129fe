//! The visibility rules that are SQL conditions, shared by the features' scopes and the live
//! events' fan-out (`events::hub`), which tests them for every subscriber at once. `$USER`
//! stands for the user: a bound id in a scope's query, a user id column in the fan-out.

use crate::authz::{MANAGERS_DEPARTMENTS_HOLD_SQL, Role};

/// A manager (`$USER`, an SQL expression named once) may see and run the `campaigns` row in
/// scope: it has at least one department, none that is not the manager's, and no attached
/// client the manager may not see (issue 18: an admin may fill a department's campaign with
/// anyone; its recipients, exports, sends and live events then stay the admin's). Also the
/// live events' rule (events::hub): who gets a batch's updates.
pub static CAMPAIGN_MANAGER_COVERS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let sees_client = MANAGERS_DEPARTMENTS_HOLD_SQL.replace("$USER", "me.uid");
    format!(
        "EXISTS (SELECT 1 FROM (SELECT ($USER)::bigint AS uid) me WHERE \
         EXISTS (SELECT 1 FROM campaign_departments cd WHERE cd.workspace_id = campaigns.workspace_id AND cd.campaign_id = campaigns.id) \
         AND NOT EXISTS (SELECT 1 FROM campaign_departments cd WHERE cd.workspace_id = campaigns.workspace_id \
           AND cd.campaign_id = campaigns.id AND cd.department_id NOT IN \
           (SELECT ud.department_id FROM user_departments ud WHERE ud.workspace_id = campaigns.workspace_id AND ud.user_id = me.uid)) \
         AND NOT EXISTS (SELECT 1 FROM campaign_clients cc JOIN clients ON clients.workspace_id = cc.workspace_id AND clients.id = cc.client_id \
           WHERE cc.workspace_id = campaigns.workspace_id AND cc.campaign_id = campaigns.id \
           AND clients.assigned_to IS DISTINCT FROM me.uid AND NOT {sees_client}))"
    )
});

/// The SQL condition "this user may see the chat", over the `chats` row in scope (used by
/// `chat::ChatScope` and, with a user id column instead of a bound id, by the event fan-out).
pub fn chat_visible_sql(role: Role) -> &'static str {
    match role {
        Role::Admin => "TRUE",
        Role::Agent => {
            "(chats.assignee_id = $USER OR EXISTS (SELECT 1 FROM clients c WHERE c.workspace_id = chats.workspace_id \
             AND c.id = chats.client_id AND c.assigned_to = $USER))"
        }
        Role::Manager => {
            "(chats.assignee_id = $USER OR EXISTS (SELECT 1 FROM clients c WHERE c.workspace_id = chats.workspace_id \
             AND c.id = chats.client_id AND (c.assigned_to = $USER OR EXISTS (SELECT 1 FROM client_departments cd \
             JOIN user_departments ud ON ud.workspace_id = cd.workspace_id AND ud.department_id = cd.department_id \
             WHERE cd.workspace_id = c.workspace_id AND cd.client_id = c.id AND ud.user_id = $USER))))"
        }
    }
}

/// The condition's text before and after its first `$USER`, to bind the user's id between
/// them. Every condition here names its user (the tests below check it); one that did not
/// would bind a parameter with no placeholder, which PostgreSQL refuses.
pub fn around_user(condition: &str) -> (&str, &str) {
    condition.split_once("$USER").unwrap_or((condition, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_conditions_name_their_user() {
        for condition in [MANAGERS_DEPARTMENTS_HOLD_SQL, CAMPAIGN_MANAGER_COVERS_SQL.as_str()] {
            let (before, after) = around_user(condition);
            assert!(!after.is_empty() && !before.contains("$USER"), "{condition}");
        }
    }

    #[test]
    fn every_user_placeholder_is_in_the_condition() {
        assert_eq!(chat_visible_sql(Role::Admin), "TRUE");
        assert_eq!(chat_visible_sql(Role::Agent).matches("$USER").count(), 2);
        assert_eq!(chat_visible_sql(Role::Manager).matches("$USER").count(), 3);
    }
}
