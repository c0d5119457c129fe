//! `/healthz` (the process answers) and `/readyz` (the database answers).

use actix_web::web::Data;
use actix_web::HttpResponse;

use crate::db;
use crate::web::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok")
}

pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    let ping = state.db(|conn| Ok(db::ping(conn)?)).await;
    match ping {
        Ok(_) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body("database unavailable")
        }
    }
}
