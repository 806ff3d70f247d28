//! Group commit for webhook payloads. Deliveries arriving together are written in one
//! transaction, so each acknowledgement waits for one commit shared by many instead of queueing
//! for a connection and a commit of its own. A payload is still acknowledged only once stored.
use crate::inbox::InboundUpdate;
use crate::ports::Database;
use crate::{Error, Result};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// Payloads written per transaction at most.
const BATCH: usize = 256;

struct Pending {
    updates: Vec<InboundUpdate>,
    stored: oneshot::Sender<std::result::Result<(), String>>,
}

pub(super) struct IngestQueue {
    sender: mpsc::Sender<Pending>,
}

impl IngestQueue {
    /// Starts the writer on the current runtime; it ends when the queue is dropped.
    pub(super) fn start(db: Arc<dyn Database>, signal: Arc<Notify>) -> Self {
        let (sender, receiver) = mpsc::channel(4 * BATCH);
        tokio::spawn(write(db, signal, receiver));
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

async fn write(db: Arc<dyn Database>, signal: Arc<Notify>, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let all: Vec<InboundUpdate> = batch.iter().flat_map(|p| p.updates.iter().cloned()).collect();
        let outcome = match db.store_updates(&all).await {
            Ok(stored) => {
                if stored > 0 {
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
