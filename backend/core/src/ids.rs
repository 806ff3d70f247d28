//! Typed identifiers, so a tenant id can never be passed where a user id is meant.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($($name:ident),*) => {$(
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so ordering by id orders by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    TenantId,
    UserId,
    CustomerId,
    SessionId,
    ApiTokenId,
    InvitationId,
    TrunkId,
    CallId,
    TaskId,
    PbxServerId,
    ConnectionId,
    ConversationId,
    MessageId,
    CannedReplyId,
    NoteId,
    MergeId,
    WebhookId,
    DeliveryId,
    FieldId,
    ImportId
);
