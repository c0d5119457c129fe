//! HTTP plumbing shared by every feature: assets, htmx, sessions, CSRF, flash, headers.

pub mod assets;
pub mod client_ip;
pub mod csrf;
pub mod ctx;
pub mod current_user;
pub mod error_pages;
pub mod escape;
pub mod flash;
pub mod forms;
pub mod headers;
pub mod highlight;
pub mod numbers;
pub mod htmx;
pub mod once;
pub mod render;
pub mod session;
pub mod state;
pub mod time;
