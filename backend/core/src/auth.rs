//! Who is calling: the principal every service call is made for, and access-token JWTs.
use crate::{Error, Result, Role, SessionId, TenantId, UserId};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// API token scopes. Integrations get only what they were granted.
pub const SCOPES: &[&str] = &[
    "calls:read",
    "calls:write",
    "customers:read",
    "customers:write",
    "inbox:read",
    "inbox:write",
    "users:read",
    "webhooks:manage",
];

#[derive(Clone, Debug)]
pub enum Credential {
    Session { session_id: SessionId },
    ApiToken { scopes: Vec<String> },
}

/// An authenticated caller inside one tenant. Only the auth service makes these.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub credential: Credential,
    /// Unix seconds after which the credential is no longer valid (JWT expiry), if any.
    pub expires_at: Option<i64>,
}

impl Principal {
    pub fn require_admin(&self) -> Result<()> {
        if self.role.is_admin() { Ok(()) } else { Err(Error::Forbidden) }
    }

    /// Sessions may do what their role allows; API tokens additionally need the scope.
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        match &self.credential {
            Credential::Session { .. } => Ok(()),
            Credential::ApiToken { scopes } if scopes.iter().any(|s| s == scope) => Ok(()),
            Credential::ApiToken { .. } => Err(Error::Forbidden),
        }
    }

    /// Account management (tokens, sessions, users) is for people, not integrations.
    pub fn require_session(&self) -> Result<()> {
        match self.credential {
            Credential::Session { .. } => Ok(()),
            Credential::ApiToken { .. } => Err(Error::Forbidden),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub tid: TenantId,
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks short-lived access tokens (HS256).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_secs: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("ttl_secs", &self.ttl_secs).finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl_secs: i64) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl_secs }
    }

    pub fn issue(&self, user: UserId, tenant: TenantId, session: SessionId) -> Result<(String, i64)> {
        let now = Utc::now().timestamp();
        let claims = Claims { sub: user, tid: tenant, sid: session, iat: now, exp: now + self.ttl_secs };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(Error::internal)?;
        Ok((token, claims.exp))
    }

    /// Any failure (bad signature, expired, malformed) is just "unauthenticated".
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| Error::Unauthenticated)
    }
}
