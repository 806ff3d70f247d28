//! Liveness, readiness and metrics for load balancers and Prometheus.
use crate::app::App;
use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when every configured backend answers. Names failing parts, never their errors.
pub async fn readyz(State(app): State<App>) -> Response {
    let (db, bus, store) = tokio::join!(app.db_ping(), app.services.bus().ping(), app.store.ping());
    let checks = serde_json::json!({
        "database": db.is_ok(),
        "events": bus.is_ok(),
        "storage": store.is_ok(),
    });
    for (part, result) in [("database", &db), ("events", &bus), ("storage", &store)] {
        if let Err(error) = result {
            tracing::warn!(part, %error, "not ready");
        }
    }
    let status =
        if db.is_ok() && bus.is_ok() && store.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(checks)).into_response()
}

pub async fn metrics(State(app): State<App>) -> Response {
    metrics::gauge!("crm_event_subscribers").set(app.services.bus().subscribers() as f64);
    metrics::gauge!("crm_shared_subscribers").set(app.feeds.subscribers() as f64);
    let body = crate::telemetry::metrics().render();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Counts requests and their latency by route and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "other".into());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("crm_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("crm_http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}
