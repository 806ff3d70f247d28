use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// When a customer import last saved its progress: one that stops moving while "running" was
/// cut off with its process, and is reported failed instead of running for ever.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, "ALTER TABLE customer_imports ADD COLUMN progressed_at TS").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, "ALTER TABLE customer_imports DROP COLUMN progressed_at").await
    }
}
