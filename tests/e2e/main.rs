//! End-to-end tests in headless Chromium, driven over WebDriver (chromedriver), against the
//! real app and a real PostgreSQL. Prerequisite: `sudo apt-get install chromium chromium-driver`.

#[path = "../support/mod.rs"]
mod support;

mod browser;
mod campaigns;
mod chat;
mod clients;
mod first_run;
mod import;
mod keyboard;
mod live_state;
mod messages;
mod narrow;
mod pages;
mod recovery;
mod rough_edges;
mod settings_rows;
mod sign_in;
mod twilio;
