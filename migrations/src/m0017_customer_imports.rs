use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// CSV imports of customers: their progress while they run and their report after.
const UP: &str = r#"
CREATE TABLE customer_imports (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    dry_run BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    total INTEGER NOT NULL,
    processed INTEGER NOT NULL,
    created INTEGER NOT NULL,
    rejections TEXT NOT NULL,
    error TEXT,
    user_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    created_at TS NOT NULL,
    finished_at TS,
    PRIMARY KEY (tenant_id, id)
)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "customer_imports", "tenant_id", None).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE customer_imports").await
    }
}
