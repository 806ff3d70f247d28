//! Sign-up, login, refresh-token rotation, logout, and turning a bearer token into a principal.
use super::{Services, check_email, check_len};
use crate::auth::{Credential, Principal};
use crate::ports::{Account, Session, Tenant, TenantTx};
use crate::token::{self, Kind, Opaque};
use crate::{Error, Result, Role, SessionId, TenantId, UserId, phone};
use chrono::{Duration, Utc};
use subtle::ConstantTimeEq;

#[derive(Clone, Debug)]
pub struct SignUp {
    pub company: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub default_country: String,
    /// IANA time zone; `UTC` when not given.
    pub time_zone: Option<String>,
}

/// What a successful sign-in returns. The refresh token is shown only here.
#[derive(Clone, Debug)]
pub struct AuthTokens {
    pub access_token: String,
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub user_id: UserId,
    pub tenant_id: TenantId,
}

impl Services {
    pub async fn sign_up(&self, input: SignUp) -> Result<AuthTokens> {
        let company = check_len("company", &input.company, 200)?;
        let name = check_len("name", &input.name, 200)?;
        let email = check_email(&input.email)?;
        token::check_password_strength(&input.password)?;
        let default_country = phone::check_country(&input.default_country)?;
        let time_zone = crate::dashboard::check_time_zone(input.time_zone.as_deref().unwrap_or("UTC"))?;
        if self.db.account_by_email(&email).await?.is_some() {
            return Err(Error::Conflict("an account with this email already exists".into()));
        }
        let password_hash = token::hash_password(&input.password)?;
        let now = Utc::now();
        let tenant = Tenant {
            id: TenantId::new(),
            name: company,
            default_country,
            time_zone,
            recording_retention_days: None,
            created_at: now,
        };
        let account = Account { id: UserId::new(), email, name, password_hash: Some(password_hash), created_at: now };
        let mut tx = self.db.tenant(tenant.id).await?;
        tx.insert_tenant(&tenant).await?;
        tx.insert_account(&account).await?;
        tx.insert_member(account.id, Role::Owner).await?;
        let tokens = self.start_session(tx.as_mut(), account.id).await?;
        tx.commit().await?;
        tracing::info!(tenant = %tenant.id, user = %account.id, "tenant signed up");
        Ok(tokens)
    }

    /// `address` is the client's IP, for rate limiting. `tenant` picks among several memberships.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        tenant: Option<TenantId>,
        address: &str,
    ) -> Result<AuthTokens> {
        let email = email.trim().to_lowercase();
        self.address_failures.check(address)?;
        self.account_failures.check(&email)?;
        let account = self.db.account_by_email(&email).await?;
        let verified = match account.as_ref().and_then(|a| a.password_hash.as_deref()) {
            Some(hash) => token::verify_password(password, hash),
            None => {
                token::burn_password_check(password);
                false
            }
        };
        let account = match account {
            Some(account) if verified => account,
            _ => {
                self.address_failures.fail(address);
                self.account_failures.fail(&email);
                tracing::warn!(address, "failed login");
                return Err(Error::Unauthenticated);
            }
        };
        self.account_failures.clear(&email);
        let memberships = self.db.memberships_of(account.id).await?;
        let tenant_id = match tenant {
            Some(wanted) => memberships.iter().find(|(t, _)| *t == wanted).map(|(t, _)| *t),
            None => memberships.first().map(|(t, _)| *t),
        }
        .ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.tenant(tenant_id).await?;
        let tokens = self.start_session(tx.as_mut(), account.id).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    pub(super) async fn start_session(&self, tx: &mut dyn TenantTx, user: UserId) -> Result<AuthTokens> {
        let session_id = SessionId::new();
        let (refresh_token, opaque) = Opaque::generate(Kind::Refresh, tx.tenant_id(), session_id.0);
        tx.insert_session(&Session {
            id: session_id,
            user_id: user,
            token_hash: opaque.hash(),
            expires_at: Utc::now() + Duration::seconds(self.settings.refresh_ttl_secs),
            revoked_at: None,
        })
        .await?;
        let (access_token, access_expires_at) = self.jwt.issue(user, tx.tenant_id(), session_id)?;
        Ok(AuthTokens { access_token, access_expires_at, refresh_token, user_id: user, tenant_id: tx.tenant_id() })
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once: presenting
    /// one that was already exchanged means it leaked, so the whole session is revoked.
    pub async fn refresh_session(&self, refresh_token: &str) -> Result<AuthTokens> {
        let opaque = Opaque::parse(Kind::Refresh, refresh_token).ok_or(Error::Unauthenticated)?;
        let session_id = SessionId(opaque.row);
        let mut tx = self.db.tenant(opaque.tenant).await?;
        let session = tx.session(session_id).await?.ok_or(Error::Unauthenticated)?;
        if session.revoked_at.is_some() || session.expires_at < Utc::now() {
            return Err(Error::Unauthenticated);
        }
        let presented = opaque.hash();
        let (new_token, new_opaque) = Opaque::generate(Kind::Refresh, opaque.tenant, session_id.0);
        let fresh = bool::from(presented.as_bytes().ct_eq(session.token_hash.as_bytes()))
            && tx
                .rotate_session(
                    session_id,
                    &presented,
                    &new_opaque.hash(),
                    Utc::now() + Duration::seconds(self.settings.refresh_ttl_secs),
                )
                .await?;
        if !fresh {
            tx.revoke_session(session_id).await?;
            self.commit_access_change(tx, session.user_id).await?;
            tracing::warn!(tenant = %opaque.tenant, session = %session_id, "refresh token reused; session revoked");
            return Err(Error::Unauthenticated);
        }
        if tx.role_of(session.user_id).await?.is_none() {
            return Err(Error::Unauthenticated);
        }
        let (access_token, access_expires_at) = self.jwt.issue(session.user_id, opaque.tenant, session_id)?;
        tx.commit().await?;
        Ok(AuthTokens {
            access_token,
            access_expires_at,
            refresh_token: new_token,
            user_id: session.user_id,
            tenant_id: opaque.tenant,
        })
    }

    pub async fn logout(&self, principal: &Principal) -> Result<()> {
        let Credential::Session { session_id } = principal.credential else {
            return Err(Error::Forbidden);
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.revoke_session(session_id).await?;
        self.commit_access_change(tx, principal.user_id).await
    }

    /// Commits a change to someone's sessions or role, and has every process ask again about
    /// the company's sessions: this one now, the others through the event stored with it.
    pub(super) async fn commit_access_change(&self, tx: Box<dyn TenantTx>, user_id: UserId) -> Result<()> {
        let tenant = tx.tenant_id();
        let committed = self.commit_announcing(tx, [crate::events::EventKind::AccessChanged { user_id }]).await;
        self.session_checks.drop_tenant(tenant);
        committed
    }

    /// Starts following the bus for session checks (see `session_checks`); the server calls it
    /// as it starts.
    pub fn follow_access_changes(&self) {
        self.session_checks.follow(&self.bus);
    }

    /// Checks an `Authorization: Bearer` value: an API token or an access JWT.
    /// The session, membership and token are re-read, so revocations apply on the next request
    /// (an access token's session at most a second later when the change was made elsewhere
    /// and its event was lost: see `session_checks`).
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        if token::is_api_token(bearer) {
            return self.authenticate_api_token(bearer).await;
        }
        let claims = self.jwt.verify(bearer)?;
        let key = (claims.tid, claims.sid, claims.sub);
        let role = match self.session_checks.role(key) {
            Some(role) => role,
            None => {
                let generation = self.session_checks.generation();
                let role =
                    self.db.session_role(claims.tid, claims.sid, claims.sub).await?.ok_or(Error::Unauthenticated)?;
                self.session_checks.keep(&self.bus, key, role, generation);
                role
            }
        };
        Ok(Principal {
            tenant_id: claims.tid,
            user_id: claims.sub,
            role,
            credential: Credential::Session { session_id: claims.sid },
            expires_at: Some(claims.exp),
        })
    }

    async fn authenticate_api_token(&self, bearer: &str) -> Result<Principal> {
        let opaque = Opaque::parse(Kind::ApiToken, bearer).ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.tenant(opaque.tenant).await?;
        let stored = tx.api_token(crate::ApiTokenId(opaque.row)).await?.ok_or(Error::Unauthenticated)?;
        if stored.revoked_at.is_some() || !bool::from(opaque.hash().as_bytes().ct_eq(stored.token_hash.as_bytes())) {
            return Err(Error::Unauthenticated);
        }
        // The token acts with its creator's current role, never more.
        let role = tx.role_of(stored.created_by).await?.ok_or(Error::Unauthenticated)?;
        // One write a minute is enough to answer "is this token still in use?".
        let now = Utc::now();
        if stored.last_used_at.is_none_or(|at| now - at > Duration::seconds(60)) {
            tx.touch_api_token(stored.id, now).await?;
        }
        tx.commit().await?;
        Ok(Principal {
            tenant_id: opaque.tenant,
            user_id: stored.created_by,
            role,
            credential: Credential::ApiToken { scopes: stored.scopes },
            expires_at: None,
        })
    }
}
