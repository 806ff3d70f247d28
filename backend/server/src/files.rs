//! `GET /files/{key}`: downloads through signed, expiring links bound to one tenant.
use crate::app::App;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_core::TenantId;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Signature {
    tenant: String,
    expires: i64,
    sig: String,
}

pub async fn download(State(app): State<App>, Path(key): Path<String>, Query(signature): Query<Signature>) -> Response {
    let Ok(tenant) = signature.tenant.parse::<TenantId>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if app.signer.verify(tenant, &key, signature.expires, &signature.sig).is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    match app.store.get(&key).await {
        // Files come from customers and agents: whatever they hold, opened from this origin
        // they run no script (sandbox) and are not sniffed into something else.
        Ok((body, content_type)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "private, max-age=300".into()),
                (header::CONTENT_SECURITY_POLICY, "sandbox".into()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            ],
            body,
        )
            .into_response(),
        Err(crm_core::Error::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(%error, "download failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
