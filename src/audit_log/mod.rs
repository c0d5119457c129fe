//! `/audit-logs` (admins, managers): the audit trail filtered, described in sentences, one
//! row in detail with its diff, and the CSV export; the dashboard's recent activity.

pub mod handlers;
pub mod query;
pub mod sentence;
