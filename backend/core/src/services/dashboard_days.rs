//! Daily rollups for the dashboard. A day that is over, and whose calls have all ended, does
//! not change any more: calls and messages are written with the time they happen, an ended call
//! is final, and merges move records without removing any. Only deleting a customer removes
//! chats (its conversations go with it), so that event drops the company's days. Such days'
//! groups are kept per company, time zone and date; a range is counted in the database only for
//! the days not kept yet.
use crate::TenantId;
use crate::calls::CallStatus;
use crate::dashboard::{CallGroup, MessageGroup};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A day is kept only once it has been over this long (a write stamped just before midnight
/// may commit just after it).
const SETTLE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Kept days are counted again after this long, in case a deletion's event never arrived.
const KEEP_FOR: Duration = Duration::from_secs(600);
const MAX_DAYS: usize = 200_000;

type Key = (TenantId, Arc<str>, NaiveDate);

/// One day's groups (their `day` is 0).
#[derive(Debug)]
pub struct KeptDay {
    at: Instant,
    pub calls: Vec<CallGroup>,
    pub messages: Vec<MessageGroup>,
}

#[derive(Default)]
pub struct DayStore {
    state: Mutex<State>,
    /// A company's days are counted by one request at a time: the others then find them kept
    /// instead of counting the same days again.
    turns: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Default)]
struct State {
    generations: HashMap<TenantId, u64>,
    days: HashMap<Key, Arc<KeptDay>>,
    /// When each company's past year was last counted ahead, per time zone.
    ahead: HashMap<(TenantId, Arc<str>), Instant>,
}

impl DayStore {
    /// Read before counting; `keep` stores nothing if the company's days were dropped meanwhile.
    pub fn generation(&self, tenant: TenantId) -> u64 {
        self.lock().generations.get(&tenant).copied().unwrap_or(0)
    }

    /// The kept days of `days` dates from `from` (`None` where a day is not kept).
    pub fn lookup(&self, tenant: TenantId, time_zone: &str, from: NaiveDate, days: usize) -> Vec<Option<Arc<KeptDay>>> {
        let zone: Arc<str> = time_zone.into();
        let state = self.lock();
        (0..days)
            .map(|d| {
                let key = (tenant, zone.clone(), from + chrono::Days::new(d as u64));
                state.days.get(&key).filter(|day| day.at.elapsed() < KEEP_FOR).cloned()
            })
            .collect()
    }

    /// Whether a day ending at `ends` can be kept at `now` (if its calls have all ended).
    pub fn may_keep(ends: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        ends + SETTLE <= now
    }

    /// Whether to count the company's past year ahead now: not if that began within the time
    /// its days stay kept. Marks it begun.
    pub fn start_ahead(&self, tenant: TenantId, time_zone: &str) -> bool {
        let mut state = self.lock();
        let key = (tenant, Arc::<str>::from(time_zone));
        if state.ahead.get(&key).is_some_and(|at| at.elapsed() < KEEP_FOR) {
            return false;
        }
        state.ahead.insert(key, Instant::now());
        true
    }

    /// Waits for the company's turn to count days that may be kept.
    pub async fn turn(&self, tenant: TenantId) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self.turns.lock().unwrap_or_else(|e| e.into_inner()).entry(tenant).or_default().clone();
        turn.lock_owned().await
    }

    /// Keeps `date`'s groups if the day is settled at `now` (over for a while, no call still
    /// ringing or talking) and nothing was dropped since `generation`. Returns whether it did.
    #[allow(clippy::too_many_arguments)]
    pub fn keep(
        &self,
        tenant: TenantId,
        time_zone: &str,
        date: NaiveDate,
        ends: DateTime<Utc>,
        now: DateTime<Utc>,
        generation: u64,
        calls: Vec<CallGroup>,
        messages: Vec<MessageGroup>,
    ) -> bool {
        let open = calls.iter().any(|g| matches!(g.status, CallStatus::Ringing | CallStatus::Answered));
        if open || !Self::may_keep(ends, now) {
            return false;
        }
        let mut state = self.lock();
        if state.generations.get(&tenant).copied().unwrap_or(0) != generation {
            return false;
        }
        if state.days.len() >= MAX_DAYS {
            state.days.retain(|_, day| day.at.elapsed() < KEEP_FOR / 2);
            if state.days.len() >= MAX_DAYS {
                state.days.clear();
            }
        }
        let day = KeptDay { at: Instant::now(), calls, messages };
        state.days.insert((tenant, time_zone.into(), date), Arc::new(day));
        true
    }

    /// Records of the company's past days were removed: its days are counted again.
    pub fn forget(&self, tenant: TenantId) {
        let mut state = self.lock();
        *state.generations.entry(tenant).or_default() += 1;
        state.days.retain(|key, _| key.0 != tenant);
        state.ahead.retain(|key, _| key.0 != tenant);
    }

    pub fn clear(&self) {
        let mut state = self.lock();
        for generation in state.generations.values_mut() {
            *generation += 1;
        }
        state.days.clear();
        state.ahead.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::Direction;

    fn group(status: CallStatus) -> CallGroup {
        CallGroup {
            day: 0,
            direction: Direction::Inbound,
            status,
            user_id: None,
            count: 1,
            answered: 0,
            wait_secs: 0.0,
            talk_secs: 0.0,
            talked: 0,
        }
    }

    #[test]
    fn only_settled_days_are_kept_and_a_deletion_drops_them() {
        let store = DayStore::default();
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let ends = date.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let later = ends + chrono::TimeDelta::hours(1);
        let keep = |t, now, status, generation| {
            store.keep(t, "UTC", date, ends, now, generation, vec![group(status)], Vec::new())
        };

        assert!(!keep(tenant, ends + chrono::TimeDelta::minutes(1), CallStatus::Completed, 0), "just over");
        assert!(!keep(tenant, later, CallStatus::Answered, 0), "a call still talking");
        assert!(!keep(tenant, later, CallStatus::Ringing, 0), "a call still ringing");
        assert!(store.lookup(tenant, "UTC", date, 1)[0].is_none());

        assert!(keep(tenant, later, CallStatus::Completed, 0));
        assert!(keep(other, later, CallStatus::Missed, 0));
        let kept = store.lookup(tenant, "UTC", date - chrono::Days::new(1), 3);
        assert!(kept[0].is_none() && kept[2].is_none());
        assert_eq!(kept[1].as_ref().unwrap().calls, vec![group(CallStatus::Completed)]);
        assert!(store.lookup(tenant, "Asia/Tashkent", date, 1)[0].is_none(), "another zone's day is another day");

        // A deletion drops this company's days, and a count begun before it is not kept.
        let before = store.generation(tenant);
        store.forget(tenant);
        assert!(store.lookup(tenant, "UTC", date, 1)[0].is_none());
        assert!(store.lookup(other, "UTC", date, 1)[0].is_some());
        assert!(!keep(tenant, later, CallStatus::Completed, before));
        assert!(keep(tenant, later, CallStatus::Completed, store.generation(tenant)));
    }

    #[test]
    fn a_year_is_counted_ahead_once_until_its_days_would_expire_or_are_dropped() {
        let store = DayStore::default();
        let (tenant, other) = (TenantId::new(), TenantId::new());
        assert!(store.start_ahead(tenant, "UTC"));
        assert!(!store.start_ahead(tenant, "UTC"), "already begun");
        assert!(store.start_ahead(tenant, "Asia/Tashkent"), "another zone's days are other days");
        assert!(store.start_ahead(other, "UTC"));
        store.forget(tenant);
        assert!(store.start_ahead(tenant, "UTC"), "its days were dropped");
        assert!(!store.start_ahead(other, "UTC"));
    }
}
