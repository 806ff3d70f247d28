//! Dashboards are read far more often than calls and chats change. A result is kept per
//! company, person and range until anything of that company happens on the event bus (from any
//! process) or a few seconds pass (task changes and the turn of the day are not events). Many
//! people asking at once for the same dashboard wait for one computation. Below that, days that
//! no longer change are kept on their own (`dashboard_days`).
use crate::dashboard::Dashboard;
use crate::events::{ChangeKind, EventBus, EventKind};
use crate::{TenantId, UserId};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a dashboard is served without a change event (a task closed on another process).
const FRESH_FOR: Duration = Duration::from_secs(5);

type Key = (TenantId, UserId, NaiveDate, NaiveDate);

#[derive(Default)]
pub struct DashboardCache {
    state: Mutex<State>,
    /// One computation per key at a time.
    flights: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    listening: AtomicBool,
    /// Days that no longer change, shared by every range that covers them.
    pub(super) days: super::dashboard_days::DayStore,
}

#[derive(Default)]
struct State {
    generations: HashMap<TenantId, u64>,
    entries: crate::pruned_map::PrunedMap<Key, Entry>,
}

struct Entry {
    generation: u64,
    at: Instant,
    value: Dashboard,
}

impl DashboardCache {
    /// The cached dashboard for `key`, or `compute`'s, kept when nothing changed meanwhile.
    pub async fn get_or_compute<F, Fut>(
        self: &Arc<Self>,
        bus: &Arc<dyn EventBus>,
        key: Key,
        compute: F,
    ) -> crate::Result<Dashboard>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = crate::Result<Dashboard>>,
    {
        if !super::follow::follow(self, bus) {
            return compute().await;
        }
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let flight = self.flights.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        let _turn = flight.lock().await;
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let generation = self.generation(key.0);
        let computed = compute().await;
        // Done either way: the next asker computes afresh if this one failed.
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        let value = computed?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.generations.get(&key.0).copied().unwrap_or(0) == generation {
            state.entries.prune(|_, e| e.at.elapsed() < FRESH_FOR);
            state.entries.insert(key, Entry { generation, at: Instant::now(), value: value.clone() });
        }
        drop(state);
        Ok(value)
    }

    /// Something of `tenant` changed: its dashboards are computed again.
    pub fn invalidate(&self, tenant: TenantId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.generations.entry(tenant).or_default() += 1;
        state.entries.retain(|key, _| key.0 != tenant);
    }

    fn generation(&self, tenant: TenantId) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).generations.get(&tenant).copied().unwrap_or(0)
    }

    fn lookup(&self, key: &Key) -> Option<Dashboard> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let current = state.generations.get(&key.0).copied().unwrap_or(0);
        state
            .entries
            .get(key)
            .filter(|e| e.generation == current && e.at.elapsed() < FRESH_FOR)
            .map(|e| e.value.clone())
    }

    /// Whether change events are followed (only then are past days kept).
    pub(super) fn following(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}

impl super::follow::Follower for DashboardCache {
    fn listening(&self) -> &AtomicBool {
        &self.listening
    }

    fn on_event(&self, event: crate::events::Event) {
        self.invalidate(event.tenant_id);
        if let EventKind::CustomerChanged { change: ChangeKind::Deleted, .. } = event.kind {
            self.days.forget(event.tenant_id);
        }
    }

    /// Forgets everything, to start again on the next read.
    fn on_end(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
        self.days.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CustomerId;
    use crate::events::{Event, LocalBus};

    fn board(open: u64) -> Dashboard {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let (calls, agents, days) = crate::dashboard::assemble(day, 1, &[], &[]);
        Dashboard {
            from: day,
            to: day,
            time_zone: "UTC".into(),
            calls,
            agents,
            days,
            missed_not_called_back: 0,
            open_conversations: open,
            unread_conversations: 0,
            first_responses: 0,
            first_response_secs: None,
        }
    }

    #[tokio::test]
    async fn a_dashboard_is_computed_once_until_its_company_changes() {
        let bus: Arc<dyn EventBus> = Arc::new(LocalBus(tokio::sync::broadcast::channel(16).0));
        let cache = Arc::new(DashboardCache::default());
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let key = (tenant, UserId::new(), day, day);
        let computed = std::sync::atomic::AtomicU64::new(0);
        let compute = |open| {
            computed.fetch_add(1, Ordering::SeqCst);
            async move { Ok(board(open)) }
        };
        assert_eq!(cache.get_or_compute(&bus, key, || compute(1)).await.unwrap().open_conversations, 1);
        assert_eq!(cache.get_or_compute(&bus, key, || compute(2)).await.unwrap().open_conversations, 1);
        assert_eq!(computed.load(Ordering::SeqCst), 1, "served from the cache");

        // Another company's event changes nothing here; this company's does, once delivered.
        let changed = |t| {
            let change = crate::events::ChangeKind::Updated;
            Event::new(t, EventKind::CustomerChanged { customer_id: CustomerId::new(), change })
        };
        bus.publish(changed(other)).await.unwrap();
        bus.publish(changed(tenant)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.lookup(&key).is_some() {
            assert!(Instant::now() < deadline, "the event reached the cache");
            tokio::task::yield_now().await;
        }
        assert_eq!(cache.get_or_compute(&bus, key, || compute(3)).await.unwrap().open_conversations, 3);

        // A change during a computation: its result is returned but not kept.
        let during = cache.get_or_compute(&bus, (tenant, key.1, day, day + chrono::Days::new(1)), || async {
            cache.invalidate(tenant);
            Ok(board(4))
        });
        assert_eq!(during.await.unwrap().open_conversations, 4);
        assert!(cache.lookup(&(tenant, key.1, day, day + chrono::Days::new(1))).is_none());
    }
}
