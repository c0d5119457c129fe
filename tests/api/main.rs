//! Integration tests over HTTP against the real app and a real PostgreSQL.

#[path = "../support/mod.rs"]
mod support;
mod activity;
mod audit;
mod auth;
mod automation;
mod cli;
mod client_ip;
mod clients;
mod clients_bulk;
mod clients_export;
mod csrf;
mod dashboard;
mod email;
mod imports;
mod inputs;
mod job_secrets;
mod jobs;
mod logs;
mod mass_assignment;
mod ops;
mod outage;
mod pool;
mod route_table;
mod scoped_reads;
mod sessions;
mod settings;
mod sign_in_abuse;
mod spreadsheet;
mod status_source;
mod stylesheet;
mod tenancy;
mod upload_names;
mod walk;
mod workspace_names;
mod xss;
