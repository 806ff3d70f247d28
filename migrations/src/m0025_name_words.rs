use crate::run_ddl;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each name key's first word (`crm_core::name_keys::word`), indexed with the customer, so a
/// search for a whole word ("Dilnoza") reads that word's newest customers in order instead of
/// every key that starts with it.
const UP: &str = r#"
ALTER TABLE customer_name_keys ADD COLUMN word TEXT WORD_COLLATION NOT NULL DEFAULT '';
UPDATE customer_name_keys SET word = FIRST_WORD;
CREATE INDEX customer_name_keys_word ON customer_name_keys (tenant_id, word, customer_id)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let up = if postgres {
            // As m0024: the owner fills every company's rows inside this transaction only.
            let up = UP.replace("WORD_COLLATION", "COLLATE \"C\"").replace("FIRST_WORD", "split_part(key, ' ', 1)");
            format!(
                "ALTER TABLE customer_name_keys NO FORCE ROW LEVEL SECURITY;{up};
                 ALTER TABLE customer_name_keys ALTER COLUMN word DROP DEFAULT;
                 ALTER TABLE customer_name_keys FORCE ROW LEVEL SECURITY;
                 ANALYZE customer_name_keys"
            )
        } else {
            UP.replace("WORD_COLLATION", "").replace(
                "FIRST_WORD",
                "CASE WHEN instr(key, ' ') > 0 THEN substr(key, 1, instr(key, ' ') - 1) ELSE key END",
            )
        };
        run_ddl(manager, &up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP INDEX customer_name_keys_word; ALTER TABLE customer_name_keys DROP COLUMN word").await
    }
}
