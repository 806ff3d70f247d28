//! The GraphQL API (async-graphql on axum): schema, HTTP endpoint and WebSocket subscriptions.
mod card_types;
mod context;
mod dashboard_types;
mod error;
mod feeds;
mod http;
mod imports;
mod inbox_types;
mod mutation;
mod parsed;
mod query;
mod shared_reads;
mod subscription;
mod types;
mod uploads;
mod webhook_types;
mod ws;

pub use context::{Caller, ClientAddress};
pub use error::ApiError;
pub use feeds::Feeds;

use async_graphql::Schema;
use axum::Router;
use axum::routing::{get, post};
use crm_core::services::Services;
use std::sync::Arc;
use std::time::Duration;

/// Everything to read, by area.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(query::Query, webhook_types::WebhookQuery);

/// Everything to change, by area.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(mutation::Mutation, webhook_types::WebhookMutation);

pub type AppSchema = Schema<Query, Mutation, subscription::Subscription>;

#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub introspection: bool,
    pub max_body_bytes: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    /// A WebSocket must send `connection_init` with a valid token within this time.
    pub ws_init_timeout: Duration,
    /// This server's public address, for links the messaging platforms fetch (uploads).
    pub public_url: String,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            introspection: true,
            max_body_bytes: 1024 * 1024,
            max_depth: 12,
            max_complexity: 2000,
            ws_init_timeout: Duration::from_secs(5),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

fn builder(settings: &ApiSettings) -> async_graphql::SchemaBuilder<Query, Mutation, subscription::Subscription> {
    let builder = Schema::build(Query::default(), Mutation::default(), subscription::Subscription)
        .limit_depth(settings.max_depth)
        .limit_complexity(settings.max_complexity);
    if settings.introspection { builder } else { builder.disable_introspection() }
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder(&ApiSettings::default()).finish().sdl()
}

#[derive(Clone)]
pub(crate) struct ApiState {
    schema: error::Coded,
    services: Services,
    settings: ApiSettings,
    feeds: Feeds,
}

/// `POST /graphql`, `GET /graphql/ws`, `POST /uploads` and `POST /imports/customers`.
/// `feeds` are the process's shared subscriptions (its gauge is the caller's to read).
pub fn router(services: Services, settings: ApiSettings, feeds: Feeds) -> Router {
    let schema = builder(&settings).data(services.clone()).data(Arc::new(subscription::EventReads::default())).finish();
    let schema = error::Coded::new(schema);
    let state = ApiState { schema, services, settings, feeds };
    let uploads = Router::new()
        .route("/uploads", post(uploads::upload))
        .layer(axum::extract::DefaultBodyLimit::max(crm_core::services::MAX_UPLOAD_BYTES + 1));
    let imports = Router::new()
        .route("/imports/customers", post(imports::customers))
        .layer(axum::extract::DefaultBodyLimit::max(crm_core::services::MAX_IMPORT_BYTES));
    Router::new()
        .route("/graphql", post(http::graphql))
        .route("/graphql/ws", get(ws::upgrade))
        .merge(uploads)
        .merge(imports)
        .with_state(state)
}
