//! Switchboard: a self-hosted CRM (README, "Layout", for the layers).

// No panics on the app's paths: an `unwrap` or `expect` outside tests is refused unless an
// `allow` beside it says why it cannot fail.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod authz;
pub mod campaigns;
pub mod canned;
pub mod chat;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod csv_io;
pub mod csv_safe;
pub mod dashboard;
pub mod db;
pub mod departments;
pub mod email;
pub mod error;
pub mod events;
pub mod imports;
pub mod jobs;
pub mod messaging;
pub mod notifications;
pub mod ops;
pub mod registry;
pub mod routes;
pub mod seed;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod users;
pub mod web;
pub mod workspaces;
