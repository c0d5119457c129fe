//! Sign-in, sessions, throttling, first-run setup and the account pages.

pub mod account;
pub mod handlers;
pub mod recovery;
pub mod session_store;
pub mod setup;
pub mod throttle;
pub mod user_agent;
