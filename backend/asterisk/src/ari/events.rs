//! ARI events (events.json), the ones the worker acts on. Any other type, and any field not
//! named here, is accepted and ignored: new Asterisk versions add both.
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CallerId {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub number: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Channel {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: String,
    pub caller: Option<CallerId>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Recording {
    pub name: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum Event {
    StasisStart {
        #[serde(default)]
        args: Vec<String>,
        channel: Channel,
    },
    StasisEnd {
        channel: Channel,
    },
    ChannelHangupRequest {
        channel: Channel,
        #[serde(default)]
        cause: Option<i32>,
    },
    ChannelDestroyed {
        channel: Channel,
        #[serde(default)]
        cause: Option<i32>,
    },
    ChannelStateChange {
        channel: Channel,
    },
    RecordingFinished {
        recording: Recording,
    },
    RecordingFailed {
        recording: Recording,
    },
    /// Another connection took our application over.
    ApplicationReplaced {},
    #[serde(other)]
    Other,
}

impl Event {
    /// The channel the event is about, if any.
    pub fn channel(&self) -> Option<&Channel> {
        match self {
            Event::StasisStart { channel, .. }
            | Event::StasisEnd { channel }
            | Event::ChannelHangupRequest { channel, .. }
            | Event::ChannelDestroyed { channel, .. }
            | Event::ChannelStateChange { channel } => Some(channel),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of a real inbound call (Asterisk 23.4.1) decodes; unknown ones as `Other`.
    #[test]
    fn a_real_call_capture_decodes() {
        let capture = include_str!("../../fixtures/ari-events-inbound-call.jsonl");
        let events: Vec<Event> = capture.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(events.len(), 60);
        let starts = events.iter().filter(|e| matches!(e, Event::StasisStart { .. })).count();
        assert_eq!(starts, 2);
        assert!(
            events.iter().any(|e| matches!(e, Event::RecordingFinished { recording } if recording.state == "done"))
        );
        assert!(events.iter().any(|e| matches!(e, Event::Other)), "ChannelVarset and the like are tolerated");
        let made_up: Event = serde_json::from_str(r#"{"type":"SomethingNew","x":1}"#).unwrap();
        assert_eq!(made_up, Event::Other);
    }
}
