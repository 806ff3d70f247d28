//! What a subscription reads for an event, read once per process: every subscriber of the
//! event's company in this process gets the same snapshot instead of its own query (200
//! subscribers of one company would otherwise read each message 200 times). Subscribers are
//! checked for the scope when they subscribe; the snapshot is the company's data, read within
//! the company.
use crm_core::pruned_map::PrunedMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Snapshots are dropped this long after their event (every subscriber has had it by then).
const KEEP: Duration = Duration::from_secs(30);

/// One event's snapshot: when it was first asked for, and the read (done once).
type Read<T> = (Instant, Arc<OnceCell<Option<T>>>);

pub struct SharedReads<T> {
    reads: Mutex<PrunedMap<Uuid, Read<T>>>,
}

impl<T> Default for SharedReads<T> {
    fn default() -> Self {
        Self { reads: Mutex::default() }
    }
}

impl<T: Clone> SharedReads<T> {
    /// The snapshot for `event`, read by `read` for the first subscriber to ask.
    pub async fn get<F, Fut>(&self, event: Uuid, read: F) -> Option<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let cell = {
            let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
            reads.prune(|_, (at, _)| at.elapsed() < KEEP);
            reads.entry(event).or_insert_with(|| (Instant::now(), Arc::default())).1.clone()
        };
        cell.get_or_init(read).await.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn an_event_is_read_once_however_many_subscribers_ask() {
        let shared = super::SharedReads::<u32>::default();
        let reads = AtomicUsize::new(0);
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let read = |v| {
            reads.fetch_add(1, Ordering::SeqCst);
            async move { Some(v) }
        };
        let all = futures::future::join_all((0..50).map(|_| shared.get(a, || read(1)))).await;
        assert!(all.iter().all(|v| *v == Some(1)));
        assert_eq!(shared.get(b, || read(2)).await, Some(2));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
