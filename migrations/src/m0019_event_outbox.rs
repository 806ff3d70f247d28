use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Live events written in the transaction of the change they announce, and removed once
/// published: an event whose process died between its commit and its publication is still
/// here, and any process's relay publishes it (`staged_ms` is when it was written, or when a
/// relay last claimed it). The relay reads across companies when it says so for its transaction.
const UP: &str = r#"
CREATE TABLE pending_events (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    event TEXT NOT NULL,
    staged_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX pending_events_age ON pending_events (staged_ms)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        let relay = "current_setting('app.event_relay', true) = 'on'";
        rls::enable(manager, "pending_events", "tenant_id", Some(relay)).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE pending_events").await
    }
}
