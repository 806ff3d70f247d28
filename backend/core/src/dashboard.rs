//! The dashboard: today's (or any range's) calls and chats in the company's time zone, from
//! groups the database counts, so the figures are exactly the records'.
use crate::calls::{CallStatus, Direction};
use crate::{Error, Result, UserId};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::collections::BTreeMap;

/// Calls of one day, direction, status and person, counted by the database.
#[derive(Clone, Debug, PartialEq)]
pub struct CallGroup {
    /// Index of the day in the range.
    pub day: usize,
    pub direction: Direction,
    pub status: CallStatus,
    pub user_id: Option<UserId>,
    pub count: u64,
    /// Of these, answered (answered, or completed after an answer).
    pub answered: u64,
    /// Seconds from ringing to the answer, summed over the answered ones.
    pub wait_secs: f64,
    /// Seconds from the answer to the end, summed over the answered ones that ended.
    pub talk_secs: f64,
    pub talked: u64,
}

/// Messages of one day in one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageGroup {
    pub day: usize,
    pub inbound: bool,
    pub count: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallFigures {
    pub total: u64,
    pub inbound: u64,
    pub outbound: u64,
    pub answered: u64,
    pub missed: u64,
    pub failed: u64,
    wait_secs: f64,
    talk_secs: f64,
    talked: u64,
}

impl CallFigures {
    fn add(&mut self, g: &CallGroup) {
        self.total += g.count;
        match g.direction {
            Direction::Inbound => self.inbound += g.count,
            Direction::Outbound => self.outbound += g.count,
        }
        self.answered += g.answered;
        match g.status {
            CallStatus::Missed => self.missed += g.count,
            CallStatus::Failed => self.failed += g.count,
            _ => {}
        }
        self.wait_secs += g.wait_secs;
        self.talk_secs += g.talk_secs;
        self.talked += g.talked;
    }

    /// Answered calls out of all calls; `None` without calls.
    pub fn answered_rate(&self) -> Option<f64> {
        (self.total > 0).then(|| self.answered as f64 / self.total as f64)
    }

    pub fn average_wait_secs(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.wait_secs / self.answered as f64)
    }

    pub fn average_talk_secs(&self) -> Option<f64> {
        (self.talked > 0).then(|| self.talk_secs / self.talked as f64)
    }

    pub fn talk_secs(&self) -> f64 {
        self.talk_secs
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub calls: CallFigures,
    pub messages_in: u64,
    pub messages_out: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: String,
    pub calls: CallFigures,
    /// Per person: the calls they answered or placed.
    pub agents: Vec<(UserId, CallFigures)>,
    pub days: Vec<Day>,
    /// Callback tasks still open (missed calls not called back), whenever they were missed.
    pub missed_not_called_back: u64,
    pub open_conversations: u64,
    /// Open conversations with messages the caller has not read.
    pub unread_conversations: u64,
    /// Conversations begun in the range that were answered, and the mean time to that answer.
    pub first_responses: u64,
    pub first_response_secs: Option<f64>,
}

pub fn check_time_zone(name: &str) -> Result<String> {
    name.trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| Error::bad_input("timeZone", format!("{name:?} is not an IANA time zone, e.g. Asia/Tashkent")))
}

/// When each day from `from` to `to` (inclusive) begins in `tz`, and when the last one ends.
pub fn day_bounds(tz: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<DateTime<Utc>>> {
    let tz: chrono_tz::Tz = tz.parse().map_err(|_| Error::internal(format!("stored time zone {tz:?} is unknown")))?;
    if to < from {
        return Err(Error::bad_input("to", "the range ends before it begins"));
    }
    if (to - from).num_days() >= 366 {
        return Err(Error::bad_input("to", "at most 366 days at a time"));
    }
    let mut bounds = Vec::new();
    let mut day = from;
    loop {
        let midnight = day.and_hms_opt(0, 0, 0).ok_or_else(|| Error::internal("no midnight"))?;
        // A day that begins in a DST gap begins at the first instant that exists.
        let start = tz
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(midnight + chrono::Duration::hours(1))).earliest())
            .ok_or_else(|| Error::internal("a day without a start"))?;
        bounds.push(start.with_timezone(&Utc));
        if day > to {
            return Ok(bounds);
        }
        day = day.succ_opt().ok_or_else(|| Error::bad_input("to", "out of range"))?;
    }
}

/// Adds up the database's groups into the dashboard's figures.
pub fn assemble(
    from: NaiveDate,
    days: usize,
    calls: &[CallGroup],
    messages: &[MessageGroup],
) -> (CallFigures, Vec<(UserId, CallFigures)>, Vec<Day>) {
    let mut total = CallFigures::default();
    let mut agents: BTreeMap<UserId, CallFigures> = BTreeMap::new();
    let mut series: Vec<Day> = (0..days)
        .map(|d| Day {
            date: from + chrono::Duration::days(d as i64),
            calls: CallFigures::default(),
            messages_in: 0,
            messages_out: 0,
        })
        .collect();
    for group in calls {
        total.add(group);
        if let Some(user) = group.user_id {
            agents.entry(user).or_default().add(group);
        }
        if let Some(day) = series.get_mut(group.day) {
            day.calls.add(group);
        }
    }
    for group in messages {
        if let Some(day) = series.get_mut(group.day) {
            if group.inbound {
                day.messages_in += group.count;
            } else {
                day.messages_out += group.count;
            }
        }
    }
    (total, agents.into_iter().collect(), series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_begin_at_local_midnight() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let bounds = day_bounds("Asia/Tashkent", d("2026-11-26"), d("2026-11-27")).unwrap();
        let text: Vec<String> = bounds.iter().map(|b| b.to_rfc3339()).collect();
        assert_eq!(text, ["2026-11-25T19:00:00+00:00", "2026-11-26T19:00:00+00:00", "2026-11-27T19:00:00+00:00"]);
        // Europe/Berlin's spring-forward day is 23 hours long.
        let spring = day_bounds("Europe/Berlin", d("2026-03-29"), d("2026-03-29")).unwrap();
        assert_eq!((spring[1] - spring[0]).num_hours(), 23);
        assert!(check_time_zone("Mars/Olympus").is_err());
        assert!(day_bounds("UTC", d("2026-11-27"), d("2026-11-26")).is_err());
    }
}
