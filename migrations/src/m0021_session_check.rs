use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every authenticated request checks its session. This does it in one statement: the
/// company is set for that statement's own transaction, so row-level security still confines
/// the read, without the four round trips of `BEGIN`, `set_config`, the read and `COMMIT`.
/// Not `SECURITY DEFINER`: it runs as the caller, under the caller's policies.
const UP: &str = r#"
CREATE OR REPLACE FUNCTION crm_session_role(p_tenant uuid, p_session uuid, p_user uuid) RETURNS text
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN (SELECT m.role FROM sessions s
            JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id
            WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
              AND s.revoked_at IS NULL);
END $$
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::postgres_only(manager, "DROP FUNCTION crm_session_role(uuid, uuid, uuid)").await
    }
}
