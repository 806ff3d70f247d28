use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// m0018 filled `first_reply_at` as the migrating role. As a schema owner that is no superuser
/// (production's `crm_owner`) the FORCEd policies showed it no rows, so conversations from
/// before it kept no first reply. This fills the ones still empty, with the policies lifted
/// for the owner inside this migration's transaction only.
const UP: &str = r#"
ALTER TABLE conversations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
UPDATE conversations SET first_reply_at = (
    SELECT MIN(m.created_at) FROM messages m
    WHERE m.tenant_id = conversations.tenant_id AND m.conversation_id = conversations.id
      AND m.direction = 'outbound')
WHERE first_reply_at IS NULL;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite has no policies: m0018 filled every conversation there.
        crate::postgres_only(manager, UP).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
