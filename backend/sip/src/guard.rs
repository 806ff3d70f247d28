//! The UDP socket under rsipstack, which answers malformed requests with 400 itself.
//!
//! rsipstack silently drops what it cannot parse; a trunk or phone sending a broken request
//! would retransmit into silence. This socket sees each datagram first: a request that does
//! not parse, or lacks a header every request needs, gets a 400 naming the problem and goes no
//! further; everything else is handed to the stack unchanged.
use rsipstack::platform::net::UdpSocket as StackSocket;
use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};
use rsipstack::sip::{Request, SipMessage};
use std::net::SocketAddr;

pub struct GuardedSocket {
    socket: tokio::net::UdpSocket,
}

impl GuardedSocket {
    pub fn new(socket: tokio::net::UdpSocket) -> Self {
        Self { socket }
    }
}

/// Why a datagram is refused, or `None` when the stack should have it.
fn problem(datagram: &[u8]) -> Option<&'static str> {
    if datagram.iter().all(u8::is_ascii_whitespace) {
        return None; // keep-alive
    }
    match SipMessage::try_from(datagram) {
        Ok(SipMessage::Request(request)) => missing_header(&request),
        Ok(SipMessage::Response(_)) => None,
        Err(_) => Some("Malformed message"),
    }
}

fn missing_header(request: &Request) -> Option<&'static str> {
    if request.via_header().map(|v| v.typed().is_err()).unwrap_or(true) {
        Some("Missing or invalid Via")
    } else if request.from_header().map(|f| f.typed().is_err()).unwrap_or(true) {
        Some("Missing or invalid From")
    } else if request.to_header().map(|t| t.typed().is_err()).unwrap_or(true) {
        Some("Missing or invalid To")
    } else if request.call_id_header().is_err() {
        Some("Missing Call-ID")
    } else if request.cseq_header().map(|c| c.typed().is_err()).unwrap_or(true) {
        Some("Missing or invalid CSeq")
    } else {
        None
    }
}

/// A 400 built from the raw text: the request's own Via, From, To, Call-ID and CSeq lines, so
/// the sender can match it. `None` when the datagram is not a request at all (never answer a
/// response, or noise).
fn bad_request(datagram: &[u8], reason: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(datagram);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let request_line = lines.next()?;
    let mut parts = request_line.split_whitespace();
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !method.chars().all(|c| c.is_ascii_uppercase()) || !uri.contains(':') || !version.starts_with("SIP/") {
        return None;
    }
    let mut response = format!("SIP/2.0 400 {reason}\r\n");
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"].contains(&name.as_str()) {
            response.push_str(line.trim_end());
            response.push_str("\r\n");
        }
    }
    response.push_str("Content-Length: 0\r\n\r\n");
    Some(response.into_bytes())
}

#[async_trait::async_trait]
impl StackSocket for GuardedSocket {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, from) = self.socket.recv_from(buf).await?;
            let Some(reason) = problem(&buf[..len]) else { return Ok((len, from)) };
            metrics::counter!("crm_sip_malformed_total").increment(1);
            tracing::warn!(%from, reason, "malformed SIP request refused");
            if let Some(response) = bad_request(&buf[..len], reason) {
                let _ = self.socket.send_to(&response, from).await;
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "OPTIONS sip:crm SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:crm>\r\nCall-ID: x1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn good_requests_pass_and_broken_ones_get_a_matching_400() {
        assert_eq!(problem(GOOD.as_bytes()), None);
        assert_eq!(problem(b"\r\n\r\n"), None);
        let no_call_id = GOOD.replace("Call-ID: x1\r\n", "");
        assert_eq!(problem(no_call_id.as_bytes()), Some("Missing Call-ID"));
        let bad_cseq = GOOD.replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS");
        assert!(problem(bad_cseq.as_bytes()).is_some());
        let bad_to = GOOD.replace("To: <sip:crm>", "To: <<<nonsense");
        let reason = problem(bad_to.as_bytes()).unwrap();
        let response = String::from_utf8(bad_request(bad_to.as_bytes(), reason).unwrap()).unwrap();
        assert!(response.starts_with("SIP/2.0 400 "));
        assert!(
            response.contains("Call-ID: x1\r\n")
                && response.contains("Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\n")
        );
        assert_eq!(bad_request(b"SIP/2.0 200 OK\r\n\r\n", "x"), None, "responses are never answered");
        assert_eq!(bad_request(b"\x16\x03\x01 hello", "x"), None, "noise is not answered");
    }
}
