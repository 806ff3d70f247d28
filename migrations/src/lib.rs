//! Schema migrations for SQLite and Postgres (sea-orm-migration).
//!
//! DDL is written once with two placeholders (`UUID`, `TS`) filled per backend. On Postgres,
//! every tenant-owned table also gets row-level security: see [`rls`].
pub use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_telephony;
mod m0003_calls;
mod m0004_trunk_address;
mod m0005_tasks;
mod m0006_trunk_qualify;
mod m0007_trunk_credentials;
mod m0008_trunk_registration;
mod m0009_asterisk_servers;
mod m0010_inbox;
mod m0011_chat_presence;
mod m0012_customer_cards;
mod m0013_time_zone;
mod m0014_webhooks;
mod m0015_retention;
mod m0016_custom_fields;
mod m0017_customer_imports;
mod m0018_first_reply;
mod m0019_event_outbox;
mod m0020_import_progress;
mod m0021_session_check;
mod m0022_name_keys;
mod m0023_message_days;
mod m0024_first_reply_as_owner;
mod m0025_name_words;
mod m0026_calls_by_status;
pub mod rls;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_telephony::Migration),
            Box::new(m0003_calls::Migration),
            Box::new(m0004_trunk_address::Migration),
            Box::new(m0005_tasks::Migration),
            Box::new(m0006_trunk_qualify::Migration),
            Box::new(m0007_trunk_credentials::Migration),
            Box::new(m0008_trunk_registration::Migration),
            Box::new(m0009_asterisk_servers::Migration),
            Box::new(m0010_inbox::Migration),
            Box::new(m0011_chat_presence::Migration),
            Box::new(m0012_customer_cards::Migration),
            Box::new(m0013_time_zone::Migration),
            Box::new(m0014_webhooks::Migration),
            Box::new(m0015_retention::Migration),
            Box::new(m0016_custom_fields::Migration),
            Box::new(m0017_customer_imports::Migration),
            Box::new(m0018_first_reply::Migration),
            Box::new(m0019_event_outbox::Migration),
            Box::new(m0020_import_progress::Migration),
            Box::new(m0021_session_check::Migration),
            Box::new(m0022_name_keys::Migration),
            Box::new(m0023_message_days::Migration),
            Box::new(m0024_first_reply_as_owner::Migration),
            Box::new(m0025_name_words::Migration),
            Box::new(m0026_calls_by_status::Migration),
        ]
    }
}

/// Runs `sql` as written (several statements and function bodies included) on Postgres only:
/// functions and policies that SQLite has no counterpart for.
pub(crate) async fn postgres_only(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager.get_connection().execute_unprepared(sql).await.map(|_| ())
}

/// Runs each statement of `ddl` with the backend's types substituted.
pub(crate) async fn run_ddl(manager: &SchemaManager<'_>, ddl: &str) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let (uuid, ts) = match backend {
        sea_orm::DatabaseBackend::Postgres => ("uuid", "timestamptz"),
        _ => ("blob", "text"),
    };
    let sql = ddl.replace("UUID", uuid).replace("TS", ts);
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        manager.get_connection().execute_unprepared(statement).await?;
    }
    Ok(())
}
