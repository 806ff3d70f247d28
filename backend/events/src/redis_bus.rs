use crate::{LOCAL_CAPACITY, local_stream};
use async_trait::async_trait;
use crm_core::events::{Event, EventBus};
use crm_core::{Error, Result};
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::broadcast;

const CHANNEL: &str = "crm:events";

/// Events shared by every process on one Redis. Each process holds one Redis subscription
/// and fans events out locally, so subscribers cost no Redis connections.
#[derive(Clone)]
pub struct RedisBus {
    publisher: ConnectionManager,
    sender: broadcast::Sender<Event>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisBus")
    }
}

impl RedisBus {
    /// Connects and subscribes before returning, so no event published afterwards is missed.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(Error::internal)?;
        let publisher = crate::redis_connection(client.clone()).await.map_err(Error::internal)?;
        let sender = broadcast::channel(LOCAL_CAPACITY).0;
        let mut pubsub = client.get_async_pubsub().await.map_err(Error::internal)?;
        pubsub.subscribe(CHANNEL).await.map_err(Error::internal)?;
        tokio::spawn(forward(client, pubsub, sender.clone()));
        Ok(Self { publisher, sender })
    }
}

/// Relays Redis messages to local subscribers, resubscribing after a lost connection.
async fn forward(client: redis::Client, mut pubsub: redis::aio::PubSub, sender: broadcast::Sender<Event>) {
    loop {
        {
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                match message.get_payload::<String>().map(|p| serde_json::from_str::<Event>(&p)) {
                    Ok(Ok(event)) => {
                        let _ = sender.send(event);
                    }
                    _ => tracing::warn!("ignoring an unreadable event from Redis"),
                }
            }
        }
        tracing::warn!("lost the Redis event subscription; reconnecting");
        let mut delay = Duration::from_millis(200);
        pubsub = loop {
            tokio::time::sleep(delay).await;
            if let Ok(mut fresh) = client.get_async_pubsub().await
                && fresh.subscribe(CHANNEL).await.is_ok()
            {
                break fresh;
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        };
        tracing::info!("Redis event subscription restored");
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: Event) -> Result<()> {
        let payload = serde_json::to_string(&event).map_err(Error::internal)?;
        let mut conn = self.publisher.clone();
        let _: i64 = conn.publish(CHANNEL, payload).await.map_err(Error::internal)?;
        Ok(())
    }

    fn subscribe(&self) -> BoxStream<'static, Event> {
        local_stream(&self.sender)
    }

    fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.publisher.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(Error::internal)?;
        Ok(())
    }
}
