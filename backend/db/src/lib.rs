//! The SQL adapter: `crm_core::ports::Database` on sea-orm, for SQLite and Postgres.
mod convert;
mod database;
mod entities;
mod inbox;
mod pbx;
mod tenant_tx;

pub use database::{SqlDatabase, migrate};
