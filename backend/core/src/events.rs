//! Domain events and the bus that carries them between processes.
use crate::calls::CallStatus;
use crate::{CallId, ConversationId, CustomerId, MessageId, Result, TenantId, UserId};
use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    CustomerChanged {
        customer_id: CustomerId,
        change: ChangeKind,
    },
    /// A conversation changed: a message arrived or was sent (`message_id`), or it was
    /// assigned, read, closed or reopened.
    ConversationChanged {
        conversation_id: ConversationId,
        message_id: Option<MessageId>,
    },
    /// A call started ringing, was answered, or ended (`status` says which).
    CallChanged {
        call_id: CallId,
        status: CallStatus,
    },
    /// Someone's sessions or role changed (a logout, a revoked session, a new role): what
    /// processes keep of session checks for the company is asked again.
    AccessChanged {
        user_id: UserId,
    },
}

/// Every event belongs to one tenant; subscribers only ever see their own tenant's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per publication: the subscribers of one process share what they read for it.
    #[serde(default = "uuid::Uuid::now_v7")]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn new(tenant_id: TenantId, kind: EventKind) -> Self {
        Self { id: uuid::Uuid::now_v7(), tenant_id, kind }
    }
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, event: Event) -> Result<()>;
    /// All events published from now on, from any process sharing the bus.
    fn subscribe(&self) -> BoxStream<'static, Event>;
    /// Live subscriptions in this process (a gauge in /metrics; tests wait on it).
    fn subscribers(&self) -> usize;
    async fn ping(&self) -> Result<()>;
}

/// The bus as one process sees it, for unit tests.
#[cfg(test)]
pub(crate) struct LocalBus(pub tokio::sync::broadcast::Sender<Event>);

#[cfg(test)]
#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: Event) -> Result<()> {
        let _ = self.0.send(event);
        Ok(())
    }
    fn subscribe(&self) -> BoxStream<'static, Event> {
        let rx = self.0.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.ok().map(|e| (e, rx)) }))
    }
    fn subscribers(&self) -> usize {
        self.0.receiver_count()
    }
    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
