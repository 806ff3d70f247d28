use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Who can take a new chat: `seen_at` is refreshed while a person has the app open (a live
/// socket), `away` is their own switch, and `routed_at` orders the round-robin.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(
            manager,
            "ALTER TABLE memberships ADD COLUMN seen_at TS;
             ALTER TABLE memberships ADD COLUMN away BOOLEAN NOT NULL DEFAULT FALSE;
             ALTER TABLE memberships ADD COLUMN routed_at TS",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for column in ["routed_at", "away", "seen_at"] {
            db.execute_unprepared(&format!("ALTER TABLE memberships DROP COLUMN {column}")).await?;
        }
        Ok(())
    }
}
