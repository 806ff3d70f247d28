//! Webhook endpoints and their delivery queue.
use crate::convert::db_err;
use crate::entities::*;
use chrono::{DateTime, Utc};
use crm_core::webhooks::{Delivery, Endpoint};
use crm_core::{DeliveryId, Error, Result, TenantId, WebhookId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

fn endpoint(m: webhook_endpoints::Model) -> Result<Endpoint> {
    Ok(Endpoint {
        id: WebhookId(m.id),
        tenant_id: TenantId(m.tenant_id),
        url: m.url,
        events: serde_json::from_str(&m.events).map_err(Error::internal)?,
        sealed_secret: m.secret,
        enabled: m.enabled,
        failures: u32::try_from(m.failures).unwrap_or(0),
        disabled_reason: m.disabled_reason,
        created_at: m.created_at,
    })
}

fn endpoint_row(e: &Endpoint) -> Result<webhook_endpoints::ActiveModel> {
    Ok(webhook_endpoints::ActiveModel {
        tenant_id: Set(e.tenant_id.0),
        id: Set(e.id.0),
        url: Set(e.url.clone()),
        events: Set(serde_json::to_string(&e.events).map_err(Error::internal)?),
        secret: Set(e.sealed_secret.clone()),
        enabled: Set(e.enabled),
        failures: Set(i32::try_from(e.failures).unwrap_or(i32::MAX)),
        disabled_reason: Set(e.disabled_reason.clone()),
        created_at: Set(e.created_at),
    })
}

fn delivery(m: webhook_deliveries::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId(m.id),
        tenant_id: TenantId(m.tenant_id),
        endpoint_id: WebhookId(m.endpoint_id),
        event: m.event,
        payload: m.payload,
        status: m.status.parse()?,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        response_code: m.response_code.and_then(|c| u16::try_from(c).ok()),
        error: m.error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
    })
}

fn delivery_row(d: &Delivery) -> webhook_deliveries::ActiveModel {
    webhook_deliveries::ActiveModel {
        tenant_id: Set(d.tenant_id.0),
        id: Set(d.id.0),
        endpoint_id: Set(d.endpoint_id.0),
        event: Set(d.event.clone()),
        payload: Set(d.payload.clone()),
        status: Set(d.status.as_str().to_owned()),
        attempts: Set(i32::try_from(d.attempts).unwrap_or(i32::MAX)),
        next_attempt_at: Set(d.next_attempt_at),
        response_code: Set(d.response_code.map(i32::from)),
        error: Set(d.error.clone()),
        created_at: Set(d.created_at),
        delivered_at: Set(d.delivered_at),
    }
}

pub async fn insert_endpoint(txn: &DatabaseTransaction, e: &Endpoint) -> Result<()> {
    webhook_endpoints::Entity::insert(endpoint_row(e)?).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn update_endpoint(txn: &DatabaseTransaction, e: &Endpoint) -> Result<()> {
    let mut row = endpoint_row(e)?;
    row.tenant_id = sea_orm::ActiveValue::Unchanged(e.tenant_id.0);
    row.id = sea_orm::ActiveValue::Unchanged(e.id.0);
    row.update(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn delete_endpoint(txn: &DatabaseTransaction, t: Uuid, id: WebhookId) -> Result<bool> {
    let result = webhook_endpoints::Entity::delete_many()
        .filter(webhook_endpoints::Column::TenantId.eq(t))
        .filter(webhook_endpoints::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

pub async fn endpoints(txn: &DatabaseTransaction, t: Uuid) -> Result<Vec<Endpoint>> {
    let rows = webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::TenantId.eq(t))
        .order_by_asc(webhook_endpoints::Column::CreatedAt)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(endpoint).collect()
}

pub async fn insert_delivery(txn: &DatabaseTransaction, d: &Delivery) -> Result<()> {
    webhook_deliveries::Entity::insert(delivery_row(d)).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn update_delivery(txn: &DatabaseTransaction, d: &Delivery) -> Result<()> {
    let mut row = delivery_row(d);
    row.tenant_id = sea_orm::ActiveValue::Unchanged(d.tenant_id.0);
    row.id = sea_orm::ActiveValue::Unchanged(d.id.0);
    row.update(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn delivery_by_id(txn: &DatabaseTransaction, t: Uuid, id: DeliveryId) -> Result<Option<Delivery>> {
    let row = webhook_deliveries::Entity::find_by_id((t, id.0)).one(txn).await.map_err(db_err)?;
    row.map(delivery).transpose()
}

/// The endpoint's deliveries, newest first.
pub async fn deliveries(txn: &DatabaseTransaction, t: Uuid, endpoint: WebhookId, first: u64) -> Result<Vec<Delivery>> {
    let rows = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::TenantId.eq(t))
        .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.0))
        .order_by_desc(webhook_deliveries::Column::Id)
        .limit(first)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(delivery).collect()
}

/// Takes the delivery for `until` if it is still due as `seen` (no other worker took it).
pub async fn claim_delivery(
    txn: &DatabaseTransaction,
    t: Uuid,
    id: DeliveryId,
    seen: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let result = webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(until))
        .filter(webhook_deliveries::Column::TenantId.eq(t))
        .filter(webhook_deliveries::Column::Id.eq(id.0))
        .filter(webhook_deliveries::Column::NextAttemptAt.eq(seen))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

/// Pending deliveries due now, across companies, with their endpoints (enabled ones only).
pub async fn due(txn: &DatabaseTransaction, now: DateTime<Utc>, limit: u64) -> Result<Vec<(Delivery, Endpoint)>> {
    crate::database::set_local(txn, "app.webhook_worker", "on".into()).await.map_err(db_err)?;
    let rows = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::Status.eq("pending"))
        .filter(webhook_deliveries::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_deliveries::Column::NextAttemptAt)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.endpoint_id).collect();
    let endpoints: std::collections::HashMap<Uuid, webhook_endpoints::Model> = webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::Id.is_in(ids))
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .all(txn)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let mut out = Vec::new();
    for row in rows {
        if let Some(e) = endpoints.get(&row.endpoint_id) {
            out.push((delivery(row)?, endpoint(e.clone())?));
        }
    }
    Ok(out)
}

/// Counts an attempt against the endpoint (a success clears the count) in one statement, so
/// concurrent attempts add up; the count after it, or `None` if the endpoint is gone.
pub async fn record_attempt(txn: &DatabaseTransaction, t: Uuid, id: WebhookId, ok: bool) -> Result<Option<u32>> {
    let value = if ok { Expr::value(0) } else { Expr::col(webhook_endpoints::Column::Failures).add(1) };
    webhook_endpoints::Entity::update_many()
        .col_expr(webhook_endpoints::Column::Failures, value)
        .filter(webhook_endpoints::Column::TenantId.eq(t))
        .filter(webhook_endpoints::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    let row = webhook_endpoints::Entity::find_by_id((t, id.0)).one(txn).await.map_err(db_err)?;
    Ok(row.map(|r| u32::try_from(r.failures).unwrap_or(0)))
}

/// Switches the endpoint off; true only for the call that did (it was on).
pub async fn switch_off(txn: &DatabaseTransaction, t: Uuid, id: WebhookId, reason: &str) -> Result<bool> {
    let result = webhook_endpoints::Entity::update_many()
        .col_expr(webhook_endpoints::Column::Enabled, Expr::value(false))
        .col_expr(webhook_endpoints::Column::DisabledReason, Expr::value(reason))
        .filter(webhook_endpoints::Column::TenantId.eq(t))
        .filter(webhook_endpoints::Column::Id.eq(id.0))
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}
