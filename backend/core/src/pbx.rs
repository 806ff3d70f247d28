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
