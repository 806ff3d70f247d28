//! Domain errors as GraphQL errors: a message the user can act on and `extensions.code`
//! from a fixed set. Internal causes go to the log, never to the client.
use async_graphql::{Data, ErrorExtensions, Executor, Request, Response, ServerError};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::sync::Arc;

/// The error every resolver returns. It can only be made from a domain error, so a domain
/// error can never reach the client without its code.
#[derive(Clone, Debug)]
pub struct ApiError(async_graphql::Error);

impl From<crm_core::Error> for ApiError {
    fn from(error: crm_core::Error) -> Self {
        if let crm_core::Error::Internal(cause) = &error {
            tracing::error!(error = %cause, "internal error");
        }
        let code = error.code();
        let message = match &error {
            crm_core::Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut gql = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code));
        match &error {
            crm_core::Error::BadUserInput { field, .. } => gql = gql.extend_with(|_, e| e.set("field", *field)),
            crm_core::Error::RateLimited { retry_after_secs } => {
                gql = gql.extend_with(|_, e| e.set("retryAfterSeconds", *retry_after_secs))
            }
            _ => {}
        }
        Self(gql)
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        error.0
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A domain error for an endpoint outside GraphQL (`/uploads`): the same body as GraphQL's
/// errors, with an HTTP status for its code.
pub fn http_error(error: crm_core::Error) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let status = match &error {
        crm_core::Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        crm_core::Error::Forbidden => StatusCode::FORBIDDEN,
        crm_core::Error::NotFound => StatusCode::NOT_FOUND,
        crm_core::Error::Conflict(_) => StatusCode::CONFLICT,
        crm_core::Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        crm_core::Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        crm_core::Error::BadUserInput { .. } => StatusCode::BAD_REQUEST,
    };
    let error = ApiError::from(error).0;
    let body = serde_json::json!({ "errors": [{ "message": error.message, "extensions": error.extensions }] });
    (status, axum::Json(body)).into_response()
}

pub fn bad_id(field: &'static str) -> ApiError {
    crm_core::Error::bad_input(field, format!("{field} is not a valid id")).into()
}

/// Errors raised by the GraphQL engine itself (parse, validation, limits) are the client's.
pub fn fill_codes(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
}

/// The schema, answering the engine's own errors with a code too. A wrapper rather than an
/// async-graphql extension: with any extension installed, every field of every response
/// goes through the engine's slower per-field path.
/// It also fills in documents parsed before (`ParsedQueries`).
#[derive(Clone)]
pub struct Coded {
    schema: crate::AppSchema,
    parsed: crate::parsed::ParsedQueries,
}

impl Coded {
    pub fn new(schema: crate::AppSchema) -> Self {
        Self { schema, parsed: Default::default() }
    }
}

impl Executor for Coded {
    async fn execute(&self, request: Request) -> Response {
        let mut response = self.schema.execute(self.parsed.fill(request)).await;
        fill_codes(&mut response.errors);
        response
    }

    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        Executor::execute_stream(&self.schema, self.parsed.fill(request), session_data)
            .map(|mut response| {
                fill_codes(&mut response.errors);
                response
            })
            .boxed()
    }
}
