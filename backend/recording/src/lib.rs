//! Call recording, shared by both call paths.
//!
//! Audio is decoded from G.711 and streamed to a stereo WAV in a local spool as it arrives
//! (customer left, agent right, 8 kHz 16-bit), so a call's audio is never held in memory.
//! After hang-up the file is uploaded to object storage, retrying until it succeeds; after a
//! crash, unfinished files are repaired and uploaded on the next start.
pub mod g711;
mod link;
mod spool;
mod writer;

pub use link::{recording_key, upload_and_link};
pub use spool::{Spool, Uploaded};
pub use writer::{RtpClock, Side, StereoWriter, recover};

/// Samples per second of every recording.
pub const RATE: u32 = 8000;
