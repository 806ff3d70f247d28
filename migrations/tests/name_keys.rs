//! Customers that existed before name search read keys get their keys from the migration.
//! (On Postgres this connects as the superuser the tests use, which policies do not stop.)
#![allow(clippy::unwrap_used)]
use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

const BEFORE_KEYS: u32 = 21;

async fn backfilled(db: &DatabaseConnection) -> Vec<(String, String)> {
    let backend = db.get_database_backend();
    Migrator::up(db, Some(BEFORE_KEYS)).await.unwrap();
    let (tenant, a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let insert = |sql: &str, values: Vec<sea_orm::Value>| {
        let sql = if backend == DbBackend::Postgres { sql.to_owned() } else { sql.replace('$', "?") };
        Statement::from_sql_and_values(backend, sql, values)
    };
    db.execute_raw(insert(
        "INSERT INTO tenants (id, name, default_country, created_at, time_zone) VALUES ($1, 'Acme', 'UZ', $2, 'UTC')",
        vec![tenant.into(), chrono::Utc::now().into()],
    ))
    .await
    .unwrap();
    for (id, name) in [(a, "Dilnoza  Karimova"), (b, "Aziz")] {
        db.execute_raw(insert(
            "INSERT INTO customers (tenant_id, id, name, created_at, updated_at, fields) VALUES ($1, $2, $3, $4, $4, '{}')",
            vec![tenant.into(), id.into(), name.into(), chrono::Utc::now().into()],
        ))
        .await
        .unwrap();
    }
    Migrator::up(db, None).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT c.name, k.key FROM customer_name_keys k JOIN customers c ON c.id = k.customer_id ORDER BY k.key",
        ))
        .await
        .unwrap();
    rows.iter().map(|r| (r.try_get("", "name").unwrap(), r.try_get("", "key").unwrap())).collect()
}

fn expected() -> Vec<(String, String)> {
    [("Aziz", "aziz"), ("Dilnoza  Karimova", "dilnoza karimova"), ("Dilnoza  Karimova", "karimova")]
        .map(|(n, k)| (n.to_owned(), k.to_owned()))
        .to_vec()
}

#[tokio::test]
async fn existing_customers_get_their_name_keys_on_sqlite() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    assert_eq!(backfilled(&db).await, expected());
}

#[tokio::test]
async fn existing_customers_get_their_name_keys_on_postgres() {
    let Ok(base) = std::env::var("CRM_TEST_POSTGRES_URL") else {
        eprintln!("set CRM_TEST_POSTGRES_URL to run this on Postgres too");
        return;
    };
    let name = format!("crm_migration_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let db = Database::connect(format!("{base}/{name}")).await.unwrap();
    let found = backfilled(&db).await;
    db.close().await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE {name}")).await.unwrap();
    assert_eq!(found, expected());
}
