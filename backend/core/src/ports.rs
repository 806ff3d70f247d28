//! What the domain needs from a database. Adapters (the `crm-db` crate) implement it.
//!
//! Tenant isolation lives here by construction: every tenant-owned table is reachable only
//! through a [`TenantTx`], which is opened for exactly one tenant and filters every
//! statement by it. There is no method that reads tenant data without one.
use crate::calls::{Call, CallQuery};
use crate::inbox::{
    CannedReply, ChannelConnection, Conversation, ConversationStatus, InboundUpdate, Message, OutboxItem,
};
use crate::pbx::{PbxCallRecord, PbxLinkStatus, PbxServer};
use crate::tasks::Task;
use crate::telephony::{SipAccount, Trunk};
use crate::{
    ApiTokenId, CallId, CannedReplyId, ConnectionId, ConversationId, CustomerId, InvitationId, MessageId, PbxServerId,
    Result, Role, SessionId, TenantId, TrunkId, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub default_country: String,
    /// IANA name, e.g. `Asia/Tashkent`.
    pub time_zone: String,
    /// Days recordings are kept; `None`: for ever.
    pub recording_retention_days: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// A person's login identity. Global: one email, one account, possibly several tenants.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An account's membership in one tenant.
#[derive(Clone, Debug)]
pub struct Member {
    pub account: Account,
    pub tenant_id: TenantId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    /// Last sign of the app being open (see `services::attendance`).
    pub seen_at: Option<DateTime<Utc>>,
    /// Set by the person: present but not taking new chats.
    pub away: bool,
    /// When a new conversation was last routed to them (the round-robin's order).
    pub routed_at: Option<DateTime<Utc>>,
}

impl Member {
    /// Has the app open, has joined, and is not away: can be given a new chat.
    pub fn available(&self, now: DateTime<Utc>) -> bool {
        self.account.password_hash.is_some() && !self.away && self.online(now)
    }

    pub fn online(&self, now: DateTime<Utc>) -> bool {
        self.seen_at.is_some_and(|seen| now - seen < crate::services::attendance::ONLINE_FOR)
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    /// Enough of the token to tell it apart (`crm_pat_…` and its last characters); never the secret.
    pub preview: String,
    pub token_hash: String,
    pub scopes: Vec<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: InvitationId,
    pub user_id: UserId,
    pub role: Role,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: CustomerId,
    pub tenant_id: TenantId,
    pub name: String,
    /// E.164, in the order given.
    pub phones: Vec<String>,
    /// Lowercase, in the order given.
    pub emails: Vec<String>,
    pub tags: Vec<String>,
    /// Custom field values by key.
    pub fields: crate::fields::FieldValues,
    pub responsible_user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of a list ordered newest first, keyed by id.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    /// How many match in all; `None` when it was not asked for (counting costs a query).
    pub total: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct CustomerQuery {
    pub first: u64,
    pub after: Option<CustomerId>,
    /// Matches the beginning of the name or of a word in it (`name_keys`), an email or a
    /// messenger username; when it reads as a phone number (`phone`, normalised), that phone only.
    pub search: Option<String>,
    pub phone: Option<String>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    /// Count all matches too.
    pub with_total: bool,
}

/// Operations that are not inside one tenant: identities, and opening tenant transactions.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Opens a transaction in which every statement is confined to `tenant`.
    async fn tenant(&self, tenant: TenantId) -> Result<Box<dyn TenantTx>>;

    async fn account_by_email(&self, email: &str) -> Result<Option<Account>>;
    async fn account(&self, id: UserId) -> Result<Option<Account>>;
    /// The tenants an account belongs to, oldest membership first.
    async fn memberships_of(&self, user: UserId) -> Result<Vec<(TenantId, Role)>>;
    /// Which tenant's trunk delivers this E.164 number (numbers are unique across tenants).
    async fn number_owner(&self, e164: &str) -> Result<Option<(TenantId, TrunkId)>>;
    /// A SIP login by its username (what REGISTER and digest authentication start from).
    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>>;
    /// Trunks to keep alive with OPTIONS, of every tenant: (tenant, trunk, address).
    async fn qualify_targets(&self) -> Result<Vec<(TenantId, TrunkId, std::net::SocketAddr)>>;
    /// Trunks we register to, of every tenant.
    async fn registration_targets(&self) -> Result<Vec<(TenantId, Trunk)>>;
    /// Closes every open call of `edge` as interrupted (after that process died); returns them.
    async fn interrupt_open_calls(&self, edge: &str) -> Result<Vec<Call>>;
    /// Asterisk servers of every tenant, for the ARI workers.
    async fn pbx_servers(&self) -> Result<Vec<PbxServer>>;
    async fn set_pbx_server_status(&self, tenant: TenantId, id: PbxServerId, status: &PbxLinkStatus) -> Result<()>;
    /// The calls carried on `server` by whichever worker served it.
    async fn pbx_calls(&self, server: &str) -> Result<Vec<PbxCallRecord>>;
    /// Creates or replaces the record of a call.
    async fn save_pbx_call(&self, record: &PbxCallRecord) -> Result<()>;
    async fn drop_pbx_call(&self, tenant: TenantId, call: CallId) -> Result<()>;
    /// A messenger connection by its id alone (a webhook names only that).
    async fn channel_connection(&self, id: ConnectionId) -> Result<Option<ChannelConnection>>;
    /// Stores webhook payloads durably, each once: a redelivered one is skipped. Returns how
    /// many were new.
    async fn store_updates(&self, updates: &[InboundUpdate]) -> Result<usize>;
    /// Stored payloads not processed yet, oldest first, of every tenant.
    async fn pending_updates(&self, limit: u64) -> Result<Vec<InboundUpdate>>;
    /// Inbound messages with attachments still to copy from the platform, of every tenant.
    async fn pending_fetches(&self, limit: u64) -> Result<Vec<Message>>;
    /// Replies due to be sent (or retried), of every tenant.
    async fn due_outbox(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<OutboxItem>>;
    /// Companies that keep recordings for a limited number of days, and that number.
    async fn retention_periods(&self) -> Result<Vec<(TenantId, u32)>>;
    /// Webhook deliveries due now, across tenants, with their (enabled) endpoints.
    async fn due_webhooks(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(crate::webhooks::Delivery, crate::webhooks::Endpoint)>>;
    /// Staged live events of every company not published since `before_ms` (their process
    /// died before publishing them, or a relay that claimed them did), each with that time.
    async fn stale_events(&self, before_ms: i64, limit: u64) -> Result<Vec<(crate::events::Event, i64)>>;
    /// Removes published events, of any company.
    async fn forget_events(&self, events: &[(TenantId, uuid::Uuid)]) -> Result<()>;
    /// The role of `user` in `tenant` if session `id` is theirs, unrevoked and they are still a
    /// member: what every request with an access token checks, in one round trip.
    async fn session_role(&self, tenant: TenantId, id: SessionId, user: UserId) -> Result<Option<Role>>;
    /// Checks the connection (readiness).
    async fn ping(&self) -> Result<()>;
}

/// A transaction confined to one tenant. Dropping it without `commit` rolls back.
#[async_trait]
pub trait TenantTx: Send {
    fn tenant_id(&self) -> TenantId;
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Ends a transaction that only read. Nothing is kept, so there is nothing to wait for: the
    /// rollback goes out with the connection's release. A transaction that wrote must `commit`.
    fn end_read(self: Box<Self>);

    /// Accounts are global, but are created inside the tenant transaction that first needs
    /// them, so a failed sign-up or invitation leaves nothing behind. `Conflict` when the email is taken.
    async fn insert_account(&mut self, account: &Account) -> Result<()>;
    async fn set_password(&mut self, id: UserId, hash: &str) -> Result<()>;
    async fn insert_tenant(&mut self, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&mut self) -> Result<Tenant>;
    async fn update_tenant(&mut self, tenant: &Tenant) -> Result<()>;

    async fn insert_member(&mut self, user: UserId, role: Role) -> Result<()>;
    async fn member(&mut self, user: UserId) -> Result<Option<Member>>;
    /// The member's role, or `None` for a non-member (one cheap lookup, for every request's auth).
    async fn role_of(&mut self, user: UserId) -> Result<Option<Role>>;
    async fn members(&mut self) -> Result<Vec<Member>>;
    /// `None` marks the person gone (their last socket closed).
    async fn set_seen(&mut self, user: UserId, at: Option<DateTime<Utc>>) -> Result<()>;
    async fn set_away(&mut self, user: UserId, away: bool) -> Result<()>;
    async fn set_routed(&mut self, user: UserId, at: DateTime<Utc>) -> Result<()>;
    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()>;

    async fn insert_session(&mut self, session: &Session) -> Result<()>;
    async fn session(&mut self, id: SessionId) -> Result<Option<Session>>;
    /// Replaces the hash only if it still is `expected` (so two concurrent refreshes can't both win).
    async fn rotate_session(
        &mut self,
        id: SessionId,
        expected: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool>;
    async fn revoke_session(&mut self, id: SessionId) -> Result<()>;

    async fn insert_api_token(&mut self, token: &ApiToken) -> Result<()>;
    async fn api_token(&mut self, id: ApiTokenId) -> Result<Option<ApiToken>>;
    async fn api_tokens(&mut self) -> Result<Vec<ApiToken>>;
    async fn touch_api_token(&mut self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()>;
    async fn revoke_api_token(&mut self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool>;

    async fn insert_invitation(&mut self, invitation: &Invitation) -> Result<()>;
    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>>;
    async fn accept_invitation(&mut self, id: InvitationId, at: DateTime<Utc>) -> Result<bool>;

    /// `Conflict` when a number is already delivered by another trunk (of any tenant).
    async fn insert_trunk(&mut self, trunk: &Trunk) -> Result<()>;
    async fn update_trunk(&mut self, trunk: &Trunk) -> Result<()>;
    async fn delete_trunk(&mut self, id: TrunkId) -> Result<bool>;
    async fn trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>>;
    async fn trunks(&mut self) -> Result<Vec<Trunk>>;

    /// Creates or replaces the user's SIP login. `Conflict` when the username is taken.
    async fn put_sip_account(&mut self, account: &SipAccount) -> Result<()>;
    async fn sip_accounts(&mut self) -> Result<Vec<SipAccount>>;

    /// `Conflict` when the company already has a server of that ARI address and application.
    async fn insert_pbx_server(&mut self, server: &PbxServer) -> Result<()>;
    async fn delete_pbx_server(&mut self, id: PbxServerId) -> Result<bool>;
    async fn pbx_servers(&mut self) -> Result<Vec<PbxServer>>;

    async fn insert_connection(&mut self, connection: &ChannelConnection) -> Result<()>;
    async fn delete_connection(&mut self, id: ConnectionId) -> Result<bool>;
    async fn connection(&mut self, id: ConnectionId) -> Result<Option<ChannelConnection>>;
    async fn connections(&mut self) -> Result<Vec<ChannelConnection>>;
    /// Marks a stored webhook payload done, with what became of it.
    /// Takes a stored payload for this transaction: false when it was processed, or another
    /// process is processing it now.
    async fn claim_update(&mut self, connection: ConnectionId, key: &str) -> Result<bool>;
    async fn finish_update(&mut self, connection: ConnectionId, key: &str, outcome: &str) -> Result<()>;
    /// The customer a platform identity belongs to.
    async fn identity_owner(&mut self, kind: &str, external_id: &str) -> Result<Option<CustomerId>>;
    async fn insert_identity(
        &mut self,
        kind: &str,
        external_id: &str,
        customer: CustomerId,
        username: Option<&str>,
    ) -> Result<()>;
    async fn conversation_by_thread(&mut self, connection: ConnectionId, thread: &str) -> Result<Option<Conversation>>;
    async fn conversation(&mut self, id: ConversationId) -> Result<Option<Conversation>>;
    /// Most recent first; `assignee` narrows to one user's (or, with `Some(None)`, unassigned).
    async fn conversations(
        &mut self,
        status: Option<ConversationStatus>,
        assignee: Option<Option<UserId>>,
        before: Option<crate::cards::TimelineKey>,
        limit: u64,
    ) -> Result<Vec<Conversation>>;
    async fn insert_conversation(&mut self, conversation: &Conversation) -> Result<()>;
    async fn update_conversation(&mut self, conversation: &Conversation) -> Result<()>;
    /// False when a message with the same platform id (per connection and direction) exists.
    async fn insert_message(&mut self, message: &Message) -> Result<bool>;
    async fn update_message(&mut self, message: &Message) -> Result<()>;
    async fn message(&mut self, id: MessageId) -> Result<Option<Message>>;
    /// A conversation's messages, oldest first.
    async fn messages(&mut self, conversation: ConversationId, limit: u64) -> Result<Vec<Message>>;
    async fn mark_read(&mut self, conversation: ConversationId, user: UserId, at: DateTime<Utc>) -> Result<()>;
    /// Inbound messages `user` has not read in the conversation.
    async fn unread(&mut self, conversation: ConversationId, user: UserId) -> Result<u64>;
    /// Open conversations per assignee.
    async fn open_load(&mut self) -> Result<Vec<(UserId, u64)>>;
    async fn insert_canned_reply(&mut self, reply: &CannedReply) -> Result<()>;
    async fn delete_canned_reply(&mut self, id: CannedReplyId) -> Result<bool>;
    /// By title.
    async fn canned_replies(&mut self) -> Result<Vec<CannedReply>>;
    async fn put_outbox(&mut self, item: &OutboxItem) -> Result<()>;
    /// Takes a due reply for sending until `until`, if nobody else took it since it was read
    /// (its `next_attempt_at` is still `seen`).
    async fn claim_outbox(&mut self, message: MessageId, seen: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool>;
    async fn delete_outbox(&mut self, message: MessageId) -> Result<()>;
    /// When the last earlier reply of the conversation still in the outbox is due, if any.
    async fn outbox_before(
        &mut self,
        conversation: ConversationId,
        message: MessageId,
    ) -> Result<Option<DateTime<Utc>>>;

    async fn insert_call(&mut self, call: &Call) -> Result<()>;
    async fn update_call(&mut self, call: &Call) -> Result<()>;
    async fn call(&mut self, id: CallId) -> Result<Option<Call>>;
    async fn calls(&mut self, query: &CallQuery) -> Result<Page<Call>>;
    /// The customer with this phone (E.164); the oldest when several share it.
    async fn customer_by_phone(&mut self, e164: &str) -> Result<Option<Customer>>;

    async fn insert_task(&mut self, task: &Task) -> Result<()>;
    /// Tasks, soonest due first; only those not done when `open_only`.
    async fn tasks(&mut self, open_only: bool) -> Result<Vec<Task>>;
    /// Marks the customer's open callback tasks done; returns how many.
    async fn close_callbacks(&mut self, customer: CustomerId, at: DateTime<Utc>) -> Result<u64>;

    async fn insert_customer(&mut self, customer: &Customer) -> Result<()>;
    async fn update_customer(&mut self, customer: &Customer) -> Result<()>;
    async fn delete_customer(&mut self, id: CustomerId) -> Result<bool>;
    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>>;
    /// The customer without their phones, emails and tags (left empty), for a read that shows
    /// none of them: one query fewer.
    async fn customer_head(&mut self, id: CustomerId) -> Result<Option<Customer>>;
    async fn customers(&mut self, query: &CustomerQuery) -> Result<Page<Customer>>;

    async fn identities_of(&mut self, customer: CustomerId) -> Result<Vec<crate::cards::Identity>>;
    /// Moves calls, conversations, identities, tasks and notes from `merged` to `kept`.
    async fn move_customer_records(&mut self, merged: CustomerId, kept: CustomerId) -> Result<crate::cards::Moved>;
    async fn insert_merge(&mut self, merge: &crate::cards::Merge) -> Result<()>;
    /// Merges into `customer`, newest first.
    async fn merges_into(&mut self, customer: CustomerId) -> Result<Vec<crate::cards::Merge>>;
    /// Customers sharing a phone or an email with another; `of` narrows to one customer.
    async fn duplicates(&mut self, of: Option<CustomerId>, first: u64) -> Result<Vec<crate::cards::Duplicate>>;
    async fn insert_note(&mut self, note: &crate::cards::Note) -> Result<()>;
    async fn note(&mut self, id: crate::NoteId) -> Result<Option<crate::cards::Note>>;
    /// The customer's calls, messages, notes and tasks, newest first, before `before`.
    /// The timeline's entries themselves, one query per kind (whatever is missing is left out).
    async fn timeline_entries(
        &mut self,
        entries: &[crate::cards::TimelineEntry],
    ) -> Result<crate::cards::TimelineEntries>;
    async fn timeline(
        &mut self,
        customer: CustomerId,
        before: Option<crate::cards::TimelineKey>,
        first: u64,
    ) -> Result<Vec<(crate::cards::TimelineKey, crate::cards::TimelineEntry)>>;
    /// Calls that started between the first and the last of `bounds`, grouped by day (the
    /// index of the bound the day starts at), direction, status and person.
    async fn call_groups(&mut self, bounds: &[DateTime<Utc>]) -> Result<Vec<crate::dashboard::CallGroup>>;
    async fn message_groups(&mut self, bounds: &[DateTime<Utc>]) -> Result<Vec<crate::dashboard::MessageGroup>>;
    /// Callback tasks not done.
    async fn open_callbacks(&mut self) -> Result<u64>;
    /// Open conversations, and those of them with messages `user` has not read.
    async fn open_conversations(&mut self, user: UserId) -> Result<(u64, u64)>;
    /// Conversations begun in the range that have been answered, and the seconds from their
    /// beginning to their first reply, summed.
    async fn first_replies(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(u64, f64)>;
    /// Calls started before `before` whose recordings are still kept.
    async fn recordings_before(&mut self, before: DateTime<Utc>, limit: u64) -> Result<Vec<Call>>;
    async fn save_import(&mut self, import: &crate::imports::CustomerImport) -> Result<()>;
    async fn import(&mut self, id: crate::ImportId) -> Result<Option<crate::imports::CustomerImport>>;
    async fn custom_fields(&mut self) -> Result<Vec<crate::fields::CustomField>>;
    async fn insert_custom_field(&mut self, field: &crate::fields::CustomField) -> Result<()>;
    async fn delete_custom_field(&mut self, id: crate::FieldId) -> Result<bool>;
    async fn insert_webhook(&mut self, endpoint: &crate::webhooks::Endpoint) -> Result<()>;
    async fn update_webhook(&mut self, endpoint: &crate::webhooks::Endpoint) -> Result<()>;
    async fn delete_webhook(&mut self, id: crate::WebhookId) -> Result<bool>;
    async fn webhooks(&mut self) -> Result<Vec<crate::webhooks::Endpoint>>;
    async fn insert_delivery(&mut self, delivery: &crate::webhooks::Delivery) -> Result<()>;
    /// Writes a live event with the change it announces; it is published after the commit.
    async fn stage_event(&mut self, event: &crate::events::Event, now_ms: i64) -> Result<()>;
    /// Takes staged event `id` for this process until `until_ms`, if it is as `seen_ms` left it.
    async fn claim_event(&mut self, id: uuid::Uuid, seen_ms: i64, until_ms: i64) -> Result<bool>;
    async fn update_delivery(&mut self, delivery: &crate::webhooks::Delivery) -> Result<()>;
    async fn delivery(&mut self, id: crate::DeliveryId) -> Result<Option<crate::webhooks::Delivery>>;
    /// The endpoint's deliveries, newest first.
    async fn deliveries(&mut self, endpoint: crate::WebhookId, first: u64) -> Result<Vec<crate::webhooks::Delivery>>;
    /// Counts a failed attempt against the endpoint, or clears the count; the count after it.
    async fn record_webhook_attempt(&mut self, id: crate::WebhookId, ok: bool) -> Result<Option<u32>>;
    /// Switches an endpoint off; true only if it was on.
    async fn switch_off_webhook(&mut self, id: crate::WebhookId, reason: &str) -> Result<bool>;
    /// Takes a due delivery until `until`, if it is still due as `seen`.
    async fn claim_delivery(
        &mut self,
        id: crate::DeliveryId,
        seen: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;
    async fn task(&mut self, id: crate::TaskId) -> Result<Option<Task>>;
    async fn update_task(&mut self, task: &Task) -> Result<()>;
}
