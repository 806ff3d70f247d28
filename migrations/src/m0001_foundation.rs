use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tenant-owned tables lead every key with `tenant_id`, so they can later be sharded by tenant.
const UP: &str = r#"
CREATE TABLE tenants (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    default_country TEXT NOT NULL,
    created_at TS NOT NULL
);
CREATE TABLE accounts (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT,
    created_at TS NOT NULL
);
CREATE TABLE memberships (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE TABLE sessions (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    user_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    expires_at TS NOT NULL,
    revoked_at TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE api_tokens (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    preview TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_by UUID NOT NULL REFERENCES accounts (id),
    created_at TS NOT NULL,
    last_used_at TS,
    revoked_at TS,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE invitations (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    user_id UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    expires_at TS NOT NULL,
    accepted_at TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE customers (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    responsible_user_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    created_at TS NOT NULL,
    updated_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE customer_phones (
    tenant_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    position INTEGER NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, position),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_phones_e164 ON customer_phones (tenant_id, e164)
"#;

const DOWN: &str = r#"
DROP TABLE customer_phones; DROP TABLE customers; DROP TABLE invitations; DROP TABLE api_tokens;
DROP TABLE sessions; DROP TABLE memberships; DROP TABLE accounts; DROP TABLE tenants
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "tenants", "id", None).await?;
        // A person may list their own memberships before choosing a tenant (login).
        rls::enable(manager, "memberships", "tenant_id", Some("user_id = crm_current_user()")).await?;
        for table in ["sessions", "api_tokens", "invitations", "customers", "customer_phones"] {
            rls::enable(manager, table, "tenant_id", None).await?;
        }
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, DOWN).await
    }
}
