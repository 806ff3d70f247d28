//! `POST /graphql`: JSON only, bounded in size, authenticated by `Authorization: Bearer`.
use crate::ApiState;
use crate::context::{Caller, ClientAddress};
use async_graphql::Executor;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_core::services::Services;
use std::net::SocketAddr;

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A bad or expired token leaves the caller anonymous: public operations (login, refresh)
/// still work and the rest answer UNAUTHENTICATED. Only an internal failure stops here.
pub async fn caller(services: &Services, token: Option<&str>) -> Result<Caller, crm_core::Error> {
    let Some(token) = token else { return Ok(Caller::Anonymous) };
    match services.authenticate(token).await {
        Ok(principal) => Ok(Caller::Authenticated(principal)),
        Err(crm_core::Error::Unauthenticated) => Ok(Caller::Anonymous),
        Err(other) => Err(other),
    }
}

/// The caller of an endpoint that is for authenticated callers only (file posts).
pub async fn principal(services: &Services, headers: &HeaderMap) -> Result<crm_core::auth::Principal, crm_core::Error> {
    match caller(services, bearer(headers)).await? {
        Caller::Authenticated(principal) => Ok(principal),
        Caller::Anonymous => Err(crm_core::Error::Unauthenticated),
    }
}

pub async fn graphql(State(state): State<ApiState>, request: Request) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let (parts, body) = request.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the request as application/json",
        );
    }
    let limit = state.settings.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(Body::new(body), limit).await else {
        let message = format!(
            "the request body is larger than {limit} bytes (CRM_MAX_BODY_BYTES); a CSV file of customers goes to POST /imports/customers"
        );
        return error_response(StatusCode::PAYLOAD_TOO_LARGE, "BAD_USER_INPUT", &message);
    };
    let gql_request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(_) => {
            let message = "the body is not a GraphQL request: expected JSON with \"query\"";
            return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message);
        }
    };
    let caller = match caller(&state.services, bearer(&parts.headers)).await {
        Ok(caller) => caller,
        Err(error) => {
            tracing::error!(%error, "could not check the bearer token");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error");
        }
    };
    let gql_request = gql_request.data(caller).data(ClientAddress(address));
    let response = state.schema.execute(gql_request).await;
    metrics::counter!("crm_graphql_requests_total", "errors" => if response.errors.is_empty() { "no" } else { "yes" })
        .increment(1);
    async_graphql_axum::GraphQLResponse::from(response).into_response()
}
