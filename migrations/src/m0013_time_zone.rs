use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The company's time zone (IANA name): where "today" and each day of the dashboard begin;
/// and indexes for the dashboard's ranges of time.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(
            manager,
            "ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
             CREATE INDEX calls_started ON calls (tenant_id, started_at);
             CREATE INDEX messages_created ON messages (tenant_id, created_at);
             CREATE INDEX conversations_created ON conversations (tenant_id, created_at)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(
            manager,
            "DROP INDEX conversations_created; DROP INDEX messages_created; DROP INDEX calls_started;
             ALTER TABLE tenants DROP COLUMN time_zone",
        )
        .await
    }
}
