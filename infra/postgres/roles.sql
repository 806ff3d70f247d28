-- Production database roles. Run once as a superuser, e.g.
--   psql -v app_password="'...'" -v owner_password="'...'" -f infra/postgres/roles.sql
--
-- crm_owner owns the schema and runs migrations (CRM_DATABASE_ADMIN_URL).
-- crm_app is what `crm serve` logs in as (CRM_DATABASE_URL): it owns nothing, is no superuser
-- and cannot bypass row-level security, so every tenant table's policy applies to it.
CREATE ROLE crm_owner LOGIN PASSWORD :owner_password;
CREATE ROLE crm_app LOGIN PASSWORD :app_password NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE crm OWNER crm_owner;
\connect crm
GRANT USAGE ON SCHEMA public TO crm_app;
-- Migrations also grant DML on the tables they create to crm_app when that role exists.
ALTER DEFAULT PRIVILEGES FOR ROLE crm_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO crm_app;
