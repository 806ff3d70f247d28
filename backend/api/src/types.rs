//! GraphQL object types, converted from domain records.
use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, TimeZone, Utc};
use crm_core::ports;
use crm_core::services::AuthTokens;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    Owner,
    Admin,
    Agent,
}

impl From<crm_core::Role> for RoleGql {
    fn from(role: crm_core::Role) -> Self {
        match role {
            crm_core::Role::Owner => Self::Owner,
            crm_core::Role::Admin => Self::Admin,
            crm_core::Role::Agent => Self::Agent,
        }
    }
}

impl From<RoleGql> for crm_core::Role {
    fn from(role: RoleGql) -> Self {
        match role {
            RoleGql::Owner => Self::Owner,
            RoleGql::Admin => Self::Admin,
            RoleGql::Agent => Self::Agent,
        }
    }
}

/// A member of the company.
#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub role: RoleGql,
    pub joined_at: DateTime<Utc>,
    /// False until an invited person sets a password.
    pub active: bool,
    /// Has the app open now.
    pub online: bool,
    /// Said they take no new chats for now.
    pub away: bool,
}

impl From<ports::Member> for User {
    fn from(m: ports::Member) -> Self {
        let online = m.online(Utc::now());
        Self {
            id: ID(m.account.id.to_string()),
            email: m.account.email,
            name: m.account.name,
            role: m.role.into(),
            joined_at: m.joined_at,
            active: m.account.password_hash.is_some(),
            online,
            away: m.away,
        }
    }
}

/// A company using the CRM (a tenant).
#[derive(SimpleObject, Clone, Debug)]
pub struct Company {
    pub id: ID,
    pub name: String,
    /// ISO 3166 code used to read local phone numbers.
    pub default_country: String,
    /// IANA time zone where the company's days begin.
    pub time_zone: String,
    /// Days call recordings are kept; null: for ever.
    pub recording_retention_days: Option<u32>,
    pub created_at: DateTime<Utc>,
}

impl From<ports::Tenant> for Company {
    fn from(t: ports::Tenant) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name,
            default_country: t.default_country,
            time_zone: t.time_zone,
            recording_retention_days: t.recording_retention_days,
            created_at: t.created_at,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Me {
    pub user: User,
    pub company: Company,
}

/// Tokens for a signed-in person. Keep the refresh token secret; each one works once.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub user_id: ID,
    pub company_id: ID,
}

impl From<AuthTokens> for AuthPayload {
    fn from(t: AuthTokens) -> Self {
        Self {
            access_token: t.access_token,
            access_token_expires_at: Utc.timestamp_opt(t.access_expires_at, 0).single().unwrap_or_else(Utc::now),
            refresh_token: t.refresh_token,
            user_id: ID(t.user_id.to_string()),
            company_id: ID(t.tenant_id.to_string()),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    /// `crm_pat_…` and the token's last characters, to tell tokens apart.
    pub preview: String,
    pub scopes: Vec<String>,
    pub created_by: ID,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ports::ApiToken> for ApiToken {
    fn from(t: ports::ApiToken) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name,
            preview: t.preview,
            scopes: t.scopes,
            created_by: ID(t.created_by.to_string()),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CreatedApiToken {
    pub api_token: ApiToken,
    /// Shown only now: store it, it cannot be retrieved again.
    pub secret: String,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Invitation {
    pub user: User,
    /// For a person without an account: pass it to `acceptInvite`. Shown only now.
    pub invite_token: Option<String>,
}

/// A person or company the company talks to: their card (see also `timeline`).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Customer {
    pub id: ID,
    pub name: String,
    /// E.164.
    pub phones: Vec<String>,
    /// Lowercase.
    pub emails: Vec<String>,
    pub tags: Vec<String>,
    pub responsible_user_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub customer_id: crm_core::CustomerId,
    #[graphql(skip)]
    pub fields: crm_core::fields::FieldValues,
    /// The timeline page read with the card, for the `timeline` field that asked for it.
    #[graphql(skip)]
    pub timeline_read: Option<std::sync::Arc<crate::card_types::TimelineRead>>,
}

impl From<ports::Customer> for Customer {
    fn from(c: ports::Customer) -> Self {
        Self {
            id: ID(c.id.to_string()),
            name: c.name,
            phones: c.phones,
            emails: c.emails,
            tags: c.tags,
            responsible_user_id: c.responsible_user_id.map(|u| ID(u.to_string())),
            created_at: c.created_at,
            updated_at: c.updated_at,
            customer_id: c.id,
            fields: c.fields,
            timeline_read: None,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CustomerConnectionFields {
    pub total_count: u64,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl From<crm_core::events::ChangeKind> for ChangeKind {
    fn from(k: crm_core::events::ChangeKind) -> Self {
        match k {
            crm_core::events::ChangeKind::Created => Self::Created,
            crm_core::events::ChangeKind::Updated => Self::Updated,
            crm_core::events::ChangeKind::Deleted => Self::Deleted,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CustomerChange {
    pub kind: ChangeKind,
    pub customer_id: ID,
    /// The customer as it is now; null once deleted.
    pub customer: Option<Customer>,
}

/// A SIP trunk from the company's Kerio Control (or provider).
#[derive(SimpleObject, Clone, Debug)]
pub struct Trunk {
    pub id: ID,
    pub name: String,
    /// Networks its calls arrive from, e.g. "203.0.113.7/32".
    pub sources: Vec<String>,
    /// Numbers it delivers, E.164.
    pub numbers: Vec<String>,
    pub default_caller_id: Option<String>,
    /// Where outbound calls go (host:port).
    pub address: Option<String>,
    /// The username the trunk must authenticate with, if any (the password is never shown).
    pub username: Option<String>,
    pub qualify: bool,
    /// Whether the trunk answered its last OPTIONS keep-alive (null: not checked yet).
    pub reachable: Option<bool>,
    pub latency_ms: Option<u64>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Our registration at the trunk's address, when it is configured to register.
    pub registration: Option<TrunkRegistration>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Our outward registration at a trunk (the password is never shown).
#[derive(SimpleObject, Clone, Debug)]
pub struct TrunkRegistration {
    pub username: String,
    pub domain: Option<String>,
    pub expires_secs: u32,
    /// Whether the registrar accepted us last time (false also before the first attempt).
    pub registered: bool,
    /// Why not, in the registrar's words (e.g. "403 Forbidden") or "no answer".
    pub error: Option<String>,
    /// Until when the registrar granted the registration.
    pub expires_at: Option<DateTime<Utc>>,
    /// When we last tried.
    pub checked_at: Option<DateTime<Utc>>,
}

impl Trunk {
    /// Adds what the SIP edge knows live: keep-alive answers and registration state.
    pub fn with_status(
        mut self,
        reachability: Option<crm_core::telephony::Reachability>,
        registration: Option<crm_core::telephony::RegistrationStatus>,
    ) -> Self {
        if let Some(r) = reachability {
            self.reachable = Some(r.reachable);
            self.latency_ms = r.latency_ms;
            self.checked_at = Some(r.checked_at);
        }
        if let (Some(ours), Some(status)) = (self.registration.as_mut(), registration) {
            ours.registered = status.registered;
            ours.error = status.error;
            ours.expires_at = status.expires_at;
            ours.checked_at = Some(status.checked_at);
        }
        self
    }
}

impl From<crm_core::telephony::Trunk> for Trunk {
    fn from(t: crm_core::telephony::Trunk) -> Self {
        Self {
            id: ID(t.id.to_string()),
            name: t.name,
            sources: t.sources.iter().map(ToString::to_string).collect(),
            numbers: t.numbers,
            default_caller_id: t.default_caller_id,
            address: t.address.map(|a| a.to_string()),
            username: t.credentials.map(|(u, _)| u),
            qualify: t.qualify,
            reachable: None,
            latency_ms: None,
            checked_at: None,
            registration: t.registration.map(|r| TrunkRegistration {
                username: r.username,
                domain: r.domain,
                expires_secs: r.expires_secs,
                registered: false,
                error: None,
                expires_at: None,
                checked_at: None,
            }),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A user's SIP login for their desk or soft phone.
#[derive(SimpleObject, Clone, Debug)]
pub struct SipExtension {
    pub user_id: ID,
    pub username: String,
    /// The digest realm the phone must use.
    pub realm: String,
    pub created_at: DateTime<Utc>,
    /// Phones registered with this login right now.
    pub registrations: Vec<SipRegistration>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct SipRegistration {
    pub contact: String,
    /// Where the phone really is (address:port after NAT).
    pub source: String,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

impl SipExtension {
    pub fn new(account: crm_core::telephony::SipAccount, phones: Vec<crm_core::telephony::RegisteredPhone>) -> Self {
        Self {
            user_id: ID(account.user_id.to_string()),
            username: account.username,
            realm: crm_core::telephony::SIP_REALM.to_owned(),
            created_at: account.created_at,
            registrations: phones
                .into_iter()
                .map(|p| SipRegistration {
                    contact: p.contact,
                    source: p.source.to_string(),
                    expires_at: p.expires_at,
                    user_agent: p.user_agent,
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CreatedSipExtension {
    pub extension: SipExtension,
    /// Shown only now: enter it in the phone.
    pub password: String,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CallDirection")]
pub enum CallDirectionGql {
    Inbound,
    Outbound,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CallStatus")]
pub enum CallStatusGql {
    Ringing,
    Answered,
    Completed,
    Missed,
    Failed,
    Interrupted,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "HangupBy")]
pub enum HangupByGql {
    Customer,
    Agent,
    System,
}

macro_rules! mirror {
    ($domain:ty, $gql:ty, $($variant:ident),*) => {
        impl From<$domain> for $gql {
            fn from(v: $domain) -> Self { match v { $(<$domain>::$variant => Self::$variant),* } }
        }
        impl From<$gql> for $domain {
            fn from(v: $gql) -> Self { match v { $(<$gql>::$variant => Self::$variant),* } }
        }
    };
}
mirror!(crm_core::calls::Direction, CallDirectionGql, Inbound, Outbound);
mirror!(crm_core::calls::CallStatus, CallStatusGql, Ringing, Answered, Completed, Missed, Failed, Interrupted);
mirror!(crm_core::calls::HangupBy, HangupByGql, Customer, Agent, System);

/// A phone call, inbound from a trunk or outbound by click-to-call.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Call {
    pub id: ID,
    pub direction: CallDirectionGql,
    pub status: CallStatusGql,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<ID>,
    pub customer_id: Option<ID>,
    /// Who answered (inbound) or placed (outbound) the call.
    pub user_id: Option<ID>,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds until answered (or until the end, if never answered).
    pub wait_seconds: Option<i64>,
    pub talk_seconds: Option<i64>,
    pub hangup_by: Option<HangupByGql>,
    /// The SIP status that ended the call, when there was one.
    pub sip_cause: Option<u16>,
    pub recording_duration_seconds: Option<f64>,
    pub recording_bytes: Option<u64>,
    /// When the recording was deleted because the company's retention period ran out.
    pub recording_deleted_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub domain: crm_core::calls::Call,
}

impl From<crm_core::calls::Call> for Call {
    fn from(c: crm_core::calls::Call) -> Self {
        Self {
            id: ID(c.id.to_string()),
            direction: c.direction.into(),
            status: c.status.into(),
            from_number: c.from_number.clone(),
            to_number: c.to_number.clone(),
            trunk_id: c.trunk_id.map(|t| ID(t.to_string())),
            customer_id: c.customer_id.map(|t| ID(t.to_string())),
            user_id: c.user_id.map(|t| ID(t.to_string())),
            started_at: c.started_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            wait_seconds: c.wait_seconds(),
            talk_seconds: c.talk_seconds(),
            hangup_by: c.hangup_by.map(Into::into),
            sip_cause: c.sip_cause,
            recording_duration_seconds: c.recording.as_ref().map(|r| r.duration_ms as f64 / 1000.0),
            recording_bytes: c.recording.as_ref().map(|r| r.bytes),
            recording_deleted_at: c.recording.as_ref().and_then(|r| r.deleted_at),
            domain: c,
        }
    }
}

#[async_graphql::ComplexObject]
impl Call {
    /// The customer card (null for an unknown number).
    async fn customer(&self, ctx: &async_graphql::Context<'_>) -> crate::error::ApiResult<Option<Customer>> {
        let Some(id) = self.domain.customer_id else { return Ok(None) };
        let principal = crate::context::principal(ctx)?;
        match crate::context::services(ctx).customer(principal, id).await {
            Ok(customer) => Ok(Some(customer.into())),
            Err(crm_core::Error::NotFound | crm_core::Error::Forbidden) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// A short-lived link that plays the recording (stereo WAV: customer left, agent right).
    async fn recording_url(&self, ctx: &async_graphql::Context<'_>) -> Option<String> {
        crate::context::services(ctx).recording_url(&self.domain)
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct CallConnectionFields {
    pub total_count: u64,
}

/// Something to do; a missed call leaves a callback task.
#[derive(SimpleObject, Clone, Debug)]
pub struct Task {
    pub id: ID,
    pub kind: String,
    pub title: String,
    pub customer_id: Option<ID>,
    pub call_id: Option<ID>,
    /// Null: the company's queue.
    pub assignee_id: Option<ID>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub overdue: bool,
}

impl From<crm_core::tasks::Task> for Task {
    fn from(t: crm_core::tasks::Task) -> Self {
        Self {
            id: ID(t.id.to_string()),
            overdue: t.done_at.is_none() && t.due_at < Utc::now(),
            kind: t.kind,
            title: t.title,
            customer_id: t.customer_id.map(|c| ID(c.to_string())),
            call_id: t.call_id.map(|c| ID(c.to_string())),
            assignee_id: t.assignee_id.map(|u| ID(u.to_string())),
            due_at: t.due_at,
            done_at: t.done_at,
        }
    }
}

/// One file of a PBX configuration, relative to its configuration folder.
#[derive(SimpleObject, Clone, Debug)]
pub struct ConfigFile {
    pub path: String,
    pub content: String,
}

/// The link between the CRM's ARI worker and Asterisk.
#[derive(SimpleObject, Clone, Debug)]
pub struct AsteriskStatus {
    pub connected: bool,
    /// Why it is down: unreachable, credentials refused, taken over by another connection.
    pub error: Option<String>,
    /// Since when it has been in this state.
    pub since: Option<DateTime<Utc>>,
}

impl From<crm_core::pbx::PbxLinkStatus> for AsteriskStatus {
    fn from(s: crm_core::pbx::PbxLinkStatus) -> Self {
        Self { connected: s.connected, error: s.error, since: s.since }
    }
}

/// A company's own Asterisk, reached over ARI. Its password is never shown.
#[derive(SimpleObject, Clone, Debug)]
pub struct AsteriskServer {
    pub id: ID,
    pub name: String,
    pub ari_url: String,
    pub username: String,
    pub app: String,
    /// As the worker serving it last reported.
    pub status: AsteriskStatus,
    pub created_at: DateTime<Utc>,
}

impl From<crm_core::pbx::PbxServer> for AsteriskServer {
    fn from(s: crm_core::pbx::PbxServer) -> Self {
        Self {
            id: ID(s.id.to_string()),
            name: s.name,
            ari_url: s.ari_url,
            username: s.username,
            app: s.app,
            status: s.status.into(),
            created_at: s.created_at,
        }
    }
}
