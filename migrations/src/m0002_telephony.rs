use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE trunks (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    sources TEXT NOT NULL,
    default_caller_id TEXT,
    qualify BOOLEAN NOT NULL,
    created_at TS NOT NULL,
    updated_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE trunk_numbers (
    tenant_id UUID NOT NULL,
    trunk_id UUID NOT NULL,
    e164 TEXT NOT NULL UNIQUE,
    PRIMARY KEY (tenant_id, trunk_id, e164),
    FOREIGN KEY (tenant_id, trunk_id) REFERENCES trunks (tenant_id, id) ON DELETE CASCADE
);
CREATE TABLE sip_accounts (
    tenant_id UUID NOT NULL,
    user_id UUID NOT NULL,
    username TEXT NOT NULL UNIQUE,
    ha1 TEXT NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
)
"#;

const DOWN: &str = "DROP TABLE sip_accounts; DROP TABLE trunk_numbers; DROP TABLE trunks";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "trunks", "tenant_id", None).await?;
        // An INVITE names only a number; the edge may look up that one number's owner.
        rls::enable(manager, "trunk_numbers", "tenant_id", Some("e164 = current_setting('app.sip_number', true)"))
            .await?;
        // A REGISTER names only a username; the edge may look up that one login.
        rls::enable(manager, "sip_accounts", "tenant_id", Some("username = current_setting('app.sip_username', true)"))
            .await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, DOWN).await
    }
}
