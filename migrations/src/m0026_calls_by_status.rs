use crate::run_ddl;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The calls list filtered by status (the missed calls a manager works through) reads that
/// status's newest calls in order, instead of every newest call until a page of them is found.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "CREATE INDEX calls_status ON calls (tenant_id, status, id)").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP INDEX calls_status").await
    }
}
