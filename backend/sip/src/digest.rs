//! SIP digest authentication (RFC 2617/3261) against stored HA1 values, with stateless nonces.
use crm_core::telephony::SIP_REALM;
use md5::{Digest as _, Md5};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a challenge may be answered.
const NONCE_TTL_SECS: u64 = 300;

fn md5_hex(text: &str) -> String {
    hex::encode(Md5::digest(text.as_bytes()))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[derive(Clone)]
pub struct Digest {
    secret: String,
}

impl Digest {
    pub fn new(secret: &[u8]) -> Self {
        Self { secret: hex::encode(secret) }
    }

    /// A nonce we can check later without storing it: its time and a keyed hash of that time.
    pub fn nonce(&self) -> String {
        let t = now();
        format!("{t:x}.{}", &md5_hex(&format!("{}:{t}", self.secret))[..16])
    }

    fn nonce_fresh(&self, nonce: &str) -> bool {
        let Some((t, mac)) = nonce.split_once('.') else { return false };
        let Ok(t) = u64::from_str_radix(t, 16) else { return false };
        mac == &md5_hex(&format!("{}:{t}", self.secret))[..16] && now().saturating_sub(t) <= NONCE_TTL_SECS
    }

    /// The `WWW-Authenticate` value of a challenge.
    pub fn challenge(&self) -> String {
        format!("Digest realm=\"{SIP_REALM}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"", self.nonce())
    }

    /// The username an `Authorization` header claims (before it is checked).
    pub fn username(header: &str) -> Option<String> {
        parse(header)?.remove("username")
    }

    /// Checks an `Authorization` header value for `method`; returns the username it proves.
    pub fn verify(&self, header: &str, method: &str, ha1_of: impl FnOnce(&str) -> Option<String>) -> Option<String> {
        let params = parse(header)?;
        let get = |k: &str| params.get(k).map(String::as_str);
        let username = get("username")?;
        if get("realm")? != SIP_REALM || !self.nonce_fresh(get("nonce")?) {
            return None;
        }
        let ha1 = ha1_of(username)?;
        let ha2 = md5_hex(&format!("{method}:{}", get("uri")?));
        let expected = match get("qop") {
            Some("auth") => md5_hex(&format!("{ha1}:{}:{}:{}:auth:{ha2}", get("nonce")?, get("nc")?, get("cnonce")?)),
            None => md5_hex(&format!("{ha1}:{}:{ha2}", get("nonce")?)),
            Some(_) => return None,
        };
        (expected.eq_ignore_ascii_case(get("response")?)).then(|| username.to_owned())
    }
}

/// `Digest k="v", k2=v2` into a map (keys lowercased).
fn parse(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.trim().strip_prefix("Digest").or_else(|| header.trim().strip_prefix("digest"))?;
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            break;
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
            value
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_owned()
        };
        params.insert(key, value);
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_a_correct_response_and_nothing_else() {
        let digest = Digest::new(b"k");
        let nonce = digest.nonce();
        let ha1 = crm_core::telephony::ha1("u1", "pw");
        let ha2 = md5_hex("REGISTER:sip:crm");
        let response = md5_hex(&format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        let header = format!(
            "Digest username=\"u1\", realm=\"crm\", nonce=\"{nonce}\", uri=\"sip:crm\", response=\"{response}\", qop=auth, nc=00000001, cnonce=\"abc\""
        );
        assert_eq!(digest.verify(&header, "REGISTER", |_| Some(ha1.clone())).as_deref(), Some("u1"));
        assert_eq!(digest.verify(&header, "INVITE", |_| Some(ha1.clone())), None, "bound to the method");
        let wrong = crm_core::telephony::ha1("u1", "wrong");
        assert_eq!(digest.verify(&header, "REGISTER", |_| Some(wrong.clone())), None);
        assert_eq!(digest.verify(&header, "REGISTER", |_| None), None);
        let forged = header.replace(&nonce, "5f5e100.0000000000000000");
        assert_eq!(digest.verify(&forged, "REGISTER", |_| Some(ha1.clone())), None);
    }
}
