use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The SIP edge may list the trunks to keep alive (qualify) across tenants, and only those,
/// when it says so for its transaction.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE POLICY qualify ON trunks FOR SELECT
                     USING (qualify AND address IS NOT NULL AND current_setting('app.sip_qualify', true) = 'on')",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP POLICY qualify ON trunks").await?;
        }
        Ok(())
    }
}
