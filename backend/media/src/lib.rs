//! RTP media for the built-in SIP edge. The edge relays every packet between the two legs of a
//! call (so NAT on either side works, and both sides can be recorded) and taps G.711 audio into
//! the call's stereo recording.
mod ports;
mod relay;
pub mod rtp;
mod threads;

pub use ports::{PortRange, RtpSocket};
pub use relay::{Leg, Relay, RelayStats};
