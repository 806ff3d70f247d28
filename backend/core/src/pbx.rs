//! Configuration for an external PBX (Asterisk) that carries a company's calls to the CRM:
//! what the domain hands to the renderer, and what comes back.
use crate::telephony::{SipAccount, Trunk};
use crate::{Result, TenantId};
use secrecy::SecretString;

/// A trunk and, when it registers outward, its opened password.
#[derive(Clone, Debug)]
pub struct TrunkWithSecret {
    pub trunk: Trunk,
    pub registration_password: Option<SecretString>,
}

/// One company's telephony data, as the PBX needs it.
#[derive(Clone, Debug)]
pub struct TenantPbx {
    pub tenant_id: TenantId,
    pub trunks: Vec<TrunkWithSecret>,
    pub extensions: Vec<SipAccount>,
    /// The ARI application of the company's own Asterisk, when it registered one (otherwise
    /// the installation's).
    pub app: Option<String>,
}

/// A configuration file, relative to the PBX's configuration folder.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigFile {
    pub path: String,
    pub content: String,
    /// Holds the installation's own secrets (ARI credentials): never shown to a company.
    pub installation_secret: bool,
}

/// Renders a company's PBX configuration (the Asterisk adapter implements it).
pub trait PbxConfigRenderer: Send + Sync + 'static {
    fn render(&self, pbx: &TenantPbx) -> Result<Vec<ConfigFile>>;
}

/// How the link to the PBX stands (for the API).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PbxLinkStatus {
    pub connected: bool,
    /// Why not: unreachable, refused credentials, taken over by another connection.
    pub error: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The worker connected to the PBX (the Asterisk adapter's ARI worker).
pub trait PbxLink: Send + Sync + 'static {
    fn status(&self) -> PbxLinkStatus;
}

/// An Asterisk a company registered for its calls: where its ARI is and which application our
/// worker connects as. The password is sealed by the vault (ARI needs it in the clear).
#[derive(Clone, Debug, PartialEq)]
pub struct PbxServer {
    pub id: crate::PbxServerId,
    pub tenant_id: TenantId,
    pub name: String,
    /// `http(s)://host:port` of Asterisk's HTTP server.
    pub ari_url: String,
    pub username: String,
    pub sealed_password: String,
    pub app: String,
    /// As the serving worker last wrote it.
    pub status: PbxLinkStatus,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A server with its password opened, for the worker that connects to it.
#[derive(Clone, Debug)]
pub struct PbxServerTarget {
    pub server: PbxServer,
    pub password: SecretString,
}

/// Where an ARI worker's call stands, written down so that any worker can finish it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PbxCallStage {
    /// Not answered yet: if its worker dies, the call is closed (missed) and its channels hung up.
    Ringing,
    /// Bridged: talking until a side hangs up.
    Talking,
    /// Over: its recordings wait to be fetched from Asterisk and stored (retried until done).
    Recording,
}

impl PbxCallStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Talking => "talking",
            Self::Recording => "recording",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(Self::Ringing),
            "talking" => Some(Self::Talking),
            "recording" => Some(Self::Recording),
            _ => None,
        }
    }
}

/// A call an ARI worker carries, durable across worker deaths and Redis restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct PbxCallRecord {
    pub tenant_id: TenantId,
    pub call_id: crate::CallId,
    /// Which Asterisk (and application) it is on.
    pub server: String,
    pub stage: PbxCallStage,
    /// The adapter's own state (channel, bridge and recording names), opaque here.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    pub last_error: Option<String>,
}

/// The edge a click-to-call through `server` carries until its worker takes it on.
pub fn dial_edge(server: crate::PbxServerId) -> String {
    format!("asterisk:{server}")
}
