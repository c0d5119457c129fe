//! Campaigns (issue 12): a campaign's lifecycle, who may see it, and the shared types of
//! batches and recipients. The pages, audience, batches, dispatch and dashboards live in
//! the submodules.
//!
//! Who: admins see and run every campaign. Managers see and run the campaigns whose
//! departments are all theirs (at least one) and whose attached clients are all clients they
//! may see, and attach only clients they may see; a campaign an admin fills with anyone else
//! is out of their scope (404 on every page, export, send and live event), so a manager's
//! campaign never names or reaches a client that `/clients/{id}` hides from them. Agents
//! have no campaign pages (403): campaigns send to many clients at once, which is a
//! manager's decision; an agent sees a campaign's sends on their clients' timelines.

pub mod attached;
pub mod audience;
pub mod batch_check;
pub mod batch_pages;
pub mod batches;
pub mod campaign_form;
pub mod changes;
pub mod dispatch;
pub mod figures;
pub mod flow_pages;
pub mod flow_replies;
pub mod flow_store;
pub mod flows;
pub mod handlers;
pub mod inbound;
pub mod lifecycle;
pub mod manage;
pub mod model;
pub mod opt_out;
pub mod query;
pub mod recipient_pages;
pub mod recipients;
pub mod render;
pub mod scope;
pub mod stalls;
pub mod test_send;
pub mod tiles;
pub mod unsubscribe;

pub use model::{BatchChannel, BatchStatus, Campaign, CampaignStatus, RecipientStatus, Transition};
pub use scope::CampaignScope;
