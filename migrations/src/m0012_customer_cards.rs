use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The customer card: emails and tags beside phones, notes, hand-made tasks, the record of
/// merges, and indexes for search and the timeline.
const UP: &str = r#"
CREATE TABLE customer_emails (
    tenant_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    position INTEGER NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, position),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_emails_email ON customer_emails (tenant_id, email);
CREATE TABLE customer_tags (
    tenant_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, tag),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_tags_tag ON customer_tags (tenant_id, tag);
CREATE INDEX customer_identities_username ON customer_identities (tenant_id, lower(username));
CREATE INDEX customer_identities_customer ON customer_identities (tenant_id, customer_id);
CREATE TABLE notes (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    customer_id UUID NOT NULL,
    author_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    text TEXT NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notes_customer ON notes (tenant_id, customer_id, created_at);
CREATE TABLE customer_merges (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    kept_id UUID NOT NULL,
    merged_id UUID NOT NULL,
    merged_name TEXT NOT NULL,
    moved TEXT NOT NULL,
    user_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX customer_merges_kept ON customer_merges (tenant_id, kept_id);
CREATE INDEX calls_customer_time ON calls (tenant_id, customer_id, started_at);
CREATE INDEX conversations_customer ON conversations (tenant_id, customer_id);
CREATE INDEX messages_time ON messages (tenant_id, conversation_id, created_at);
CREATE INDEX tasks_customer ON tasks (tenant_id, customer_id, created_at)
"#;

/// Tasks made by hand beside callbacks: SQLite cannot change a CHECK, so the table is rebuilt.
const TASK_KINDS_SQLITE: &str = r#"
CREATE TABLE tasks_new (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('callback', 'todo')),
    title TEXT NOT NULL,
    customer_id UUID,
    call_id UUID,
    assignee_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    due_at TS NOT NULL,
    done_at TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO tasks_new SELECT tenant_id, id, kind, title, customer_id, call_id, assignee_id, due_at, done_at, created_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_open ON tasks (tenant_id, done_at, due_at)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        if postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE tasks DROP CONSTRAINT tasks_kind_check;
                     ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check CHECK (kind IN ('callback', 'todo'))",
                )
                .await?;
        } else {
            run_ddl(manager, TASK_KINDS_SQLITE).await?;
        }
        run_ddl(manager, UP).await?;
        if postgres {
            // Name search by substring, fast on a million customers (pg_trgm is a trusted extension).
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm;
                     CREATE INDEX customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)",
                )
                .await?;
        }
        for table in ["customer_emails", "customer_tags", "notes", "customer_merges"] {
            rls::enable(manager, table, "tenant_id", None).await?;
        }
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(
            manager,
            "DROP INDEX tasks_customer; DROP INDEX messages_time; DROP INDEX conversations_customer;
             DROP INDEX calls_customer_time; DROP INDEX customer_identities_customer;
             DROP INDEX customer_identities_username; DROP TABLE customer_merges; DROP TABLE notes;
             DROP TABLE customer_tags; DROP TABLE customer_emails",
        )
        .await
    }
}
