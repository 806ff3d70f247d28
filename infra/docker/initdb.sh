#!/bin/sh
# Postgres' first start (docker-entrypoint-initdb.d): the non-owner role crm serves as, so
# row-level security applies to it. The schema owner is POSTGRES_USER, which runs migrations.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="'$CRM_APP_PASSWORD'" -v owner="$POSTGRES_USER" <<'SQL'
CREATE ROLE crm_app LOGIN PASSWORD :app_password NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
GRANT USAGE ON SCHEMA public TO crm_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO crm_app;
SQL
