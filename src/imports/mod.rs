//! CSV import of clients: upload (file stored in the database), preview and mapping, a
//! background run that stages rows with COPY and upserts them with set-based SQL in one
//! transaction, a live progress page, and the rejected rows as errors.csv.

pub mod file;
pub mod handlers;
pub mod mapping;
pub mod model;
pub mod query;
pub mod run;
pub mod upload;
