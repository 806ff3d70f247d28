//! GraphQL shapes of the inbox.
use crate::error::ApiResult;
use crate::types::Customer;
use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use crm_core::inbox::{self, MetaWindow};

macro_rules! mirror_enum {
    ($domain:ty, $gql:ident, $($variant:ident),*) => {
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $gql { $($variant),* }
        impl From<$domain> for $gql {
            fn from(v: $domain) -> Self { match v { $(<$domain>::$variant => Self::$variant),* } }
        }
        impl From<$gql> for $domain {
            fn from(v: $gql) -> Self { match v { $(<$gql>::$variant => Self::$variant),* } }
        }
    };
}
mirror_enum!(inbox::ChannelKind, ChannelKind, Telegram, Messenger, Instagram);
mirror_enum!(inbox::ConversationStatus, ConversationStatus, Open, Closed, Snoozed);
mirror_enum!(inbox::MessageDirection, MessageDirection, Inbound, Outbound);
mirror_enum!(inbox::DeliveryStatus, DeliveryStatus, Received, Queued, Sent, Failed);

/// A company's bot or page. Its tokens and secrets are never shown.
#[derive(SimpleObject, Clone, Debug)]
pub struct Channel {
    pub id: ID,
    pub kind: ChannelKind,
    pub name: String,
    /// The bot's id (Telegram) or the page's id (Meta).
    pub external_id: String,
    /// The bot's username, when the platform gave one.
    pub external_name: Option<String>,
    /// Where the platform must post: `/webhooks/telegram/{id}` (set by us) or
    /// `/webhooks/meta/{id}` (enter it in the Meta app with the verify token).
    pub webhook_path: String,
    pub created_at: DateTime<Utc>,
}

impl From<inbox::ChannelConnection> for Channel {
    fn from(c: inbox::ChannelConnection) -> Self {
        let family = if c.kind == inbox::ChannelKind::Telegram { "telegram" } else { "meta" };
        Self {
            id: ID(c.id.to_string()),
            kind: c.kind.into(),
            name: c.name,
            external_id: c.external_id,
            external_name: c.external_name,
            webhook_path: format!("/webhooks/{family}/{}", c.id),
            created_at: c.created_at,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Attachment {
    /// image, audio, video or file.
    pub kind: String,
    pub name: Option<String>,
    /// Why it could not be copied from the platform.
    pub error: Option<String>,
    #[graphql(skip)]
    pub tenant: crm_core::TenantId,
    #[graphql(skip)]
    pub key: Option<String>,
}

#[ComplexObject]
impl Attachment {
    /// A signed, expiring download link, once our copy is stored (null while it is fetched).
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        let key = self.key.as_ref()?;
        Some(crate::context::services(ctx).download_url(self.tenant, key))
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Message {
    pub id: ID,
    pub conversation_id: ID,
    pub direction: MessageDirection,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Who replied (outbound).
    pub sender_user_id: Option<ID>,
    /// RECEIVED (inbound); QUEUED, SENT or FAILED (outbound).
    pub status: DeliveryStatus,
    /// Why the platform refused it, or why the last attempt failed while it is retried.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<inbox::Message> for Message {
    fn from(m: inbox::Message) -> Self {
        Self {
            id: ID(m.id.to_string()),
            conversation_id: ID(m.conversation_id.to_string()),
            direction: m.direction.into(),
            text: m.text,
            attachments: m
                .attachments
                .into_iter()
                .map(|a| Attachment { kind: a.kind, name: a.name, error: a.error, tenant: m.tenant_id, key: a.key })
                .collect(),
            sender_user_id: m.sender_user_id.map(|u| ID(u.to_string())),
            status: m.status.into(),
            error: m.error,
            created_at: m.created_at,
        }
    }
}

/// Until when a normal reply may be sent (Meta's 24 hours), and then until when a person's
/// reply still may, tagged HUMAN_AGENT (7 days). Null for Telegram, which has no window.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReplyWindow {
    pub open: bool,
    pub human_agent_only: bool,
    pub until: Option<DateTime<Utc>>,
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Conversation {
    pub id: ID,
    pub channel_id: ID,
    pub customer_id: ID,
    pub assignee_id: Option<ID>,
    pub status: ConversationStatus,
    /// The customer blocked the bot: replies cannot reach them.
    pub blocked: bool,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub domain: inbox::Conversation,
}

impl From<inbox::Conversation> for Conversation {
    fn from(c: inbox::Conversation) -> Self {
        Self {
            id: ID(c.id.to_string()),
            channel_id: ID(c.connection_id.to_string()),
            customer_id: ID(c.customer_id.to_string()),
            assignee_id: c.assignee_id.map(|u| ID(u.to_string())),
            status: c.status.into(),
            blocked: c.blocked,
            last_message_at: c.last_message_at,
            created_at: c.created_at,
            domain: c,
        }
    }
}

#[ComplexObject]
impl Conversation {
    /// Its place in `conversations`: pass it as `after` for the ones after it.
    async fn cursor(&self) -> String {
        crm_core::services::Services::conversation_cursor(&self.domain)
    }

    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<Customer>> {
        let principal = crate::context::principal(ctx)?;
        match crate::context::services(ctx).customer(principal, self.domain.customer_id).await {
            Ok(customer) => Ok(Some(customer.into())),
            Err(crm_core::Error::NotFound | crm_core::Error::Forbidden) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// The latest messages, oldest first.
    async fn messages(&self, ctx: &Context<'_>, #[graphql(default = 50)] last: u64) -> ApiResult<Vec<Message>> {
        let principal = crate::context::principal(ctx)?;
        let messages = crate::context::services(ctx).conversation_messages(principal, self.domain.id, last).await?;
        Ok(messages.into_iter().map(Message::from).collect())
    }

    /// Customer messages the caller has not read yet.
    async fn unread(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        let principal = crate::context::principal(ctx)?;
        Ok(crate::context::services(ctx).unread(principal, self.domain.id).await?)
    }

    async fn reply_window(&self, ctx: &Context<'_>) -> ApiResult<Option<ReplyWindow>> {
        let principal = crate::context::principal(ctx)?;
        let window = crate::context::services(ctx).reply_window(principal, &self.domain).await?;
        Ok(window.map(|w| match w {
            MetaWindow::Open { until } => ReplyWindow { open: true, human_agent_only: false, until: Some(until) },
            MetaWindow::HumanAgent { until } => ReplyWindow { open: true, human_agent_only: true, until: Some(until) },
            MetaWindow::Closed => ReplyWindow { open: false, human_agent_only: false, until: None },
        }))
    }
}

/// Which conversations to list.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConversationScope {
    Mine,
    Unassigned,
    All,
}

/// A conversation changed; `message` is the one that arrived or changed, if any.
#[derive(SimpleObject, Clone, Debug)]
pub struct InboxEvent {
    pub conversation: Conversation,
    pub message: Option<Message>,
}

/// A reply the company's agents reuse.
#[derive(SimpleObject, Clone, Debug)]
pub struct CannedReply {
    pub id: ID,
    pub title: String,
    pub text: String,
}

impl From<inbox::CannedReply> for CannedReply {
    fn from(r: inbox::CannedReply) -> Self {
        Self { id: ID(r.id.to_string()), title: r.title, text: r.text }
    }
}
