use crate::{LOCAL_CAPACITY, local_stream};
use async_trait::async_trait;
use crm_core::Result;
use crm_core::events::{Event, EventBus};
use futures::stream::BoxStream;
use tokio::sync::broadcast;

/// Events within one process: the quick-start default.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<Event>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self { sender: broadcast::channel(LOCAL_CAPACITY).0 }
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: Event) -> Result<()> {
        // No subscribers is fine: nobody is listening right now.
        let _ = self.sender.send(event);
        Ok(())
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        local_stream(&self.sender)
    }

    fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::events::{ChangeKind, EventKind};
    use crm_core::{CustomerId, TenantId};
    use futures::StreamExt;

    #[tokio::test]
    async fn subscribers_receive_published_events() {
        let bus = InProcessBus::default();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        let event = Event::new(
            TenantId::new(),
            EventKind::CustomerChanged { customer_id: CustomerId::new(), change: ChangeKind::Created },
        );
        bus.publish(event.clone()).await.unwrap();
        assert_eq!(a.next().await.unwrap(), event);
        assert_eq!(b.next().await.unwrap(), event);
    }
}
