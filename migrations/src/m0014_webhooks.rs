use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Outbound webhooks: the endpoints a company subscribes, and a durable queue of deliveries
/// written in the same transaction as the change they announce. The delivery worker reads due
/// deliveries across companies when it says so for its transaction.
const UP: &str = r#"
CREATE TABLE webhook_endpoints (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    failures INTEGER NOT NULL,
    disabled_reason TEXT,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);
CREATE TABLE webhook_deliveries (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    endpoint_id UUID NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TS,
    response_code INTEGER,
    error TEXT,
    created_at TS NOT NULL,
    delivered_at TS,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant_id, endpoint_id, id)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        let worker = "current_setting('app.webhook_worker', true) = 'on'";
        rls::enable(manager, "webhook_endpoints", "tenant_id", Some(worker)).await?;
        rls::enable(manager, "webhook_deliveries", "tenant_id", Some(worker)).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE webhook_deliveries; DROP TABLE webhook_endpoints").await
    }
}
