//! The chat inbox (issue 13): one chat per client and channel (WhatsApp, SMS), opened by an
//! inbound message or by a person, with an assignee, open/closed, and per-reader unread
//! counts. The `chats` row is kept by triggers on `messages` (migration
//! 2026-11-28-040000_create_chats): an inbound message opens or reopens its chat and opens
//! WhatsApp's 24-hour window; an outbound one moves an existing chat's last message. The
//! same triggers write the live events (`crate::events`).
//!
//! Who sees a chat: admins every chat of the workspace; managers the chats of clients they
//! may see (their departments, or assigned to them) and chats assigned to them; agents the
//! chats of their clients and chats assigned to them.
//!
//! Layout: the handlers are `pages` (inbox, opening a chat, badge), `conversation_pages`
//! (the conversation, its live refresh, replies and notes),
//! `actions` (assign, close, reopen), `attachments` (a message's file) and `settings` (the
//! digest on `/account`); they build no SQL. `model` holds the chat row, its scope and the
//! changes a person makes; `list`,
//! `conversation` and `query` the reads; `reply` the reply's check and queue; `notify` the
//! notifications; `digest` the hourly email and its job.

pub mod actions;
pub mod attachments;
pub mod authors;
pub mod bubbles;
pub mod conversation;
pub mod conversation_pages;
pub mod digest;
pub mod inbound;
pub mod list;
pub mod model;
pub mod notes;
pub mod notify;
pub mod pages;
pub mod query;
pub mod reply;
pub mod settings;

pub use model::{Chat, ChatScope, ChatStatus, SERVICE_WINDOW};
