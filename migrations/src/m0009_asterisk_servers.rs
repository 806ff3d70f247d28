use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Asterisk servers a company registers, and the calls ARI workers carry on them: the second
/// table is what lets another worker finish a call, and retry its recording, after a worker
/// or Redis went away. ARI workers read both across tenants, and only when they say so.
const UP: &str = r#"
CREATE TABLE pbx_servers (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    ari_url TEXT NOT NULL,
    username TEXT NOT NULL,
    password TEXT NOT NULL,
    app TEXT NOT NULL,
    connected BOOLEAN NOT NULL,
    link_error TEXT,
    link_since TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ari_url, app)
);
CREATE TABLE pbx_calls (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    call_id UUID NOT NULL,
    server TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('ringing', 'talking', 'recording')),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TS NOT NULL,
    last_error TEXT,
    PRIMARY KEY (tenant_id, call_id)
);
CREATE INDEX pbx_calls_server ON pbx_calls (server)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        rls::enable(manager, "pbx_servers", "tenant_id", Some("current_setting('app.pbx_servers', true) = 'on'"))
            .await?;
        rls::enable(manager, "pbx_calls", "tenant_id", Some("server = current_setting('app.pbx_server', true)"))
            .await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE pbx_calls; DROP TABLE pbx_servers").await
    }
}
