//! Canned replies (issue 22 part 3): answers written once and used in every composer. The
//! workspace's (admins manage them) and each person's own; a title, a `/shortcut` and a text
//! with the client fields (`{{name}}`, `{{first_name}}`, `{{company}}`, `clients::fields`).
//! Typing `/` at the start of a chat reply or of the client page's SMS opens the picker
//! (`static/app.js`), which asks `picker` for the matches, their fields filled for that
//! client.
//!
//! Layout: `pages` (`/canned-replies`: the list, create, edit, delete) and `picker` (the
//! composer's choices) are the handlers; `model` the rows, their rules and checks.

pub mod model;
pub mod pages;
pub mod picker;
