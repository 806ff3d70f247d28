//! A new Postgres database per test, migrated by its owner and used by the app role.
use sea_orm::{ConnectionTrait, Database};

pub const APP_ROLE: &str = "crm_app";

pub fn admin_base() -> String {
    crate::env("CRM_TEST_POSTGRES_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

/// Returns (app URL, admin URL) of a fresh, empty database.
pub async fn fresh_database() -> (String, String) {
    let base = admin_base();
    let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    let admin =
        Database::connect(format!("{base}/postgres")).await.expect("Postgres is reachable at CRM_TEST_POSTGRES_URL");
    // The role may already exist (shared by all tests); racing creators are fine.
    let _ = admin
        .execute_unprepared(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') \
             THEN CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
        ))
        .await;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await.ok();
    let host = base.split_once('@').map(|(_, host)| host.to_owned()).unwrap_or_else(|| "127.0.0.1:5432".into());
    (format!("postgres://{APP_ROLE}@{host}/{name}"), format!("{base}/{name}"))
}
