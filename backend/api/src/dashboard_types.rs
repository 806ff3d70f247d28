//! The dashboard's GraphQL types.
use async_graphql::{ID, SimpleObject};
use chrono::NaiveDate;
use crm_core::dashboard;

/// Calls counted over a period.
#[derive(SimpleObject, Clone, Debug)]
pub struct CallFigures {
    pub total: u64,
    pub inbound: u64,
    pub outbound: u64,
    /// Answered by someone (whatever happened after).
    pub answered: u64,
    pub missed: u64,
    pub failed: u64,
    /// `answered / total`; null without calls.
    pub answered_rate: Option<f64>,
    /// Mean seconds from ringing to the answer, over answered calls.
    pub average_wait_seconds: Option<f64>,
    /// Mean seconds from the answer to the end, over answered calls that ended.
    pub average_talk_seconds: Option<f64>,
    pub talk_seconds: f64,
}

impl From<&dashboard::CallFigures> for CallFigures {
    fn from(f: &dashboard::CallFigures) -> Self {
        Self {
            total: f.total,
            inbound: f.inbound,
            outbound: f.outbound,
            answered: f.answered,
            missed: f.missed,
            failed: f.failed,
            answered_rate: f.answered_rate(),
            average_wait_seconds: f.average_wait_secs(),
            average_talk_seconds: f.average_talk_secs(),
            talk_seconds: f.talk_secs(),
        }
    }
}

/// One person's calls: those they answered or placed.
#[derive(SimpleObject, Clone, Debug)]
pub struct AgentFigures {
    pub user_id: ID,
    pub calls: CallFigures,
}

/// One day of the range, for charts.
#[derive(SimpleObject, Clone, Debug)]
pub struct DayFigures {
    pub date: NaiveDate,
    pub calls: CallFigures,
    pub messages_in: u64,
    pub messages_out: u64,
}

/// Calls and chats over a range of days in the company's time zone.
#[derive(SimpleObject, Clone, Debug)]
pub struct Dashboard {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: String,
    pub calls: CallFigures,
    pub agents: Vec<AgentFigures>,
    pub days: Vec<DayFigures>,
    /// Callback tasks still open: missed calls nobody has called back yet.
    pub missed_not_called_back: u64,
    pub open_conversations: u64,
    /// Open conversations with messages the caller has not read.
    pub unread_conversations: u64,
    /// Conversations begun in the range that got a reply.
    pub first_responses: u64,
    /// Mean seconds from a conversation's first message to the first reply.
    pub average_first_response_seconds: Option<f64>,
}

impl From<dashboard::Dashboard> for Dashboard {
    fn from(d: dashboard::Dashboard) -> Self {
        Self {
            from: d.from,
            to: d.to,
            time_zone: d.time_zone,
            calls: (&d.calls).into(),
            agents: d
                .agents
                .iter()
                .map(|(user, calls)| AgentFigures { user_id: ID(user.to_string()), calls: calls.into() })
                .collect(),
            days: d
                .days
                .iter()
                .map(|day| DayFigures {
                    date: day.date,
                    calls: (&day.calls).into(),
                    messages_in: day.messages_in,
                    messages_out: day.messages_out,
                })
                .collect(),
            missed_not_called_back: d.missed_not_called_back,
            open_conversations: d.open_conversations,
            unread_conversations: d.unread_conversations,
            first_responses: d.first_responses,
            average_first_response_seconds: d.first_response_secs,
        }
    }
}
