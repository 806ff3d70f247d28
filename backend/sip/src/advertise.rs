//! Which of our addresses a peer is told (in Contact and SDP). Behind Kerio Control with its SIP
//! inspector off, peers outside must be given the public address (`CRM_SIP_EXTERNAL_IP`), while
//! phones on the office network keep using the local one, as Asterisk's `local_net` does. With
//! the inspector on, no external address is set: we advertise the local one and Kerio rewrites it.
use ipnet::IpNet;
use rsipstack::sip as rsip;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug)]
pub struct Advertise {
    pub local: IpAddr,
    pub external: Option<IpAddr>,
    /// Peers in these networks are given the local address.
    pub local_nets: Vec<IpNet>,
    pub port: u16,
}

impl Advertise {
    pub fn ip_for(&self, peer: IpAddr) -> IpAddr {
        match self.external {
            Some(external) if !self.local_nets.iter().any(|net| net.contains(&peer)) => external,
            _ => self.local,
        }
    }

    pub fn media_for(&self, peer: IpAddr, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip_for(peer), port)
    }

    /// Our Contact for dialogs and requests with `peer`.
    pub fn contact_for(&self, peer: IpAddr) -> rsip::Uri {
        self.uri("crm", peer)
    }

    /// `sip:user@<our address for peer>`.
    pub fn uri(&self, user: &str, peer: IpAddr) -> rsip::Uri {
        let host = SocketAddr::new(self.ip_for(peer), self.port);
        rsip::Uri::try_from(format!("sip:{user}@{host}")).unwrap_or_else(|_| rsip::Uri {
            scheme: Some(rsip::Scheme::Sip),
            host_with_port: host.into(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_peers_get_the_external_address_and_the_office_the_local_one() {
        let advertise = Advertise {
            local: [192, 168, 5, 2].into(),
            external: Some([203, 0, 113, 7].into()),
            local_nets: vec!["192.168.0.0/16".parse().unwrap()],
            port: 5060,
        };
        assert_eq!(advertise.ip_for([198, 51, 100, 1].into()), IpAddr::from([203, 0, 113, 7]));
        assert_eq!(advertise.ip_for([192, 168, 5, 40].into()), IpAddr::from([192, 168, 5, 2]));
        assert_eq!(advertise.contact_for([198, 51, 100, 1].into()).to_string(), "sip:crm@203.0.113.7:5060");
        let unaware = Advertise { external: None, ..advertise };
        assert_eq!(unaware.ip_for([198, 51, 100, 1].into()), IpAddr::from([192, 168, 5, 2]));
    }
}
