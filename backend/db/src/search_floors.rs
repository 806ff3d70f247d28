//! Where each company's newest customers begin, kept a little while. A text search reads its
//! first page from the customers from there on (`recent_matches`), and finding that floor
//! read a thousand index entries per search. Any floor gives the same page: the search keeps
//! the page only when a whole one was found above the floor, and every customer below it is
//! older than those. A floor some seconds old therefore costs a few more keys read, never a
//! wrong answer.
use crm_core::TenantId;
use crm_core::pruned_map::PrunedMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a floor is used before it is read again.
const KEEP: Duration = Duration::from_secs(30);

/// `None` kept: the company has fewer customers than the floor's depth.
#[derive(Debug, Default)]
pub struct SearchFloors(Mutex<PrunedMap<TenantId, (Instant, Option<Uuid>)>>);

impl SearchFloors {
    pub fn get(&self, tenant: TenantId) -> Option<Option<Uuid>> {
        let floors = self.0.lock().unwrap_or_else(|e| e.into_inner());
        floors.get(&tenant).filter(|(at, _)| at.elapsed() < KEEP).map(|(_, floor)| *floor)
    }

    pub fn put(&self, tenant: TenantId, floor: Option<Uuid>) {
        let mut floors = self.0.lock().unwrap_or_else(|e| e.into_inner());
        floors.prune(|_, (at, _)| at.elapsed() < KEEP);
        floors.insert(tenant, (Instant::now(), floor));
    }
}
