//! The ARI worker: drives calls that Asterisk hands to our application (Stasis) through the
//! same call model as the built-in SIP edge. REST with reqwest, events over ARI's WebSocket.
mod call;
mod client;
mod events;
mod outbound;
mod store;
mod worker;

pub use client::{AriClient, AriError};
pub use events::Event;
pub use worker::{AriWorker, WorkerSettings};
