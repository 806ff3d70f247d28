//! Object storage: a local folder (quick start) or any S3-compatible service.
mod local;
mod s3;

pub use local::LocalStore;
pub use s3::{S3Settings, S3Store};
