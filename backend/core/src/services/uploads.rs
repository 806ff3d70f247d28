//! Files people attach to their replies: kept under the company's prefix, then sent to the
//! platforms by a signed link (`sendMessage(file: { url })`).
use super::Services;
use crate::auth::Principal;
use crate::error::{Error, Result};
use bytes::Bytes;

/// Telegram takes documents up to 20 MB by link; Meta's attachments are smaller still.
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;
/// The link outlives the outbox's retries (a platform outage of several days).
const LINK_TTL_SECS: i64 = 7 * 24 * 3600;

impl Services {
    /// Stores an agent's file and returns a signed link to it (a path on this server).
    pub async fn upload(&self, principal: &Principal, name: &str, content_type: &str, body: Bytes) -> Result<String> {
        principal.require_scope("inbox:write")?;
        if body.is_empty() {
            return Err(Error::bad_input("file", "the file is empty"));
        }
        if body.len() > MAX_UPLOAD_BYTES {
            return Err(Error::bad_input("file", "files up to 20 MB can be sent"));
        }
        let store = self.store.as_ref().ok_or_else(|| Error::internal("no object store configured"))?;
        let name = format!("uploads/{}/{}", uuid::Uuid::now_v7(), file_name(name));
        let key = crate::storage::tenant_key(principal.tenant_id, &name)?;
        store.put(&key, body, content_type).await?;
        tracing::info!(tenant = %principal.tenant_id, %key, "file uploaded");
        Ok(self.signer.sign(principal.tenant_id, &key, LINK_TTL_SECS))
    }
}

/// The name as an object key can hold it: letters, digits, '-', '_' and '.'; others become '_'.
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(100).collect();
    let clean = clean.trim_matches('.');
    if clean.is_empty() { "file".into() } else { clean.to_owned() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_are_made_safe_for_keys() {
        assert_eq!(super::file_name("Счёт 12.pdf"), "_____12.pdf");
        assert_eq!(super::file_name("../../etc/passwd"), "passwd");
        assert_eq!(super::file_name("C:\\docs\\photo.JPG"), "photo.JPG");
        assert_eq!(super::file_name(".."), "file");
    }
}
