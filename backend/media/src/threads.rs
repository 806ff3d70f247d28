//! Media threads: each runs a single-threaded tokio runtime that owns the sockets of the calls
//! given to it. A packet's wake-up, receive, relay and recording then stay on one thread, with
//! no hand-over between the multi-threaded runtime's workers (in profiles of the shared runtime,
//! thread switches were a tenth of the relay's cost). One thread per core; calls are dealt out
//! in turn.
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;

struct MediaThreads {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

fn start() -> MediaThreads {
    let count = std::thread::available_parallelism().map_or(1, usize::from);
    let handles = (0..count)
        .filter_map(|n| {
            let (sender, receiver) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new().name(format!("crm-media-{n}")).spawn(move || {
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => {
                        let _ = sender.send(Some(runtime.handle().clone()));
                        runtime.block_on(std::future::pending::<()>());
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot start a media thread");
                        let _ = sender.send(None);
                    }
                }
            });
            spawned.ok().and_then(|_| receiver.recv().ok().flatten())
        })
        .collect();
    MediaThreads { handles, next: AtomicUsize::new(0) }
}

/// The runtime of the media thread the next call goes to (the caller's own runtime if no
/// media thread could be started).
pub fn next() -> Handle {
    static THREADS: OnceLock<MediaThreads> = OnceLock::new();
    let threads = THREADS.get_or_init(start);
    if threads.handles.is_empty() {
        return Handle::current();
    }
    let n = threads.next.fetch_add(1, Ordering::Relaxed) % threads.handles.len();
    threads.handles[n].clone()
}
