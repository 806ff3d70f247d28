//! The installation's secret: from configuration, or generated once into the data dir.
use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::path::Path;

/// Independent keys for each use, derived from the one secret.
pub struct Keys {
    pub jwt: Vec<u8>,
    pub downloads: Vec<u8>,
    pub sip: Vec<u8>,
    /// Seals secrets kept at rest (passwords we present to other systems).
    pub vault: Vec<u8>,
    /// The ARI password when none is configured (ari.conf and the workers derive the same).
    pub asterisk: Vec<u8>,
}

pub async fn load(configured: Option<&SecretString>, data_dir: &Path) -> anyhow::Result<Keys> {
    let secret = match configured {
        Some(secret) => secret.expose_secret().as_bytes().to_vec(),
        None => from_file(data_dir).await?,
    };
    anyhow::ensure!(secret.len() >= 32, "CRM_SECRET_KEY must be at least 32 characters");
    Ok(Keys {
        jwt: derive(&secret, b"jwt"),
        downloads: derive(&secret, b"downloads"),
        sip: derive(&secret, b"sip"),
        vault: derive(&secret, b"vault"),
        asterisk: derive(&secret, b"asterisk-ari"),
    })
}

fn derive(secret: &[u8], label: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

async fn from_file(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret.key");
    if let Ok(existing) = tokio::fs::read_to_string(&path).await {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    tokio::fs::create_dir_all(data_dir).await.with_context(|| format!("cannot create {}", data_dir.display()))?;
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, &secret).await.with_context(|| format!("cannot write {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).await?;
    }
    tokio::fs::rename(&tmp, &path).await?;
    tracing::info!(path = %path.display(), "generated a secret key for this installation");
    Ok(secret.into_bytes())
}
