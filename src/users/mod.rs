//! Users of a workspace: the admin pages to invite, change roles, deactivate; their
//! passwords (argon2) and one-time tokens (invitations, resets, email changes).

pub mod handlers;
pub mod model;
pub mod password;
pub mod service;
pub mod tokens;
