//! `crm serve`: wires configuration, adapters and the API into one HTTP server.
pub mod app;
pub mod asterisk_config;
pub mod config;
mod files;
mod ops;
mod pbx_workers;
mod secret_key;
pub mod telemetry;
mod web;
mod webhook_poster;
mod webhooks;
mod workers;

pub use app::{App, Running, start};
pub use config::Config;
