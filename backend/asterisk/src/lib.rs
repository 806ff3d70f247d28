//! The Asterisk path: each company's Asterisk configuration, rendered from the templates in
//! `asterisk-templates/` (embedded in the binary), and the ARI worker that drives its calls.
pub mod ari;
mod config;

pub use config::{AsteriskOptions, AsteriskRenderer, RenderError, agent_context, render, trunk_context};
