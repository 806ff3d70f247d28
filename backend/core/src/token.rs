//! Opaque credentials (refresh tokens, API tokens, invitations) and password hashing.
//!
//! An opaque token names its tenant and row so that looking it up is itself tenant-scoped;
//! only a SHA-256 of the secret part is stored, so a database leak reveals no usable token.
use crate::{Error, Result, TenantId};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What kind of opaque token; the prefix makes a leaked token recognisable by scanners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ApiToken,
    Refresh,
    Invite,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::ApiToken => "crm_pat",
            Kind::Refresh => "crm_rt",
            Kind::Invite => "crm_inv",
        }
    }
}

/// A parsed opaque token: `<prefix>_<tenant>_<row>_<secret>`.
#[derive(Debug, Clone)]
pub struct Opaque {
    pub tenant: TenantId,
    pub row: Uuid,
    pub secret: String,
}

impl Opaque {
    pub fn generate(kind: Kind, tenant: TenantId, row: Uuid) -> (String, Self) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let text = format!("{}_{}_{}_{}", kind.prefix(), tenant.0.simple(), row.simple(), secret);
        (text, Self { tenant, row, secret })
    }

    pub fn parse(kind: Kind, text: &str) -> Option<Self> {
        let rest = text.strip_prefix(kind.prefix())?.strip_prefix('_')?;
        let (tenant, rest) = rest.split_once('_')?;
        let (row, secret) = rest.split_once('_')?;
        if secret.len() != 43 {
            return None;
        }
        Some(Self {
            tenant: TenantId(Uuid::try_parse(tenant).ok()?),
            row: Uuid::try_parse(row).ok()?,
            secret: secret.to_owned(),
        })
    }

    pub fn hash(&self) -> String {
        hash_secret(&self.secret)
    }
}

pub fn is_api_token(text: &str) -> bool {
    text.starts_with("crm_pat_")
}

/// How a token is shown in lists: its kind and its last 6 characters, as payment APIs do.
/// Six of 43 random characters say nothing useful about the rest.
pub fn preview(text: &str) -> String {
    let kind = text.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
    let tail: String = text.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{kind}_…{tail}")
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum (19 MiB, 2 passes) keeps a login well under 100 ms here.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn check_password_strength(password: &str) -> Result<()> {
    let len = password.chars().count();
    if !(10..=256).contains(&len) {
        return Err(Error::bad_input("password", "the password must be 10 to 256 characters long"));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Spends the same time as a real verification, so a missing account is not revealed by timing.
pub fn burn_password_check(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("dummy-password-for-timing").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// A random secret of `bytes` bytes, hex-encoded (letters and digits only: Telegram's
/// secret_token allows no more).
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_round_trip_and_tamper() {
        let tenant = TenantId::new();
        let row = Uuid::now_v7();
        let (text, token) = Opaque::generate(Kind::ApiToken, tenant, row);
        assert!(is_api_token(&text));
        let parsed = Opaque::parse(Kind::ApiToken, &text).unwrap();
        assert_eq!(parsed.tenant, tenant);
        assert_eq!(parsed.row, row);
        assert_eq!(parsed.hash(), token.hash());
        assert!(Opaque::parse(Kind::Refresh, &text).is_none());
        assert!(Opaque::parse(Kind::ApiToken, &text[..text.len() - 1]).is_none());
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(check_password_strength("short").is_err());
    }
}
