//! Relays RTP between the two legs of a call and records both directions.
use crate::ports::RtpSocket;
use crate::rtp;
use crm_recording::{RATE, RtpClock, Side, StereoWriter, g711};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// The two legs of a bridged call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// The trunk side: the customer, recorded on the left channel.
    Customer = 0,
    /// The agent's phone, recorded on the right channel.
    Agent = 1,
}

impl Leg {
    fn other(self) -> Leg {
        match self {
            Leg::Customer => Leg::Agent,
            Leg::Agent => Leg::Customer,
        }
    }

    fn side(self) -> Side {
        match self {
            Leg::Customer => Side::Customer,
            Leg::Agent => Side::Agent,
        }
    }
}

/// Per-leg packet counts: what arrived, what was passed on, what went into the recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub received: [u64; 2],
    pub forwarded: [u64; 2],
    pub recorded: [u64; 2],
}

#[derive(Default, Debug)]
struct Remote {
    /// From the SDP.
    signalled: Option<SocketAddr>,
    /// Where the peer's media really comes from (symmetric RTP): replies go there.
    latched: Option<SocketAddr>,
}

struct Recorder {
    writer: StereoWriter,
    clocks: [RtpClock; 2],
}

struct Shared {
    sockets: [Arc<UdpSocket>; 2],
    remotes: [Mutex<Remote>; 2],
    recorder: Mutex<Option<Recorder>>,
    counts: [[AtomicU64; 2]; 3],
    started: Instant,
}

pub struct Relay {
    shared: Arc<Shared>,
    ports: [u16; 2],
    tasks: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Relay {
    /// Starts relaying between the legs' sockets. Remote addresses come from each leg's SDP
    /// when known; `recording` receives both directions from now on.
    pub fn start(
        customer: RtpSocket,
        agent: RtpSocket,
        remotes: [Option<SocketAddr>; 2],
        recording: Option<StereoWriter>,
    ) -> Self {
        let started = Instant::now();
        let ports = [customer.port, agent.port];
        let shared = Arc::new(Shared {
            sockets: [Arc::new(customer.socket), Arc::new(agent.socket)],
            remotes: remotes.map(|signalled| Mutex::new(Remote { signalled, latched: None })),
            recorder: Mutex::new(
                recording.map(|writer| Recorder { writer, clocks: [RtpClock::new(started), RtpClock::new(started)] }),
            ),
            counts: Default::default(),
            started,
        });
        let mut tasks: Vec<JoinHandle<()>> =
            [Leg::Customer, Leg::Agent].into_iter().map(|leg| tokio::spawn(pump(shared.clone(), leg))).collect();
        // Make recorded audio durable every second, so a crash loses at most that much.
        let checkpoints = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(recorder) = lock(&checkpoints.recorder).as_mut()
                    && let Err(error) = recorder.writer.checkpoint()
                {
                    tracing::error!(%error, "could not checkpoint a recording");
                }
            }
        }));
        Self { shared, ports, tasks }
    }

    pub fn local_port(&self, leg: Leg) -> u16 {
        self.ports[leg as usize]
    }

    /// A new SDP for `leg` (re-INVITE): send there, and learn its real source again.
    pub fn set_remote(&self, leg: Leg, addr: Option<SocketAddr>) {
        *lock(&self.shared.remotes[leg as usize]) = Remote { signalled: addr, latched: None };
    }

    pub fn stats(&self) -> RelayStats {
        let read = |k: usize| [0, 1].map(|l| self.shared.counts[k][l].load(Ordering::Relaxed));
        RelayStats { received: read(0), forwarded: read(1), recorded: read(2) }
    }

    /// Stops relaying and completes the recording, padded with silence to the call's length.
    pub async fn stop(mut self) -> (RelayStats, Option<io::Result<Duration>>) {
        for task in &self.tasks {
            task.abort();
        }
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        let stats = self.stats();
        let until = self.shared.started.elapsed().as_micros() as u64 * u64::from(RATE) / 1_000_000;
        let recorder = lock(&self.shared.recorder).take();
        (stats, recorder.map(|r| r.writer.finish(Some(until))))
    }
}

async fn pump(shared: Arc<Shared>, leg: Leg) {
    let mut buf = vec![0u8; 2048];
    let (me, other) = (leg as usize, leg.other() as usize);
    loop {
        let (len, from) = match shared.sockets[me].recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP port unreachable from a peer that went away shows up here; keep going.
                tracing::debug!(%error, ?leg, "RTP receive error");
                continue;
            }
        };
        let packet = &buf[..len];
        let Some((header, payload)) = rtp::parse(packet) else { continue };
        {
            let mut remote = lock(&shared.remotes[me]);
            match remote.latched {
                None => remote.latched = Some(from),
                Some(latched) if latched != from => continue, // not this leg's peer
                Some(_) => {}
            }
        }
        shared.counts[0][me].fetch_add(1, Ordering::Relaxed);
        let destination = {
            let remote = lock(&shared.remotes[other]);
            remote.latched.or(remote.signalled)
        };
        if let Some(destination) = destination
            && shared.sockets[other].send_to(packet, destination).await.is_ok()
        {
            shared.counts[1][me].fetch_add(1, Ordering::Relaxed);
        }
        // DTMF (telephone-event) and other codecs are relayed but not recorded.
        if let Some(samples) = g711::decode(header.payload_type, payload) {
            let mut guard = lock(&shared.recorder);
            if let Some(recorder) = guard.as_mut() {
                let at = recorder.clocks[me].frame(header.ssrc, header.timestamp, Instant::now());
                match recorder.writer.push(leg.side(), at, &samples) {
                    Ok(()) => {
                        shared.counts[2][me].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => tracing::error!(%error, "could not write to a recording"),
                }
            }
        }
    }
}
