//! The one call model both call paths (built-in SIP edge, Asterisk) write to.
use crate::{CallId, CustomerId, TenantId, TrunkId, UserId};
use chrono::{DateTime, Utc};

/// An enum stored as lowercase text.
#[macro_export]
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                match s {
                    $($text => Ok(Self::$variant),)*
                    other => Err($crate::Error::internal(format!("unknown {} {other:?} in storage", stringify!($name)))),
                }
            }
        }
    };
}

text_enum!(Direction { Inbound => "inbound", Outbound => "outbound" });
text_enum!(CallStatus {
    Ringing => "ringing",
    Answered => "answered",
    Completed => "completed",
    Missed => "missed",
    Failed => "failed",
    Interrupted => "interrupted",
});
text_enum!(HangupBy { Customer => "customer", Agent => "agent", System => "system" });

impl CallStatus {
    pub fn is_open(self) -> bool {
        matches!(self, CallStatus::Ringing | CallStatus::Answered)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// Object storage key.
    pub key: String,
    pub duration_ms: u64,
    pub bytes: u64,
    /// Deleted from storage when the company's retention period ran out.
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub id: CallId,
    pub tenant_id: TenantId,
    pub direction: Direction,
    pub status: CallStatus,
    /// E.164 where it could be read as a number, else as received.
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<TrunkId>,
    pub customer_id: Option<CustomerId>,
    /// Who answered (inbound) or placed (outbound) the call.
    pub user_id: Option<UserId>,
    /// The process handling the call, so a restarted process closes only its own calls.
    pub edge: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub hangup_by: Option<HangupBy>,
    pub sip_cause: Option<u16>,
    pub recording: Option<Recording>,
}

/// Who and what a new call is about.
pub struct NewCall<'a> {
    pub tenant_id: TenantId,
    pub direction: Direction,
    pub from_number: String,
    pub to_number: String,
    pub trunk_id: Option<TrunkId>,
    pub customer_id: Option<CustomerId>,
    pub user_id: Option<UserId>,
    pub edge: &'a str,
}

impl Call {
    /// A call that starts ringing now.
    pub fn ringing(new: NewCall<'_>) -> Self {
        Call {
            id: CallId::new(),
            tenant_id: new.tenant_id,
            direction: new.direction,
            status: CallStatus::Ringing,
            from_number: new.from_number,
            to_number: new.to_number,
            trunk_id: new.trunk_id,
            customer_id: new.customer_id,
            user_id: new.user_id,
            edge: new.edge.to_owned(),
            started_at: Utc::now(),
            answered_at: None,
            ended_at: None,
            hangup_by: None,
            sip_cause: None,
            recording: None,
        }
    }

    /// Seconds from the start until answered (or until the end, when never answered).
    pub fn wait_seconds(&self) -> Option<i64> {
        let until = self.answered_at.or(self.ended_at)?;
        Some((until - self.started_at).num_seconds())
    }

    pub fn talk_seconds(&self) -> Option<i64> {
        Some((self.ended_at? - self.answered_at?).num_seconds())
    }
}

#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub direction: Option<Direction>,
    pub status: Option<CallStatus>,
    pub user_id: Option<UserId>,
    pub customer_id: Option<CustomerId>,
    pub started_from: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub struct CallQuery {
    pub first: u64,
    pub after: Option<CallId>,
    pub filter: CallFilter,
    /// Count all matches too.
    pub with_total: bool,
}
