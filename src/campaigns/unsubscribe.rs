//! The public unsubscribe link of campaign emails (issue 12 part 3),
//! `GET/POST /unsubscribe/{token}`: its pages (the token is `campaigns::opt_out`'s). Opening
//! the link asks to confirm (a link opened by a mail scanner changes nothing); confirming
//! records the opt-out (`campaigns::opt_out`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::campaigns::model::transaction;
use crate::campaigns::opt_out;
use crate::error::AppError;
use crate::web::ctx::{Layout, RequestMeta};
use crate::web::htmx::Htmx;
use crate::web::render::respond;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "campaigns/unsubscribe.html", blocks = ["content"])]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    workspace: String,
    done: bool,
}
crate::pages!(UnsubscribePage);

impl UnsubscribePage {
    fn action(&self) -> String {
        format!("/unsubscribe/{}", self.token)
    }
}

/// Public (no session): asks to confirm (a link opened by a mail scanner changes nothing).
pub async fn unsubscribe_form(session: Session, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let t = token.clone();
    let (_, _, workspace) = state.db(move |conn| opt_out::target(conn, &key, &t)).await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribe"), token, workspace, done: false };
    respond(&htmx, StatusCode::OK, &page)
}

/// Records the opt-out from email (`unsubscribe link`), audited; the first opt-out's time
/// is kept when the link is used again.
pub async fn unsubscribe(session: Session, req: HttpRequest, htmx: Htmx, state: Data<AppState>, path: Path<String>) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let key = state.at_rest_key;
    let meta = RequestMeta::of(&req);
    let t = token.clone();
    let workspace = state.db(move |conn| transaction(conn, |tx| opt_out::record(tx, &key, &t, &meta))).await?;
    let page = UnsubscribePage { layout: Layout::anonymous(&session, "Unsubscribed"), token, workspace, done: true };
    respond(&htmx, StatusCode::OK, &page)
}
