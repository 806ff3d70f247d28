//! `crm serve`: wires configuration, adapters and the API into one HTTP server.
pub mod app;
pub mod asterisk_config;
pub mod config;
mod files;
mod inbox_workers;
mod ops;
mod pbx_workers;
mod secret_key;
pub mod telemetry;
mod web;
mod webhooks;

pub use app::{App, Running, start};
pub use config::Config;
