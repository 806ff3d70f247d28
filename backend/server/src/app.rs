//! Builds the application from configuration and runs it.
use crate::config::Config;
use crate::{files, ops, secret_key, web};
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use crm_api::ApiSettings;
use crm_core::auth::JwtKeys;
use crm_core::calls::Recording;
use crm_core::events::EventBus;
use crm_core::services::{AuthSettings, Services};
use crm_core::storage::{ObjectStore, UrlSigner};
use crm_core::vault::Vault;
use crm_core::{CallId, TenantId};
use crm_db::SqlDatabase;
use crm_events::{InProcessBus, RedisBus};
use crm_recording::{Spool, Uploaded};
use crm_storage::{LocalStore, S3Settings, S3Store};
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::TraceLayer;

/// Everything a request handler may need, cheap to clone.
#[derive(Clone)]
pub struct App {
    pub services: Services,
    pub db: SqlDatabase,
    pub store: Arc<dyn ObjectStore>,
    pub signer: UrlSigner,
    /// Where recordings are written during calls, before upload.
    pub spool: Spool,
    /// Agents' phones registered with this process's SIP edge.
    pub registrar: Arc<crm_sip::Registrar>,
    /// GraphQL subscriptions shared by this process's sockets.
    pub feeds: crm_api::Feeds,
    /// Keys SIP digest nonces.
    keys_sip: Vec<u8>,
    /// The ARI password when none is configured.
    keys_asterisk: Vec<u8>,
    /// Leases across processes (with Redis): one ARI worker per Asterisk.
    leases: Option<Arc<crm_events::RedisLeases>>,
    pub config: Arc<Config>,
}

impl App {
    /// Opens everything, then recovers what a crash of this process left behind.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let app = Self::open(config).await?;
        app.recover_after_crash().await?;
        Ok(app)
    }

    /// Opens the database, events, storage and services (for commands that serve nothing).
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&config.data_dir).await.with_context(|| {
            format!("cannot create the data folder {}: set CRM_DATA_DIR", config.data_dir.display())
        })?;
        let database_url = database_url(&config);
        let admin_url = config.database_admin_url.as_ref().map(|s| s.expose_secret().to_owned());
        tracing::info!(
            backend = if database_url.starts_with("postgres") { "postgres" } else { "sqlite" },
            "migrating the database"
        );
        crm_db::migrate(admin_url.as_deref().unwrap_or(&database_url)).await.context(
            "database migration failed: check CRM_DATABASE_URL / CRM_DATABASE_ADMIN_URL and that the server is up",
        )?;
        let db = SqlDatabase::connect(&database_url, config.database_max_connections)
            .await
            .context("cannot connect to the database: check CRM_DATABASE_URL")?;

        let bus: Arc<dyn EventBus> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisBus::connect(url.expose_secret()).await.context("cannot connect to Redis: check CRM_REDIS_URL")?,
            ),
            None => Arc::new(InProcessBus::default()),
        };
        let leases = match &config.redis_url {
            Some(url) => Some(Arc::new(
                crm_events::RedisLeases::connect(url.expose_secret())
                    .await
                    .context("cannot connect to Redis: check CRM_REDIS_URL")?,
            )),
            None => None,
        };
        let store: Arc<dyn ObjectStore> = match &config.s3_bucket {
            Some(bucket) => {
                let settings = S3Settings {
                    bucket: bucket.clone(),
                    endpoint: config.s3_endpoint.clone(),
                    region: config.s3_region.clone(),
                    access_key_id: config.s3_access_key_id.clone().unwrap_or_default(),
                    secret_access_key: config
                        .s3_secret_access_key
                        .as_ref()
                        .map(|s| s.expose_secret().to_owned())
                        .unwrap_or_default(),
                    path_style: config.s3_path_style,
                };
                let store = S3Store::new(&settings);
                store.ensure_bucket().await.context("cannot reach the S3 bucket: check the CRM_S3_* settings")?;
                Arc::new(store)
            }
            None => Arc::new(LocalStore::open(config.objects_dir()).await.context("cannot create the objects folder")?),
        };

        let keys = secret_key::load(config.secret_key.as_ref(), &config.data_dir).await?;
        let auth = AuthSettings {
            access_ttl_secs: config.access_token_ttl_secs,
            refresh_ttl_secs: config.refresh_token_ttl_secs,
            download_ttl_secs: config.download_url_ttl_secs,
            ..AuthSettings::default()
        };
        let signer = UrlSigner::new(&keys.downloads);
        let jwt = JwtKeys::new(&keys.jwt, config.access_token_ttl_secs);
        let registrar = Arc::new(crm_sip::Registrar::default());
        let asterisk = crm_asterisk::AsteriskRenderer(config.asterisk_options(&keys.asterisk)?);
        let services = Services::new(Arc::new(db.clone()), bus, jwt, signer.clone(), Vault::new(&keys.vault), auth)
            .with_presence(registrar.clone())
            .with_pbx_renderer(Arc::new(asterisk))
            .with_channels(
                Arc::new(crm_channels::Platforms::new(crm_channels::PlatformSettings {
                    telegram_api: config.telegram_api_url.clone(),
                    graph_api: config.meta_graph_url.clone(),
                    instagram_api: config.instagram_graph_url.clone(),
                    public_url: config.public_url.clone(),
                })),
                store.clone(),
                config.inbox_open_limit,
                config.channel_sends_per_second,
            )
            .with_webhook_poster(
                Arc::new(crate::webhook_poster::HttpPoster::new()),
                std::time::Duration::from_secs(config.webhook_retry_secs.max(1)),
            );
        services.follow_access_changes();
        let spool = Spool::open(config.data_dir.join("spool"), store.clone())
            .await
            .context("cannot create the recording spool")?;
        Ok(Self {
            services,
            db,
            store,
            signer,
            spool,
            registrar,
            feeds: crm_api::Feeds::default(),
            keys_sip: keys.sip,
            keys_asterisk: keys.asterisk.clone(),
            leases,
            config: Arc::new(config),
        })
    }

    /// Calls this process left open when it died are closed as interrupted, and recordings
    /// left in the spool are repaired, uploaded (in the background, retrying) and linked.
    async fn recover_after_crash(&self) -> anyhow::Result<()> {
        let interrupted = self.services.interrupt_calls_of(&self.config.edge_id).await?;
        if !interrupted.is_empty() {
            tracing::warn!(count = interrupted.len(), "closed calls left open by the previous run");
        }
        let app = self.clone();
        tokio::spawn(async move {
            match app.spool.recover_all().await {
                Ok(recovered) => {
                    for uploaded in recovered {
                        if let Err(error) = app.link_recording(&uploaded).await {
                            tracing::error!(%error, name = uploaded.name, "could not link a recovered recording");
                        }
                    }
                }
                Err(error) => tracing::error!(%error, "could not read the recording spool"),
            }
        });
        Ok(())
    }

    /// Links an uploaded recording to its call (the spool name is the call id; the key names the tenant).
    pub async fn link_recording(&self, uploaded: &Uploaded) -> anyhow::Result<()> {
        let tenant: TenantId = uploaded
            .key
            .strip_prefix("tenants/")
            .and_then(|rest| rest.split('/').next())
            .context("recording key without a tenant")?
            .parse()?;
        let call: CallId = uploaded.name.parse()?;
        let recording = Recording {
            key: uploaded.key.clone(),
            duration_ms: uploaded.duration.as_millis() as u64,
            bytes: uploaded.bytes,
            deleted_at: None,
        };
        self.services.attach_recording(tenant, call, recording).await?;
        Ok(())
    }

    async fn start_sip(&self) -> anyhow::Result<Option<crm_sip::SipEdge>> {
        if self.config.sip_addr.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let addr = self.config.sip_addr.parse().context("CRM_SIP_ADDR must be an address like 0.0.0.0:5060, or off")?;
        let rtp_ports = crate::config::port_range(&self.config.sip_rtp_ports, "CRM_SIP_RTP_PORTS")?;
        let local_nets = self.config.local_nets()?;
        let settings = crm_sip::SipSettings {
            addr,
            external_ip: self.config.sip_external_ip,
            local_nets,
            max_auth_failures: 5,
            block_for: Duration::from_secs(600),
            rtp_ports,
            edge_id: self.config.edge_id.clone(),
            ring_timeout: Duration::from_secs(self.config.sip_ring_timeout_secs),
            responsible_first: Duration::from_secs(self.config.sip_responsible_first_secs),
            qualify_every: Duration::from_secs(self.config.sip_qualify_secs.max(1)),
        };
        let edge = crm_sip::SipEdge::start(
            settings,
            self.services.clone(),
            self.registrar.clone(),
            self.spool.clone(),
            &self.keys_sip,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}: is another SIP server using the port? set CRM_SIP_ADDR"))?;
        Ok(Some(edge))
    }

    /// The ARI workers, when `CRM_ASTERISK_WORKER` is on (or for `crm worker`): one for the
    /// installation's Asterisk, and one per Asterisk a company registered (followed as they
    /// are added and removed).
    pub fn start_asterisk_worker(&self) -> anyhow::Result<AsteriskWorkers> {
        let keys = self.keys_asterisk.clone();
        let options = self.config.asterisk_options(&keys)?;
        let ari_url = format!("http://{}", self.config.asterisk_ari_addr);
        let settings = crm_asterisk::ari::WorkerSettings {
            server_key: format!("{ari_url}/{}", options.app),
            ari_url,
            username: options.ari_username,
            password: options.ari_password,
            app: options.app,
            // Not the edge's id: a restart of this process must not close calls another worker
            // took over (the edge's own calls are closed by crash recovery).
            worker_id: format!("{}-ari", self.config.edge_id),
            ring_timeout: Duration::from_secs(self.config.sip_ring_timeout_secs),
            responsible_first: Duration::from_secs(self.config.sip_responsible_first_secs),
            leases: self.leases.clone().map(|l| l as Arc<dyn crm_core::lease::Leases>),
            lease_ttl: Duration::from_secs(5),
            owner: None,
        };
        let worker =
            Arc::new(crm_asterisk::ari::AriWorker::start(settings.clone(), self.services.clone(), self.spool.clone()));
        self.services.set_pbx_link(worker.clone());
        let companies = tokio::spawn(crate::pbx_workers::follow(self.clone(), settings));
        Ok(AsteriskWorkers { _installation: worker, companies })
    }

    pub async fn db_ping(&self) -> crm_core::Result<()> {
        use crm_core::ports::Database;
        self.db.ping().await
    }

    /// A download link for an object of `tenant`, valid for the configured time.
    pub fn signed_url(&self, tenant: TenantId, key: &str) -> String {
        self.signer.sign(tenant, key, self.config.download_url_ttl_secs)
    }

    pub fn router(&self) -> Router {
        let api_settings = ApiSettings {
            introspection: self.config.graphql_introspection,
            max_body_bytes: self.config.max_body_bytes,
            ws_init_timeout: Duration::from_secs(self.config.ws_init_timeout_secs),
            public_url: self.config.public_url.clone(),
            ..ApiSettings::default()
        };
        let ops = Router::new()
            .route("/healthz", get(ops::healthz))
            .route("/readyz", get(ops::readyz))
            .route("/metrics", get(ops::metrics))
            .route("/files/{*key}", get(files::download))
            .with_state(self.clone());
        crm_api::router(self.services.clone(), api_settings, self.feeds.clone())
            .merge(ops)
            .merge(crate::webhooks::router(self.services.clone(), self.config.max_body_bytes))
            .merge(web::router(&self.config.frontend_dir))
            .layer(axum::middleware::from_fn(ops::track))
            .layer(TraceLayer::new_for_http())
    }
}

pub fn database_url(config: &Config) -> String {
    match &config.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => format!("sqlite://{}?mode=rwc", config.data_dir.join("crm.sqlite").display()),
    }
}

/// The running ARI workers; dropping this stops them.
pub struct AsteriskWorkers {
    _installation: Arc<crm_asterisk::ari::AriWorker>,
    companies: tokio::task::JoinHandle<()>,
}

impl Drop for AsteriskWorkers {
    fn drop(&mut self) {
        self.companies.abort();
    }
}

/// A server listening in the background (tests, and `serve` before it waits).
pub struct Running {
    pub addr: SocketAddr,
    pub app: App,
    /// The SIP edge, unless `CRM_SIP_ADDR=off`.
    pub sip: Option<crm_sip::SipEdge>,
    /// The ARI workers, when `CRM_ASTERISK_WORKER` is on.
    pub asterisk: Option<AsteriskWorkers>,
    /// Webhook processing, the outbox, outbound webhooks and retention; stopped when dropped.
    pub inbox: crate::workers::Workers,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Builds the app, binds `config.http_addr` (port 0 picks a free one) and serves until `shutdown`.
pub async fn start(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Running> {
    let _ = crate::telemetry::metrics();
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(app.config.http_addr).await.with_context(|| {
        format!("cannot listen on {}: is another server using it? set CRM_HTTP_ADDR", app.config.http_addr)
    })?;
    let addr = listener.local_addr()?;
    let service = app.router().into_make_service_with_connect_info::<SocketAddr>();
    let sip = app.start_sip().await?;
    let asterisk = if app.config.asterisk_worker { Some(app.start_asterisk_worker()?) } else { None };
    let inbox = crate::workers::start(app.services.clone());
    let handle = tokio::spawn(async move { axum::serve(listener, service).with_graceful_shutdown(shutdown).await });
    tracing::info!(%addr, "listening");
    Ok(Running { addr, app, sip, asterisk, inbox, handle })
}
