//! The omnichannel inbox: messenger connections, conversations and their messages, one model
//! for every platform (the channel adapters turn each platform's payloads into these).
use crate::{ConnectionId, ConversationId, CustomerId, MessageId, TenantId, UserId};
use chrono::{DateTime, Utc};

crate::text_enum!(ChannelKind { Telegram => "telegram", Messenger => "messenger", Instagram => "instagram" });
crate::text_enum!(ConversationStatus { Open => "open", Closed => "closed", Snoozed => "snoozed" });
crate::text_enum!(MessageDirection { Inbound => "inbound", Outbound => "outbound" });
crate::text_enum!(DeliveryStatus { Received => "received", Queued => "queued", Sent => "sent", Failed => "failed" });

/// A company's bot or page on one platform.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelConnection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub kind: ChannelKind,
    pub name: String,
    /// The bot's id (Telegram) or the page's id (Meta).
    pub external_id: String,
    /// The bot's username or the page's name, as the platform gave it.
    pub external_name: Option<String>,
    /// Tokens and app secret, sealed by the vault (JSON inside).
    pub sealed_secrets: String,
    /// SHA-256 of what the platform's webhook must present (Telegram's secret token, Meta's
    /// verify token): compared in constant time.
    pub webhook_secret_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A connection's credentials, opened.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChannelSecrets {
    /// Telegram's bot token, or Meta's page access token.
    pub token: String,
    /// Meta's app secret (signs its webhooks).
    #[serde(default)]
    pub app_secret: Option<String>,
    /// An Instagram user token for the Instagram API with Instagram login (graph.instagram.com),
    /// rather than a page token for the Graph API.
    #[serde(default)]
    pub instagram_login: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    /// The platform's chat (Telegram chat id, Meta PSID).
    pub thread: String,
    pub customer_id: CustomerId,
    pub assignee_id: Option<UserId>,
    pub status: ConversationStatus,
    /// The customer blocked the bot: replies cannot reach them.
    pub blocked: bool,
    pub last_message_at: DateTime<Utc>,
    /// The customer's last message (Meta's messaging window starts there).
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// image, audio, video, file.
    pub kind: String,
    /// Where the platform keeps it (Telegram file id, Meta URL; a URL for our own sends).
    pub source: String,
    pub name: Option<String>,
    /// Our copy in object storage, once fetched.
    #[serde(default)]
    pub key: Option<String>,
    /// Why it could not be fetched, when the platform will never give it.
    #[serde(default)]
    pub error: Option<String>,
}

impl Attachment {
    pub fn new(kind: &str, source: String, name: Option<String>) -> Self {
        Self { kind: kind.to_owned(), source, name, key: None, error: None }
    }

    /// Still to be copied from the platform.
    pub fn pending(&self) -> bool {
        self.key.is_none() && self.error.is_none()
    }
}

/// Why a file could not be fetched from a platform.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchError {
    /// The platform will never give it (gone, too big): stop trying.
    pub permanent: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub connection_id: ConnectionId,
    pub direction: MessageDirection,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The platform's id of the message (unique per connection and direction).
    pub external_id: Option<String>,
    /// Who replied (outbound).
    pub sender_user_id: Option<UserId>,
    pub status: DeliveryStatus,
    /// Why the platform refused it.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a webhook payload says, once an adapter read it.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    Message(InboundMessage),
    /// Read receipts, reactions, echoes of our own sends, group chats: nothing to store.
    Ignored(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub struct InboundMessage {
    pub thread: String,
    pub sender: Sender,
    pub external_id: String,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub sent_at: DateTime<Utc>,
}

/// The person on the platform, as much as it tells.
#[derive(Clone, Debug, PartialEq)]
pub struct Sender {
    pub external_id: String,
    pub name: Option<String>,
    pub username: Option<String>,
}

/// A reply a company's agents reuse.
#[derive(Clone, Debug, PartialEq)]
pub struct CannedReply {
    pub id: crate::CannedReplyId,
    pub tenant_id: TenantId,
    pub title: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A raw webhook payload, stored before it is acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundUpdate {
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    /// Telegram's update_id, Meta's message id: a redelivery has the same key.
    pub external_key: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
}

/// A reply waiting for the platform.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub tenant_id: TenantId,
    pub message_id: MessageId,
    /// Replies to one conversation go out one after another, in order.
    pub conversation_id: ConversationId,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// How long a normal reply is allowed after the customer's last message on Meta, and how long
/// a human agent's reply tagged HUMAN_AGENT still is.
pub const META_WINDOW_HOURS: i64 = 24;
pub const META_HUMAN_AGENT_DAYS: i64 = 7;

/// How a reply to a Meta conversation must be sent now, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaWindow {
    Open { until: DateTime<Utc> },
    HumanAgent { until: DateTime<Utc> },
    Closed,
}

pub fn meta_window(last_inbound: Option<DateTime<Utc>>, now: DateTime<Utc>) -> MetaWindow {
    let Some(last) = last_inbound else { return MetaWindow::Closed };
    let open = last + chrono::Duration::hours(META_WINDOW_HOURS);
    let human = last + chrono::Duration::days(META_HUMAN_AGENT_DAYS);
    if now < open {
        MetaWindow::Open { until: open }
    } else if now < human {
        MetaWindow::HumanAgent { until: human }
    } else {
        MetaWindow::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_window_opens_with_each_customer_message() {
        let last = Utc::now();
        let at = |hours: i64| last + chrono::Duration::hours(hours);
        assert!(matches!(meta_window(Some(last), at(23)), MetaWindow::Open { .. }));
        assert!(matches!(meta_window(Some(last), at(25)), MetaWindow::HumanAgent { .. }));
        assert_eq!(meta_window(Some(last), at(24 * 7 + 1)), MetaWindow::Closed);
        assert_eq!(meta_window(None, at(0)), MetaWindow::Closed);
    }
}

/// How a platform took a reply.
#[derive(Clone, Debug, PartialEq)]
pub enum SendOutcome {
    Sent {
        external_id: String,
    },
    /// Try again later (rate limit, platform outage), after `after` when it said.
    Retry {
        after: Option<std::time::Duration>,
        error: String,
    },
    /// Refused for good, with the platform's reason; `blocked` when the customer blocked us.
    Failed {
        error: String,
        blocked: bool,
    },
}

/// The messaging platforms' APIs, as the inbox needs them (the channels adapter implements it).
#[async_trait::async_trait]
pub trait ChannelPlatforms: Send + Sync + 'static {
    /// Checks a Telegram bot token and points the bot's webhook at `connection`'s URL with
    /// `secret`; the bot's id and username.
    async fn connect_telegram(
        &self,
        token: &str,
        connection: ConnectionId,
        secret: &str,
    ) -> Result<(String, Option<String>), String>;
    /// Removes the bot's webhook.
    async fn disconnect_telegram(&self, token: &str) -> Result<(), String>;
    /// Reads one stored webhook payload of a `kind` connection.
    fn read(&self, kind: ChannelKind, payload: &str) -> Result<Inbound, String>;
    /// A person's name and username, for platforms that do not send them with each message
    /// (Meta's User Profile API); `None` when it cannot be had.
    async fn profile(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        external_id: &str,
    ) -> Option<(Option<String>, Option<String>)>;
    /// A file a message carried, as bytes and its content type.
    async fn fetch(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        source: &str,
    ) -> Result<(bytes::Bytes, String), FetchError>;
    /// Sends `message` into `thread`; `tag` is Meta's message tag when one is needed.
    async fn send(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        thread: &str,
        message: &Message,
        tag: Option<&str>,
    ) -> SendOutcome;
}
