//! Live events are staged in the transaction of the change they announce, published after
//! its commit, then forgotten. What a process staged and did not publish (it died between
//! the two, or the bus was away) any process's relay publishes once it is `STALE`: a live
//! event is delivered at least once, never lost with its process.
use super::Services;
use crate::events::{Event, EventKind};
use crate::ports::TenantTx;
use crate::{Result, TenantId};

/// A staged event this old was not published by its process, which does so within
/// milliseconds of its commit.
pub const STALE: std::time::Duration = std::time::Duration::from_secs(5);

/// Published events remembered for forgetting at most; past that they are left for a relay
/// to publish once more (a process that runs no relay must not grow without bound).
const MAX_PUBLISHED: usize = 100_000;

/// Events published by this process and not forgotten yet.
pub(super) type Published = std::sync::Mutex<Vec<(TenantId, uuid::Uuid)>>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Stages `kinds` in `tx`; what `Services::publish_staged` publishes once `tx` is committed.
async fn stage(tx: &mut dyn TenantTx, kinds: impl IntoIterator<Item = EventKind>) -> Result<Vec<Event>> {
    let mut staged = Vec::new();
    for kind in kinds {
        let event = Event::new(tx.tenant_id(), kind);
        tx.stage_event(&event, now_ms()).await?;
        staged.push(event);
    }
    Ok(staged)
}

impl Services {
    /// Commits `tx` with the live events `kinds` written in it, then publishes them: the change
    /// and its events are stored together, or neither is.
    pub(super) async fn commit_announcing(
        &self,
        mut tx: Box<dyn TenantTx>,
        kinds: impl IntoIterator<Item = EventKind>,
    ) -> Result<()> {
        let staged = stage(tx.as_mut(), kinds).await?;
        tx.commit().await?;
        self.publish_staged(staged).await;
        Ok(())
    }

    /// Publishes committed events; one the bus refuses stays staged, for the relay.
    async fn publish_staged(&self, events: Vec<Event>) {
        for event in events {
            let key = (event.tenant_id, event.id);
            match self.bus.publish(event).await {
                Ok(()) => {
                    let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
                    if published.len() < MAX_PUBLISHED {
                        published.push(key);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not publish a live event; the relay will"),
            }
        }
    }

    /// Forgets the events this process published since the last call.
    pub async fn forget_published_events(&self) -> Result<usize> {
        let published = std::mem::take(&mut *self.published.lock().unwrap_or_else(|e| e.into_inner()));
        if published.is_empty() {
            return Ok(0);
        }
        if let Err(error) = self.db.forget_events(&published).await {
            self.published.lock().unwrap_or_else(|e| e.into_inner()).extend(published);
            return Err(error);
        }
        Ok(published.len())
    }

    /// Publishes (and forgets) up to `limit` events staged by any process and not published
    /// within `STALE`; how many. Each is claimed first, so that two relays do not both publish it.
    pub async fn relay_stale_events(&self, limit: u64) -> Result<usize> {
        let now = now_ms();
        let stale = self.db.stale_events(now - STALE.as_millis() as i64, limit).await?;
        let mut relayed = 0;
        for (event, seen_ms) in stale {
            let mut tx = self.db.tenant(event.tenant_id).await?;
            // Claimed until it is stale again: a relay that dies now leaves it to another.
            let claimed = tx.claim_event(event.id, seen_ms, now).await?;
            tx.commit().await?;
            if !claimed {
                continue;
            }
            tracing::info!(tenant = %event.tenant_id, event = %event.id, "publishing a live event its process did not");
            let key = (event.tenant_id, event.id);
            self.bus.publish(event).await?;
            self.db.forget_events(&[key]).await?;
            relayed += 1;
        }
        Ok(relayed)
    }
}
