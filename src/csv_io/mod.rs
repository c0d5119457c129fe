//! CSV import: recognising what was uploaded before anything is stored.

pub mod sniff;
