//! Users of a workspace: the admin pages to invite, change roles, deactivate.

pub mod handlers;
pub mod model;
pub mod service;
