//! Recording uploads (issue 8's sizing figures): finished one-minute stereo recordings taken
//! from the spool to object storage as the SIP edge does after each call (read, header checked,
//! PUT, local copy removed), beside a baseline measured in the same run: the same bytes PUT
//! from memory through the same store at the same concurrency. Prints a Markdown table.
//!
//! Usage: crm-bench-uploads [S3_ENDPOINT] (e2e/bench/uploads starts an S3 server and calls this)
//! Settings: UPLOADS_RECORDINGS (200), UPLOADS_CONCURRENCY (16).
use anyhow::{Context, Result};
use bytes::Bytes;
use crm_core::storage::ObjectStore;
use crm_recording::{RATE, Side, Spool};
use crm_storage::{LocalStore, S3Settings, S3Store};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECONDS_PER_RECORDING: u64 = 60;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A 20 ms frame of a tone.
fn tone(frequency: f64, frame: u64) -> Vec<i16> {
    let samples = (RATE / 50) as u64;
    (0..samples)
        .map(|i| {
            let t = (frame * samples + i) as f64 / f64::from(RATE);
            ((t * frequency * std::f64::consts::TAU).sin() * 8000.0) as i16
        })
        .collect()
}

/// Writes `count` one-minute recordings (the customer's tone left, the agent's right) to `spool`.
fn record(spool: &Spool, count: usize) -> Result<Vec<String>> {
    let frames = SECONDS_PER_RECORDING * 50;
    let (customer, agent): (Vec<_>, Vec<_>) = (0..frames).map(|f| (tone(440.0, f), tone(1000.0, f))).unzip();
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("rec-{i}");
        let mut writer = spool.create(&name, &format!("bench/{name}.wav"))?;
        for (frame, (left, right)) in customer.iter().zip(&agent).enumerate() {
            let at = frame as u64 * u64::from(RATE / 50);
            writer.push(Side::Customer, at, left)?;
            writer.push(Side::Agent, at, right)?;
        }
        writer.finish(None)?;
        names.push(name);
    }
    Ok(names)
}

struct Figures {
    elapsed: Duration,
    bytes: u64,
}

/// The spool's uploads of every recording, `concurrency` at a time.
async fn through_spool(spool: &Spool, names: &[String], concurrency: usize) -> Result<Figures> {
    let started = Instant::now();
    let uploaded: Vec<_> =
        futures::stream::iter(names).map(|name| spool.upload(name)).buffer_unordered(concurrency).collect().await;
    let elapsed = started.elapsed();
    let mut bytes = 0;
    for upload in uploaded {
        bytes += upload.context("an upload failed")?.bytes;
    }
    Ok(Figures { elapsed, bytes })
}

/// The same number of PUTs of `body` from memory.
async fn straight(store: &Arc<dyn ObjectStore>, body: &Bytes, count: usize, concurrency: usize) -> Result<Figures> {
    let started = Instant::now();
    let puts: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            let (store, body) = (store.clone(), body.clone());
            async move { store.put(&format!("baseline/rec-{i}.wav"), body, "audio/wav").await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for put in puts {
        put.context("a PUT failed")?;
    }
    Ok(Figures { elapsed, bytes: body.len() as u64 * count as u64 })
}

fn row(store: &str, path: &str, count: usize, figures: &Figures, baseline: &Figures) {
    let secs = figures.elapsed.as_secs_f64();
    let mb = figures.bytes as f64 / 1e6;
    println!(
        "| {store} | {path} | {count} ({mb:.0} MB) | {:.1} | {:.1} | {:.1} | {:.2} |",
        secs,
        count as f64 / secs,
        mb / secs,
        baseline.elapsed.as_secs_f64() / secs,
    );
}

async fn measure(label: &str, store: Arc<dyn ObjectStore>, count: usize, concurrency: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let spool = Spool::open(dir.path().join("spool"), store.clone()).await?;
    eprintln!("{label}: writing {count} one-minute recordings to the spool");
    let names = record(&spool, count)?;
    let body = Bytes::from(std::fs::read(dir.path().join("spool").join(format!("{}.wav", names[0])))?);
    eprintln!("{label}: uploading, {concurrency} at a time");
    let baseline = straight(&store, &body, count, concurrency).await?;
    let spooled = through_spool(&spool, &names, concurrency).await?;
    row(label, "PUT from memory (baseline)", count, &baseline, &baseline);
    row(label, "spool upload (read, check, PUT, remove)", count, &spooled, &baseline);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let count = setting("UPLOADS_RECORDINGS", 200).max(1);
    let concurrency = setting("UPLOADS_CONCURRENCY", 16).max(1);
    println!("| store | path | recordings | seconds | recordings/s | MB/s | speed vs baseline |");
    println!("|---|---|---|---:|---:|---:|---:|");
    let local = tempfile::tempdir()?;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(local.path()).await?);
    measure("local folder", store, count, concurrency).await?;
    if let Some(endpoint) = std::env::args().nth(1) {
        let s3 = S3Store::new(&S3Settings {
            bucket: "crm-bench-uploads".into(),
            endpoint: Some(endpoint),
            region: "us-east-1".into(),
            access_key_id: "bench".into(),
            secret_access_key: "bench".into(),
            path_style: true,
        });
        s3.ensure_bucket().await?;
        measure("S3 server", Arc::new(s3), count, concurrency).await?;
    }
    Ok(())
}
