//! A stereo WAV written as audio arrives, with both sides kept in time.
use crate::RATE;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Which channel a side of the call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Left: the customer (the trunk leg).
    Customer = 0,
    /// Right: the agent.
    Agent = 1,
}

/// How far one side may run ahead of the other before the other is taken as silent.
const JITTER: u64 = RATE as u64 / 5;

/// Streams interleaved 16-bit stereo frames to disk. Each side's samples land at the frame
/// where they belong; a side with nothing to say for a while gets silence, so the channels
/// never drift apart. At most `JITTER` frames per side are held in memory.
pub struct StereoWriter {
    writer: hound::WavWriter<BufWriter<File>>,
    /// Frames already written to the file.
    written: u64,
    pending: [VecDeque<i16>; 2],
    /// Samples dropped because they arrived after their frame was written.
    late: u64,
}

impl StereoWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(io::Error::other)?;
        Ok(Self { writer, written: 0, pending: [VecDeque::new(), VecDeque::new()], late: 0 })
    }

    /// Places `samples` of `side` starting at frame `at` (counted from the recording's start).
    pub fn push(&mut self, side: Side, at: u64, samples: &[i16]) -> io::Result<()> {
        let mut samples = samples;
        let mut at = at;
        if at < self.written {
            let skip = (self.written - at).min(samples.len() as u64);
            self.late += skip;
            samples = &samples[skip as usize..];
            at = self.written;
        }
        let buffer = &mut self.pending[side as usize];
        let offset = (at - self.written) as usize;
        if buffer.len() < offset + samples.len() {
            buffer.resize(offset + samples.len(), 0);
        }
        for (slot, sample) in buffer.iter_mut().skip(offset).zip(samples) {
            *slot = *sample;
        }
        let ahead = self.pending.iter().map(VecDeque::len).max().unwrap_or(0) as u64;
        if ahead > JITTER {
            self.flush_frames(ahead - JITTER)?;
        }
        Ok(())
    }

    fn flush_frames(&mut self, frames: u64) -> io::Result<()> {
        // hound's 16-bit writer fills a buffer and writes it at once (far cheaper per sample).
        let mut out = self.writer.get_i16_writer(frames as u32 * 2);
        for _ in 0..frames {
            for side in 0..2 {
                out.write_sample(self.pending[side].pop_front().unwrap_or(0));
            }
        }
        out.flush().map_err(io::Error::other)?;
        self.written += frames;
        Ok(())
    }

    /// Frames written or pending: the recording's length so far.
    pub fn frames(&self) -> u64 {
        self.written + self.pending.iter().map(VecDeque::len).max().unwrap_or(0) as u64
    }

    pub fn late_samples(&self) -> u64 {
        self.late
    }

    /// Makes what was written so far durable and the header valid (cheap enough every second).
    pub fn checkpoint(&mut self) -> io::Result<()> {
        self.writer.flush().map_err(io::Error::other)
    }

    /// Writes everything pending, pads the call out to `until` frames with silence if given
    /// (a silent end of the call still counts), and completes the file. Returns its duration.
    pub fn finish(mut self, until: Option<u64>) -> io::Result<Duration> {
        let end = until.unwrap_or(0).max(self.frames());
        self.flush_frames(end - self.written)?;
        self.writer.finalize().map_err(io::Error::other)?;
        Ok(frames_to_duration(end))
    }
}

fn frames_to_duration(frames: u64) -> Duration {
    Duration::from_micros(frames * 1_000_000 / u64::from(RATE))
}

/// Repairs a WAV left unfinished by a crash: whole frames are kept and the header sizes set.
/// Returns its duration.
pub fn recover(path: &Path) -> io::Result<Duration> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut header = [0u8; 44];
    file.read_exact(&mut header)?;
    let canonical = &header[0..4] == b"RIFF" && &header[8..16] == b"WAVEfmt " && &header[36..40] == b"data";
    let channels = u16::from_le_bytes([header[22], header[23]]);
    let bits = u16::from_le_bytes([header[34], header[35]]);
    if !canonical || channels != 2 || bits != 16 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a recording of ours"));
    }
    let frame = 4u64;
    let data = (file.metadata()?.len().saturating_sub(44) / frame) * frame;
    file.set_len(44 + data)?;
    let data32 = u32::try_from(data).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "recording over 4 GiB"))?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&(data32 + 36).to_le_bytes())?;
    file.seek(SeekFrom::Start(40))?;
    file.write_all(&data32.to_le_bytes())?;
    file.sync_all()?;
    Ok(frames_to_duration(data / frame))
}

/// Maps one RTP stream's timestamps to recording frames. The first packet is placed by its
/// arrival time; later ones by their timestamps, so network jitter does not move audio. A new
/// stream (SSRC) or a jump of more than a second re-anchors to the arrival time.
#[derive(Debug)]
pub struct RtpClock {
    start: Instant,
    anchor: Option<(u32, u32, u64)>,
}

impl RtpClock {
    pub fn new(start: Instant) -> Self {
        Self { start, anchor: None }
    }

    pub fn frame(&mut self, ssrc: u32, timestamp: u32, arrived: Instant) -> u64 {
        let by_arrival =
            (arrived.saturating_duration_since(self.start).as_micros() * u128::from(RATE) / 1_000_000) as u64;
        if let Some((anchor_ssrc, anchor_ts, anchor_frame)) = self.anchor
            && anchor_ssrc == ssrc
        {
            let by_timestamp = anchor_frame as i64 + i64::from(timestamp.wrapping_sub(anchor_ts) as i32);
            if by_timestamp >= 0 && (by_timestamp - by_arrival as i64).unsigned_abs() <= u64::from(RATE) {
                return by_timestamp as u64;
            }
        }
        self.anchor = Some((ssrc, timestamp, by_arrival));
        by_arrival
    }
}
