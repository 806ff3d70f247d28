//! Secrets the product must use again in the clear (passwords it presents to other systems:
//! a provider's registrar, an Asterisk's ARI), sealed at rest with the installation's key.
//! Each sealed value is bound to where it belongs (`context`), so it cannot be copied to
//! another row or tenant and still open.
use crate::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{AeadCore, KeyInit, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};

const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// `key`: 32 bytes derived from the installation's secret.
    pub fn new(key: &[u8]) -> Self {
        let mut bytes = [0u8; 32];
        let n = key.len().min(32);
        bytes[..n].copy_from_slice(&key[..n]);
        Self { cipher: XChaCha20Poly1305::new(&bytes.into()) }
    }

    pub fn seal(&self, secret: &SecretString, context: &str) -> Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut chacha20poly1305::aead::OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: secret.expose_secret().as_bytes(), aad: context.as_bytes() })
            .map_err(|_| Error::internal("could not seal a secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// The secret, or an internal error when it was sealed elsewhere or with another key
    /// (the installation's secret key changed: the secret must be entered again).
    pub fn open(&self, sealed: &str, context: &str) -> Result<SecretString> {
        let fail = || Error::internal("a stored secret cannot be opened: was CRM_SECRET_KEY changed?");
        let bytes = sealed.strip_prefix(PREFIX).and_then(|b| B64.decode(b).ok()).ok_or_else(fail)?;
        if bytes.len() < 24 {
            return Err(fail());
        }
        let (nonce, body) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| fail())?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| fail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_place_and_with_their_key() {
        let vault = Vault::new(&[7u8; 32]);
        let secret = SecretString::from("s3cr3t-pass");
        let sealed = vault.seal(&secret, "trunk:a").unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_ne!(sealed, vault.seal(&secret, "trunk:a").unwrap(), "a fresh nonce every time");
        assert_eq!(vault.open(&sealed, "trunk:a").unwrap().expose_secret(), "s3cr3t-pass");
        assert!(vault.open(&sealed, "trunk:b").is_err());
        assert!(Vault::new(&[8u8; 32]).open(&sealed, "trunk:a").is_err());
        assert!(vault.open("v1:garbage", "trunk:a").is_err());
    }
}
