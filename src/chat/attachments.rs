//! `GET /media/{id}`: a stored attachment, to those who may see its chat (another
//! workspace's, a colleague's chat the reader may not see, one not stored yet: 404).
//! A picture, a sound or a film is shown in the page; anything else is a download. Every
//! answer says `nosniff` and forbids scripts, so a file is never run as a page.

use actix_web::HttpResponse;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::{Data, Path};

use crate::chat::ChatScope;
use crate::error::AppError;
use crate::messaging::media;
use crate::web::ctx::Ctx;
use crate::web::state::AppState;

pub async fn show(ctx: Ctx, state: Data<AppState>, path: Path<i64>) -> Result<HttpResponse, AppError> {
    let (scope, id) = (ChatScope::of(&ctx), path.into_inner());
    let file = state
        .db(move |conn| {
            let Some((client_id, channel, file)) = media::stored_file(conn, scope.workspace_id, id)? else { return Ok(None) };
            Ok(scope.sees_chat_of(conn, client_id, channel)?.then_some(file))
        })
        .await?
        .ok_or(AppError::NotFound)?;
    let disposition = ContentDisposition {
        disposition: if file.inline() { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![DispositionParam::Filename(file.filename.clone())],
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, file.served_type().to_string()))
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(file.bytes))
}
