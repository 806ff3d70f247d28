//! Live events staged with the change they announce, until they are published.
use crate::convert::db_err;
use crate::database::set_local;
use crate::entities::pending_events;
use crm_core::events::Event;
use crm_core::{Error, Result, TenantId};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

pub async fn stage(txn: &DatabaseTransaction, event: &Event, now_ms: i64) -> Result<()> {
    let row = pending_events::ActiveModel {
        tenant_id: Set(event.tenant_id.0),
        id: Set(event.id),
        event: Set(serde_json::to_string(event).map_err(Error::internal)?),
        staged_ms: Set(now_ms),
    };
    pending_events::Entity::insert(row).exec(txn).await.map_err(db_err)?;
    Ok(())
}

/// Events of every company staged (or last claimed) before `before_ms`, oldest first, each
/// with that time.
pub async fn stale(txn: &DatabaseTransaction, before_ms: i64, limit: u64) -> Result<Vec<(Event, i64)>> {
    set_local(txn, "app.event_relay", "on".into()).await.map_err(db_err)?;
    let rows = pending_events::Entity::find()
        .filter(pending_events::Column::StagedMs.lt(before_ms))
        .order_by_asc(pending_events::Column::StagedMs)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter()
        .map(|row| Ok((serde_json::from_str(&row.event).map_err(Error::internal)?, row.staged_ms)))
        .collect()
}

/// Takes event `id` of `t` for this process until `until_ms`, if it is still as `seen_ms` left it.
pub async fn claim(txn: &DatabaseTransaction, t: Uuid, id: Uuid, seen_ms: i64, until_ms: i64) -> Result<bool> {
    let result = pending_events::Entity::update_many()
        .col_expr(pending_events::Column::StagedMs, sea_orm::sea_query::Expr::value(until_ms))
        .filter(pending_events::Column::TenantId.eq(t))
        .filter(pending_events::Column::Id.eq(id))
        .filter(pending_events::Column::StagedMs.eq(seen_ms))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

/// Removes published events, of any company.
pub async fn forget(txn: &DatabaseTransaction, events: &[(TenantId, Uuid)]) -> Result<()> {
    set_local(txn, "app.event_relay", "on".into()).await.map_err(db_err)?;
    for chunk in events.chunks(500) {
        let mut tenants: Vec<Uuid> = chunk.iter().map(|(t, _)| t.0).collect();
        tenants.sort_unstable();
        tenants.dedup();
        pending_events::Entity::delete_many()
            .filter(pending_events::Column::TenantId.is_in(tenants))
            .filter(pending_events::Column::Id.is_in(chunk.iter().map(|(_, id)| *id)))
            .exec(txn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}
