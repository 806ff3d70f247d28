//! The inbox: connecting messenger channels, turning stored webhook payloads into customers,
//! conversations and messages, replying through a durable outbox, and the agents' actions.
use super::{Services, check_len, ingest};
use crate::auth::Principal;
use crate::events::{ChangeKind, EventKind};
use crate::inbox::*;
use crate::ports::{Customer, TenantTx};
use crate::{ConnectionId, ConversationId, CustomerId, Error, MessageId, Result, TenantId, UserId};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A Meta channel's credentials, from the Meta app's settings.
#[derive(Clone, Debug)]
pub struct MetaInput {
    pub name: String,
    /// The page's id (Messenger) or the Instagram professional account's id.
    pub account_id: String,
    /// The input field that carried `account_id`, for errors.
    pub account_field: &'static str,
    /// A page access token, or (Instagram login) the account's Instagram user token.
    pub access_token: SecretString,
    /// The input field that carried `access_token`, for errors.
    pub token_field: &'static str,
    /// Instagram only: the Instagram API with Instagram login rather than with Facebook login.
    pub instagram_login: bool,
    pub app_secret: SecretString,
    pub verify_token: SecretString,
}

/// Paces sends per connection (a bot or page), in this process: the platforms limit how fast
/// one bot or page may send (Telegram: about 30 messages a second), and answer 429 beyond it.
/// Telegram also asks for no more than one message a second to one chat.
#[derive(Debug)]
pub struct SendPacer {
    per_second: f64,
    next: std::sync::Mutex<Slots<ConnectionId>>,
    next_in_chat: std::sync::Mutex<Slots<ConversationId>>,
}

type Slots<K> = crate::pruned_map::PrunedMap<K, tokio::time::Instant>;

/// Takes the next slot of `key`, `gap` after the previous one, and says when it is.
fn take_slot<K: std::hash::Hash + Eq>(
    slots: &std::sync::Mutex<Slots<K>>,
    key: K,
    gap: std::time::Duration,
) -> tokio::time::Instant {
    let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
    let now = tokio::time::Instant::now();
    slots.prune(|_, next| *next > now);
    let slot = slots.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
    slots.insert(key, slot + gap);
    slot
}

impl SendPacer {
    pub const CHAT_GAP: std::time::Duration = std::time::Duration::from_secs(1);

    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            next: std::sync::Mutex::default(),
            next_in_chat: std::sync::Mutex::default(),
        }
    }

    /// Waits for the chat's next slot (when it is paced), then the connection's.
    async fn turn(&self, connection: ConnectionId, chat: Option<ConversationId>) {
        if let Some(chat) = chat {
            tokio::time::sleep_until(take_slot(&self.next_in_chat, chat, Self::CHAT_GAP)).await;
        }
        let gap = std::time::Duration::from_secs_f64(1.0 / self.per_second);
        tokio::time::sleep_until(take_slot(&self.next, connection, gap)).await;
    }
}

/// A file to send, by a public URL the platform fetches it from.
#[derive(Clone, Debug)]
pub struct OutgoingFile {
    /// `image` or `file`.
    pub kind: &'static str,
    pub url: String,
    pub name: Option<String>,
}

fn check_file(file: OutgoingFile) -> Result<Attachment> {
    let url = url::Url::parse(file.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| Error::bad_input("file", "give the file's public http(s) address"))?;
    let name = file.name.map(|n| check_len("file", &n, 200)).transpose()?;
    Ok(Attachment::new(file.kind, url.to_string(), name))
}

/// Open conversations an agent may hold before new ones go to others.
pub const DEFAULT_OPEN_LIMIT: u64 = 50;
/// Sends per second per bot or page (Telegram's documented bulk limit).
pub const DEFAULT_SENDS_PER_SECOND: u32 = 30;
const MAX_TEXT: usize = 4096;
/// Replies sent at once by one process.
const SENDS_IN_FLIGHT: usize = 16;

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn secrets_context(tenant: TenantId, id: ConnectionId) -> String {
    format!("channel:{tenant}:{id}")
}

fn platforms_missing() -> Error {
    Error::internal("no messaging platforms configured")
}

/// Retries wait 2 s doubling up to 5 minutes, unless the platform says how long.
fn backoff(attempts: u32) -> chrono::Duration {
    chrono::Duration::seconds(2i64 << attempts.clamp(1, 8).saturating_sub(1)).min(chrono::Duration::minutes(5))
}

impl Services {
    fn platforms(&self) -> Result<&std::sync::Arc<dyn ChannelPlatforms>> {
        self.channels.as_ref().ok_or_else(platforms_missing)
    }

    async fn save_connection(
        &self,
        principal: &Principal,
        mut connection: ChannelConnection,
        secrets: &ChannelSecrets,
    ) -> Result<ChannelConnection> {
        let json = serde_json::to_string(secrets).map_err(Error::internal)?;
        connection.sealed_secrets =
            self.vault.seal(&SecretString::from(json), &secrets_context(connection.tenant_id, connection.id))?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.insert_connection(&connection).await?;
        tx.commit().await?;
        tracing::info!(tenant = %connection.tenant_id, connection = %connection.id, kind = connection.kind.as_str(), "channel connected");
        Ok(connection)
    }

    pub fn channel_secrets(&self, connection: &ChannelConnection) -> Result<ChannelSecrets> {
        let opened =
            self.vault.open(&connection.sealed_secrets, &secrets_context(connection.tenant_id, connection.id))?;
        serde_json::from_str(opened.expose_secret()).map_err(Error::internal)
    }

    /// Connects a Telegram bot (owners and admins): the token is checked with `getMe` and the
    /// bot's webhook set, with a random secret token Telegram will present.
    pub async fn connect_telegram(
        &self,
        principal: &Principal,
        name: &str,
        token: SecretString,
    ) -> Result<ChannelConnection> {
        principal.require_session()?;
        principal.require_admin()?;
        let name = check_len("name", name, 100)?;
        let token = token.expose_secret().trim().to_owned();
        if token.is_empty()
            || token.len() > 200
            || !token.chars().all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c))
        {
            return Err(Error::bad_input("botToken", "this is not a Telegram bot token (as BotFather gives it)"));
        }
        let id = ConnectionId::new();
        let secret = crate::token::random_token(32);
        let (external_id, username) = self
            .platforms()?
            .connect_telegram(&token, id, &secret)
            .await
            .map_err(|e| Error::bad_input("botToken", format!("Telegram refused: {e}")))?;
        let connection = ChannelConnection {
            id,
            tenant_id: principal.tenant_id,
            kind: ChannelKind::Telegram,
            name,
            external_id,
            external_name: username,
            sealed_secrets: String::new(),
            webhook_secret_hash: secret_hash(&secret),
            created_at: Utc::now(),
        };
        let secrets = ChannelSecrets { token, app_secret: None, instagram_login: false };
        self.save_connection(principal, connection, &secrets).await
    }

    /// Connects a Facebook page for Messenger, or an Instagram professional account through
    /// its linked page (Instagram API with Facebook login), owners and admins.
    pub async fn connect_meta(
        &self,
        principal: &Principal,
        kind: ChannelKind,
        input: MetaInput,
    ) -> Result<ChannelConnection> {
        principal.require_session()?;
        principal.require_admin()?;
        if kind == ChannelKind::Telegram {
            return Err(Error::internal("Telegram is not a Meta channel"));
        }
        let name = check_len("name", &input.name, 100)?;
        let account = input.account_id.trim().to_owned();
        if account.is_empty() || account.len() > 32 || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::bad_input(
                input.account_field,
                "this id is a number (see the page's or account's settings)",
            ));
        }
        for (field, value) in [
            (input.token_field, &input.access_token),
            ("appSecret", &input.app_secret),
            ("verifyToken", &input.verify_token),
        ] {
            let value = value.expose_secret();
            if value.is_empty() || value.len() > 1000 || value.chars().any(char::is_control) {
                return Err(Error::bad_input(field, format!("{field} must be 1 to 1000 printable characters")));
            }
        }
        let connection = ChannelConnection {
            id: ConnectionId::new(),
            tenant_id: principal.tenant_id,
            kind,
            name,
            external_id: account,
            external_name: None,
            sealed_secrets: String::new(),
            webhook_secret_hash: secret_hash(input.verify_token.expose_secret()),
            created_at: Utc::now(),
        };
        let secrets = ChannelSecrets {
            token: input.access_token.expose_secret().to_owned(),
            app_secret: Some(input.app_secret.expose_secret().to_owned()),
            instagram_login: kind == ChannelKind::Instagram && input.instagram_login,
        };
        self.save_connection(principal, connection, &secrets).await
    }

    /// Disconnects a channel; for Telegram the bot's webhook is removed first.
    pub async fn disconnect_channel(&self, principal: &Principal, id: ConnectionId) -> Result<()> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let connection = tx.connection(id).await?.ok_or(Error::NotFound)?;
        if connection.kind == ChannelKind::Telegram {
            let secrets = self.channel_secrets(&connection)?;
            self.platforms()?
                .disconnect_telegram(&secrets.token)
                .await
                .map_err(|e| Error::Conflict(format!("Telegram did not remove the webhook ({e}); try again")))?;
        }
        tx.delete_connection(id).await?;
        tx.commit().await?;
        self.webhook_cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        Ok(())
    }

    pub async fn channel_connections(&self, principal: &Principal) -> Result<Vec<ChannelConnection>> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let connections = tx.connections().await?;
        tx.commit().await?;
        Ok(connections)
    }

    /// A connection by id for its webhook, from a short-lived cache: every webhook needs it,
    /// and it rarely changes (a disconnected channel's stored payloads are dropped when filed).
    async fn cached_connection(&self, id: ConnectionId) -> Result<Option<ChannelConnection>> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(30);
        if let Some((connection, at)) = self.webhook_cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id)
            && at.elapsed() < FRESH
        {
            return Ok(Some(connection.clone()));
        }
        let found = self.db.channel_connection(id).await?;
        if let Some(connection) = &found {
            let mut cache = self.webhook_cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.prune(|_, (_, at)| at.elapsed() < FRESH);
            cache.insert(id, (connection.clone(), std::time::Instant::now()));
        }
        Ok(found)
    }

    /// The connection a webhook names, if `presented` is its secret (compared in constant time).
    pub async fn webhook_connection(
        &self,
        id: ConnectionId,
        presented: Option<&str>,
    ) -> Result<Option<ChannelConnection>> {
        let Some(connection) = self.cached_connection(id).await? else { return Ok(None) };
        let Some(presented) = presented else { return Ok(None) };
        let matches: bool = secret_hash(presented).as_bytes().ct_eq(connection.webhook_secret_hash.as_bytes()).into();
        Ok(matches.then_some(connection))
    }

    /// A connection for a webhook whose payloads are signed (Meta): checked by the signature.
    pub async fn signed_webhook_connection(
        &self,
        id: ConnectionId,
    ) -> Result<Option<(ChannelConnection, ChannelSecrets)>> {
        let Some(connection) = self.cached_connection(id).await? else { return Ok(None) };
        let secrets = self.channel_secrets(&connection)?;
        Ok(Some((connection, secrets)))
    }

    /// Stores webhook payloads (before they are acknowledged); how many were new.
    /// Returns once the payloads are durably stored (a redelivery changes nothing).
    pub async fn store_updates(&self, updates: Vec<InboundUpdate>) -> Result<()> {
        let queue = self.ingest.get_or_init(|| ingest::IngestQueue::start(self.db.clone(), self.inbox_signal.clone()));
        queue.store(updates).await
    }

    /// Wakes when payloads were stored in this process.
    pub fn inbox_signal(&self) -> &tokio::sync::Notify {
        &self.inbox_signal
    }

    pub fn outbox_signal(&self) -> &tokio::sync::Notify {
        &self.outbox_signal
    }

    /// Processes stored payloads not processed yet; how many.
    pub async fn process_pending_updates(&self, limit: u64) -> Result<usize> {
        let pending = self.db.pending_updates(limit).await?;
        let count = pending.len();
        for update in pending {
            if let Err(error) = self.process_update(&update).await {
                tracing::error!(%error, connection = %update.connection_id, key = update.external_key, "a webhook payload could not be processed; it will be retried");
            }
        }
        Ok(count)
    }

    async fn process_update(&self, update: &InboundUpdate) -> Result<()> {
        let tenant = update.tenant_id;
        let mut tx = self.db.tenant(tenant).await?;
        // Every process reads the same pending payloads: the first to claim one files it.
        if !tx.claim_update(update.connection_id, &update.external_key).await? {
            return tx.commit().await;
        }
        let Some(connection) = tx.connection(update.connection_id).await? else {
            // Disconnected since: nothing to file it under.
            tx.finish_update(update.connection_id, &update.external_key, "ignored: channel disconnected").await?;
            return tx.commit().await;
        };
        let inbound = self.platforms()?.read(connection.kind, &update.payload);
        let message = match inbound {
            Ok(Inbound::Message(message)) => message,
            Ok(Inbound::Ignored(why)) => {
                tx.finish_update(connection.id, &update.external_key, &format!("ignored: {why}")).await?;
                return tx.commit().await;
            }
            Err(error) => {
                tracing::warn!(error, connection = %connection.id, "a webhook payload we cannot read; ignored");
                tx.finish_update(connection.id, &update.external_key, &format!("unreadable: {error}")).await?;
                return tx.commit().await;
            }
        };
        let mut message = message;
        if message.sender.name.is_none()
            && tx.identity_owner(connection.kind.as_str(), &message.sender.external_id).await?.is_none()
        {
            // A new person on a platform that does not say who they are: ask it, outside the
            // transaction (the platform may be slow).
            tx.commit().await?;
            let secrets = self.channel_secrets(&connection)?;
            if let Some((name, username)) =
                self.platforms()?.profile(connection.kind, &secrets, &message.sender.external_id).await
            {
                message.sender.name = name;
                message.sender.username = username;
            }
            tx = self.db.tenant(tenant).await?;
            if !tx.claim_update(update.connection_id, &update.external_key).await? {
                return tx.commit().await;
            }
        }
        let filed = self.file_message(tx.as_mut(), &connection, message).await?;
        tx.finish_update(connection.id, &update.external_key, if filed.is_some() { "stored" } else { "duplicate" })
            .await?;
        let mut kinds = Vec::new();
        if let Some((conversation, message, new_customer)) = filed {
            if let Some(customer) = new_customer {
                kinds.push(EventKind::CustomerChanged { customer_id: customer, change: ChangeKind::Created });
            }
            kinds.push(EventKind::ConversationChanged { conversation_id: conversation, message_id: Some(message) });
        }
        self.commit_announcing(tx, kinds).await?;
        Ok(())
    }

    /// Files an inbound message under its customer and conversation, all in `tx`; `None` when
    /// it was filed before (a redelivery).
    async fn file_message(
        &self,
        tx: &mut dyn TenantTx,
        connection: &ChannelConnection,
        inbound: InboundMessage,
    ) -> Result<Option<(ConversationId, MessageId, Option<CustomerId>)>> {
        let tenant = connection.tenant_id;
        let now = Utc::now();
        let kind = connection.kind.as_str();
        let mut new_customer = None;
        let customer = match tx.identity_owner(kind, &inbound.sender.external_id).await? {
            Some(customer) => customer,
            None => {
                let name = inbound
                    .sender
                    .name
                    .clone()
                    .or_else(|| inbound.sender.username.clone().map(|u| format!("@{u}")))
                    .unwrap_or_else(|| format!("{} {}", connection.kind.as_str(), inbound.sender.external_id));
                let customer = Customer {
                    id: CustomerId::new(),
                    tenant_id: tenant,
                    name: name.chars().take(200).collect(),
                    phones: Vec::new(),
                    emails: Vec::new(),
                    tags: Vec::new(),
                    fields: Default::default(),
                    responsible_user_id: None,
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_customer(&customer).await?;
                super::webhooks::emit(tx, "customer.created", super::webhooks::customer_data(&customer)).await?;
                let username = inbound.sender.username.as_deref();
                tx.insert_identity(kind, &inbound.sender.external_id, customer.id, username).await?;
                new_customer = Some(customer.id);
                customer.id
            }
        };
        let mut conversation = match tx.conversation_by_thread(connection.id, &inbound.thread).await? {
            Some(conversation) => conversation,
            None => {
                let assignee = self.route(tx, customer).await?;
                let conversation = Conversation {
                    id: ConversationId::new(),
                    tenant_id: tenant,
                    connection_id: connection.id,
                    thread: inbound.thread.clone(),
                    customer_id: customer,
                    assignee_id: assignee,
                    status: ConversationStatus::Open,
                    blocked: false,
                    last_message_at: now,
                    last_inbound_at: None,
                    created_at: now,
                };
                tx.insert_conversation(&conversation).await?;
                conversation
            }
        };
        let message = Message {
            id: MessageId::new(),
            tenant_id: tenant,
            conversation_id: conversation.id,
            connection_id: connection.id,
            direction: MessageDirection::Inbound,
            text: inbound.text,
            attachments: inbound.attachments,
            external_id: Some(inbound.external_id),
            sender_user_id: None,
            status: DeliveryStatus::Received,
            error: None,
            created_at: now,
        };
        if !tx.insert_message(&message).await? {
            return Ok(None);
        }
        super::webhooks::emit(tx, "message.received", super::webhooks::message_data(&message, customer)).await?;
        conversation.last_message_at = now;
        conversation.last_inbound_at =
            Some(inbound.sent_at.max(conversation.last_inbound_at.unwrap_or(inbound.sent_at)));
        // A customer writing again reopens the conversation, and may have unblocked us.
        conversation.status = ConversationStatus::Open;
        conversation.blocked = false;
        tx.update_conversation(&conversation).await?;
        Ok(Some((conversation.id, message.id, new_customer)))
    }

    /// Who a new conversation goes to: the customer's responsible manager, otherwise the
    /// member with the fewest open conversations under the limit (oldest member first on ties).
    /// The responsible manager, else the next available person (online, not away, under the
    /// open limit) in round-robin order: the one given a new chat longest ago goes first.
    async fn route(&self, tx: &mut dyn TenantTx, customer: CustomerId) -> Result<Option<UserId>> {
        if let Some(responsible) = tx.customer(customer).await?.and_then(|c| c.responsible_user_id) {
            return Ok(Some(responsible));
        }
        let load: std::collections::HashMap<UserId, u64> = tx.open_load().await?.into_iter().collect();
        let now = chrono::Utc::now();
        let next = tx
            .members()
            .await?
            .into_iter()
            .filter(|m| m.available(now) && load.get(&m.account.id).copied().unwrap_or(0) < self.inbox_open_limit)
            .min_by_key(|m| (m.routed_at, m.joined_at))
            .map(|m| m.account.id);
        if let Some(user) = next {
            tx.set_routed(user, now).await?;
        }
        Ok(next)
    }

    pub async fn conversations(
        &self,
        principal: &Principal,
        status: Option<ConversationStatus>,
        assignee: Option<Option<UserId>>,
        first: u64,
        after: Option<&str>,
    ) -> Result<Vec<Conversation>> {
        principal.require_scope("inbox:read")?;
        let before = after.map(super::cards::parse_cursor).transpose()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let list = tx.conversations(status, assignee, before, first.clamp(1, 100)).await?;
        tx.commit().await?;
        Ok(list)
    }

    /// Where `conversation` sits in the list, for `conversations(after:)`.
    pub fn conversation_cursor(conversation: &Conversation) -> String {
        super::cards::cursor(crate::cards::TimelineKey { at: conversation.last_message_at, id: conversation.id.0 })
    }

    pub async fn conversation(&self, principal: &Principal, id: ConversationId) -> Result<Conversation> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let conversation = tx.conversation(id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(conversation)
    }

    pub async fn conversation_messages(
        &self,
        principal: &Principal,
        id: ConversationId,
        last: u64,
    ) -> Result<Vec<Message>> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let messages = tx.messages(id, last.clamp(1, 200)).await?;
        tx.commit().await?;
        Ok(messages)
    }

    pub async fn message(&self, principal: &Principal, id: MessageId) -> Result<Message> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let message = tx.message(id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(message)
    }

    /// Inbound messages the caller has not read in the conversation.
    pub async fn unread(&self, principal: &Principal, id: ConversationId) -> Result<u64> {
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let unread = tx.unread(id, principal.user_id).await?;
        tx.commit().await?;
        Ok(unread)
    }

    /// Until when a reply may go to this conversation, and whether it needs Meta's
    /// HUMAN_AGENT tag; `None` for platforms without a window (Telegram).
    pub async fn reply_window(&self, principal: &Principal, conversation: &Conversation) -> Result<Option<MetaWindow>> {
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let connection = tx.connection(conversation.connection_id).await?;
        tx.commit().await?;
        Ok(match connection.map(|c| c.kind) {
            Some(ChannelKind::Messenger | ChannelKind::Instagram) => {
                Some(meta_window(conversation.last_inbound_at, Utc::now()))
            }
            _ => None,
        })
    }

    async fn change_conversation(
        &self,
        principal: &Principal,
        id: ConversationId,
        change: impl FnOnce(&mut Conversation),
    ) -> Result<Conversation> {
        principal.require_scope("inbox:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut conversation = tx.conversation(id).await?.ok_or(Error::NotFound)?;
        change(&mut conversation);
        tx.update_conversation(&conversation).await?;
        let kind = EventKind::ConversationChanged { conversation_id: id, message_id: None };
        self.commit_announcing(tx, [kind]).await?;
        Ok(conversation)
    }

    pub async fn assign_conversation(
        &self,
        principal: &Principal,
        id: ConversationId,
        user: Option<UserId>,
    ) -> Result<Conversation> {
        if let Some(user) = user {
            let mut tx = self.db.tenant(principal.tenant_id).await?;
            tx.member(user).await?.ok_or_else(|| Error::bad_input("userId", "no such user in this company"))?;
            tx.commit().await?;
        }
        self.change_conversation(principal, id, |c| c.assignee_id = user).await
    }

    pub async fn set_conversation_status(
        &self,
        principal: &Principal,
        id: ConversationId,
        status: ConversationStatus,
    ) -> Result<Conversation> {
        self.change_conversation(principal, id, |c| c.status = status).await
    }

    pub async fn mark_conversation_read(&self, principal: &Principal, id: ConversationId) -> Result<Conversation> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let conversation = tx.conversation(id).await?.ok_or(Error::NotFound)?;
        tx.mark_read(id, principal.user_id, Utc::now()).await?;
        let kind = EventKind::ConversationChanged { conversation_id: id, message_id: None };
        self.commit_announcing(tx, [kind]).await?;
        Ok(conversation)
    }

    /// Queues a reply; the outbox sends it (and retries) and reports delivery on the message.
    pub async fn send_message(
        &self,
        principal: &Principal,
        id: ConversationId,
        text: Option<&str>,
        file: Option<OutgoingFile>,
    ) -> Result<Message> {
        principal.require_scope("inbox:write")?;
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        if text.is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Err(Error::bad_input("text", format!("a reply is at most {MAX_TEXT} characters")));
        }
        let attachment = file.map(check_file).transpose()?;
        if text.is_none() && attachment.is_none() {
            return Err(Error::bad_input("text", "write a reply or attach a file"));
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let conversation = tx.conversation(id).await?.ok_or(Error::NotFound)?;
        let connection = tx
            .connection(conversation.connection_id)
            .await?
            .ok_or_else(|| Error::Conflict("this channel was disconnected".into()))?;
        if connection.kind != ChannelKind::Telegram && text.is_some() && attachment.is_some() {
            return Err(Error::bad_input(
                "file",
                "Meta takes a text or a file per message: send them one after the other",
            ));
        }
        if conversation.blocked {
            return Err(Error::Conflict("the customer blocked this bot: replies cannot reach them".into()));
        }
        if matches!(connection.kind, ChannelKind::Messenger | ChannelKind::Instagram)
            && meta_window(conversation.last_inbound_at, Utc::now()) == MetaWindow::Closed
        {
            return Err(Error::Conflict(format!(
                "Meta allows replies only within {META_HUMAN_AGENT_DAYS} days of the customer's last message; wait for them to write again"
            )));
        }
        let now = Utc::now();
        let message = Message {
            id: MessageId::new(),
            tenant_id: principal.tenant_id,
            conversation_id: id,
            connection_id: connection.id,
            direction: MessageDirection::Outbound,
            text: text.map(str::to_owned),
            attachments: attachment.into_iter().collect(),
            external_id: None,
            sender_user_id: Some(principal.user_id),
            status: DeliveryStatus::Queued,
            error: None,
            created_at: now,
        };
        tx.insert_message(&message).await?;
        let item = OutboxItem {
            tenant_id: principal.tenant_id,
            message_id: message.id,
            conversation_id: id,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
        };
        tx.put_outbox(&item).await?;
        let mut conversation = conversation;
        conversation.last_message_at = now;
        tx.update_conversation(&conversation).await?;
        let kind = EventKind::ConversationChanged { conversation_id: id, message_id: Some(message.id) };
        self.commit_announcing(tx, [kind]).await?;
        self.outbox_signal.notify_one();
        Ok(message)
    }

    /// Copies attachments of received messages from the platforms to object storage; how many
    /// messages were looked at. One that fails for now is tried again on the next round.
    pub async fn fetch_pending_attachments(&self, limit: u64) -> Result<usize> {
        let pending = self.db.pending_fetches(limit).await?;
        let count = pending.len();
        for message in pending {
            if let Err(error) = self.fetch_attachments(message).await {
                tracing::warn!(%error, "attachments not copied yet; will retry");
            }
        }
        Ok(count)
    }

    async fn fetch_attachments(&self, mut message: Message) -> Result<()> {
        let tenant = message.tenant_id;
        let store = self.store.as_ref().ok_or_else(|| Error::internal("no object store configured"))?;
        let mut tx = self.db.tenant(tenant).await?;
        let connection = tx.connection(message.connection_id).await?;
        tx.commit().await?;
        let secrets = connection.as_ref().map(|c| self.channel_secrets(c)).transpose()?;
        let before = message.attachments.clone();
        for (n, attachment) in message.attachments.iter_mut().enumerate().filter(|(_, a)| a.pending()) {
            let (Some(connection), Some(secrets)) = (&connection, &secrets) else {
                attachment.error = Some("the channel was disconnected".into());
                continue;
            };
            match self.platforms()?.fetch(connection.kind, secrets, &attachment.source).await {
                Ok((body, content_type)) => {
                    let key = crate::storage::tenant_key(tenant, &format!("attachments/{}/{n}", message.id))?;
                    store.put(&key, body, &content_type).await?;
                    attachment.key = Some(key);
                }
                Err(failure) if failure.permanent => attachment.error = Some(failure.reason),
                Err(failure) => {
                    tracing::warn!(reason = failure.reason, message = %message.id, "a platform did not give a file yet");
                }
            }
        }
        // Nothing came (the platform is away): the next round tries again, nothing to record.
        if message.attachments == before {
            return Ok(());
        }
        let mut tx = self.db.tenant(tenant).await?;
        tx.update_message(&message).await?;
        let kind =
            EventKind::ConversationChanged { conversation_id: message.conversation_id, message_id: Some(message.id) };
        self.commit_announcing(tx, [kind]).await?;
        Ok(())
    }

    /// A signed, expiring download link for a stored object of `tenant`.
    pub fn download_url(&self, tenant: TenantId, key: &str) -> String {
        self.signer.sign(tenant, key, self.settings.download_ttl_secs)
    }

    /// The company's canned replies, by title.
    pub async fn canned_replies(&self, principal: &Principal) -> Result<Vec<CannedReply>> {
        principal.require_scope("inbox:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let replies = tx.canned_replies().await?;
        tx.commit().await?;
        Ok(replies)
    }

    /// Adds a canned reply (owners and admins).
    pub async fn create_canned_reply(&self, principal: &Principal, title: &str, text: &str) -> Result<CannedReply> {
        principal.require_scope("inbox:write")?;
        principal.require_admin()?;
        let reply = CannedReply {
            id: crate::CannedReplyId::new(),
            tenant_id: principal.tenant_id,
            title: check_len("title", title, 100)?,
            text: check_len("text", text, MAX_TEXT)?,
            created_at: Utc::now(),
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.insert_canned_reply(&reply).await?;
        tx.commit().await?;
        Ok(reply)
    }

    pub async fn delete_canned_reply(&self, principal: &Principal, id: crate::CannedReplyId) -> Result<()> {
        principal.require_scope("inbox:write")?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.delete_canned_reply(id).await? {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }

    /// Sends the replies that are due; how many were tried.
    pub async fn deliver_due(&self, limit: u64) -> Result<usize> {
        use futures::StreamExt;
        let due = self.db.due_outbox(Utc::now(), limit).await?;
        let count = due.len();
        // Conversations at once (each waits mostly on the platform), each one's replies in order.
        let mut by_conversation: Vec<Vec<OutboxItem>> = Vec::new();
        for item in due {
            match by_conversation.iter_mut().find(|group| group[0].conversation_id == item.conversation_id) {
                Some(group) => group.push(item),
                None => by_conversation.push(vec![item]),
            }
        }
        futures::stream::iter(by_conversation)
            .for_each_concurrent(SENDS_IN_FLIGHT, |group| async move {
                for item in group {
                    if let Err(error) = self.deliver(item).await {
                        tracing::error!(%error, "a reply could not be handled; it will be retried");
                    }
                }
            })
            .await;
        Ok(count)
    }

    async fn deliver(&self, item: OutboxItem) -> Result<()> {
        let tenant = item.tenant_id;
        // Taken for a minute, so another process does not send it too.
        let mut tx = self.db.tenant(tenant).await?;
        let claimed =
            tx.claim_outbox(item.message_id, item.next_attempt_at, Utc::now() + chrono::Duration::minutes(1)).await?;
        let Some(mut message) = tx.message(item.message_id).await?.filter(|_| claimed) else {
            return tx.commit().await;
        };
        // An earlier reply to the same customer waits for a retry: this one goes after it.
        if let Some(earlier) = tx.outbox_before(item.conversation_id, item.message_id).await? {
            let after =
                OutboxItem { next_attempt_at: earlier.max(Utc::now()) + chrono::Duration::milliseconds(100), ..item };
            tx.put_outbox(&after).await?;
            return tx.commit().await;
        }
        let conversation = tx.conversation(message.conversation_id).await?.ok_or(Error::NotFound)?;
        let connection = tx.connection(message.connection_id).await?;
        tx.commit().await?;
        let outcome = match connection {
            None => SendOutcome::Failed { error: "the channel was disconnected".into(), blocked: false },
            Some(connection) => {
                let secrets = self.channel_secrets(&connection)?;
                // Past Meta's 24 hours, only a person's reply may go, tagged HUMAN_AGENT.
                let tag = match (connection.kind, meta_window(conversation.last_inbound_at, Utc::now())) {
                    (ChannelKind::Telegram, _) => None,
                    (_, MetaWindow::HumanAgent { .. }) if message.sender_user_id.is_some() => Some("HUMAN_AGENT"),
                    (_, MetaWindow::Open { .. }) => None,
                    _ => {
                        let error = "Meta's messaging window closed before the reply could be sent".to_owned();
                        return self.settle(item, message, SendOutcome::Failed { error, blocked: false }).await;
                    }
                };
                let chat = (connection.kind == ChannelKind::Telegram).then_some(conversation.id);
                self.send_pacer.turn(connection.id, chat).await;
                self.platforms()?.send(connection.kind, &secrets, &conversation.thread, &message, tag).await
            }
        };
        message.error = None;
        self.settle(item, message, outcome).await
    }

    /// Records what the platform said about a reply.
    async fn settle(&self, item: OutboxItem, mut message: Message, outcome: SendOutcome) -> Result<()> {
        let tenant = item.tenant_id;
        let mut tx = self.db.tenant(tenant).await?;
        match &outcome {
            SendOutcome::Sent { external_id } => {
                message.status = DeliveryStatus::Sent;
                message.external_id = Some(external_id.clone());
                message.error = None;
                tx.delete_outbox(message.id).await?;
                if let Some(conversation) = tx.conversation(message.conversation_id).await? {
                    let data = super::webhooks::message_data(&message, conversation.customer_id);
                    super::webhooks::emit(tx.as_mut(), "message.sent", data).await?;
                }
            }
            SendOutcome::Failed { error, blocked } => {
                message.status = DeliveryStatus::Failed;
                message.error = Some(error.clone());
                tx.delete_outbox(message.id).await?;
                if *blocked && let Some(mut conversation) = tx.conversation(message.conversation_id).await? {
                    conversation.blocked = true;
                    tx.update_conversation(&conversation).await?;
                }
            }
            SendOutcome::Retry { after, error } => {
                let attempts = item.attempts + 1;
                let wait = after.and_then(|a| chrono::Duration::from_std(a).ok()).unwrap_or_else(|| backoff(attempts));
                tracing::warn!(error, attempts, retry_in_s = wait.num_seconds(), message = %message.id, "the platform did not take a reply; retrying");
                let retry = OutboxItem {
                    attempts,
                    next_attempt_at: Utc::now() + wait,
                    last_error: Some(error.clone()),
                    ..item
                };
                tx.put_outbox(&retry).await?;
                message.error = Some(error.clone());
            }
        }
        tx.update_message(&message).await?;
        let kind =
            EventKind::ConversationChanged { conversation_id: message.conversation_id, message_id: Some(message.id) };
        self.commit_announcing(tx, [kind]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[tokio::test(start_paused = true)]
    async fn sends_are_paced_per_connection() {
        let pacer = super::SendPacer::new(10);
        let (a, b) = (crate::ConnectionId::new(), crate::ConnectionId::new());
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            pacer.turn(a, None).await;
        }
        assert_eq!(start.elapsed(), std::time::Duration::from_millis(400), "10 a second: the fifth waits 0.4 s");
        let other = tokio::time::Instant::now();
        pacer.turn(b, None).await;
        assert_eq!(other.elapsed(), std::time::Duration::ZERO, "another bot has its own pace");
    }

    #[tokio::test(start_paused = true)]
    async fn a_telegram_chat_gets_one_message_a_second() {
        let pacer = super::SendPacer::new(30);
        let bot = crate::ConnectionId::new();
        let (chat, other_chat) = (crate::ConversationId::new(), crate::ConversationId::new());
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            pacer.turn(bot, Some(chat)).await;
        }
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(2), "the third message to one chat waits 2 s");
        let other = tokio::time::Instant::now();
        pacer.turn(bot, Some(other_chat)).await;
        assert!(other.elapsed() <= std::time::Duration::from_millis(34), "another chat only waits for the bot's pace");
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        let waits: Vec<i64> = (1..=10).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
    }
}
