//! Webhooks of the messaging platforms. A payload is acknowledged only once it is stored;
//! turning it into messages happens after (`workers`). Wrong or missing secrets and
//! signatures get 401 and store nothing; a payload we cannot read gets 400.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use crm_core::ConnectionId;
use crm_core::inbox::{ChannelKind, InboundUpdate};
use crm_core::services::Services;
use std::collections::HashMap;

pub fn router(services: Services, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/webhooks/telegram/{connection}", post(telegram))
        .route("/webhooks/meta/{connection}", post(meta).get(meta_verify))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(services)
}

/// The database is away: the platform should deliver again later.
fn unavailable(error: &crm_core::Error) -> Response {
    tracing::error!(%error, "cannot store a webhook payload");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn store(services: &Services, updates: Vec<InboundUpdate>) -> Response {
    match services.store_updates(updates).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => unavailable(&error),
    }
}

async fn telegram(
    State(services): State<Services>,
    Path(connection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(id) = connection.parse::<ConnectionId>() else { return StatusCode::NOT_FOUND.into_response() };
    let secret = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok());
    let connection = match services.webhook_connection(id, secret).await {
        Ok(Some(c)) if c.kind == ChannelKind::Telegram => c,
        Ok(_) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(error) => return unavailable(&error),
    };
    let payload: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(_) => return (StatusCode::BAD_REQUEST, "not a JSON update").into_response(),
    };
    let Some(key) = crm_channels::telegram_update_key(&payload) else {
        return (StatusCode::BAD_REQUEST, "an update needs its update_id").into_response();
    };
    let update = InboundUpdate {
        tenant_id: connection.tenant_id,
        connection_id: connection.id,
        external_key: key,
        payload: payload.to_string(),
        received_at: Utc::now(),
    };
    store(&services, vec![update]).await
}

/// Meta's subscription check: the challenge is echoed only for the right verify token.
async fn meta_verify(
    State(services): State<Services>,
    Path(connection): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Ok(id) = connection.parse::<ConnectionId>() else { return StatusCode::NOT_FOUND.into_response() };
    let (Some("subscribe"), Some(challenge)) = (query.get("hub.mode").map(String::as_str), query.get("hub.challenge"))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match services.webhook_connection(id, query.get("hub.verify_token").map(String::as_str)).await {
        Ok(Some(c)) if c.kind != ChannelKind::Telegram => (StatusCode::OK, challenge.clone()).into_response(),
        Ok(_) => StatusCode::FORBIDDEN.into_response(),
        Err(error) => unavailable(&error),
    }
}

async fn meta(
    State(services): State<Services>,
    Path(connection): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(id) = connection.parse::<ConnectionId>() else { return StatusCode::NOT_FOUND.into_response() };
    let (connection, secrets) = match services.signed_webhook_connection(id).await {
        Ok(Some((c, s))) if c.kind != ChannelKind::Telegram => (c, s),
        Ok(_) => return StatusCode::UNAUTHORIZED.into_response(),
        Err(error) => return unavailable(&error),
    };
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    let app_secret = secrets.app_secret.as_deref().unwrap_or_default();
    if app_secret.is_empty() || !crm_channels::verify_signature(app_secret, &body, signature) {
        tracing::warn!(connection = %connection.id, "a Meta webhook with a wrong or missing signature; refused");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let events = match crm_channels::split_webhook(&body) {
        Ok(events) => events,
        Err(error) => return (StatusCode::BAD_REQUEST, error).into_response(),
    };
    let now = Utc::now();
    let updates: Vec<InboundUpdate> = events
        .into_iter()
        .map(|(key, payload)| InboundUpdate {
            tenant_id: connection.tenant_id,
            connection_id: connection.id,
            external_key: key,
            payload,
            received_at: now,
        })
        .collect();
    store(&services, updates).await
}
