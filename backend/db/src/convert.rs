//! Mapping between rows and domain records, and database errors to domain errors.
use crate::entities::*;
use crm_core::ports::{Account, ApiToken, Invitation, Session, Tenant};
use crm_core::{ApiTokenId, Error, InvitationId, SessionId, TenantId, UserId};
use sea_orm::{DbErr, SqlErr};

/// Unique violations are conflicts the user can act on; everything else is internal.
pub fn db_err(err: DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict("this already exists".into()),
        _ => Error::internal(err),
    }
}

pub fn tenant(m: tenants::Model) -> Tenant {
    Tenant { id: TenantId(m.id), name: m.name, default_country: m.default_country, created_at: m.created_at }
}

pub fn account(m: accounts::Model) -> Account {
    Account { id: UserId(m.id), email: m.email, name: m.name, password_hash: m.password_hash, created_at: m.created_at }
}

pub fn session(m: sessions::Model) -> Session {
    Session {
        id: SessionId(m.id),
        user_id: UserId(m.user_id),
        token_hash: m.token_hash,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    }
}

pub fn api_token(m: api_tokens::Model) -> ApiToken {
    ApiToken {
        id: ApiTokenId(m.id),
        name: m.name,
        preview: m.preview,
        token_hash: m.token_hash,
        scopes: m.scopes.split_whitespace().map(str::to_owned).collect(),
        created_by: UserId(m.created_by),
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    }
}

pub fn invitation(m: invitations::Model) -> Result<Invitation, Error> {
    Ok(Invitation {
        id: InvitationId(m.id),
        user_id: UserId(m.user_id),
        role: m.role.parse()?,
        token_hash: m.token_hash,
        expires_at: m.expires_at,
        accepted_at: m.accepted_at,
    })
}
