use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Fields a company adds to its customer cards, and each customer's values (JSON by key).
const UP: &str = r#"
CREATE TABLE custom_fields (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    key TEXT NOT NULL,
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'choice')),
    choices TEXT NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, key)
);
ALTER TABLE customers ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "custom_fields", "tenant_id", None).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "ALTER TABLE customers DROP COLUMN fields; DROP TABLE custom_fields").await
    }
}
