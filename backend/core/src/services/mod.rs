//! The operations the API offers, with their validation and permission checks.
mod api_tokens;
pub mod attendance;
mod auth;
mod calls;
mod cards;
mod customers;
mod dashboard;
mod dashboard_cache;
mod dashboard_days;
mod follow;
mod imports;
mod inbox;
mod ingest;
mod limiter;
mod live_events;
mod pbx_servers;
mod session_checks;
mod telephony;
mod uploads;
mod users;
mod webhooks;

pub use api_tokens::NewApiToken;
pub use auth::{AuthTokens, SignUp};
pub use cards::{TaskInput, TimelineItem, TimelinePage};
pub use customers::{CustomerInput, CustomerPatch};
pub use dashboard::CompanyPatch;
pub use imports::MAX_IMPORT_BYTES;
pub use inbox::{DEFAULT_OPEN_LIMIT, DEFAULT_SENDS_PER_SECOND, MetaInput, OutgoingFile, SendPacer};
pub use limiter::FailureLimiter;
pub use pbx_servers::PbxServerInput;
pub use telephony::{NewSipAccount, RegistrationInput, TrunkInput};
pub use uploads::MAX_UPLOAD_BYTES;
pub use users::Invited;

use crate::auth::JwtKeys;
use crate::events::EventBus;
use crate::ports::Database;
use crate::storage::UrlSigner;
use crate::telephony::{Dialer, Presence};
use crate::{Error, Result};
use std::sync::Arc;

type WebhookCache =
    crate::pruned_map::PrunedMap<crate::ConnectionId, (crate::inbox::ChannelConnection, std::time::Instant)>;

#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub invite_ttl_secs: i64,
    /// Lifetime of signed download links (recordings, attachments).
    pub download_ttl_secs: i64,
    /// Failed logins allowed per account, and per client address, in `window_secs`.
    pub max_failures_per_account: u32,
    pub max_failures_per_address: u32,
    pub window_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            invite_ttl_secs: 7 * 24 * 3600,
            download_ttl_secs: 900,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            window_secs: 300,
        }
    }
}

/// The domain's services, shared by every request.
#[derive(Clone)]
pub struct Services {
    db: Arc<dyn Database>,
    bus: Arc<dyn EventBus>,
    jwt: JwtKeys,
    signer: UrlSigner,
    vault: crate::vault::Vault,
    settings: AuthSettings,
    presence: Option<Arc<dyn Presence>>,
    pbx: Option<Arc<dyn crate::pbx::PbxConfigRenderer>>,
    /// Set once an ARI worker runs in this process.
    pbx_link: Arc<std::sync::OnceLock<Arc<dyn crate::pbx::PbxLink>>>,
    /// Set once the SIP edge is up (it needs the services first).
    dialer: Arc<std::sync::OnceLock<Arc<dyn Dialer>>>,
    /// The messaging platforms' APIs (set once the channels adapter is wired).
    channels: Option<Arc<dyn crate::inbox::ChannelPlatforms>>,
    /// Open conversations an agent may hold before new ones go to others.
    inbox_open_limit: u64,
    /// Where message attachments are kept (set with the channels).
    store: Option<Arc<dyn crate::storage::ObjectStore>>,
    send_pacer: Arc<inbox::SendPacer>,
    /// Connections webhooks named lately (see `cached_connection`).
    webhook_cache: Arc<std::sync::Mutex<WebhookCache>>,
    inbox_signal: Arc<tokio::sync::Notify>,
    outbox_signal: Arc<tokio::sync::Notify>,
    account_failures: Arc<FailureLimiter>,
    address_failures: Arc<FailureLimiter>,
    sockets: Arc<attendance::Sockets>,
    /// Sends outbound webhooks (set by the server).
    webhook_poster: Option<Arc<dyn crate::webhooks::WebhookPoster>>,
    /// Dashboards computed lately (see `dashboard_cache`).
    dashboards: Arc<dashboard_cache::DashboardCache>,
    /// Sessions checked lately (see `session_checks`).
    session_checks: Arc<session_checks::SessionChecks>,
    /// The first retry's wait; later ones double it.
    webhook_retry: std::time::Duration,
    webhook_signal: Arc<tokio::sync::Notify>,
    /// Started on the first webhook delivery (it needs a runtime).
    ingest: Arc<std::sync::OnceLock<ingest::IngestQueue>>,
    /// Live events this process published, to forget (see `live_events`).
    published: Arc<live_events::Published>,
}

impl Services {
    pub fn new(
        db: Arc<dyn Database>,
        bus: Arc<dyn EventBus>,
        jwt: JwtKeys,
        signer: UrlSigner,
        vault: crate::vault::Vault,
        settings: AuthSettings,
    ) -> Self {
        let window = std::time::Duration::from_secs(settings.window_secs);
        Self {
            account_failures: Arc::new(FailureLimiter::new(settings.max_failures_per_account, window)),
            address_failures: Arc::new(FailureLimiter::new(settings.max_failures_per_address, window)),
            presence: None,
            pbx: None,
            pbx_link: Arc::default(),
            dialer: Arc::default(),
            channels: None,
            inbox_open_limit: inbox::DEFAULT_OPEN_LIMIT,
            store: None,
            send_pacer: Arc::new(inbox::SendPacer::new(inbox::DEFAULT_SENDS_PER_SECOND)),
            webhook_cache: Arc::default(),
            inbox_signal: Arc::default(),
            outbox_signal: Arc::default(),
            sockets: Arc::default(),
            webhook_poster: None,
            webhook_retry: std::time::Duration::from_secs(10),
            dashboards: Arc::default(),
            session_checks: Arc::default(),
            webhook_signal: Arc::default(),
            ingest: Arc::default(),
            published: Arc::default(),
            db,
            bus,
            jwt,
            signer,
            vault,
            settings,
        }
    }

    /// How outbound webhooks are posted, and the first retry's wait.
    pub fn with_webhook_poster(
        mut self,
        poster: Arc<dyn crate::webhooks::WebhookPoster>,
        retry: std::time::Duration,
    ) -> Self {
        self.webhook_poster = Some(poster);
        self.webhook_retry = retry;
        self
    }

    /// Registration status from the SIP edge, when it runs.
    pub fn with_presence(mut self, presence: Arc<dyn Presence>) -> Self {
        self.presence = Some(presence);
        self
    }

    /// The messaging platforms' APIs, and how many open conversations an agent may hold.
    pub fn with_channels(
        mut self,
        platforms: Arc<dyn crate::inbox::ChannelPlatforms>,
        store: Arc<dyn crate::storage::ObjectStore>,
        open_limit: u64,
        sends_per_second: u32,
    ) -> Self {
        self.channels = Some(platforms);
        self.store = Some(store);
        self.send_pacer = Arc::new(inbox::SendPacer::new(sends_per_second));
        self.inbox_open_limit = open_limit;
        self
    }

    /// Lets companies' admins download their Asterisk configuration.
    pub fn with_pbx_renderer(mut self, renderer: Arc<dyn crate::pbx::PbxConfigRenderer>) -> Self {
        self.pbx = Some(renderer);
        self
    }

    /// Lets the API show the ARI worker's link to Asterisk. Shared by every clone.
    pub fn set_pbx_link(&self, link: Arc<dyn crate::pbx::PbxLink>) {
        let _ = self.pbx_link.set(link);
    }

    /// The ARI worker's link (admins); `None` when no worker runs in this process.
    pub fn pbx_link_status(&self, principal: &crate::auth::Principal) -> Result<Option<crate::pbx::PbxLinkStatus>> {
        principal.require_admin()?;
        Ok(self.pbx_link.get().map(|link| link.status()))
    }

    /// Lets `dial` place calls through the SIP edge. Shared by every clone of the services.
    pub fn set_dialer(&self, dialer: Arc<dyn Dialer>) {
        let _ = self.dialer.set(dialer);
    }

    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    pub fn db(&self) -> &Arc<dyn Database> {
        &self.db
    }
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::bad_input(field, format!("{field} must be 1 to {max} characters")));
    }
    Ok(value.to_owned())
}

fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid { Ok(email) } else { Err(Error::bad_input("email", "this is not an email address")) }
}
