use crate::context::{principal, services};
use crate::error::ApiError;
use crate::types::{Call, ChangeKind, Customer, CustomerChange};
use async_graphql::{Context, ID, Subscription};
use crm_core::auth::Principal;
use crm_core::events::{self, Event, EventKind};
use crm_core::services::Services;
use futures::{Stream, StreamExt};

pub struct Subscription;

/// The caller's company's events, each mapped by `map` (which may drop it).
fn tenant_events<T, F, Fut>(
    ctx: &Context<'_>,
    scope: &str,
    map: F,
) -> async_graphql::Result<impl Stream<Item = T> + use<T, F, Fut>>
where
    F: Fn(Services, Principal, EventKind) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Option<T>> + Send,
{
    let principal = principal(ctx)?.clone();
    principal.require_scope(scope).map_err(ApiError::from)?;
    let services = services(ctx).clone();
    Ok(services.bus().subscribe().filter_map(move |event: Event| {
        let (principal, services, map) = (principal.clone(), services.clone(), map.clone());
        async move {
            if event.tenant_id != principal.tenant_id {
                return None;
            }
            map(services, principal, event.kind).await
        }
    }))
}

#[Subscription]
impl Subscription {
    /// Customers created, updated or deleted in the caller's company, by anyone, on any server.
    async fn customer_changed(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = CustomerChange>> {
        tenant_events(ctx, "customers:read", |services, principal, kind| async move {
            let EventKind::CustomerChanged { customer_id, change } = kind else { return None };
            // Re-read through the service so the subscriber sees only what it may see now.
            let customer = match change {
                events::ChangeKind::Deleted => None,
                _ => services.customer(&principal, customer_id).await.ok().map(Customer::from),
            };
            Some(CustomerChange { kind: ChangeKind::from(change), customer_id: ID(customer_id.to_string()), customer })
        })
    }

    /// Conversations of the caller's company as messages arrive and are sent, and as they are
    /// assigned, read, closed or reopened, from any server.
    async fn inbox_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = crate::inbox_types::InboxEvent>> {
        tenant_events(ctx, "inbox:read", |services, principal, kind| async move {
            let EventKind::ConversationChanged { conversation_id, message_id } = kind else { return None };
            let conversation = services.conversation(&principal, conversation_id).await.ok()?;
            let message = match message_id {
                Some(id) => Some(services.message(&principal, id).await.ok()?.into()),
                None => None,
            };
            Some(crate::inbox_types::InboxEvent { conversation: conversation.into(), message })
        })
    }

    /// Calls of the caller's company as they ring, are answered and end (for pop-ups). `status`
    /// is the one the event announces; the other fields are the call as it is when delivered.
    async fn call_events(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = Call>> {
        tenant_events(ctx, "calls:read", |services, principal, kind| async move {
            let EventKind::CallChanged { call_id, status } = kind else { return None };
            // The record is read when the event is delivered, and may have moved on (answered
            // while the ringing event was on its way): the status is the event's own.
            let mut call = services.call(&principal, call_id).await.ok()?;
            call.status = status;
            Some(Call::from(call))
        })
    }
}
