use crate::convert::{self, db_err};
use crate::entities::*;
use crate::search_floors::SearchFloors;
use crate::tenant_tx::SqlTenantTx;
use async_trait::async_trait;
use crm_core::calls::{Call, CallStatus};
use crm_core::inbox::{ChannelConnection, InboundUpdate, OutboxItem};
use crm_core::pbx::{PbxCallRecord, PbxLinkStatus, PbxServer};
use crm_core::ports::{Account, Database, TenantTx};
use crm_core::telephony::{SipAccount, Trunk};
use crm_core::{CallId, ConnectionId, PbxServerId, Result, Role, SessionId, TenantId, TrunkId, UserId};
use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;

/// A pool on SQLite or Postgres. On Postgres it should log in as a role that owns no tables,
/// so that row-level security applies to it.
#[derive(Clone, Debug)]
pub struct SqlDatabase {
    conn: DatabaseConnection,
    floors: Arc<SearchFloors>,
}

/// The pool size when none is configured: twice the machine's cores, at most 10. Postgres runs
/// about one query per core at a time; on a small machine shared with it, more connections
/// only add switching between its backends (on 2 cores, 4 connections served the timeline
/// bench about 6 % more requests than 10, with a 25 % lower p99).
pub fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    cores.saturating_mul(2).clamp(2, 10)
}

fn options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        // Connections are given back to Postgres once idle for a minute (it takes only so many).
        .idle_timeout(Duration::from_secs(60))
        // sqlx already checks a connection as it comes back; checking it again as it is handed
        // out cost a round trip per transaction. A connection idle this long is still checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers proceed while one writer writes; the timeout queues writers.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    options
}

impl SqlDatabase {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let conn = sea_orm::Database::connect(options(url, max_connections)).await.map_err(db_err)?;
        Ok(Self { conn, floors: Arc::default() })
    }

    /// The raw pool, for tests that must show what an unscoped query sees.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DatabaseBackend::Postgres
    }
}

/// Applies pending migrations. Idempotent, and safe when several servers start at once:
/// on Postgres they queue on an advisory lock (one connection, so the lock holds throughout).
pub async fn migrate(url: &str) -> Result<()> {
    const LOCK: i64 = 0x0043_524d_4d49_4752; // "CRMMIGR"
    let conn = sea_orm::Database::connect(options(url, 1)).await.map_err(db_err)?;
    let postgres = conn.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_lock({LOCK})")).await.map_err(db_err)?;
    }
    let result = Migrator::up(&conn, None).await.map_err(db_err);
    if postgres {
        conn.execute_unprepared(&format!("SELECT pg_advisory_unlock({LOCK})")).await.map_err(db_err)?;
    }
    result?;
    conn.close().await.map_err(db_err)
}

/// Sets a transaction-local setting that row-level security policies read (Postgres only).
pub(crate) async fn set_local(txn: &DatabaseTransaction, name: &str, value: String) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [name.into(), value.into()],
        ))
        .await?;
    }
    Ok(())
}

impl SqlDatabase {
    /// Every transaction may write. On SQLite it takes the write lock at BEGIN (waiting out
    /// others within the busy timeout): a deferred one that reads, then writes after another
    /// connection committed, fails at once with "database is locked" (seen under load).
    async fn begin(&self) -> Result<sea_orm::DatabaseTransaction> {
        let options = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.conn.begin_with_options(options).await.map_err(db_err)
    }
}

#[async_trait]
impl Database for SqlDatabase {
    async fn tenant(&self, tenant: TenantId) -> Result<Box<dyn TenantTx>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.tenant_id", tenant.to_string()).await.map_err(db_err)?;
        Ok(Box::new(SqlTenantTx::new(txn, tenant, self.floors.clone())))
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let found = accounts::Entity::find()
            .filter(accounts::Column::Email.eq(email.to_lowercase()))
            .one(&self.conn)
            .await
            .map_err(db_err)?;
        Ok(found.map(convert::account))
    }

    async fn account(&self, id: UserId) -> Result<Option<Account>> {
        let found = accounts::Entity::find_by_id(id.0).one(&self.conn).await.map_err(db_err)?;
        Ok(found.map(convert::account))
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<(TenantId, Role)>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.user_id", user.to_string()).await.map_err(db_err)?;
        let rows = memberships::Entity::find()
            .filter(memberships::Column::UserId.eq(user.0))
            .order_by_asc(memberships::Column::CreatedAt)
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        rows.into_iter().map(|m| Ok((TenantId(m.tenant_id), m.role.parse()?))).collect()
    }

    async fn number_owner(&self, e164: &str) -> Result<Option<(TenantId, TrunkId)>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.sip_number", e164.to_owned()).await.map_err(db_err)?;
        let row = trunk_numbers::Entity::find()
            .filter(trunk_numbers::Column::E164.eq(e164))
            .one(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(row.map(|r| (TenantId(r.tenant_id), TrunkId(r.trunk_id))))
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.sip_username", username.to_owned()).await.map_err(db_err)?;
        let row = sip_accounts::Entity::find()
            .filter(sip_accounts::Column::Username.eq(username))
            .one(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(row.map(convert::sip_account))
    }

    async fn qualify_targets(&self) -> Result<Vec<(TenantId, TrunkId, std::net::SocketAddr)>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.sip_qualify", "on".into()).await.map_err(db_err)?;
        let rows = trunks::Entity::find()
            .filter(trunks::Column::Qualify.eq(true))
            .filter(trunks::Column::Address.is_not_null())
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|t| Some((TenantId(t.tenant_id), TrunkId(t.id), t.address?.parse().ok()?)))
            .collect())
    }

    async fn registration_targets(&self) -> Result<Vec<(TenantId, Trunk)>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.sip_register", "on".into()).await.map_err(db_err)?;
        let rows = trunks::Entity::find()
            .filter(trunks::Column::RegUsername.is_not_null())
            .filter(trunks::Column::Address.is_not_null())
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        rows.into_iter().map(|t| Ok((TenantId(t.tenant_id), convert::trunk(t, Vec::new())?))).collect()
    }

    async fn pbx_servers(&self) -> Result<Vec<PbxServer>> {
        let txn = self.begin().await?;
        let servers = crate::pbx::servers(&txn).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(servers)
    }

    async fn set_pbx_server_status(&self, tenant: TenantId, id: PbxServerId, status: &PbxLinkStatus) -> Result<()> {
        let txn = self.begin().await?;
        crate::pbx::set_status(&txn, tenant, id, status).await?;
        txn.commit().await.map_err(db_err)
    }

    async fn pbx_calls(&self, server: &str) -> Result<Vec<PbxCallRecord>> {
        let txn = self.begin().await?;
        let calls = crate::pbx::calls(&txn, server).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(calls)
    }

    async fn save_pbx_call(&self, record: &PbxCallRecord) -> Result<()> {
        let txn = self.begin().await?;
        crate::pbx::save_call(&txn, record).await?;
        txn.commit().await.map_err(db_err)
    }

    async fn drop_pbx_call(&self, tenant: TenantId, call: CallId) -> Result<()> {
        let txn = self.begin().await?;
        crate::pbx::drop_call(&txn, tenant, call).await?;
        txn.commit().await.map_err(db_err)
    }

    async fn channel_connection(&self, id: ConnectionId) -> Result<Option<ChannelConnection>> {
        let txn = self.begin().await?;
        let found = crate::inbox::connection_by_id(&txn, id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(found)
    }

    async fn store_updates(&self, updates: &[InboundUpdate]) -> Result<usize> {
        let txn = self.begin().await?;
        let stored = crate::inbox::store_updates(&txn, updates).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn retention_periods(&self) -> Result<Vec<(TenantId, u32)>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.retention_worker", "on".into()).await.map_err(db_err)?;
        let rows = tenants::Entity::find()
            .filter(tenants::Column::RecordingRetentionDays.is_not_null())
            .all(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|t| Some((TenantId(t.id), u32::try_from(t.recording_retention_days?).ok()?)))
            .collect())
    }

    async fn due_webhooks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u64,
    ) -> Result<Vec<(crm_core::webhooks::Delivery, crm_core::webhooks::Endpoint)>> {
        let txn = self.begin().await?;
        let due = crate::webhooks::due(&txn, now, limit).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(due)
    }

    async fn stale_events(&self, before_ms: i64, limit: u64) -> Result<Vec<(crm_core::events::Event, i64)>> {
        let txn = self.begin().await?;
        let stale = crate::events::stale(&txn, before_ms, limit).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(stale)
    }

    async fn forget_events(&self, events: &[(TenantId, uuid::Uuid)]) -> Result<()> {
        let txn = self.begin().await?;
        crate::events::forget(&txn, events).await?;
        txn.commit().await.map_err(db_err)
    }

    async fn pending_updates(&self, limit: u64) -> Result<Vec<InboundUpdate>> {
        let txn = self.begin().await?;
        let pending = crate::inbox::pending_updates(&txn, limit).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(pending)
    }

    async fn pending_fetches(&self, limit: u64) -> Result<Vec<crm_core::inbox::Message>> {
        let txn = self.begin().await?;
        let pending = crate::inbox::pending_fetches(&txn, limit).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(pending)
    }

    async fn due_outbox(&self, now: chrono::DateTime<chrono::Utc>, limit: u64) -> Result<Vec<OutboxItem>> {
        let txn = self.begin().await?;
        let due = crate::inbox::due_outbox(&txn, now, limit).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(due)
    }

    async fn interrupt_open_calls(&self, edge: &str) -> Result<Vec<Call>> {
        let txn = self.begin().await?;
        set_local(&txn, "app.edge", edge.to_owned()).await.map_err(db_err)?;
        let open = calls::Entity::find()
            .filter(calls::Column::Edge.eq(edge))
            .filter(calls::Column::Status.is_in([CallStatus::Ringing.as_str(), CallStatus::Answered.as_str()]))
            .all(&txn)
            .await
            .map_err(db_err)?;
        let now = chrono::Utc::now();
        let mut closed = Vec::with_capacity(open.len());
        for row in open {
            let mut call = convert::call(row)?;
            call.status = CallStatus::Interrupted;
            call.ended_at = Some(now);
            call.hangup_by = Some(crm_core::calls::HangupBy::System);
            // Writes must name their tenant, even here.
            set_local(&txn, "app.tenant_id", call.tenant_id.to_string()).await.map_err(db_err)?;
            calls::Entity::update(convert::call_row(&call)).exec(&txn).await.map_err(db_err)?;
            closed.push(call);
        }
        txn.commit().await.map_err(db_err)?;
        Ok(closed)
    }

    async fn session_role(&self, tenant: TenantId, id: SessionId, user: UserId) -> Result<Option<Role>> {
        let backend = self.conn.get_database_backend();
        let statement = if backend == DatabaseBackend::Postgres {
            // Sets the company for this statement alone (m0021), under row-level security.
            Statement::from_sql_and_values(
                backend,
                "SELECT crm_session_role($1, $2, $3) AS role",
                [tenant.0.into(), id.0.into(), user.0.into()],
            )
        } else {
            use memberships::Column as M;
            use sessions::Column as S;
            let query = Query::select()
                .column((memberships::Entity, M::Role))
                .from(sessions::Entity)
                .inner_join(
                    memberships::Entity,
                    Expr::col((memberships::Entity, M::TenantId))
                        .equals((sessions::Entity, S::TenantId))
                        .and(Expr::col((memberships::Entity, M::UserId)).equals((sessions::Entity, S::UserId))),
                )
                .and_where(Expr::col((sessions::Entity, S::TenantId)).eq(tenant.0))
                .and_where(Expr::col((sessions::Entity, S::Id)).eq(id.0))
                .and_where(Expr::col((sessions::Entity, S::UserId)).eq(user.0))
                .and_where(Expr::col((sessions::Entity, S::RevokedAt)).is_null())
                .to_owned();
            backend.build(&query)
        };
        let row = self.conn.query_one_raw(statement).await.map_err(db_err)?;
        // The function answers NULL where the plain query answers no row.
        let role: Option<Option<String>> = row.map(|r| r.try_get("", "role")).transpose().map_err(db_err)?;
        role.flatten().map(|r| r.parse()).transpose()
    }

    async fn ping(&self) -> Result<()> {
        self.conn.ping().await.map_err(db_err)
    }
}
