//! Asterisk servers and the calls ARI workers carry: rows, and the cross-tenant reads the
//! workers make (each behind its own row-level security predicate).
use crate::convert::db_err;
use crate::database::set_local;
use crate::entities::{pbx_calls, pbx_servers};
use crm_core::pbx::{PbxCallRecord, PbxCallStage, PbxLinkStatus, PbxServer};
use crm_core::{CallId, Error, PbxServerId, Result, TenantId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder};

pub fn server(m: pbx_servers::Model) -> PbxServer {
    PbxServer {
        id: PbxServerId(m.id),
        tenant_id: TenantId(m.tenant_id),
        name: m.name,
        ari_url: m.ari_url,
        username: m.username,
        sealed_password: m.password,
        app: m.app,
        status: PbxLinkStatus { connected: m.connected, error: m.link_error, since: m.link_since },
        created_at: m.created_at,
    }
}

pub fn server_row(s: &PbxServer) -> pbx_servers::ActiveModel {
    pbx_servers::ActiveModel {
        tenant_id: Set(s.tenant_id.0),
        id: Set(s.id.0),
        name: Set(s.name.clone()),
        ari_url: Set(s.ari_url.clone()),
        username: Set(s.username.clone()),
        password: Set(s.sealed_password.clone()),
        app: Set(s.app.clone()),
        connected: Set(s.status.connected),
        link_error: Set(s.status.error.clone()),
        link_since: Set(s.status.since),
        created_at: Set(s.created_at),
    }
}

fn call(m: pbx_calls::Model) -> Result<PbxCallRecord> {
    Ok(PbxCallRecord {
        tenant_id: TenantId(m.tenant_id),
        call_id: CallId(m.call_id),
        server: m.server,
        stage: PbxCallStage::parse(&m.stage).ok_or_else(|| Error::internal(format!("bad stage {}", m.stage)))?,
        state: m.state,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
    })
}

pub async fn servers(txn: &DatabaseTransaction) -> Result<Vec<PbxServer>> {
    set_local(txn, "app.pbx_servers", "on".into()).await.map_err(db_err)?;
    let rows = pbx_servers::Entity::find().order_by_asc(pbx_servers::Column::Id).all(txn).await.map_err(db_err)?;
    Ok(rows.into_iter().map(server).collect())
}

pub async fn set_status(txn: &DatabaseTransaction, tenant: TenantId, id: PbxServerId, s: &PbxLinkStatus) -> Result<()> {
    set_local(txn, "app.tenant_id", tenant.to_string()).await.map_err(db_err)?;
    pbx_servers::Entity::update_many()
        .set(pbx_servers::ActiveModel {
            connected: Set(s.connected),
            link_error: Set(s.error.clone()),
            link_since: Set(s.since),
            ..Default::default()
        })
        .filter(pbx_servers::Column::TenantId.eq(tenant.0))
        .filter(pbx_servers::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn calls(txn: &DatabaseTransaction, on: &str) -> Result<Vec<PbxCallRecord>> {
    set_local(txn, "app.pbx_server", on.to_owned()).await.map_err(db_err)?;
    let rows = pbx_calls::Entity::find()
        .filter(pbx_calls::Column::Server.eq(on))
        .order_by_asc(pbx_calls::Column::CallId)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(call).collect()
}

pub async fn save_call(txn: &DatabaseTransaction, r: &PbxCallRecord) -> Result<()> {
    set_local(txn, "app.tenant_id", r.tenant_id.to_string()).await.map_err(db_err)?;
    let row = pbx_calls::ActiveModel {
        tenant_id: Set(r.tenant_id.0),
        call_id: Set(r.call_id.0),
        server: Set(r.server.clone()),
        stage: Set(r.stage.as_str().to_owned()),
        state: Set(r.state.clone()),
        attempts: Set(i32::try_from(r.attempts).unwrap_or(i32::MAX)),
        next_attempt_at: Set(r.next_attempt_at),
        last_error: Set(r.last_error.clone()),
    };
    let columns = [
        pbx_calls::Column::Server,
        pbx_calls::Column::Stage,
        pbx_calls::Column::State,
        pbx_calls::Column::Attempts,
        pbx_calls::Column::NextAttemptAt,
        pbx_calls::Column::LastError,
    ];
    pbx_calls::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([pbx_calls::Column::TenantId, pbx_calls::Column::CallId])
                .update_columns(columns)
                .to_owned(),
        )
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn drop_call(txn: &DatabaseTransaction, tenant: TenantId, id: CallId) -> Result<()> {
    set_local(txn, "app.tenant_id", tenant.to_string()).await.map_err(db_err)?;
    pbx_calls::Entity::delete_many()
        .filter(pbx_calls::Column::TenantId.eq(tenant.0))
        .filter(pbx_calls::Column::CallId.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}
