use crate::{rls, run_ddl};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The omnichannel inbox. Webhook payloads are stored raw in `inbound_updates` before they are
/// acknowledged (unique per connection and platform id, so a redelivery stores nothing new),
/// then turned into customers, conversations and messages. Replies wait in `outbox` until the
/// platform takes them. Webhooks find their connection, and the background workers their
/// work, across tenants only through their own row-level security predicates.
const UP: &str = r#"
CREATE TABLE channel_connections (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('telegram', 'messenger', 'instagram')),
    name TEXT NOT NULL,
    external_id TEXT NOT NULL,
    external_name TEXT,
    secrets TEXT NOT NULL,
    webhook_secret_hash TEXT NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);
CREATE TABLE inbound_updates (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id UUID NOT NULL,
    external_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TS NOT NULL,
    processed_at TS,
    outcome TEXT,
    PRIMARY KEY (tenant_id, connection_id, external_key)
);
CREATE INDEX inbound_updates_pending ON inbound_updates (processed_at, received_at);
CREATE TABLE customer_identities (
    tenant_id UUID NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    customer_id UUID NOT NULL,
    username TEXT,
    PRIMARY KEY (tenant_id, kind, external_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE TABLE conversations (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    connection_id UUID NOT NULL,
    thread TEXT NOT NULL,
    customer_id UUID NOT NULL,
    assignee_id UUID REFERENCES accounts (id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'snoozed')),
    blocked BOOLEAN NOT NULL,
    last_message_at TS NOT NULL,
    last_inbound_at TS,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, connection_id, thread),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX conversations_recent ON conversations (tenant_id, last_message_at);
CREATE TABLE messages (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    connection_id UUID NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    text TEXT,
    attachments TEXT NOT NULL,
    external_id TEXT,
    sender_user_id UUID,
    status TEXT NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'failed')),
    error TEXT,
    fetch_pending BOOLEAN NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, connection_id, direction, external_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_thread ON messages (tenant_id, conversation_id, id);
CREATE INDEX messages_fetch ON messages (fetch_pending);
CREATE TABLE conversation_reads (
    tenant_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    user_id UUID NOT NULL,
    read_at TS NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, user_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE
);
CREATE TABLE outbox (
    tenant_id UUID NOT NULL,
    message_id UUID NOT NULL,
    conversation_id UUID NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TS NOT NULL,
    last_error TEXT,
    PRIMARY KEY (tenant_id, message_id),
    FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
CREATE TABLE canned_replies (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id UUID NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TS NOT NULL,
    PRIMARY KEY (tenant_id, id)
)
"#;

const DOWN: &str = "DROP TABLE canned_replies; DROP TABLE outbox; DROP TABLE conversation_reads; DROP TABLE messages; DROP TABLE conversations;
DROP TABLE customer_identities; DROP TABLE inbound_updates; DROP TABLE channel_connections";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, UP).await?;
        let webhook = "id::text = current_setting('app.channel_connection', true)";
        rls::enable(manager, "channel_connections", "tenant_id", Some(webhook)).await?;
        let worker = |name: &str| format!("current_setting('app.{name}', true) = 'on'");
        rls::enable(manager, "inbound_updates", "tenant_id", Some(&worker("inbox_worker"))).await?;
        rls::enable(manager, "messages", "tenant_id", Some(&format!("fetch_pending AND {}", worker("inbox_worker"))))
            .await?;
        rls::enable(manager, "outbox", "tenant_id", Some(&worker("outbox_worker"))).await?;
        for table in ["customer_identities", "conversations", "conversation_reads", "canned_replies"] {
            rls::enable(manager, table, "tenant_id", None).await?;
        }
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, DOWN).await
    }
}
