//! Data that existed before a migration gets what the migration adds: name keys and their
//! words, first replies. On Postgres the migrations run as a schema owner that is no superuser, as in
//! production (`infra/postgres/roles.sql`), so the FORCEd policies apply to them.
#![allow(clippy::unwrap_used)]
use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};

/// The migrations before first replies (m0018) and name keys (m0022).
const BEFORE: u32 = 17;

/// (name, key, word) of each name key, and each conversation's first reply.
type Filled = (Vec<(String, String, String)>, Vec<Option<String>>);

fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres { sql.to_owned() } else { sql.replace('$', "?") };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Migrates to `BEFORE`, writes a company's records as the app would, migrates the rest,
/// and reads back (name, key, word) rows and conversations' first replies.
async fn backfilled(db: &DatabaseConnection) -> Filled {
    let backend = db.get_database_backend();
    Migrator::up(db, Some(BEFORE)).await.unwrap();
    let (tenant, conversation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let at = |minute: u32| chrono::DateTime::parse_from_rfc3339(&format!("2026-11-20T10:{minute:02}:00Z")).unwrap();
    let scoped = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            let txn = db.begin().await.unwrap();
            if backend == DbBackend::Postgres {
                let set =
                    statement(backend, "SELECT set_config('app.tenant_id', $1, true)", vec![tenant.to_string().into()]);
                txn.execute_raw(set).await.unwrap();
            }
            txn
        }
    };
    let txn = scoped(db).await;
    let rows: Vec<(&str, Vec<Value>)> = vec![
        (
            "INSERT INTO tenants (id, name, default_country, created_at, time_zone) VALUES ($1, 'Acme', 'UZ', $2, 'UTC')",
            vec![tenant.into(), at(0).into()],
        ),
        (
            "INSERT INTO customers (tenant_id, id, name, created_at, updated_at, fields) VALUES ($1, $2, 'Dilnoza  Karimova', $3, $3, '{}')",
            vec![tenant.into(), conversation.into(), at(0).into()],
        ),
        (
            "INSERT INTO customers (tenant_id, id, name, created_at, updated_at, fields) VALUES ($1, $2, 'Aziz', $3, $3, '{}')",
            vec![tenant.into(), uuid::Uuid::now_v7().into(), at(0).into()],
        ),
        (
            "INSERT INTO conversations (tenant_id, id, connection_id, thread, customer_id, status, blocked, last_message_at, created_at)
             VALUES ($1, $2, $2, 't', $2, 'open', false, $3, $3)",
            vec![tenant.into(), conversation.into(), at(1).into()],
        ),
    ];
    for (sql, values) in rows {
        txn.execute_raw(statement(backend, sql, values)).await.unwrap();
    }
    for (minute, direction) in [(1, "inbound"), (4, "outbound"), (9, "outbound")] {
        let sql = "INSERT INTO messages (tenant_id, id, conversation_id, connection_id, direction, attachments, status,
                   fetch_pending, created_at) VALUES ($1, $2, $3, $3, $4, '[]', 'sent', false, $5)";
        let values =
            vec![tenant.into(), uuid::Uuid::now_v7().into(), conversation.into(), direction.into(), at(minute).into()];
        txn.execute_raw(statement(backend, sql, values)).await.unwrap();
    }
    txn.commit().await.unwrap();

    Migrator::up(db, None).await.unwrap();
    let txn = scoped(db).await;
    let keys = txn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT c.name, k.key, k.word FROM customer_name_keys k JOIN customers c ON c.id = k.customer_id ORDER BY k.key",
        ))
        .await
        .unwrap();
    let keys = keys
        .iter()
        .map(|r| (r.try_get("", "name").unwrap(), r.try_get("", "key").unwrap(), r.try_get("", "word").unwrap()))
        .collect();
    let replies =
        txn.query_all_raw(Statement::from_string(backend, "SELECT first_reply_at FROM conversations")).await.unwrap();
    let replies = replies
        .iter()
        .map(|r| {
            let at: Option<chrono::DateTime<chrono::Utc>> = r.try_get("", "first_reply_at").unwrap();
            at.map(|at| at.to_rfc3339())
        })
        .collect();
    (keys, replies)
}

fn expected() -> Filled {
    let keys = [
        ("Aziz", "aziz", "aziz"),
        ("Dilnoza  Karimova", "dilnoza karimova", "dilnoza"),
        ("Dilnoza  Karimova", "karimova", "karimova"),
    ]
    .map(|(n, k, w)| (n.to_owned(), k.to_owned(), w.to_owned()))
    .to_vec();
    (keys, vec![Some("2026-11-20T10:04:00+00:00".to_owned())])
}

#[tokio::test]
async fn existing_records_are_filled_in_on_sqlite() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    assert_eq!(backfilled(&db).await, expected());
}

#[tokio::test]
async fn existing_records_are_filled_in_on_postgres_by_an_owner_that_is_no_superuser() {
    let Ok(base) = std::env::var("CRM_TEST_POSTGRES_URL") else {
        eprintln!("set CRM_TEST_POSTGRES_URL to run this on Postgres too");
        return;
    };
    let name = format!("crm_migration_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{base}/postgres")).await.unwrap();
    for sql in [format!("CREATE ROLE {name} LOGIN"), format!("CREATE DATABASE {name} OWNER {name}")] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    let host = base.rsplit_once('@').map_or(base.as_str(), |(_, host)| host);
    let db = Database::connect(format!("postgres://{name}@{host}/{name}")).await.unwrap();
    let found = backfilled(&db).await;
    db.close().await.unwrap();
    for sql in [format!("DROP DATABASE {name}"), format!("DROP ROLE {name}")] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    assert_eq!(found, expected());
}
