use crate::context::{principal, services};
use crate::error::ApiError;
use crate::shared_reads::SharedReads;
use crate::types::{Call, ChangeKind, Customer, CustomerChange};
use async_graphql::{Context, ID, Subscription};
use crm_core::auth::Principal;
use crm_core::events::{self, Event, EventKind};
use crm_core::services::Services;
use futures::{Stream, StreamExt};
use std::sync::Arc;

pub struct Subscription;

/// How long dashboard updates wait for more changes before recomputing.
const DASHBOARD_WINDOW: std::time::Duration = std::time::Duration::from_millis(300);

/// Events of one subscription being mapped at once.
const READ_AHEAD: usize = 32;

/// Per process: what subscriptions read for each event, shared by its subscribers.
#[derive(Default)]
pub struct EventReads {
    inbox: SharedReads<(crm_core::inbox::Conversation, Option<crm_core::inbox::Message>)>,
    calls: SharedReads<crm_core::calls::Call>,
    customers: SharedReads<crm_core::ports::Customer>,
}

fn reads(ctx: &Context<'_>) -> Arc<EventReads> {
    ctx.data_unchecked::<Arc<EventReads>>().clone()
}

/// The caller's company's events, each mapped by `map` (which may drop it).
fn tenant_events<T, F, Fut>(
    ctx: &Context<'_>,
    scope: &str,
    map: F,
) -> async_graphql::Result<impl Stream<Item = T> + use<T, F, Fut>>
where
    F: Fn(Arc<Services>, Arc<Principal>, uuid::Uuid, EventKind) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Option<T>> + Send,
{
    let principal = Arc::new(principal(ctx)?.clone());
    principal.require_scope(scope).map_err(ApiError::from)?;
    let tenant = principal.tenant_id;
    // Shared by the events' futures: one reference count each, not one per service inside.
    let services = Arc::new(services(ctx).clone());
    let events = services.bus().subscribe().filter(move |event: &Event| std::future::ready(event.tenant_id == tenant));
    if let Some(listening) = ctx.data_opt::<crate::feeds::Listening>() {
        listening.set();
    }
    // Several events are mapped at once, delivered in order: the read behind an event starts
    // while the one before is still being read (reads are shared per process, so otherwise
    // every subscriber waits on each read in turn and the process reads one event at a time).
    Ok(events
        .map(move |event: Event| {
            let (principal, services, map) = (principal.clone(), services.clone(), map.clone());
            async move { map(services, principal, event.id, event.kind).await }
        })
        .buffered(READ_AHEAD)
        .filter_map(std::future::ready))
}

#[Subscription]
impl Subscription {
    /// Customers created, updated or deleted in the caller's company, by anyone, on any server.
    async fn customer_changed(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = CustomerChange>> {
        let reads = reads(ctx);
        tenant_events(ctx, "customers:read", move |services, principal, event, kind| {
            let reads = reads.clone();
            async move {
                let EventKind::CustomerChanged { customer_id, change } = kind else { return None };
                // Re-read through the service (once per event in this process, for every subscriber
                // of the company, who were checked for customers:read when they subscribed).
                let customer = match change {
                    events::ChangeKind::Deleted => None,
                    _ => reads
                        .customers
                        .get(event, || async { services.customer(&principal, customer_id).await.ok() })
                        .await
                        .map(Customer::from),
                };
                Some(CustomerChange {
                    kind: ChangeKind::from(change),
                    customer_id: ID(customer_id.to_string()),
                    customer,
                })
            }
        })
    }

    /// Conversations of the caller's company as messages arrive and are sent, and as they are
    /// assigned, read, closed or reopened, from any server.
    async fn inbox_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = crate::inbox_types::InboxEvent>> {
        let reads = reads(ctx);
        tenant_events(ctx, "inbox:read", move |services, principal, event, kind| {
            let reads = reads.clone();
            async move {
                let EventKind::ConversationChanged { conversation_id, message_id } = kind else { return None };
                let read = || async {
                    let conversation = services.conversation(&principal, conversation_id).await.ok()?;
                    let message = match message_id {
                        Some(id) => Some(services.message(&principal, id).await.ok()?),
                        None => None,
                    };
                    Some((conversation, message))
                };
                let (conversation, message) = reads.inbox.get(event, read).await?;
                Some(crate::inbox_types::InboxEvent {
                    conversation: conversation.into(),
                    message: message.map(Into::into),
                })
            }
        })
    }

    /// The dashboard for `from`..`to` (as the `dashboard` query) at once, then again whenever
    /// calls or conversations of the company change (changes close together give one update).
    async fn dashboard_updates(
        &self,
        ctx: &Context<'_>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> async_graphql::Result<impl Stream<Item = crate::dashboard_types::Dashboard>> {
        let changes = tenant_events(ctx, "calls:read", |services, principal, _, kind| async move {
            matches!(kind, EventKind::CallChanged { .. } | EventKind::ConversationChanged { .. })
                .then_some((services, principal))
        })?;
        let first = (Arc::new(services(ctx).clone()), Arc::new(principal(ctx)?.clone()));
        let updates = futures::stream::unfold(Box::pin(changes), |mut changes| async move {
            let change = changes.next().await?;
            // Changes arriving within the next moment are folded into this one.
            let window = tokio::time::sleep(DASHBOARD_WINDOW);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    () = &mut window => break,
                    more = changes.next() => if more.is_none() { break },
                }
            }
            Some((change, changes))
        });
        Ok(
            futures::stream::once(async move { first }).chain(updates).filter_map(
                move |(services, principal)| async move {
                    services.dashboard(&principal, from, to).await.ok().map(Into::into)
                },
            ),
        )
    }

    /// Calls of the caller's company as they ring, are answered and end (for pop-ups). `status`
    /// is the one the event announces; the other fields are the call as it is when delivered.
    async fn call_events(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = Call>> {
        let reads = reads(ctx);
        tenant_events(ctx, "calls:read", move |services, principal, event, kind| {
            let reads = reads.clone();
            async move {
                let EventKind::CallChanged { call_id, status } = kind else { return None };
                // The record is read when the event is delivered, and may have moved on (answered
                // while the ringing event was on its way): the status is the event's own.
                let read = || async { services.call(&principal, call_id).await.ok() };
                let mut call = reads.calls.get(event, read).await?;
                call.status = status;
                Some(Call::from(call))
            }
        })
    }
}
