//! RTP headers (RFC 3550): just what relaying and recording need.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Parses an RTP packet; returns its header and payload, or `None` for anything that is not
/// RTP version 2 with a consistent length (RTCP, STUN and garbage included).
pub fn parse(packet: &[u8]) -> Option<(Header, &[u8])> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let payload_type = packet[1] & 0x7f;
    // 72-76 are RTCP packet types seen through the RTP port (RFC 5761).
    if (72..=76).contains(&payload_type) {
        return None;
    }
    let csrc = usize::from(packet[0] & 0x0f);
    let mut start = 12 + 4 * csrc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*packet.last()?))?;
    }
    if start > end {
        return None;
    }
    let header = Header {
        payload_type,
        marker: packet[1] & 0x80 != 0,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };
    Some((header, &packet[start..end]))
}

/// Builds a plain RTP packet (used by tests and, later, by announcements the edge plays).
pub fn packet(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.push(0x80);
    out.push(header.payload_type | if header.marker { 0x80 } else { 0 });
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let h = Header { payload_type: 8, marker: true, sequence: 65535, timestamp: 0xdead_beef, ssrc: 42 };
        let p = packet(h, &[1, 2, 3]);
        assert_eq!(parse(&p), Some((h, &[1u8, 2, 3][..])));
        assert_eq!(parse(&p[..11]), None);
        let mut rtcp = p.clone();
        rtcp[1] = 200; // SR
        assert_eq!(parse(&rtcp), None);
        let mut v1 = p.clone();
        v1[0] = 0x40;
        assert_eq!(parse(&v1), None);
        // A CSRC, an extension and padding are skipped.
        let mut rich = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 7];
        rich.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
        rich.extend_from_slice(&[5, 6, 0, 2]);
        assert_eq!(parse(&rich).unwrap().1, &[5, 6]);
    }
}
