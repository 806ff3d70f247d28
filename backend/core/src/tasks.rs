//! Tasks: what someone has to do next. A missed call leaves a callback task.
use crate::{CallId, CustomerId, TaskId, UserId};
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id: TaskId,
    /// `callback` for now; hand-made tasks come with the customer card.
    pub kind: String,
    pub title: String,
    pub customer_id: Option<CustomerId>,
    pub call_id: Option<CallId>,
    /// `None`: the company's queue, for whoever takes it.
    pub assignee_id: Option<UserId>,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// How soon a missed call should be returned.
pub const CALLBACK_WITHIN_MINUTES: i64 = 15;
