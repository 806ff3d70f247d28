//! The Asterisk path. For now: each company's Asterisk configuration, rendered from the
//! templates in `asterisk-templates/` (embedded in the binary) from its trunks and extensions.
mod config;

pub use config::{AsteriskOptions, AsteriskRenderer, RenderError, agent_context, render, trunk_context};
