//! Relays RTP between the two legs of a call and records both directions.
use crate::ports::RtpSocket;
use crate::rtp;
use crm_recording::{RATE, RtpClock, Side, StereoWriter, g711};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
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
    /// Decoded audio of the packet at hand (reused: no allocation per packet).
    samples: Vec<i16>,
}

/// Counts shared with whoever asks for [`Relay::stats`]; everything else belongs to the one task.
#[derive(Default)]
struct Counts([[AtomicU64; 2]; 3]);

impl Counts {
    fn stats(&self) -> RelayStats {
        let read = |k: usize| [0, 1].map(|l| self.0[k][l].load(Ordering::Relaxed));
        RelayStats { received: read(0), forwarded: read(1), recorded: read(2) }
    }
}

enum Command {
    SetRemote(Leg, Option<SocketAddr>),
    Stop,
}

/// One task per call owns both sockets, the peers' addresses and the recording: no locks on the
/// per-packet path, and packets queued on a socket are drained in one wake-up.
pub struct Relay {
    ports: [u16; 2],
    counts: Arc<Counts>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<Option<Recorder>>,
    started: Instant,
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
        let counts = Arc::new(Counts::default());
        let (commands, receiver) = mpsc::unbounded_channel();
        let remotes = remotes.map(|signalled| Remote { signalled, latched: None });
        let recorder = recording.map(|writer| Recorder {
            writer,
            clocks: [RtpClock::new(started), RtpClock::new(started)],
            samples: Vec::with_capacity(320),
        });
        let sockets = [customer.socket, agent.socket];
        let shared = counts.clone();
        // The sockets are registered with the media thread's own reactor, inside its runtime.
        let task = crate::threads::next().spawn(async move {
            let registered = match sockets.map(UdpSocket::from_std) {
                [Ok(customer), Ok(agent)] => [customer, agent],
                _ => {
                    tracing::error!("cannot register RTP sockets; the call has no media");
                    return recorder;
                }
            };
            Pump { sockets: registered, remotes, recorder, counts: shared }.run(receiver).await
        });
        Self { ports, counts, commands, task, started }
    }

    pub fn local_port(&self, leg: Leg) -> u16 {
        self.ports[leg as usize]
    }

    /// A new SDP for `leg` (re-INVITE): send there, and learn its real source again.
    pub fn set_remote(&self, leg: Leg, addr: Option<SocketAddr>) {
        let _ = self.commands.send(Command::SetRemote(leg, addr));
    }

    pub fn stats(&self) -> RelayStats {
        self.counts.stats()
    }

    /// Stops relaying and completes the recording, padded with silence to the call's length.
    pub async fn stop(self) -> (RelayStats, Option<io::Result<Duration>>) {
        let Relay { counts, commands, task, started, .. } = self;
        let _ = commands.send(Command::Stop);
        let recorder = match task.await {
            Ok(recorder) => recorder,
            Err(error) => {
                tracing::error!(%error, "the RTP relay task failed; its recording is left for recovery");
                None
            }
        };
        let stats = counts.stats();
        let until = started.elapsed().as_micros() as u64 * u64::from(RATE) / 1_000_000;
        (stats, recorder.map(|r| r.writer.finish(Some(until))))
    }
}

struct Pump {
    sockets: [UdpSocket; 2],
    remotes: [Remote; 2],
    recorder: Option<Recorder>,
    counts: Arc<Counts>,
}

impl Pump {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> Option<Recorder> {
        let mut buffers = vec![0u8; 2 * 2048];
        let (customer_buf, agent_buf) = buffers.split_at_mut(2048);
        // Make recorded audio durable every second, so a crash loses at most that much.
        let mut checkpoint = tokio::time::interval(Duration::from_secs(1));
        checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let (leg, received) = tokio::select! {
                received = self.sockets[0].recv_from(customer_buf) => (Leg::Customer, received),
                received = self.sockets[1].recv_from(agent_buf) => (Leg::Agent, received),
                _ = checkpoint.tick() => {
                    if let Some(recorder) = self.recorder.as_mut()
                        && let Err(error) = recorder.writer.checkpoint()
                    {
                        tracing::error!(%error, "could not checkpoint a recording");
                    }
                    continue;
                }
                command = commands.recv() => match command {
                    Some(Command::SetRemote(leg, signalled)) => {
                        self.remotes[leg as usize] = Remote { signalled, latched: None };
                        continue;
                    }
                    Some(Command::Stop) | None => return self.recorder,
                },
            };
            let buf = if leg == Leg::Customer { &mut *customer_buf } else { &mut *agent_buf };
            let mut received = received;
            // Drain what is already queued on this socket before waiting again.
            loop {
                match received {
                    Ok((len, from)) => self.packet(leg, &buf[..len], from),
                    // ICMP port unreachable from a peer that went away shows up here; keep going.
                    Err(error) if error.kind() != io::ErrorKind::WouldBlock => {
                        tracing::debug!(%error, ?leg, "RTP receive error");
                    }
                    Err(_) => break,
                }
                received = self.sockets[leg as usize].try_recv_from(buf);
            }
        }
    }

    fn packet(&mut self, leg: Leg, packet: &[u8], from: SocketAddr) {
        let Some((header, payload)) = rtp::parse(packet) else { return };
        let (me, other) = (leg as usize, leg.other() as usize);
        match self.remotes[me].latched {
            None => self.remotes[me].latched = Some(from),
            Some(latched) if latched != from => return, // not this leg's peer
            Some(_) => {}
        }
        let counts = &self.counts.0;
        counts[0][me].fetch_add(1, Ordering::Relaxed);
        let remote = &self.remotes[other];
        // A full socket buffer drops the packet, as the network would; the relay never waits.
        if let Some(destination) = remote.latched.or(remote.signalled)
            && self.sockets[other].try_send_to(packet, destination).is_ok()
        {
            counts[1][me].fetch_add(1, Ordering::Relaxed);
        }
        // DTMF (telephone-event) and other codecs are relayed but not recorded.
        if let Some(recorder) = self.recorder.as_mut()
            && g711::decode(header.payload_type, payload, &mut recorder.samples)
        {
            let at = recorder.clocks[me].frame(header.ssrc, header.timestamp, Instant::now());
            match recorder.writer.push(leg.side(), at, &recorder.samples) {
                Ok(()) => {
                    counts[2][me].fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => tracing::error!(%error, "could not write to a recording"),
            }
        }
    }
}
