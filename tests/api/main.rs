//! Integration tests over HTTP against the real app and a real PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod activity;
mod audit;
mod auth;
mod automation;
mod cli;
mod clients;
mod clients_bulk;
mod clients_export;
mod csrf;
mod dashboard;
mod email;
mod imports;
mod spreadsheet;
mod jobs;
mod ops;
mod outage;
mod sessions;
mod settings;
mod tenancy;
