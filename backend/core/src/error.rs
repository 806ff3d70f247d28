//! One error type for the whole domain. Every variant maps to a fixed public code;
//! `Internal` keeps its cause for the logs and never shows it to a client.
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required")]
    Unauthenticated,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    BadUserInput { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Shown with its cause in logs; the API answers only "internal error".
    #[error("internal error: {0}")]
    Internal(#[source] InternalError),
}

/// The hidden cause of an internal error: logged, never returned.
pub struct InternalError(pub Box<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl std::error::Error for InternalError {}

impl Error {
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(InternalError(cause.into()))
    }

    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Error::BadUserInput { field, message: message.into() }
    }

    /// The stable code clients branch on (`extensions.code` in GraphQL).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::Forbidden => "FORBIDDEN",
            Error::NotFound => "NOT_FOUND",
            Error::BadUserInput { .. } => "BAD_USER_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Internal(_) => "INTERNAL",
        }
    }
}
