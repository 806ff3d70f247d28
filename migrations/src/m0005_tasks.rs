use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE tasks (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('callback')),
    title TEXT NOT NULL,
    customer_id UUID,
    call_id UUID,
    assignee_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    due_at TS NOT NULL,
    done_at TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tasks_open ON tasks (tenant_id, done_at, due_at)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "tasks", "tenant_id", None).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE tasks").await
    }
}
