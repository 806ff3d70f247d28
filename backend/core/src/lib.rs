//! The CRM's domain: identifiers, roles, errors, the ports adapters implement
//! (database, events, object storage) and the services the API calls.

pub mod auth;
pub mod calls;
pub mod cards;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod fields;
pub mod ids;
pub mod imports;
pub mod inbox;
pub mod lease;
pub mod name_keys;
pub mod pbx;
pub mod phone;
pub mod ports;
pub mod pruned_map;
pub mod role;
pub mod services;
pub mod storage;
pub mod tasks;
pub mod telephony;
pub mod token;
pub mod vault;
pub mod webhooks;

pub use error::{Error, Result};
pub use ids::{
    ApiTokenId, CallId, CannedReplyId, ConnectionId, ConversationId, CustomerId, DeliveryId, FieldId, ImportId,
    InvitationId, MergeId, MessageId, NoteId, PbxServerId, SessionId, TaskId, TenantId, TrunkId, UserId, WebhookId,
};
pub use role::Role;
