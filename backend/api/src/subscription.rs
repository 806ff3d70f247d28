use crate::context::{principal, services};
use crate::error::ApiError;
use crate::types::{ChangeKind, Customer, CustomerChange};
use async_graphql::{Context, ID, Subscription};
use crm_core::events::{self, EventKind};
use futures::{Stream, StreamExt};

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Customers created, updated or deleted in the caller's company, by anyone, on any server.
    async fn customer_changed(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = CustomerChange>> {
        let principal = principal(ctx)?.clone();
        principal.require_scope("customers:read").map_err(ApiError::from)?;
        let services = services(ctx).clone();
        let stream = services.bus().subscribe().filter_map(move |event| {
            let (principal, services) = (principal.clone(), services.clone());
            async move {
                if event.tenant_id != principal.tenant_id {
                    return None;
                }
                let EventKind::CustomerChanged { customer_id, change } = event.kind;
                // Re-read through the service so the subscriber sees only what it may see now.
                let customer = match change {
                    events::ChangeKind::Deleted => None,
                    _ => services.customer(&principal, customer_id).await.ok().map(Customer::from),
                };
                Some(CustomerChange {
                    kind: ChangeKind::from(change),
                    customer_id: ID(customer_id.to_string()),
                    customer,
                })
            }
        });
        Ok(stream)
    }
}
