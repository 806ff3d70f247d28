//! Row-level security, the second wall between tenants (the first is the code's `TenantTx`).
//!
//! The app sets `app.tenant_id` (and for login `app.user_id`) per transaction with
//! `set_config(..., true)`; with nothing set, tenant tables look empty. Policies are FORCEd so
//! they hold for the tables' owner too; only superusers bypass them, and the app must not be one.
use sea_orm_migration::prelude::*;

/// The role `crm serve` connects as in production. It owns nothing; migrations grant it DML.
pub const APP_ROLE: &str = "crm_app";

const FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION crm_current_tenant() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION crm_current_user() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$
"#;

fn is_postgres(manager: &SchemaManager<'_>) -> bool {
    manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres
}

/// Confines `table` to the current tenant by `tenant_column`; `or_visible_if` widens reads only.
pub async fn enable(
    manager: &SchemaManager<'_>,
    table: &str,
    tenant_column: &str,
    or_visible_if: Option<&str>,
) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    let db = manager.get_connection();
    for function in FUNCTIONS.split(";\n") {
        db.execute_unprepared(function).await?;
    }
    let check = format!("{tenant_column} = crm_current_tenant()");
    let using = match or_visible_if {
        Some(extra) => format!("{check} OR {extra}"),
        None => check.clone(),
    };
    db.execute_unprepared(&format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})"
    ))
    .await?;
    Ok(())
}

/// Grants the app role what it needs, when that role exists (created by `infra/postgres/roles.sql`).
pub async fn grant_app_role(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ BEGIN
               IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                 GRANT USAGE ON SCHEMA public TO {APP_ROLE};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
               END IF;
             END $$"
        ))
        .await?;
    Ok(())
}
