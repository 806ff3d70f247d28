use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Digest credentials a trunk must present with its INVITEs (the password is kept as HA1 only).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN username TEXT").await?;
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN ha1 TEXT").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE trunks DROP COLUMN ha1").await?;
        db.execute_unprepared("ALTER TABLE trunks DROP COLUMN username").await?;
        Ok(())
    }
}
