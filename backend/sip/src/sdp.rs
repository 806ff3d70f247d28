//! Just enough SDP (RFC 4566) for a G.711 call: where media goes and which payload types.
use std::net::{IpAddr, SocketAddr};

/// Payload types the edge relays: PCMU, PCMA and telephone-event (DTMF).
pub const SUPPORTED: [u8; 3] = [0, 8, 101];

#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    pub addr: SocketAddr,
    /// In the offerer's order of preference.
    pub payload_types: Vec<u8>,
    /// `sendrecv`, `sendonly` (the peer puts us on hold), `recvonly` or `inactive`.
    pub direction: &'static str,
}

/// The direction to answer an offer with (RFC 3264 §6.1).
pub fn answer_direction(offer: &str) -> &'static str {
    match offer {
        "sendonly" => "recvonly",
        "recvonly" => "sendonly",
        "inactive" => "inactive",
        _ => "sendrecv",
    }
}

/// The first audio stream of an SDP body.
pub fn parse(body: &[u8]) -> Option<Media> {
    let text = std::str::from_utf8(body).ok()?;
    let mut session_ip: Option<IpAddr> = None;
    let mut media_ip: Option<IpAddr> = None;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut direction = "sendrecv";
    for line in text.lines().map(str::trim) {
        if let Some(attribute) = line.strip_prefix("a=") {
            for d in ["sendrecv", "sendonly", "recvonly", "inactive"] {
                if attribute == d {
                    direction = d;
                }
            }
        }
        if let Some(c) = line.strip_prefix("c=") {
            let ip = c.split_whitespace().nth(2).and_then(|a| a.split('/').next()).and_then(|a| a.parse().ok());
            if audio.is_some() { media_ip = media_ip.or(ip) } else { session_ip = ip }
        } else if let Some(m) = line.strip_prefix("m=") {
            if audio.is_some() {
                break; // only the first audio stream
            }
            let mut parts = m.split_whitespace();
            if parts.next() == Some("audio") {
                let port = parts.next()?.parse().ok()?;
                let _proto = parts.next()?;
                audio = Some((port, parts.filter_map(|p| p.parse().ok()).collect()));
            }
        }
    }
    let (port, payload_types) = audio?;
    Some(Media { addr: SocketAddr::new(media_ip.or(session_ip)?, port), payload_types, direction })
}

/// An SDP offer or answer for one audio stream at `addr` with `payload_types`.
pub fn build(addr: SocketAddr, payload_types: &[u8], session: u64, direction: &str) -> Vec<u8> {
    let ip = addr.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = format!(
        "v=0\r\no=crm {session} {session} IN {family} {ip}\r\ns=crm\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        addr.port(),
        payload_types.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
    );
    for pt in payload_types {
        match pt {
            0 => sdp.push_str("a=rtpmap:0 PCMU/8000\r\n"),
            8 => sdp.push_str("a=rtpmap:8 PCMA/8000\r\n"),
            101 => sdp.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"),
            _ => {}
        }
    }
    sdp.push_str(&format!("a={direction}\r\na=ptime:20\r\n"));
    sdp.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_media_level_connection_wins() {
        let offer = build("10.0.0.5:40000".parse().unwrap(), &[8, 0, 101], 7, "sendonly");
        let media = parse(&offer).unwrap();
        assert_eq!(media.direction, "sendonly");
        assert_eq!(answer_direction(media.direction), "recvonly");
        assert_eq!(media.addr, "10.0.0.5:40000".parse().unwrap());
        assert_eq!(media.payload_types, vec![8, 0, 101]);
        let kerio = b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 18\r\nc=IN IP4 2.2.2.2\r\n";
        assert_eq!(parse(kerio).unwrap().addr, "2.2.2.2:5004".parse().unwrap());
        assert_eq!(parse(b"v=0\r\nm=video 5000 RTP/AVP 96\r\n"), None);
    }
}
