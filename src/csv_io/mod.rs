//! CSV import: recognising what was uploaded before anything is stored.

pub mod rows;
pub mod sniff;
