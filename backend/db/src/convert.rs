//! Mapping between rows and domain records, and database errors to domain errors.
use crate::entities::*;
use crm_core::ports::{Account, ApiToken, Invitation, Session, Tenant};
use crm_core::telephony::{SipAccount, Trunk};
use crm_core::{ApiTokenId, Error, InvitationId, SessionId, TenantId, TrunkId, UserId};
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

pub fn trunk(m: trunks::Model, numbers: Vec<String>) -> Result<Trunk, Error> {
    let sources = m
        .sources
        .split_whitespace()
        .map(|s| s.parse().map_err(|_| Error::internal(format!("stored trunk source {s:?} is not a network"))))
        .collect::<Result<_, _>>()?;
    Ok(Trunk {
        id: TrunkId(m.id),
        name: m.name,
        sources,
        numbers,
        default_caller_id: m.default_caller_id,
        qualify: m.qualify,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub fn sip_account(m: sip_accounts::Model) -> SipAccount {
    SipAccount {
        tenant_id: TenantId(m.tenant_id),
        user_id: UserId(m.user_id),
        username: m.username,
        ha1: m.ha1,
        created_at: m.created_at,
    }
}
