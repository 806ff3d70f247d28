//! Recordings checked by their audio: each side sends its own tone, and the file must carry
//! each on its own channel, in time, with silence where a side said nothing.
#![allow(clippy::unwrap_used)]

use crm_recording::{RATE, RtpClock, Side, StereoWriter, g711, recover};
use std::io::Write;
use std::time::{Duration, Instant};

const PACKET: usize = 160; // 20 ms

fn tone(freq: f64, from: usize, len: usize) -> Vec<i16> {
    (from..from + len)
        .map(|n| (12000.0 * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(RATE)).sin()) as i16)
        .collect()
}

/// The frequency of a pure tone, from its zero crossings.
fn frequency(samples: &[i16]) -> f64 {
    let crossings = samples.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (samples.len() as f64 / f64::from(RATE))
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

fn channels(path: &std::path::Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (2, 8000, 16));
    let all: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    (all.iter().step_by(2).copied().collect(), all.iter().skip(1).step_by(2).copied().collect())
}

struct Packet {
    arrived: Instant,
    side: Side,
    ssrc: u32,
    timestamp: u32,
    law: u8,
    payload: Vec<u8>,
}

/// `seconds` of `freq` from one side as G.711 RTP packets, arriving with up to 30 ms of jitter.
fn packets(start: Instant, side: Side, law: u8, freq: f64, from_s: f64, seconds: f64, ssrc: u32) -> Vec<Packet> {
    let first = (from_s * f64::from(RATE)) as usize;
    (0..(seconds * f64::from(RATE)) as usize / PACKET)
        .map(|p| {
            let offset = first + p * PACKET;
            let payload = tone(freq, offset, PACKET)
                .iter()
                .map(|&s| if law == 0 { g711::linear_to_ulaw(s) } else { g711::linear_to_alaw(s) })
                .collect();
            let jitter = Duration::from_millis((p * 7919 % 31) as u64);
            let arrived = start + Duration::from_micros(offset as u64 * 125) + jitter;
            Packet { arrived, side, ssrc, timestamp: 90_000u32.wrapping_add(offset as u32), law, payload }
        })
        .collect()
}

/// Feeds packets of both sides in arrival order, as the network delivers them.
fn play(writer: &mut StereoWriter, start: Instant, mut all: Vec<Packet>) {
    all.sort_by_key(|p| p.arrived);
    let mut clocks = [RtpClock::new(start), RtpClock::new(start)];
    let mut samples = Vec::new();
    for p in all {
        let at = clocks[p.side as usize].frame(p.ssrc, p.timestamp, p.arrived);
        assert!(g711::decode(p.law, &p.payload, &mut samples));
        writer.push(p.side, at, &samples).unwrap();
    }
}

#[test]
fn each_side_on_its_channel_in_time_with_silence_filled() {
    for law in [0u8, 8] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        let start = Instant::now();
        let mut writer = StereoWriter::create(&path).unwrap();
        // Customer talks 0-6 s at 440 Hz. Agent talks 0-2 s, is on hold 2-3 s, talks 3-6 s at 1000 Hz.
        let mut all = packets(start, Side::Customer, law, 440.0, 0.0, 6.0, 0x1111);
        all.extend(packets(start, Side::Agent, law, 1000.0, 0.0, 2.0, 0x2222));
        all.extend(packets(start, Side::Agent, law, 1000.0, 3.0, 3.0, 0x2222));
        play(&mut writer, start, all);
        let duration = writer.finish(Some(6 * u64::from(RATE))).unwrap();
        assert_eq!(duration, Duration::from_secs(6));

        let (left, right) = channels(&path);
        assert_eq!(left.len(), 6 * RATE as usize);
        let sec = |ch: &[i16], s: usize| ch[s * RATE as usize + 400..(s + 1) * RATE as usize - 400].to_vec();
        for s in 0..6 {
            let f = frequency(&sec(&left, s));
            assert!((f - 440.0).abs() < 10.0, "law {law}: left second {s} is {f} Hz");
        }
        for s in [0, 1, 3, 4, 5] {
            let f = frequency(&sec(&right, s));
            assert!((f - 1000.0).abs() < 10.0, "law {law}: right second {s} is {f} Hz");
        }
        assert!(rms(&sec(&right, 2)) < 1.0, "law {law}: the agent's hold is silence");
        // No leakage between channels.
        assert!(rms(&sec(&left, 2)) > 5000.0);
        // In time: the agent's tone resumes exactly at 3 s, where its timestamps put it.
        let resume = right[3 * RATE as usize - 50..].iter().position(|&s| s != 0).unwrap() as i64 - 50;
        assert!(resume.abs() <= 1, "law {law}: agent audio resumes {resume} frames off");
    }
}

#[test]
fn a_crash_leaves_a_valid_recording_of_what_was_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.wav");
    let start = Instant::now();
    let mut writer = StereoWriter::create(&path).unwrap();
    let mut first = packets(start, Side::Customer, 8, 440.0, 0.0, 3.0, 1);
    first.extend(packets(start, Side::Agent, 8, 1000.0, 0.0, 3.0, 2));
    play(&mut writer, start, first);
    writer.checkpoint().unwrap();
    play(&mut writer, start, packets(start, Side::Customer, 8, 440.0, 3.0, 1.0, 1));
    // The process dies here: nothing is finalised.
    std::mem::forget(writer);
    // Garbage of a torn last write must not break the file either.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[1, 2, 3]).unwrap();

    let duration = recover(&path).unwrap();
    assert!(duration >= Duration::from_millis(2700) && duration <= Duration::from_secs(4), "{duration:?}");
    let (left, right) = channels(&path);
    assert_eq!(Duration::from_micros(left.len() as u64 * 125), duration);
    assert!((frequency(&left[8000..16000]) - 440.0).abs() < 10.0);
    assert!((frequency(&right[8000..16000]) - 1000.0).abs() < 10.0);
    // Recovering twice changes nothing.
    assert_eq!(recover(&path).unwrap(), duration);
    assert!(recover(&dir.path().join("missing.wav")).is_err());
}

mod spool {
    use super::*;
    use crm_core::storage::ObjectStore;
    use crm_recording::Spool;
    use crm_storage::LocalStore;
    use std::sync::Arc;

    #[tokio::test]
    async fn uploads_wait_for_storage_and_crashed_recordings_are_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        let store = Arc::new(LocalStore::open(&objects).await.unwrap());
        let spool = Spool::open(dir.path().join("spool"), store.clone())
            .await
            .unwrap()
            .with_backoff(Duration::from_millis(20), Duration::from_millis(100));

        // A call recorded and hung up normally.
        let start = Instant::now();
        let mut writer = spool.create("call-1", "tenants/t/recordings/call-1.wav").unwrap();
        play(&mut writer, start, packets(start, Side::Customer, 0, 440.0, 0.0, 1.0, 1));
        writer.finish(None).unwrap();

        // Storage is down: a file sits where its folder should be.
        std::fs::remove_dir_all(&objects).unwrap();
        std::fs::write(&objects, b"not a folder").unwrap();
        let uploading = tokio::spawn({
            let spool = spool.clone();
            async move { spool.upload("call-1").await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!uploading.is_finished(), "the upload keeps retrying while storage is down");
        assert!(dir.path().join("spool/call-1.wav").exists(), "and the recording stays in the spool");
        // Storage comes back.
        std::fs::remove_file(&objects).unwrap();
        std::fs::create_dir_all(&objects).unwrap();
        let uploaded = tokio::time::timeout(Duration::from_secs(10), uploading).await.unwrap().unwrap();
        assert_eq!(uploaded.duration, Duration::from_secs(1));
        let (body, content_type) = store.get("tenants/t/recordings/call-1.wav").await.unwrap();
        assert_eq!(content_type, "audio/wav");
        assert_eq!(body.len() as u64, uploaded.bytes);
        assert!(!dir.path().join("spool/call-1.wav").exists());

        // A call cut short by a crash: recovered and uploaded on the next start.
        let mut writer = spool.create("call-2", "tenants/t/recordings/call-2.wav").unwrap();
        play(&mut writer, start, packets(start, Side::Agent, 8, 1000.0, 0.0, 2.0, 2));
        writer.checkpoint().unwrap();
        std::mem::forget(writer);
        let recovered = spool.recover_all().await.unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].name, "call-2");
        assert!(recovered[0].duration >= Duration::from_millis(1500));
        let (body, _) = store.get("tenants/t/recordings/call-2.wav").await.unwrap();
        let reader = hound::WavReader::new(std::io::Cursor::new(body.to_vec())).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert!(spool.recover_all().await.unwrap().is_empty(), "nothing is uploaded twice");
    }
}
