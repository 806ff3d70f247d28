//! The SQL adapter: `crm_core::ports::Database` on sea-orm, for SQLite and Postgres.
mod cards;
mod convert;
mod dashboard;
mod database;
mod entities;
mod events;
mod inbox;
mod pbx;
mod positional;
mod search_floors;
mod tenant_tx;
mod webhooks;

pub use database::{SqlDatabase, default_pool_size, migrate};
