//! Recent session checks. Every request with an access token used to ask the database whether
//! its session still stands and with which role: a round trip per request for an answer that
//! rarely changes (the web app's screens and live views ask many times a minute with one token).
//! An answer is now kept for `FRESH_FOR`. A logout, a revoked session or a changed role drops
//! its company's answers here at once, and in every other process through the event bus
//! (`EventKind::AccessChanged`, stored with the change, so it is delivered even when the bus
//! was down). `FRESH_FOR` bounds what a lost event could keep alive.
use crate::events::{EventBus, EventKind};
use crate::{Role, SessionId, TenantId, UserId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest an answer is used without asking the database again.
const FRESH_FOR: Duration = Duration::from_secs(1);

type Key = (TenantId, SessionId, UserId);

#[derive(Default)]
pub struct SessionChecks {
    answers: Mutex<crate::pruned_map::PrunedMap<Key, (Role, Instant)>>,
    /// Bumped by every drop: an answer read before one is not kept.
    generation: AtomicU64,
    listening: AtomicBool,
}

impl SessionChecks {
    /// The kept role of this session, when it was checked lately and nothing changed since.
    pub fn role(&self, key: Key) -> Option<Role> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(&key).filter(|(_, at)| at.elapsed() < FRESH_FOR).map(|(role, _)| *role)
    }

    /// What to hand back to `keep`: answers read from now on may be kept unless a drop comes first.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps an answer read from the database, unless a drop happened since `generation`, or
    /// this process does not follow the bus (it would not hear of other processes' changes).
    pub fn keep(self: &Arc<Self>, bus: &Arc<dyn EventBus>, key: Key, role: Role, generation: u64) {
        if !super::follow::follow(self, bus) {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            answers.prune(|_, (_, at)| at.elapsed() < FRESH_FOR);
            answers.insert(key, (role, Instant::now()));
        }
    }

    /// Follows the bus now rather than on the first check, so the process's count of bus
    /// subscribers (which says when a subscription listens) already includes this one.
    pub fn follow(self: &Arc<Self>, bus: &Arc<dyn EventBus>) {
        super::follow::follow(self, bus);
    }

    /// Someone's access in `tenant` changed: its answers are asked again.
    pub fn drop_tenant(&self, tenant: TenantId) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        answers.retain(|key, _| key.0 != tenant);
    }
}

impl super::follow::Follower for SessionChecks {
    fn listening(&self) -> &AtomicBool {
        &self.listening
    }

    fn on_event(&self, event: crate::events::Event) {
        if let EventKind::AccessChanged { .. } = event.kind {
            self.drop_tenant(event.tenant_id);
        }
    }

    /// Nothing kept can be trusted, and nothing is kept until the bus is followed again.
    fn on_end(&self) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        answers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionId;
    use crate::events::{Event, LocalBus};
    use tokio::sync::broadcast;

    #[tokio::test]
    async fn an_answer_is_kept_until_its_company_s_access_changes_anywhere() {
        let bus: Arc<dyn EventBus> = Arc::new(LocalBus(broadcast::channel(16).0));
        let checks = Arc::new(SessionChecks::default());
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let key = (tenant, SessionId::new(), UserId::new());
        let elsewhere = (other, SessionId::new(), UserId::new());
        checks.keep(&bus, key, Role::Admin, checks.generation());
        checks.keep(&bus, elsewhere, Role::Agent, checks.generation());
        assert_eq!(checks.role(key), Some(Role::Admin));

        // Another process demotes someone of `tenant`: only its answers go.
        bus.publish(Event::new(tenant, EventKind::AccessChanged { user_id: key.2 })).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while checks.role(key).is_some() {
            assert!(Instant::now() < deadline, "the event reached the checks");
            tokio::task::yield_now().await;
        }
        assert_eq!(checks.role(elsewhere), Some(Role::Agent));

        // An answer read before a drop is not kept: it may predate the change.
        let before = checks.generation();
        checks.drop_tenant(tenant);
        checks.keep(&bus, key, Role::Admin, before);
        assert_eq!(checks.role(key), None);
    }

    #[test]
    fn nothing_is_kept_without_a_runtime_to_follow_the_bus() {
        let bus: Arc<dyn EventBus> = Arc::new(LocalBus(broadcast::channel(16).0));
        let checks = Arc::new(SessionChecks::default());
        let key = (TenantId::new(), SessionId::new(), UserId::new());
        checks.keep(&bus, key, Role::Admin, checks.generation());
        assert_eq!(checks.role(key), None);
    }
}
