//! Configuration: defaults, then `crm.toml` (or the file named by `--config`), then `CRM_*`
//! environment variables. Secrets are `SecretString`s: their `Debug` is redacted.
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// Where HTTP (GraphQL, health, metrics) listens.
    pub http_addr: SocketAddr,
    /// SQLite file, local objects and the generated secret key live here by default.
    pub data_dir: PathBuf,
    /// Unset: a SQLite file in the data dir. `postgres://...` for production.
    pub database_url: Option<SecretString>,
    /// Used for migrations when the app's own role may not change the schema.
    pub database_admin_url: Option<SecretString>,
    pub database_max_connections: u32,
    /// Where the built-in SIP edge listens (UDP and TCP), or `off`.
    pub sip_addr: String,
    /// The public IP to advertise in SIP and SDP when behind NAT without Kerio's SIP inspector.
    pub sip_external_ip: Option<std::net::IpAddr>,
    /// Networks given the local address even when `sip_external_ip` is set (the office LAN),
    /// comma-separated.
    pub sip_local_nets: String,
    /// RTP ports as `first-last`; forward the same range on Kerio Control.
    pub sip_rtp_ports: String,
    /// Seconds phones ring before an inbound call counts as missed.
    pub sip_ring_timeout_secs: u64,
    /// Seconds the responsible manager's phones ring alone before every agent's ring.
    pub sip_responsible_first_secs: u64,
    /// Seconds between OPTIONS keep-alives to trunks with `qualify` and an address.
    pub sip_qualify_secs: u64,
    /// Run the ARI worker inside `crm serve` (the Asterisk path); `crm worker` runs it alone.
    pub asterisk_worker: bool,
    /// The Asterisk path: the ARI application name the workers use.
    pub asterisk_app: String,
    /// ARI (Asterisk's HTTP server): where it listens, and the user the workers log in as.
    pub asterisk_ari_addr: SocketAddr,
    pub asterisk_ari_username: String,
    /// Unset: derived from the secret key (the same in ari.conf and in every worker).
    pub asterisk_ari_password: Option<SecretString>,
    /// Where Asterisk's SIP listens, and its RTP range (forward the same on Kerio Control).
    /// Asterisk is also given CRM_SIP_EXTERNAL_IP and CRM_SIP_LOCAL_NETS.
    pub asterisk_sip_addr: SocketAddr,
    pub asterisk_rtp_ports: String,
    /// Unset: events stay inside this process.
    pub redis_url: Option<SecretString>,
    /// Unset: objects are files under `<data_dir>/objects`.
    pub s3_bucket: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
    pub s3_path_style: bool,
    /// Signs access tokens and download links. Unset: generated once into the data dir.
    /// Every process of one installation must share it.
    pub secret_key: Option<SecretString>,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub graphql_introspection: bool,
    pub max_body_bytes: usize,
    pub ws_init_timeout_secs: u64,
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `crm_server=debug,info`.
    pub log_level: String,
    /// The built web app; served at `/` when the folder exists.
    pub frontend_dir: PathBuf,
    /// This process's name for the calls it handles; a restart closes its calls left open.
    /// Must differ between processes that handle calls (default: the host name).
    pub edge_id: String,
    /// Seconds a signed download link stays valid.
    pub download_url_ttl_secs: i64,
    /// Where messaging platforms reach this server's webhooks (the public HTTPS address).
    pub public_url: String,
    /// Telegram's Bot API (a local server in tests).
    pub telegram_api_url: String,
    /// Meta's Graph API, with its version.
    pub meta_graph_url: String,
    /// The Instagram API with Instagram login (graph.instagram.com), with its version.
    pub instagram_graph_url: String,
    /// Outbound webhooks: the wait before the first retry (doubling after, up to an hour).
    pub webhook_retry_secs: u64,
    /// Open conversations an agent may hold before new ones go to others.
    pub inbox_open_limit: u64,
    /// Replies per second per bot or page (the platforms' own limit).
    pub channel_sends_per_second: u32,
}

#[derive(Serialize)]
struct Defaults {
    http_addr: &'static str,
    data_dir: &'static str,
    database_max_connections: u32,
    s3_region: &'static str,
    s3_path_style: bool,
    access_token_ttl_secs: i64,
    refresh_token_ttl_secs: i64,
    graphql_introspection: bool,
    max_body_bytes: usize,
    ws_init_timeout_secs: u64,
    log_format: LogFormat,
    log_level: &'static str,
    frontend_dir: &'static str,
    download_url_ttl_secs: i64,
    edge_id: String,
    sip_addr: &'static str,
    sip_local_nets: &'static str,
    sip_rtp_ports: &'static str,
    sip_ring_timeout_secs: u64,
    sip_responsible_first_secs: u64,
    sip_qualify_secs: u64,
    asterisk_worker: bool,
    asterisk_app: &'static str,
    asterisk_ari_addr: &'static str,
    asterisk_ari_username: &'static str,
    asterisk_sip_addr: &'static str,
    asterisk_rtp_ports: &'static str,
    public_url: &'static str,
    telegram_api_url: &'static str,
    meta_graph_url: &'static str,
    instagram_graph_url: &'static str,
    webhook_retry_secs: u64,
    inbox_open_limit: u64,
    channel_sends_per_second: u32,
}

fn defaults() -> Defaults {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    Defaults {
        edge_id: if host.is_empty() { "crm".into() } else { host },
        database_max_connections: crm_db::default_pool_size(),
        ..DEFAULTS_BASE
    }
}

const DEFAULTS_BASE: Defaults = Defaults {
    http_addr: "127.0.0.1:8080",
    data_dir: "./data",
    database_max_connections: 0, // from the machine's cores, in `defaults()`
    s3_region: "us-east-1",
    s3_path_style: true,
    access_token_ttl_secs: 900,
    refresh_token_ttl_secs: 30 * 24 * 3600,
    graphql_introspection: true,
    max_body_bytes: 1024 * 1024,
    ws_init_timeout_secs: 5,
    log_format: LogFormat::Text,
    log_level: "info",
    frontend_dir: "frontend/dist",
    download_url_ttl_secs: 900,
    edge_id: String::new(),
    sip_addr: "0.0.0.0:5060",
    sip_local_nets: "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
    sip_rtp_ports: "10000-20000",
    sip_ring_timeout_secs: 30,
    sip_responsible_first_secs: 10,
    sip_qualify_secs: 30,
    asterisk_worker: false,
    asterisk_app: "crm",
    asterisk_ari_addr: "127.0.0.1:8088",
    asterisk_ari_username: "crm",
    asterisk_sip_addr: "0.0.0.0:5060",
    asterisk_rtp_ports: "20000-30000",
    public_url: "http://127.0.0.1:8080",
    telegram_api_url: "https://api.telegram.org",
    meta_graph_url: "https://graph.facebook.com/v21.0",
    instagram_graph_url: "https://graph.instagram.com/v21.0",
    webhook_retry_secs: 10,
    inbox_open_limit: crm_core::services::DEFAULT_OPEN_LIMIT,
    channel_sends_per_second: crm_core::services::DEFAULT_SENDS_PER_SECOND,
};

/// `first-last` as a pair of ports.
pub fn port_range(text: &str, setting: &str) -> anyhow::Result<(u16, u16)> {
    text.split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .filter(|(a, b): &(u16, u16)| a < b)
        .ok_or_else(|| anyhow::anyhow!("{setting} must look like 10000-20000"))
}

impl Config {
    /// The office networks (CRM_SIP_LOCAL_NETS).
    pub fn local_nets(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.sip_local_nets
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.parse::<ipnet::IpNet>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow::anyhow!("CRM_SIP_LOCAL_NETS must be comma-separated networks like 192.168.0.0/16"))
    }

    /// The Asterisk path's settings; `derived_password` when none is configured.
    pub fn asterisk_options(&self, derived_password: &[u8]) -> anyhow::Result<crm_asterisk::AsteriskOptions> {
        use secrecy::ExposeSecret;
        let password = match &self.asterisk_ari_password {
            Some(p) => p.expose_secret().to_owned(),
            None => hex::encode(&derived_password[..derived_password.len().min(16)]),
        };
        Ok(crm_asterisk::AsteriskOptions {
            app: self.asterisk_app.clone(),
            ari_username: self.asterisk_ari_username.clone(),
            ari_password: SecretString::from(password),
            http_bind: self.asterisk_ari_addr,
            sip_bind: self.asterisk_sip_addr,
            external_ip: self.sip_external_ip,
            local_nets: self.local_nets()?,
            rtp_ports: port_range(&self.asterisk_rtp_ports, "CRM_ASTERISK_RTP_PORTS")?,
        })
    }

    /// Layers the defaults, the TOML file (if it exists) and `CRM_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let file = file.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("crm.toml"));
        Figment::from(Serialized::defaults(defaults()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("CRM_").ignore(&["config"]))
            .extract()
            .map_err(Box::new)
    }

    /// The defaults alone, ignoring files and environment (tests build on this).
    pub fn from_defaults() -> Result<Self, Box<figment::Error>> {
        Figment::from(Serialized::defaults(defaults())).extract().map_err(Box::new)
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.data_dir.join("objects")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn layers_and_redaction() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("crm.toml", "http_addr = \"127.0.0.1:9000\"\nlog_level = \"debug\"")?;
            jail.set_env("CRM_HTTP_ADDR", "127.0.0.1:9100");
            jail.set_env("CRM_DATABASE_URL", "postgres://crm:hunter2@localhost/crm");
            let config = Config::load(None).map_err(|e| *e)?;
            assert_eq!(config.http_addr.port(), 9100, "environment beats the file");
            assert_eq!(config.log_level, "debug", "the file beats the defaults");
            assert_eq!(config.data_dir, PathBuf::from("./data"));
            let url = config.database_url.as_ref().map(|s| s.expose_secret().to_owned());
            assert_eq!(url.as_deref(), Some("postgres://crm:hunter2@localhost/crm"));
            assert!(!format!("{config:?}").contains("hunter2"), "secrets never show in Debug");
            Ok(())
        });
    }
}
