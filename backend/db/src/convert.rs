//! Mapping between rows and domain records, and database errors to domain errors.
use crate::entities::*;
use crm_core::calls::{Call, Recording};
use crm_core::ports::{Account, ApiToken, Invitation, Member, Session, Tenant};
use crm_core::telephony::{OutboundRegistration, SipAccount, Trunk};
use crm_core::{ApiTokenId, CallId, CustomerId, Error, InvitationId, SessionId, TenantId, TrunkId, UserId};
use sea_orm::{DbErr, SqlErr};

/// Unique violations are conflicts the user can act on; everything else is internal.
pub fn db_err(err: DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict("this already exists".into()),
        _ => Error::internal(err),
    }
}

pub fn tenant(m: tenants::Model) -> Tenant {
    Tenant {
        id: TenantId(m.id),
        name: m.name,
        default_country: m.default_country,
        time_zone: m.time_zone,
        recording_retention_days: m.recording_retention_days.and_then(|d| u32::try_from(d).ok()),
        created_at: m.created_at,
    }
}

pub fn account(m: accounts::Model) -> Account {
    Account { id: UserId(m.id), email: m.email, name: m.name, password_hash: m.password_hash, created_at: m.created_at }
}

pub fn member(tenant: TenantId, m: memberships::Model, a: accounts::Model) -> crm_core::Result<Member> {
    Ok(Member {
        account: account(a),
        tenant_id: tenant,
        role: m.role.parse()?,
        joined_at: m.created_at,
        seen_at: m.seen_at,
        away: m.away,
        routed_at: m.routed_at,
    })
}

pub fn task(m: tasks::Model) -> crm_core::tasks::Task {
    crm_core::tasks::Task {
        id: crm_core::TaskId(m.id),
        kind: m.kind,
        title: m.title,
        customer_id: m.customer_id.map(CustomerId),
        call_id: m.call_id.map(CallId),
        assignee_id: m.assignee_id.map(UserId),
        due_at: m.due_at,
        done_at: m.done_at,
        created_at: m.created_at,
    }
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
    let registration = match (m.reg_username, m.reg_password) {
        (Some(username), Some(sealed_password)) => Some(OutboundRegistration {
            username,
            sealed_password,
            domain: m.reg_domain,
            expires_secs: m.reg_expires.and_then(|e| u32::try_from(e).ok()).unwrap_or(600),
        }),
        _ => None,
    };
    Ok(Trunk {
        registration,
        id: TrunkId(m.id),
        name: m.name,
        sources,
        numbers,
        default_caller_id: m.default_caller_id,
        address: m.address.and_then(|a| a.parse().ok()),
        credentials: m.username.zip(m.ha1),
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

pub fn call(m: calls::Model) -> Result<Call, Error> {
    let recording = match (m.recording_key, m.recording_duration_ms, m.recording_bytes) {
        (Some(key), Some(duration_ms), Some(bytes)) => Some(Recording {
            key,
            duration_ms: duration_ms.max(0) as u64,
            bytes: bytes.max(0) as u64,
            deleted_at: m.recording_deleted_at,
        }),
        _ => None,
    };
    Ok(Call {
        id: CallId(m.id),
        tenant_id: TenantId(m.tenant_id),
        direction: m.direction.parse()?,
        status: m.status.parse()?,
        from_number: m.from_number,
        to_number: m.to_number,
        trunk_id: m.trunk_id.map(TrunkId),
        customer_id: m.customer_id.map(CustomerId),
        user_id: m.user_id.map(UserId),
        edge: m.edge,
        started_at: m.started_at,
        answered_at: m.answered_at,
        ended_at: m.ended_at,
        hangup_by: m.hangup_by.map(|h| h.parse()).transpose()?,
        sip_cause: m.sip_cause.map(|c| c.clamp(0, 999) as u16),
        recording,
    })
}

pub fn call_row(call: &Call) -> calls::ActiveModel {
    use sea_orm::ActiveValue::Set;
    calls::ActiveModel {
        tenant_id: Set(call.tenant_id.0),
        id: Set(call.id.0),
        direction: Set(call.direction.as_str().to_owned()),
        status: Set(call.status.as_str().to_owned()),
        from_number: Set(call.from_number.clone()),
        to_number: Set(call.to_number.clone()),
        trunk_id: Set(call.trunk_id.map(|t| t.0)),
        customer_id: Set(call.customer_id.map(|c| c.0)),
        user_id: Set(call.user_id.map(|u| u.0)),
        edge: Set(call.edge.clone()),
        started_at: Set(call.started_at),
        answered_at: Set(call.answered_at),
        ended_at: Set(call.ended_at),
        hangup_by: Set(call.hangup_by.map(|h| h.as_str().to_owned())),
        sip_cause: Set(call.sip_cause.map(i32::from)),
        recording_key: Set(call.recording.as_ref().map(|r| r.key.clone())),
        recording_duration_ms: Set(call.recording.as_ref().map(|r| r.duration_ms as i64)),
        recording_bytes: Set(call.recording.as_ref().map(|r| r.bytes as i64)),
        recording_deleted_at: Set(call.recording.as_ref().and_then(|r| r.deleted_at)),
    }
}
