//! The CRM's domain: identifiers, roles, errors, the ports adapters implement
//! (database, events, object storage) and the services the API calls.

pub mod auth;
pub mod calls;
pub mod error;
pub mod events;
pub mod ids;
pub mod inbox;
pub mod lease;
pub mod pbx;
pub mod phone;
pub mod ports;
pub mod role;
pub mod services;
pub mod storage;
pub mod tasks;
pub mod telephony;
pub mod token;
pub mod vault;

pub use error::{Error, Result};
pub use ids::{
    ApiTokenId, CallId, CannedReplyId, ConnectionId, ConversationId, CustomerId, InvitationId, MessageId, PbxServerId,
    SessionId, TaskId, TenantId, TrunkId, UserId,
};
pub use role::Role;
