//! The customer card beyond its contact details: notes, the record of merges, suggested
//! duplicates, and the timeline that puts calls, messages, notes and tasks in one list.
use crate::{CallId, CustomerId, MergeId, MessageId, NoteId, TaskId, UserId};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub id: NoteId,
    pub customer_id: CustomerId,
    pub author_id: Option<UserId>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// What a merge moved from the customer that was merged away to the one kept.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Moved {
    pub calls: u64,
    pub conversations: u64,
    pub identities: u64,
    pub tasks: u64,
    pub notes: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Merge {
    pub id: MergeId,
    pub kept_id: CustomerId,
    pub merged_id: CustomerId,
    /// The merged customer's name, as it was (the customer itself is gone).
    pub merged_name: String,
    pub moved: Moved,
    pub user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// Two customers that look like one person, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Duplicate {
    pub customer_id: CustomerId,
    pub other_id: CustomerId,
    /// `phone` or `email`, and the value they share.
    pub reason: &'static str,
    pub value: String,
}

/// A messenger account linked to a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// `telegram`, `messenger` or `instagram`.
    pub kind: String,
    pub external_id: String,
    pub username: Option<String>,
}

/// One entry of a customer's timeline, newest first.
#[derive(Clone, Debug, PartialEq)]
pub enum TimelineEntry {
    Call(CallId),
    Message(MessageId),
    Note(NoteId),
    Task(TaskId),
}

/// The records a page of timeline entries names, by id.
#[derive(Default)]
pub struct TimelineEntries {
    pub calls: std::collections::HashMap<CallId, crate::calls::Call>,
    pub messages: std::collections::HashMap<MessageId, crate::inbox::Message>,
    pub notes: std::collections::HashMap<NoteId, Note>,
    pub tasks: std::collections::HashMap<TaskId, crate::tasks::Task>,
}

/// Where a timeline entry sits: newest first by time, then by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimelineKey {
    pub at: DateTime<Utc>,
    pub id: uuid::Uuid,
}

impl TimelineEntry {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Call(_) => "call",
            Self::Message(_) => "message",
            Self::Note(_) => "note",
            Self::Task(_) => "task",
        }
    }
}
