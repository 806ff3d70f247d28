//! Outbound webhooks in GraphQL: endpoints, their delivery log, and managing them.
use crate::context::{principal, services};
use crate::error::ApiResult;
use crate::query::parse_id;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use crm_core::webhooks;
use crm_core::{DeliveryId, WebhookId};

/// A receiver the company sends events to, signed with its secret.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    pub events: Vec<String>,
    /// False once switched off (by hand, or after persistent failure: see `disabledReason`).
    pub enabled: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub endpoint_id: WebhookId,
}

impl From<webhooks::Endpoint> for WebhookEndpoint {
    fn from(e: webhooks::Endpoint) -> Self {
        Self {
            id: ID(e.id.to_string()),
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            failures: e.failures,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            endpoint_id: e.id,
        }
    }
}

#[ComplexObject]
impl WebhookEndpoint {
    /// The delivery log, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> ApiResult<Vec<WebhookDelivery>> {
        let first = u64::try_from(first).unwrap_or(1);
        let found = services(ctx).webhook_deliveries(principal(ctx)?, self.endpoint_id, first).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One event sent (or being sent) to an endpoint.
#[derive(SimpleObject, Clone, Debug)]
pub struct WebhookDelivery {
    /// Also in the body's `id` and the `X-CRM-Delivery` header: receivers drop repeats by it.
    pub id: ID,
    pub event: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: u32,
    /// The receiver's last HTTP status.
    pub response_code: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body.
    pub payload: String,
}

impl From<webhooks::Delivery> for WebhookDelivery {
    fn from(d: webhooks::Delivery) -> Self {
        Self {
            id: ID(d.id.to_string()),
            event: d.event,
            status: match d.status {
                webhooks::DeliveryStatus::Pending => WebhookDeliveryStatus::Pending,
                webhooks::DeliveryStatus::Delivered => WebhookDeliveryStatus::Delivered,
                webhooks::DeliveryStatus::Failed => WebhookDeliveryStatus::Failed,
            },
            attempts: d.attempts,
            response_code: d.response_code,
            error: d.error,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload: d.payload,
        }
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    /// Verify `X-CRM-Signature` (`sha256=` HMAC-SHA256 of `{X-CRM-Timestamp}.{body}`) with it.
    pub secret: String,
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The company's outbound webhook endpoints (owners and admins; tokens need webhooks:manage).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> ApiResult<Vec<WebhookEndpoint>> {
        Ok(services(ctx).webhooks(principal(ctx)?).await?.into_iter().map(Into::into).collect())
    }

    /// The events a webhook endpoint can subscribe to (`createWebhookEndpoint(events:)`).
    async fn webhook_event_types(&self) -> Vec<&'static str> {
        crm_core::webhooks::EVENTS.to_vec()
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Subscribes a receiver to events (see the integration guide for the list and the body).
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        url: String,
        events: Vec<String>,
    ) -> ApiResult<CreatedWebhookEndpoint> {
        let (endpoint, secret) = services(ctx).create_webhook(principal(ctx)?, &url, &events).await?;
        Ok(CreatedWebhookEndpoint { endpoint: endpoint.into(), secret })
    }

    /// Changes an endpoint; `enabled: true` switches it back on and its queue goes on.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        url: Option<String>,
        events: Option<Vec<String>>,
        enabled: Option<bool>,
    ) -> ApiResult<WebhookEndpoint> {
        let id: WebhookId = parse_id("id", &id)?;
        let endpoint =
            services(ctx).update_webhook(principal(ctx)?, id, url.as_deref(), events.as_deref(), enabled).await?;
        Ok(endpoint.into())
    }

    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: WebhookId = parse_id("id", &id)?;
        services(ctx).delete_webhook(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Sends a delivery again, with the same id and body.
    async fn replay_webhook_delivery(&self, ctx: &Context<'_>, id: ID) -> ApiResult<WebhookDelivery> {
        let id: DeliveryId = parse_id("id", &id)?;
        Ok(services(ctx).replay_delivery(principal(ctx)?, id).await?.into())
    }
}
