//! Clients: the list (search, filters, sort, pages), create, edit, delete, detail.

pub mod activity;
pub mod activity_handlers;
pub mod bulk;
pub mod choices;
pub mod countries;
pub mod domain;
pub mod export;
pub mod fields;
pub mod handlers;
pub mod inbound;
pub mod messages;
pub mod model;
pub mod query;
pub mod status_rule;
pub mod tags;
pub mod timeline;
pub mod zones;
