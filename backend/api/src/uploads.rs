//! `POST /uploads`: a file an agent attaches to a reply. The body is the file, its name comes
//! percent-encoded in `X-File-Name`. The answer is the public link the platforms fetch it
//! from, to pass to `sendMessage(file: { url })`. Errors have GraphQL's shape and codes.
use crate::ApiState;
use crate::error::http_error;
use crate::http::principal;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub async fn upload(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match principal(&state.services, &headers).await {
        Ok(principal) => principal,
        Err(error) => return http_error(error),
    };
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() < 200)
        .unwrap_or("application/octet-stream");
    match state.services.upload(&principal, &name, content_type, body).await {
        Ok(path) => {
            Json(json!({ "url": format!("{}{path}", state.settings.public_url.trim_end_matches('/')) })).into_response()
        }
        Err(error) => http_error(error),
    }
}
