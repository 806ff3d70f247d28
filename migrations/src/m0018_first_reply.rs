use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// When each conversation was first answered (its earliest outbound message), kept on the
/// conversation so the dashboard's first-response time reads one row per conversation.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(
            manager,
            "ALTER TABLE conversations ADD COLUMN first_reply_at TS;
             UPDATE conversations SET first_reply_at = (
                 SELECT MIN(m.created_at) FROM messages m
                 WHERE m.tenant_id = conversations.tenant_id AND m.conversation_id = conversations.id
                   AND m.direction = 'outbound')",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, "ALTER TABLE conversations DROP COLUMN first_reply_at").await
    }
}
