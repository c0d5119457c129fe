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
mod jobs;
mod mass_assignment;
mod ops;
mod outage;
mod pool;
mod route_table;
mod sessions;
mod settings;
mod tenancy;
mod upload_names;
mod walk;
mod xss;
