use crate::{rls, run_ddl};
use crm_core::name_keys;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A name search reads keys (`crm_core::name_keys`): each customer's name from every word on.
/// The trigram index it replaces was never used under row-level security (`LIKE` is not
/// leakproof, so the policy runs first and every search read the company's customers).
const TABLE: &str = r#"
CREATE TABLE customer_name_keys (
    tenant_id UUID NOT NULL,
    customer_id UUID NOT NULL,
    key TEXT KEY_COLLATION NOT NULL,
    PRIMARY KEY (tenant_id, key, customer_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX customer_name_keys_customer ON customer_name_keys (tenant_id, customer_id, key)
"#;

const BATCH: u64 = 2000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        // Code point order, as the search's ranges assume (SQLite compares bytes already).
        run_ddl(manager, &TABLE.replace("KEY_COLLATION", if postgres { "COLLATE \"C\"" } else { "" })).await?;
        if postgres {
            // The owner reads every company's customers once, inside this migration's transaction.
            run_ddl(manager, "DROP INDEX customers_name_trgm; ALTER TABLE customers NO FORCE ROW LEVEL SECURITY")
                .await?;
        }
        backfill(manager).await?;
        if postgres {
            // Statistics now, so searches plan well before autovacuum comes round.
            run_ddl(manager, "ALTER TABLE customers FORCE ROW LEVEL SECURITY; ANALYZE customer_name_keys").await?;
        }
        rls::enable(manager, "customer_name_keys", "tenant_id", None).await?;
        rls::grant_app_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_ddl(manager, "DROP TABLE customer_name_keys").await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            run_ddl(manager, "CREATE INDEX customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)")
                .await?;
        }
        Ok(())
    }
}

/// Keys for the customers already there, a batch at a time.
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    let mut last: Option<(uuid::Uuid, uuid::Uuid)> = None;
    loop {
        let (condition, values): (&str, Vec<Value>) = match last {
            None => ("", Vec::new()),
            Some((tenant, id)) => ("WHERE (tenant_id, id) > ($1, $2)", vec![tenant.into(), id.into()]),
        };
        let sql = format!("SELECT tenant_id, id, name FROM customers {condition} ORDER BY tenant_id, id LIMIT {BATCH}");
        let sql = if backend == DatabaseBackend::Postgres { sql } else { sql.replace('$', "?") };
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        let mut keys: Vec<[Value; 3]> = Vec::new();
        for row in &rows {
            let (tenant, id, name): (uuid::Uuid, uuid::Uuid, String) =
                (row.try_get("", "tenant_id")?, row.try_get("", "id")?, row.try_get("", "name")?);
            keys.extend(name_keys::keys(&name).into_iter().map(|k| [tenant.into(), id.into(), k.into()]));
            last = Some((tenant, id));
        }
        for chunk in keys.chunks(BATCH as usize) {
            let mut insert = Query::insert();
            insert.into_table(Alias::new("customer_name_keys")).columns([
                Alias::new("tenant_id"),
                Alias::new("customer_id"),
                Alias::new("key"),
            ]);
            for values in chunk {
                insert.values(values.clone().map(Into::into)).map_err(|e| DbErr::Custom(e.to_string()))?;
            }
            db.execute(&insert).await?;
        }
        if (rows.len() as u64) < BATCH {
            return Ok(());
        }
    }
}
