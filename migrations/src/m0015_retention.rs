use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Recording retention per company: how many days recordings are kept (none: for ever), and
/// when a call's recording was deleted for it. The retention sweep may list the companies that
/// set a period, and only those, when it says so for its transaction.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(
            manager,
            "ALTER TABLE tenants ADD COLUMN recording_retention_days INTEGER;
             ALTER TABLE calls ADD COLUMN recording_deleted_at TS",
        )
        .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE POLICY retention ON tenants FOR SELECT
                     USING (recording_retention_days IS NOT NULL AND current_setting('app.retention_worker', true) = 'on')",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP POLICY retention ON tenants").await?;
        }
        crate::run_ddl(
            manager,
            "ALTER TABLE calls DROP COLUMN recording_deleted_at; ALTER TABLE tenants DROP COLUMN recording_retention_days",
        )
        .await
    }
}
