//! Group commit for webhook payloads. Deliveries arriving together are written in one
//! transaction, so each acknowledgement waits for one commit shared by many instead of queueing
//! for a connection and a commit of its own. A payload is still acknowledged only once stored.
//! Once stored, the process that stored a payload files it (`Fresh`); other processes leave it
//! alone for a while, so several processes do not all walk the same new payloads.
use crate::inbox::InboundUpdate;
use crate::ports::Database;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc, oneshot};

/// Payloads written per transaction at most.
const BATCH: usize = 256;
/// Payloads waiting in memory to be filed at most; past it the oldest are left to the sweep of
/// stored payloads (they are in the database, only their turn comes later).
const FRESH_CAP: usize = 10_000;

/// Payloads this process stored and has not filed yet, oldest first.
#[derive(Default)]
pub(super) struct Fresh {
    queue: Mutex<VecDeque<InboundUpdate>>,
}

impl Fresh {
    fn push(&self, updates: Vec<InboundUpdate>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.extend(updates);
        let excess = queue.len().saturating_sub(FRESH_CAP);
        queue.drain(..excess);
    }

    pub(super) fn pop(&self) -> Option<InboundUpdate> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

struct Pending {
    updates: Vec<InboundUpdate>,
    stored: oneshot::Sender<std::result::Result<(), String>>,
}

pub(super) struct IngestQueue {
    sender: mpsc::Sender<Pending>,
}

impl IngestQueue {
    /// Starts the writer on the current runtime; it ends when the queue is dropped.
    pub(super) fn start(db: Arc<dyn Database>, signal: Arc<Notify>, fresh: Arc<Fresh>) -> Self {
        let (sender, receiver) = mpsc::channel(4 * BATCH);
        tokio::spawn(write(db, signal, fresh, receiver));
        Self { sender }
    }

    /// Returns once `updates` are durably stored (or were already).
    pub(super) async fn store(&self, updates: Vec<InboundUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let (stored, done) = oneshot::channel();
        let closed = || Error::internal("the webhook writer stopped");
        self.sender.send(Pending { updates, stored }).await.map_err(|_| closed())?;
        done.await.map_err(|_| closed())?.map_err(Error::internal)
    }
}

async fn write(db: Arc<dyn Database>, signal: Arc<Notify>, fresh: Arc<Fresh>, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let all: Vec<InboundUpdate> = batch.iter().flat_map(|p| p.updates.iter().cloned()).collect();
        let outcome = match db.store_updates(&all).await {
            Ok(stored) => {
                if stored > 0 {
                    fresh.push(all);
                    signal.notify_one();
                }
                Ok(())
            }
            // Every delivery in the batch is refused; the platforms deliver again.
            Err(error) => Err(error.to_string()),
        };
        for pending in batch.drain(..) {
            let _ = pending.stored.send(outcome.clone());
        }
    }
}
