//! The GraphQL API (async-graphql on axum): schema, HTTP endpoint and WebSocket subscriptions.
mod context;
mod error;
mod http;
mod inbox_types;
mod mutation;
mod query;
mod subscription;
mod types;
mod ws;

pub use context::{Caller, ClientAddress};
pub use error::ApiError;

use async_graphql::Schema;
use axum::Router;
use axum::routing::{get, post};
use crm_core::services::Services;
use std::time::Duration;

pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub introspection: bool,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// A WebSocket must send `connection_init` with a valid token within this time.
    pub ws_init_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            introspection: true,
            max_body_bytes: 1024 * 1024,
            max_depth: 12,
            max_complexity: 2000,
            ws_init_timeout: Duration::from_secs(5),
        }
    }
}

fn builder(
    settings: &ApiSettings,
) -> async_graphql::SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    let builder = Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity)
        .extension(error::ErrorCodes);
    if settings.introspection { builder } else { builder.disable_introspection() }
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder(&ApiSettings::default()).finish().sdl()
}

#[derive(Clone)]
pub(crate) struct ApiState {
    schema: AppSchema,
    services: Services,
    settings: ApiSettings,
}

/// `POST /graphql` and `GET /graphql/ws`.
pub fn router(services: Services, settings: ApiSettings) -> Router {
    let schema = builder(&settings).data(services.clone()).finish();
    let state = ApiState { schema, services, settings };
    Router::new().route("/graphql", post(http::graphql)).route("/graphql/ws", get(ws::upgrade)).with_state(state)
}
