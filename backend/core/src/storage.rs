//! Object storage for recordings and attachments, and the signed URLs that serve them.
use crate::{Error, Result, TenantId};
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<()>;
    /// `NotFound` when there is no such object.
    async fn get(&self, key: &str) -> Result<(Bytes, String)>;
    async fn delete(&self, key: &str) -> Result<()>;
    async fn ping(&self) -> Result<()>;
}

/// Every object lives under its tenant's prefix.
pub fn tenant_key(tenant: TenantId, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && !name.split('/').any(|part| part.is_empty() || part == "." || part == "..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if !ok {
        return Err(Error::bad_input("key", "object names use letters, digits, '-', '_', '.' and '/'"));
    }
    Ok(format!("tenants/{tenant}/{name}"))
}

/// Signs download links: a link names the tenant, the key and an expiry, and only that.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

impl UrlSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, tenant: TenantId, key: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(format!("{tenant}\n{key}\n{expires}").as_bytes());
        mac
    }

    /// A path + query for `GET /files/...` valid for `ttl_secs`.
    pub fn sign(&self, tenant: TenantId, key: &str, ttl_secs: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + ttl_secs;
        let sig = hex::encode(self.mac(tenant, key, expires).finalize().into_bytes());
        format!("/files/{key}?tenant={tenant}&expires={expires}&sig={sig}")
    }

    /// The key must belong to the tenant the link was signed for, and the link must be fresh.
    pub fn verify(&self, tenant: TenantId, key: &str, expires: i64, sig: &str) -> Result<()> {
        if expires < chrono::Utc::now().timestamp() || !key.starts_with(&format!("tenants/{tenant}/")) {
            return Err(Error::NotFound);
        }
        let sig = hex::decode(sig).map_err(|_| Error::NotFound)?;
        self.mac(tenant, key, expires).verify_slice(&sig).map_err(|_| Error::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_check_tenant_key_and_expiry() {
        let signer = UrlSigner::new(b"k");
        let (a, b) = (TenantId::new(), TenantId::new());
        let key = tenant_key(a, "rec/1.wav").unwrap();
        let url = signer.sign(a, &key, 60);
        let sig = url.rsplit("sig=").next().unwrap();
        let expires: i64 = url.split("expires=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
        signer.verify(a, &key, expires, sig).unwrap();
        assert!(signer.verify(b, &key, expires, sig).is_err());
        assert!(signer.verify(a, &key, expires + 1, sig).is_err());
        assert!(signer.verify(a, &key, 1, sig).is_err());
        assert!(tenant_key(a, "../x").is_err());
    }
}
