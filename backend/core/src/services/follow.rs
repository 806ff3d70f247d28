//! What the process-wide caches share: following the event bus, so a change made by any
//! process drops what they keep of it.
use crate::events::{Event, EventBus};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

pub(super) trait Follower: Send + Sync + 'static {
    /// Set while the bus is followed.
    fn listening(&self) -> &AtomicBool;
    fn on_event(&self, event: Event);
    /// The stream ended: nothing kept can be trusted any more.
    fn on_end(&self);
}

/// Follows the bus for `follower` (once); false while it cannot, and then nothing may be kept.
/// When the stream ends the follower starts again on its next use.
pub(super) fn follow<F: Follower>(follower: &Arc<F>, bus: &Arc<dyn EventBus>) -> bool {
    if follower.listening().swap(true, Ordering::AcqRel) {
        return true;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        follower.listening().store(false, Ordering::Release);
        return false;
    };
    let mut events = bus.subscribe();
    let weak: Weak<F> = Arc::downgrade(follower);
    runtime.spawn(async move {
        while let Some(event) = events.next().await {
            let Some(follower) = weak.upgrade() else { return };
            follower.on_event(event);
        }
        if let Some(follower) = weak.upgrade() {
            follower.on_end();
            follower.listening().store(false, Ordering::Release);
        }
    });
    true
}
