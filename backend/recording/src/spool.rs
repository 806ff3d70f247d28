//! The local spool: recordings are written here during calls and uploaded after them.
use crate::writer::{StereoWriter, recover};
use bytes::Bytes;
use crm_core::storage::ObjectStore;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Written beside each recording: where it goes once the call ends.
#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Uploaded {
    /// The spool name (the call's id).
    pub name: String,
    pub key: String,
    pub duration: Duration,
    pub bytes: u64,
}

#[derive(Clone)]
pub struct Spool {
    dir: PathBuf,
    store: Arc<dyn ObjectStore>,
    backoff: (Duration, Duration),
}

impl Spool {
    pub async fn open(dir: impl Into<PathBuf>, store: Arc<dyn ObjectStore>) -> io::Result<Self> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir).await?;
        Ok(Self { dir, store, backoff: (Duration::from_millis(500), Duration::from_secs(60)) })
    }

    /// Retry delays for uploads: the first, doubling up to the last.
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }

    fn paths(&self, name: &str) -> io::Result<(PathBuf, PathBuf)> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "spool names are letters, digits and '-'"));
        }
        Ok((self.dir.join(format!("{name}.wav")), self.dir.join(format!("{name}.json"))))
    }

    /// Starts recording `name` (a call id), to be stored at `key` after the call.
    pub fn create(&self, name: &str, key: &str) -> io::Result<StereoWriter> {
        let (wav, meta) = self.paths(name)?;
        std::fs::write(&meta, serde_json::to_vec(&Meta { key: key.to_owned() })?)?;
        StereoWriter::create(&wav)
    }

    /// Uploads a finished recording, retrying until object storage takes it, then removes
    /// the local copy. Nothing is lost while storage is down: the file waits in the spool.
    pub async fn upload(&self, name: &str) -> io::Result<Uploaded> {
        let (wav, meta) = self.paths(name)?;
        let key = serde_json::from_slice::<Meta>(&tokio::fs::read(&meta).await?)?.key;
        let duration = recover(&wav)?;
        let body = Bytes::from(tokio::fs::read(&wav).await?);
        let bytes = body.len() as u64;
        let mut delay = self.backoff.0;
        let mut attempt = 1u32;
        while let Err(error) = self.store.put(&key, body.clone(), "audio/wav").await {
            tracing::warn!(%error, name, attempt, retry_in_ms = delay.as_millis() as u64, "recording upload failed; will retry");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.backoff.1);
            attempt += 1;
        }
        tokio::fs::remove_file(&wav).await?;
        tokio::fs::remove_file(&meta).await?;
        tracing::info!(name, key, bytes, "recording uploaded");
        Ok(Uploaded { name: name.to_owned(), key, duration, bytes })
    }

    /// Recordings left by a crash, repaired and uploaded. Returns what was uploaded, so the
    /// calls they belong to can be closed and linked.
    pub async fn recover_all(&self) -> io::Result<Vec<Uploaded>> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        let mut uploaded = Vec::with_capacity(names.len());
        for name in names {
            if !Path::new(&self.dir).join(format!("{name}.wav")).exists() {
                tokio::fs::remove_file(self.dir.join(format!("{name}.json"))).await?;
                continue;
            }
            tracing::info!(name, "recovering a recording left by an interrupted call");
            uploaded.push(self.upload(&name).await?);
        }
        Ok(uploaded)
    }
}
