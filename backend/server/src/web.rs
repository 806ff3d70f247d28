//! The web app at `/`, with history fallback so client-side routes load on refresh.
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

const NO_FRONTEND: &str = "<!doctype html><meta charset=utf-8><title>CRM</title>\
<h1>CRM is running</h1><p>The GraphQL API is at <code>/graphql</code> (subscriptions at \
<code>/graphql/ws</code>). Build the web app with <code>npm --prefix frontend run build</code> to serve it here.</p>";

pub fn router(dir: &Path) -> Router {
    let index = dir.join("index.html");
    if index.is_file() {
        Router::new().fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
    } else {
        Router::new().route("/", get(|| async { Html(NO_FRONTEND) }))
    }
}
