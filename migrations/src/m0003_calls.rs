use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE calls (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status TEXT NOT NULL CHECK (status IN ('ringing', 'answered', 'completed', 'missed', 'failed', 'interrupted')),
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    trunk_id UUID,
    customer_id UUID,
    user_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    edge TEXT NOT NULL,
    started_at TS NOT NULL,
    answered_at TS,
    ended_at TS,
    hangup_by TEXT,
    sip_cause INTEGER,
    recording_key TEXT,
    recording_duration_ms BIGINT,
    recording_bytes BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX calls_customer ON calls (tenant_id, customer_id, id);
CREATE INDEX calls_user ON calls (tenant_id, user_id, id);
CREATE INDEX calls_open ON calls (edge, status)
"#;

const DOWN: &str = "DROP TABLE calls";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        // A restarted edge closes the calls it left open, whatever their tenant.
        rls::enable(manager, "calls", "tenant_id", Some("edge = current_setting('app.edge', true)")).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, DOWN).await
    }
}
