//! The connection to one Asterisk: its event stream, reconnecting with back-off, and events
//! handed to the call each one belongs to (by channel id, or recording name).
use super::call::{self, CallContext};
use super::client::AriClient;
use super::events::Event;
use crm_core::lease::Leases;
use crm_core::pbx::{PbxLink, PbxLinkStatus};
use crm_core::services::Services;
use crm_core::{PbxServerId, TenantId};
use crm_recording::Spool;
use futures::StreamExt;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// `http://host:port` of Asterisk's HTTP server.
    pub ari_url: String,
    pub username: String,
    pub password: SecretString,
    pub app: String,
    /// This worker's name on the calls it handles (crash recovery closes them).
    pub worker_id: String,
    pub ring_timeout: Duration,
    pub responsible_first: Duration,
    /// With several workers (Redis): only the lease holder serves the Asterisk, since a second
    /// WebSocket for the same application would take it over.
    pub leases: Option<Arc<dyn Leases>>,
    pub lease_ttl: Duration,
    /// The key of this Asterisk's durable call records (any worker serving it finishes them).
    pub server_key: String,
    /// A company's own Asterisk: only that company's calls are taken from it, its click-to-calls
    /// go through it, and the link's status is written to its record.
    pub owner: Option<(TenantId, PbxServerId)>,
}

/// Where each event goes.
#[derive(Default)]
pub(crate) struct Routes {
    channels: Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>,
    recordings: Mutex<HashMap<String, mpsc::UnboundedSender<Event>>>,
}

impl Routes {
    pub(crate) fn channel(&self, id: &str, to: &mpsc::UnboundedSender<Event>) {
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), to.clone());
    }
    pub(crate) fn recording(&self, name: &str, to: &mpsc::UnboundedSender<Event>) {
        self.recordings.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), to.clone());
    }
    pub(crate) fn forget(&self, channels: &[String], recordings: &[String]) {
        let mut by_channel = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        for id in channels {
            by_channel.remove(id);
        }
        drop(by_channel);
        let mut by_recording = self.recordings.lock().unwrap_or_else(|e| e.into_inner());
        for name in recordings {
            by_recording.remove(name);
        }
    }
    pub(crate) fn deliver(&self, event: &Event) -> bool {
        let target = match event {
            Event::RecordingFinished { recording } | Event::RecordingFailed { recording } => {
                self.recordings.lock().unwrap_or_else(|e| e.into_inner()).get(&recording.name).cloned()
            }
            other => other
                .channel()
                .and_then(|c| self.channels.lock().unwrap_or_else(|e| e.into_inner()).get(&c.id).cloned()),
        };
        target.is_some_and(|to| to.send(event.clone()).is_ok())
    }
}

pub struct AriWorker {
    status: Arc<LinkStatus>,
    cancel: CancellationToken,
}

/// The link's status, kept here and, for a company's own Asterisk, written to its record
/// (so every API node shows it). A standby worker does not write: the serving one does.
pub(crate) struct LinkStatus {
    current: Mutex<PbxLinkStatus>,
    sink: Option<(Services, TenantId, PbxServerId)>,
}

impl LinkStatus {
    fn set(&self, connected: bool, error: Option<String>, standby: bool) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.connected == connected && current.error == error {
            return;
        }
        *current = PbxLinkStatus { connected, error, since: Some(chrono::Utc::now()) };
        if let (Some((services, tenant, id)), false) = (&self.sink, standby) {
            let (services, tenant, id, status) = (services.clone(), *tenant, *id, current.clone());
            tokio::spawn(async move {
                if let Err(error) = services.set_pbx_server_status(tenant, id, &status).await {
                    tracing::warn!(%error, server = %id, "cannot record the ARI link's status");
                }
            });
        }
    }
}

impl AriWorker {
    pub fn start(settings: WorkerSettings, services: Services, spool: Spool) -> Self {
        let sink = settings.owner.map(|(tenant, id)| (services.clone(), tenant, id));
        let status = Arc::new(LinkStatus { current: Mutex::default(), sink });
        let cancel = CancellationToken::new();
        let client = AriClient::new(&settings.ari_url, &settings.username, settings.password.clone());
        let context = Arc::new(CallContext {
            client,
            services,
            spool,
            settings,
            routes: Routes::default(),
            active: Mutex::default(),
        });
        tokio::spawn(run(context, status.clone(), cancel.clone()));
        Self { status, cancel }
    }
}

impl PbxLink for AriWorker {
    fn status(&self) -> PbxLinkStatus {
        self.status.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for AriWorker {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn run(context: Arc<CallContext>, status: Arc<LinkStatus>, cancel: CancellationToken) {
    let settings = &context.settings;
    let lease = format!("asterisk:{}:{}", settings.ari_url, settings.app);
    // Unique per process, even for two workers on one host.
    let holder = format!("{}:{}", settings.worker_id, uuid::Uuid::new_v4());
    let mut backoff = Duration::from_millis(500);
    loop {
        if let Some(leases) = &settings.leases {
            let acquired =
                tokio::time::timeout(settings.lease_ttl, leases.acquire(&lease, &holder, settings.lease_ttl));
            match acquired.await {
                Ok(Ok(Some(token))) => tracing::info!(lease, token, "took the Asterisk lease: serving it"),
                outcome => {
                    let why = match outcome {
                        Ok(Err(error)) => format!("standby: cannot reach Redis for the lease ({error})"),
                        Err(_) => "standby: Redis does not answer for the lease".to_owned(),
                        Ok(Ok(_)) => "standby: another worker serves this Asterisk".to_owned(),
                    };
                    status.set(false, Some(why), true);
                    tokio::select! {
                        () = tokio::time::sleep(settings.lease_ttl / 3) => continue,
                        () = cancel.cancelled() => return,
                    }
                }
            }
        }
        let outcome = tokio::select! {
            outcome = connection(&context, &status) => outcome,
            lost = keep(settings, &lease, &holder) => Err(lost),
            () = cancel.cancelled() => {
                if let Some(leases) = &settings.leases {
                    release(leases.as_ref(), &lease, &holder, settings.lease_ttl).await;
                }
                return;
            }
        };
        if let Some(leases) = &settings.leases {
            release(leases.as_ref(), &lease, &holder, settings.lease_ttl).await;
        }
        let error = match outcome {
            Ok(()) => "Asterisk closed the event stream".to_owned(),
            Err(error) => error,
        };
        tracing::warn!(error, retry_in_ms = backoff.as_millis() as u64, "ARI link down; reconnecting");
        status.set(false, Some(error), false);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Gives the lease up, unless Redis does not answer (then it runs out by itself).
async fn release(leases: &dyn Leases, lease: &str, holder: &str, ttl: Duration) {
    let _ = tokio::time::timeout(ttl / 3, leases.release(lease, holder)).await;
}

/// Renews the lease until it is lost (taken, or not renewed within its lifetime); without
/// leases, never returns.
async fn keep(settings: &WorkerSettings, lease: &str, holder: &str) -> String {
    let Some(leases) = &settings.leases else { return std::future::pending().await };
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.lease_ttl / 3).await;
        // A Redis that went away may not answer at all: waiting longer than this is failing.
        let renewal = tokio::time::timeout(settings.lease_ttl / 3, leases.renew(lease, holder, settings.lease_ttl));
        let error = match renewal.await {
            Ok(Ok(true)) => {
                renewed = tokio::time::Instant::now();
                continue;
            }
            Ok(Ok(false)) => return "the Asterisk lease was lost to another worker".to_owned(),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer in time".to_owned(),
        };
        if renewed.elapsed() >= settings.lease_ttl {
            return format!("the Asterisk lease ran out: Redis unreachable ({error})");
        }
        tracing::warn!(error, "could not renew the Asterisk lease; retrying");
    }
}

/// One connection: credentials checked over REST first (a clear error), then events until it ends.
async fn connection(context: &Arc<CallContext>, status: &LinkStatus) -> Result<(), String> {
    context.client.ping().await.map_err(|e| e.to_string())?;
    let mut request =
        context.client.events_url(&context.settings.app).into_client_request().map_err(|e| e.to_string())?;
    let auth = context.client.basic_auth().parse().map_err(|_| "bad ARI credentials".to_owned())?;
    request.headers_mut().insert("authorization", auth);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(request).await.map_err(|e| format!("ARI event stream: {e}"))?;
    status.set(true, None, false);
    tracing::info!(url = %context.settings.ari_url, app = %context.settings.app, "ARI connected");
    // The application exists once its socket is open; then it can be told what not to send.
    let noise = ["ChannelVarset", "ChannelDialplan", "ChannelConnectedLine", "ChannelCallerId"];
    if let Err(error) = context.client.filter_events(&context.settings.app, &noise).await {
        tracing::warn!(%error, "cannot filter ARI events; they are read and ignored instead");
    }
    // Calls other workers (or this one, before a reconnect) left, recordings to retry, and
    // click-to-calls: until this connection ends.
    let _background = [
        tokio::spawn(call::sweep_every(context.clone(), Duration::from_secs(5))),
        tokio::spawn(super::outbound::dial_requests(context.clone())),
    ]
    .map(AbortOnDrop);
    while let Some(message) = socket.next().await {
        let text = match message.map_err(|e| e.to_string())? {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let event: Event = match serde_json::from_str(&text) {
            Ok(event) => event,
            Err(error) => {
                tracing::debug!(%error, "an ARI event we do not read");
                continue;
            }
        };
        dispatch(context, event);
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn dispatch(context: &Arc<CallContext>, event: Event) {
    if let Event::ApplicationReplaced {} = event {
        tracing::error!(app = %context.settings.app, "another connection took over the ARI application");
        return;
    }
    if context.routes.deliver(&event) {
        return;
    }
    let Event::StasisStart { args, channel } = event else { return };
    let hang_up = |reason: &'static str| {
        let (client, id) = (context.client.clone(), channel.id.clone());
        tokio::spawn(async move { client.hangup(&id, reason).await });
    };
    let tenant: Option<TenantId> = args.first().and_then(|t| t.parse().ok());
    if let (Some((owner, _)), Some(tenant)) = (context.settings.owner, tenant)
        && owner != tenant
    {
        tracing::warn!(%tenant, "a company's Asterisk sent another company's call; hanging up");
        hang_up("unallocated");
        return;
    }
    match (args.get(1).map(String::as_str), tenant, args.get(2).cloned()) {
        (Some("inbound"), Some(tenant), Some(exten)) => {
            let (sender, receiver) = mpsc::unbounded_channel();
            context.routes.channel(&channel.id, &sender);
            tokio::spawn(call::inbound(context.clone(), tenant, exten, channel, sender, receiver));
        }
        // A phone or leg of a call no worker follows any more (its worker died while ringing).
        (Some("agent" | "customer" | "snoop"), _, _) => hang_up("normal"),
        _ => {
            tracing::warn!(?args, "a Stasis call without company and number; hanging up");
            hang_up("unallocated");
        }
    }
}
