//! Background work in every `crm serve`: stored webhook payloads are turned into messages
//! (right after they are acknowledged, and again after a crash), the outbox sends replies when
//! due, outbound webhooks are delivered, recordings past their company's retention period
//! are deleted, and live events are forgotten once published (or published, when their process
//! died first). Several processes may run all of it: payloads are filed idempotently, a reply,
//! a delivery or a stale event is claimed before it is sent, and deleting a deleted recording
//! changes nothing.
use crm_core::services::Services;
use std::time::Duration;

/// How often leftovers are looked for without a wake-up (another process stored them, or a
/// retry came due).
const LOOK_EVERY: Duration = Duration::from_secs(1);
const BATCH: u64 = 200;

pub struct Workers {
    tasks: [tokio::task::JoinHandle<()>; 6],
}

impl Drop for Workers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub fn start(services: Services) -> Workers {
    Workers {
        tasks: [
            tokio::spawn(process(services.clone())),
            tokio::spawn(fetch(services.clone())),
            tokio::spawn(deliver(services.clone())),
            tokio::spawn(outbound_webhooks(services.clone())),
            tokio::spawn(retention(services.clone())),
            tokio::spawn(live_events(services)),
        ],
    }
}

async fn process(services: Services) {
    loop {
        match services.process_pending_updates(BATCH).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read stored webhook payloads; retrying"),
        }

        let _ = tokio::time::timeout(LOOK_EVERY, services.inbox_signal().notified()).await;
    }
}

/// The files received messages carried, copied from the platforms (apart from filing, which
/// must not wait on downloads).
async fn fetch(services: Services) {
    loop {
        match services.fetch_pending_attachments(BATCH).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read messages with attachments to copy; retrying"),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

async fn deliver(services: Services) {
    loop {
        match services.deliver_due(BATCH).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the outbox; retrying"),
        }
        let _ = tokio::time::timeout(LOOK_EVERY, services.outbox_signal().notified()).await;
    }
}

async fn outbound_webhooks(services: Services) {
    loop {
        match services.deliver_webhooks(BATCH).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the webhook queue; retrying"),
        }
        let _ = tokio::time::timeout(LOOK_EVERY, services.webhook_signal().notified()).await;
    }
}

/// How often expired recordings are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(600);

async fn retention(services: Services) {
    loop {
        match services.expire_recordings(BATCH).await {
            Ok(n) if n as u64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot sweep expired recordings; retrying"),
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}

/// How often published live events are forgotten (one statement for all of them).
const FORGET_EVERY: Duration = Duration::from_millis(250);
/// How often staged events nobody published are looked for.
const RELAY_EVERY: Duration = Duration::from_secs(1);

async fn live_events(services: Services) {
    let mut relay = tokio::time::interval(RELAY_EVERY);
    let mut forget = tokio::time::interval(FORGET_EVERY);
    for interval in [&mut relay, &mut forget] {
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = forget.tick() => if let Err(error) = services.forget_published_events().await {
                tracing::warn!(%error, "cannot forget published live events; retrying");
            },
            _ = relay.tick() => match services.relay_stale_events(BATCH).await {
                Ok(n) if n as u64 == BATCH => relay.reset_immediately(),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot publish the live events other processes left; retrying"),
            },
        }
    }
}
