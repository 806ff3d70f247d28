//! Event buses: in-process for a single server, Redis pub/sub for several.
mod in_process;
mod redis_bus;
mod redis_lease;

pub use in_process::InProcessBus;
pub use redis_bus::RedisBus;
pub use redis_lease::RedisLeases;

use crm_core::events::Event;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// A Redis connection that reconnects by itself, and never waits on a Redis that went away
/// for longer than a lease's renewal can afford: without a response timeout, commands sent on
/// a connection that died quietly would wait forever instead of failing and reconnecting.
async fn redis_connection(client: redis::Client) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(std::time::Duration::from_secs(1))
        .set_connection_timeout(std::time::Duration::from_secs(1))
        .set_max_delay(1000);
    redis::aio::ConnectionManager::new_with_config(client, config).await
}

/// Local fan-out shared by both buses. A subscriber that falls too far behind skips events
/// (logged) rather than slowing everyone else down.
const LOCAL_CAPACITY: usize = 4096;

fn local_stream(sender: &broadcast::Sender<Event>) -> BoxStream<'static, Event> {
    BroadcastStream::new(sender.subscribe())
        .filter_map(|item| async move {
            match item {
                Ok(event) => Some(event),
                Err(error) => {
                    tracing::warn!(%error, "event subscriber lagged; events skipped");
                    None
                }
            }
        })
        .boxed()
}
