use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Our outward registration at a trunk's remote side. The password is stored sealed (it must be
/// presented in the clear to the registrar, so it cannot be a hash). The SIP edge may list the
/// trunks to register across tenants, and only those, when it says so for its transaction.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN reg_username TEXT").await?;
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN reg_password TEXT").await?;
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN reg_domain TEXT").await?;
        db.execute_unprepared("ALTER TABLE trunks ADD COLUMN reg_expires INTEGER").await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(
                "CREATE POLICY register ON trunks FOR SELECT
                 USING (reg_username IS NOT NULL AND current_setting('app.sip_register', true) = 'on')",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared("DROP POLICY register ON trunks").await?;
        }
        for column in ["reg_expires", "reg_domain", "reg_password", "reg_username"] {
            db.execute_unprepared(&format!("ALTER TABLE trunks DROP COLUMN {column}")).await?;
        }
        Ok(())
    }
}
