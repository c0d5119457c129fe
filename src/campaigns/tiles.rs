//! The campaigns tile of the dashboard (issue 12 part 7), `/dashboard/campaigns`, loaded
//! lazily like the others (a full page without htmx): the campaigns running, the sends of
//! the workspace's day and the 7-day delivery and reply rates.
//!
//! "Sends today" (issue 19 item 5) are the campaign messages the provider accepted today (its
//! id recorded: one that goes straight to delivered or still awaits its callback counts, one
//! refused at the send does not), from the `accepted` counters `campaign_hourly_counts`
//! keeps per campaign and hour. The 7-day delivery and reply rates are the batch pages'
//! rates (`recipients::Counts`) over the counters of the batches started in the last 7 days,
//! so the tile and the batch pages always agree. A manager's figures sum only the campaigns
//! they may see (the campaign scope), an admin's the workspace's. The figures are
//! `campaigns::figures`.

use actix_web::HttpResponse;
use actix_web::web::Data;
use askama::Template;

use crate::campaigns::CampaignScope;
use crate::campaigns::figures::{CampaignFigures, figures};
use crate::error::AppError;
use crate::web::ctx::Ctx;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "dashboard/tile_campaigns.html")]
struct CampaignsTile {
    figures: CampaignFigures,
}

/// Admins and managers; agents 403 (no campaign pages).
pub async fn campaigns_tile(ctx: Ctx, state: Data<AppState>) -> Result<HttpResponse, AppError> {
    let scope = CampaignScope::of(&ctx)?;
    let (zone, now) = (ctx.zone(), state.clock.now());
    let figures = state.db(move |conn| Ok(figures(conn, &scope, zone, now)?)).await?;
    crate::dashboard::tiles::respond(&ctx, "campaigns", CampaignsTile { figures })
}
