//! Two real UDP "phones" talk through the relay: each hears the other, NAT on the trunk side
//! is handled by symmetric RTP, and the recording carries each side on its own channel.
#![allow(clippy::unwrap_used)]

use crm_media::rtp::{self, Header};
use crm_media::{Leg, PortRange, Relay};
use crm_recording::{StereoWriter, g711};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

const PACKETS: u16 = 150; // 3 s of 20 ms packets

fn frequency(samples: &[i16]) -> f64 {
    let crossings = samples.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 8000.0)
}

/// Sends a tone in real time, 20 ms per packet, from `socket` to `to`.
async fn talk(socket: Arc<UdpSocket>, to: SocketAddr, payload_type: u8, freq: f64, ssrc: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for seq in 0..PACKETS {
        tick.tick().await;
        let pcm: Vec<i16> = (0..160)
            .map(|n| {
                (9000.0 * (2.0 * std::f64::consts::PI * freq * f64::from(u32::from(seq) * 160 + n) / 8000.0).sin())
                    as i16
            })
            .collect();
        let payload: Vec<u8> = pcm
            .iter()
            .map(|&s| if payload_type == 0 { g711::linear_to_ulaw(s) } else { g711::linear_to_alaw(s) })
            .collect();
        let header = Header { payload_type, marker: seq == 0, sequence: seq, timestamp: u32::from(seq) * 160, ssrc };
        socket.send_to(&rtp::packet(header, &payload), to).await.unwrap();
    }
}

/// Collects what a phone hears until it has `count` packets (or times out).
async fn listen(socket: Arc<UdpSocket>, count: usize) -> Vec<Vec<u8>> {
    let mut heard = Vec::new();
    let mut buf = [0u8; 2048];
    while heard.len() < count {
        match tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => heard.push(buf[..len].to_vec()),
            _ => break,
        }
    }
    heard
}

#[tokio::test]
async fn both_sides_hear_each_other_and_are_recorded_on_their_channels() {
    let ports = PortRange::new("127.0.0.1".parse().unwrap(), 41000, 41100);
    let (customer_leg, agent_leg) = (ports.allocate().unwrap(), ports.allocate().unwrap());
    assert_ne!(customer_leg.port, agent_leg.port);
    assert_eq!(customer_leg.port % 2, 0);

    let kerio = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let phone = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    // Behind NAT the trunk's SDP names an address its media does not come from.
    let wrong: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let relay = Relay::start(
        customer_leg,
        agent_leg,
        [Some(wrong), Some(phone.local_addr().unwrap())],
        Some(StereoWriter::create(&path).unwrap()),
    );
    let to_customer_leg: SocketAddr = format!("127.0.0.1:{}", relay.local_port(Leg::Customer)).parse().unwrap();
    let to_agent_leg: SocketAddr = format!("127.0.0.1:{}", relay.local_port(Leg::Agent)).parse().unwrap();

    let kerio_hears = tokio::spawn(listen(kerio.clone(), usize::from(PACKETS)));
    let phone_hears = tokio::spawn(listen(phone.clone(), usize::from(PACKETS)));
    // The customer speaks first (that is what latches the trunk side), then both talk.
    let customer_talks = tokio::spawn(talk(kerio.clone(), to_customer_leg, 0, 440.0, 0x1111));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.stats().received[0] == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the relay never heard the customer");
        tokio::task::yield_now().await;
    }
    talk(phone.clone(), to_agent_leg, 8, 1000.0, 0x2222).await;
    customer_talks.await.unwrap();
    // A stranger's packets on the trunk leg are not taken for the customer's.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let fake = rtp::packet(Header { payload_type: 0, marker: false, sequence: 1, timestamp: 1, ssrc: 7 }, &[0xff; 160]);
    stranger.send_to(&fake, to_customer_leg).await.unwrap();
    // DTMF passes through but is not audio.
    let dtmf = rtp::packet(
        Header { payload_type: 101, marker: true, sequence: 999, timestamp: 99_999, ssrc: 0x2222 },
        &[5, 0x80, 0, 160],
    );
    phone.send_to(&dtmf, to_agent_leg).await.unwrap();

    let phone_heard = phone_hears.await.unwrap();
    let kerio_heard = tokio::time::timeout(Duration::from_secs(10), async {
        let mut heard = kerio_hears.await.unwrap();
        let mut buf = [0u8; 2048];
        // The DTMF packet arrives after the agent's audio.
        while !heard.iter().any(|p| p[1] & 0x7f == 101) {
            let (len, _) = kerio.recv_from(&mut buf).await.unwrap();
            heard.push(buf[..len].to_vec());
        }
        heard
    })
    .await
    .unwrap();
    assert_eq!(phone_heard.len(), usize::from(PACKETS), "the agent hears every customer packet");
    assert_eq!(kerio_heard.len(), usize::from(PACKETS) + 1, "the customer hears the agent, via symmetric RTP");
    let (h, _) = rtp::parse(&phone_heard[10]).unwrap();
    assert_eq!((h.payload_type, h.ssrc, h.sequence), (0, 0x1111, 10), "packets pass unchanged");

    let stats = relay.stats();
    assert_eq!(stats.received, [u64::from(PACKETS), u64::from(PACKETS) + 1]);
    let (stats, recording) = relay.stop().await;
    assert_eq!(
        stats.recorded,
        [u64::from(PACKETS), u64::from(PACKETS)],
        "every audio packet was recorded; DTMF was not"
    );
    let duration = recording.unwrap().unwrap();
    assert!((Duration::from_millis(2900)..Duration::from_millis(3600)).contains(&duration), "{duration:?}");

    let mut reader = hound::WavReader::open(&path).unwrap();
    let all: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let middle = 8000..16000;
    assert!((frequency(&left[middle.clone()]) - 440.0).abs() < 10.0, "left is the customer");
    assert!((frequency(&right[middle]) - 1000.0).abs() < 10.0, "right is the agent");
}
