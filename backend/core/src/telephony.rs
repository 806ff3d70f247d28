//! Telephony records shared by both call paths (built-in SIP edge and Asterisk): trunks from a
//! company's Kerio Control, agents' SIP extensions, and the routing decision for inbound calls.
use crate::{Error, Result, TenantId, TrunkId, UserId};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use md5::{Digest, Md5};
use std::net::IpAddr;

/// The digest realm of every SIP account here.
pub const SIP_REALM: &str = "crm";

/// A SIP trunk: where a company's calls come from (its Kerio Control) and which numbers it delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct Trunk {
    pub id: TrunkId,
    pub name: String,
    /// Source addresses or networks the trunk's INVITEs arrive from.
    pub sources: Vec<IpNet>,
    /// The numbers (DIDs) it delivers, in E.164.
    pub numbers: Vec<String>,
    /// Caller ID for outbound calls, in E.164.
    pub default_caller_id: Option<String>,
    /// Where outbound calls go (host:port of Kerio Control or the provider).
    pub address: Option<std::net::SocketAddr>,
    /// Digest credentials the trunk must present with its INVITEs: (username, HA1).
    pub credentials: Option<(String, String)>,
    /// We register to the trunk's address (a provider that wants REGISTER) and keep it alive.
    pub registration: Option<OutboundRegistration>,
    /// Send OPTIONS keep-alives and track reachability.
    pub qualify: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Our registration at the remote side of a trunk.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboundRegistration {
    pub username: String,
    /// The password, sealed by the [`crate::vault::Vault`] (it has to be presented in the clear).
    pub sealed_password: String,
    /// The registrar's SIP domain (the host of our address of record); the trunk's address when unset.
    pub domain: Option<String>,
    /// Registration lifetime we ask for, in seconds.
    pub expires_secs: u32,
}

/// What the edge needs to register: the trunk and its opened password.
#[derive(Clone, Debug)]
pub struct RegistrationTarget {
    pub tenant_id: TenantId,
    pub trunk_id: TrunkId,
    pub address: std::net::SocketAddr,
    pub username: String,
    pub password: secrecy::SecretString,
    pub domain: Option<String>,
    pub expires_secs: u32,
}

impl RegistrationTarget {
    /// Changes that need a new registration (anything but the password's sealing).
    pub fn same_as(&self, other: &RegistrationTarget) -> bool {
        use secrecy::ExposeSecret;
        (self.address, &self.username, &self.domain, self.expires_secs)
            == (other.address, &other.username, &other.domain, other.expires_secs)
            && self.password.expose_secret() == other.password.expose_secret()
    }
}

/// Where our registration at a trunk stands.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationStatus {
    pub registered: bool,
    /// Why it is not registered (the registrar's answer, or no answer).
    pub error: Option<String>,
    /// Until when the registrar granted it.
    pub expires_at: Option<DateTime<Utc>>,
    pub checked_at: DateTime<Utc>,
}

/// A user's SIP login for their phone.
#[derive(Clone, Debug, PartialEq)]
pub struct SipAccount {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub username: String,
    /// MD5(username:realm:password), what digest authentication needs; the password itself is not kept.
    pub ha1: String,
    pub created_at: DateTime<Utc>,
}

/// A phone registered for a user's SIP login.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredPhone {
    /// The Contact URI the phone registered.
    pub contact: String,
    /// Where its registration really came from (after NAT).
    pub source: std::net::SocketAddr,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

/// How a trunk answered its last OPTIONS keep-alive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reachability {
    pub reachable: bool,
    /// Round trip of the keep-alive, when it was answered.
    pub latency_ms: Option<u64>,
    pub checked_at: DateTime<Utc>,
}

/// What the SIP edge knows live: registered phones and trunk reachability.
pub trait Presence: Send + Sync + 'static {
    fn phones(&self, tenant: TenantId, user: UserId) -> Vec<RegisteredPhone>;
    fn trunk(&self, trunk: TrunkId) -> Option<Reachability>;
    fn registration(&self, trunk: TrunkId) -> Option<RegistrationStatus>;
}

/// Places outbound calls: the SIP edge implements it. It rings the agent's own phones first
/// and, once one answers, calls the number through the trunk and bridges the two.
#[async_trait::async_trait]
pub trait Dialer: Send + Sync + 'static {
    /// This process's name on the calls it handles.
    fn edge_id(&self) -> &str;
    async fn dial(&self, call: crate::calls::Call, phones: Vec<RegisteredPhone>, trunk: Trunk) -> crate::Result<()>;
}

/// Where an inbound call belongs.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundRoute {
    pub tenant_id: TenantId,
    pub trunk: Trunk,
    pub number: String,
}

/// Why an inbound call is refused; each maps to one SIP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: not from any address of the trunk that owns the number.
    UnknownSource,
    /// 404: no trunk delivers this number.
    UnknownNumber,
}

impl Refusal {
    pub fn sip_status(self) -> u16 {
        match self {
            Refusal::UnknownSource => 403,
            Refusal::UnknownNumber => 404,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownSource => "unknown_source",
            Refusal::UnknownNumber => "unknown_number",
        }
    }
}

pub fn parse_sources(raw: &[String]) -> Result<Vec<IpNet>> {
    if raw.is_empty() || raw.len() > 50 {
        return Err(Error::bad_input(
            "sources",
            "give 1 to 50 source addresses or networks (e.g. 203.0.113.7 or 203.0.113.0/28)",
        ));
    }
    let mut nets: Vec<IpNet> = Vec::new();
    for source in raw {
        let text = source.trim();
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| Error::bad_input("sources", format!("{source:?} is not an IP address or network")))?
            .trunc();
        if net.prefix_len() == 0 {
            return Err(Error::bad_input("sources", "a trunk cannot accept calls from everywhere (/0)"));
        }
        if !nets.contains(&net) {
            nets.push(net);
        }
    }
    Ok(nets)
}

/// The dialed number as a trunk sends it (`+998...`, `998...`, or with separators) in E.164,
/// or `None` when it is not a plausible international number.
pub fn dialed_e164(user: &str) -> Option<String> {
    let digits: String = user.chars().filter(char::is_ascii_digit).collect();
    let plausible =
        (8..=15).contains(&digits.len()) && user.chars().all(|c| c.is_ascii_digit() || "+-(). ".contains(c));
    plausible.then(|| format!("+{digits}"))
}

/// Decides an inbound call: the number picks the trunk, and the source must be one of its.
pub fn route(source: IpAddr, number: Option<&str>, owner: Option<(TenantId, Trunk)>) -> Result<InboundRoute, Refusal> {
    let (Some(number), Some((tenant_id, trunk))) = (number, owner) else {
        return Err(Refusal::UnknownNumber);
    };
    let source = match source {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if !trunk.sources.iter().any(|net| net.contains(&source)) {
        return Err(Refusal::UnknownSource);
    }
    Ok(InboundRoute { tenant_id, trunk, number: number.to_owned() })
}

pub fn ha1(username: &str, password: &str) -> String {
    hex::encode(Md5::digest(format!("{username}:{SIP_REALM}:{password}").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(sources: &[&str]) -> Trunk {
        Trunk {
            id: TrunkId::new(),
            name: "Kerio".into(),
            sources: parse_sources(&sources.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap(),
            numbers: vec!["+998712000000".into()],
            default_caller_id: None,
            address: None,
            credentials: None,
            registration: None,
            qualify: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn sources_parse_and_reject_everything_networks() {
        let nets = parse_sources(&["203.0.113.7".into(), "198.51.100.17/28".into()]).unwrap();
        assert_eq!(nets[0].to_string(), "203.0.113.7/32");
        assert_eq!(nets[1].to_string(), "198.51.100.16/28", "host bits dropped");
        assert!(parse_sources(&["0.0.0.0/0".into()]).is_err());
        assert!(parse_sources(&["kerio.local".into()]).is_err());
        assert!(parse_sources(&[]).is_err());
    }

    #[test]
    fn routing_needs_a_known_number_from_its_trunk_sources() {
        let tenant = TenantId::new();
        let t = trunk(&["127.0.0.2", "10.1.0.0/16"]);
        let ok = route("10.1.2.3".parse().unwrap(), Some("+998712000000"), Some((tenant, t.clone()))).unwrap();
        assert_eq!(ok.tenant_id, tenant);
        assert_eq!(
            route("127.0.0.9".parse().unwrap(), Some("+998712000000"), Some((tenant, t.clone()))),
            Err(Refusal::UnknownSource)
        );
        assert_eq!(
            route("::ffff:127.0.0.2".parse().unwrap(), Some("+998712000000"), Some((tenant, t))).map(|r| r.number),
            Ok("+998712000000".into())
        );
        assert_eq!(route("127.0.0.2".parse().unwrap(), Some("+1"), None), Err(Refusal::UnknownNumber));
    }

    #[test]
    fn dialed_numbers_read_as_e164() {
        assert_eq!(dialed_e164("+998712000000").as_deref(), Some("+998712000000"));
        assert_eq!(dialed_e164("998712000000").as_deref(), Some("+998712000000"));
        assert_eq!(dialed_e164("100"), None);
        assert_eq!(dialed_e164("alice"), None);
    }
}
