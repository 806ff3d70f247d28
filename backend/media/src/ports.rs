//! RTP ports from the configured range (it must match the range forwarded on Kerio Control).
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};

#[derive(Debug)]
pub struct PortRange {
    ip: IpAddr,
    first: u16,
    last: u16,
    next: AtomicU16,
    lock: Mutex<()>,
}

/// An RTP socket on an even port of the range (non-blocking; the relay registers it with the
/// media thread that serves the call).
#[derive(Debug)]
pub struct RtpSocket {
    pub socket: std::net::UdpSocket,
    pub port: u16,
}

impl PortRange {
    /// `first..=last` on `ip`; RTP takes even ports, leaving odd ones for RTCP.
    pub fn new(ip: IpAddr, first: u16, last: u16) -> Self {
        let first = first + first % 2;
        Self { ip, first, last, next: AtomicU16::new(first), lock: Mutex::new(()) }
    }

    /// Binds the next free even port, going round the range once; `None` when all are busy.
    pub fn allocate(&self) -> Option<RtpSocket> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let slots = (self.last.saturating_sub(self.first) / 2 + 1) as usize;
        for _ in 0..slots {
            let port = self.next.load(Ordering::Relaxed);
            let following = if port + 2 > self.last { self.first } else { port + 2 };
            self.next.store(following, Ordering::Relaxed);
            if let Ok(socket) = std::net::UdpSocket::bind(SocketAddr::new(self.ip, port))
                && socket.set_nonblocking(true).is_ok()
            {
                return Some(RtpSocket { socket, port });
            }
        }
        tracing::error!(first = self.first, last = self.last, "no free RTP port: widen the RTP range");
        None
    }
}
