//! The built-in SIP edge: a SIP endpoint on UDP and TCP (rsipstack) that takes a company's calls
//! from its Kerio Control trunk and registers agents' phones, without Asterisk.
//!
//! What is here: listeners, the registrar with digest authentication and blocking of addresses
//! that keep failing, OPTIONS keep-alives, toll-fraud protection (an INVITE from an unknown
//! source or to an unknown number is refused with 403/404, counted, and creates nothing), and
//! outward registrations to trunks that want them, inbound calls bridged to an agent's phone through our RTP relay, recorded.
mod advertise;
mod call;
mod digest;
mod guard;
mod handler;
mod qualify;
mod register;
mod registrar;
mod sdp;

pub use registrar::Registrar;

use crm_core::services::{FailureLimiter, Services};
use crm_media::PortRange;
use crm_recording::Spool;
use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct SipSettings {
    /// Where SIP listens, UDP and TCP on the same port (port 0 picks one).
    pub addr: SocketAddr,
    /// The public address to advertise when behind NAT and Kerio does not rewrite for us.
    pub external_ip: Option<IpAddr>,
    /// Peers here (the office network) are given the local address even with `external_ip`.
    pub local_nets: Vec<ipnet::IpNet>,
    /// Failed registrations from one address before it is blocked for `block_for`.
    pub max_auth_failures: u32,
    pub block_for: Duration,
    /// RTP ports (the range forwarded on Kerio Control).
    pub rtp_ports: (u16, u16),
    /// This process's name on the calls it handles.
    pub edge_id: String,
    pub ring_timeout: Duration,
    pub responsible_first: Duration,
    /// How often trunks are sent OPTIONS keep-alives.
    pub qualify_every: Duration,
}

pub struct SipEdge {
    pub addr: SocketAddr,
    pub registrar: Arc<Registrar>,
    cancel: CancellationToken,
}

impl SipEdge {
    /// Starts listening. `registrar` is shared with the services, which report registrations.
    pub async fn start(
        settings: SipSettings,
        services: Services,
        registrar: Arc<Registrar>,
        spool: Spool,
        secret: &[u8],
    ) -> Result<Self, String> {
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let external = |port: u16| settings.external_ip.map(|ip| SocketAddr::new(ip, port));
        let socket = tokio::net::UdpSocket::bind(settings.addr)
            .await
            .map_err(|e| format!("cannot listen for SIP on UDP {}: {e}", settings.addr))?;
        let udp = UdpConnection::from_socket(
            Arc::new(guard::GuardedSocket::new(socket)),
            external(settings.addr.port()),
            Some(cancel.child_token()),
        )
        .await
        .map_err(|e| format!("cannot listen for SIP on UDP {}: {e}", settings.addr))?;
        let port: u16 = udp.get_addr().addr.port.map(u16::from).unwrap_or(settings.addr.port());
        let addr = SocketAddr::new(settings.addr.ip(), port);
        let tcp = TcpListenerConnection::new(addr, external(port))
            .await
            .map_err(|e| format!("cannot listen for SIP on TCP {addr}: {e}"))?;
        transport.add_transport(udp.into());
        transport.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent("crm")
            .build();
        let incoming = endpoint.incoming_transactions().map_err(|e| e.to_string())?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        // Where we listen, unless that is every address; then loopback (a real set-up names one).
        let local = match settings.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        };
        let advertise = advertise::Advertise {
            local,
            external: settings.external_ip,
            local_nets: settings.local_nets.clone(),
            port,
        };
        let context = Arc::new(handler::Context {
            services,
            registrar: registrar.clone(),
            digest: digest::Digest::new(secret),
            failures: FailureLimiter::new(settings.max_auth_failures, settings.block_for),
            dialogs,
            endpoint: endpoint.inner.clone(),
            ports: PortRange::new(settings.addr.ip(), settings.rtp_ports.0, settings.rtp_ports.1),
            spool,
            advertise,
            edge_id: settings.edge_id.clone(),
            ring_timeout: settings.ring_timeout,
            responsible_first: settings.responsible_first,
        });
        context.services.set_dialer(Arc::new(call::SipDialer(context.clone())));
        tokio::spawn(async move { endpoint.serve().await });
        tokio::spawn(qualify::run(context.clone(), settings.qualify_every));
        // Trunk settings are looked at again this often (registrations follow changes).
        let recheck = settings.qualify_every.min(Duration::from_secs(5));
        tokio::spawn(register::run(context.clone(), recheck, cancel.clone()));
        tokio::spawn(handler::serve(context, incoming, cancel.clone()));
        tracing::info!(%addr, "SIP edge listening on UDP and TCP");
        Ok(Self { addr, registrar, cancel })
    }
}

impl Drop for SipEdge {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
