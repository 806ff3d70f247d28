//! Test harness: each test gets the real app on port 0 with a fresh database of its own.
//!
//! `CRM_TEST_DATABASE=postgres` runs on Postgres (a new database per test, the app logged in as
//! the non-owner role `crm_app` so row-level security applies); anything else runs on SQLite.
//! On Postgres, `CRM_TEST_REDIS_URL` and `CRM_TEST_S3_ENDPOINT` switch events and storage to
//! Redis and S3 too.
#![allow(clippy::unwrap_used)]

mod graphql;
pub mod platform;
mod postgres;
mod ws;

pub use graphql::{Gql, SignedUp};
pub use postgres::fresh_database as postgres_database;
pub use ws::{Closed, Socket, Subscriber, open as open_socket};

use crm_server::{Config, Running};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

pub fn on_postgres() -> bool {
    std::env::var("CRM_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// Where backing services are when the test run provides them.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub running: Running,
    pub http: reqwest::Client,
    pub config: Config,
    _data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

/// The warnings of the apps a test spawns go to that test's captured output, shown when it
/// fails: a flaky failure's cause (a refused SIP login, a side of a recording Asterisk did not
/// hold) is otherwise logged nowhere. Each test and its apps run on the test's own thread.
fn log_warnings() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_ansi(false).with_env_filter("warn").try_init();
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with the test backend's settings, then `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let config = test_config().await;
        Self::spawn_config(config, adjust).await
    }

    pub async fn spawn_config(mut config: Config, adjust: impl FnOnce(&mut Config)) -> Self {
        log_warnings();
        let data = tempfile::tempdir().unwrap();
        config.data_dir = data.path().to_path_buf();
        adjust(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let running = crm_server::start(config.clone(), async move {
            let _ = stopped.await;
        })
        .await
        .expect("the app starts");
        Self {
            addr: running.addr,
            running,
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            config,
            _data: data,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn gql(&self) -> Gql {
        Gql::new(self.http.clone(), self.url("/graphql"))
    }

    /// Subscribes, and returns once the server is really listening for the events.
    pub async fn subscribe(&self, token: &str, query: &str) -> Subscriber {
        // A subscription listens through the bus itself, or through a shared execution that does.
        let (bus, feeds) = (self.running.app.services.bus().clone(), self.running.app.feeds.clone());
        let listening = move || bus.subscribers() + feeds.subscribers();
        let before = listening();
        let subscriber = Subscriber::connect(&format!("ws://{}/graphql/ws", self.addr), Some(token), query).await;
        wait_for("the subscription to start", Duration::from_secs(10), || {
            let listening = listening.clone();
            async move { (listening() > before).then_some(()) }
        })
        .await;
        subscriber
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql/ws", self.addr)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config for one test: a fresh database (and Redis/S3 when the run provides them).
pub async fn test_config() -> Config {
    let mut config = Config::from_defaults().unwrap();
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.log_level = "warn".into();
    // Tests that want the SIP edge turn it on with a port of their own.
    config.sip_addr = "off".into();
    config.secret_key = Some(SecretString::from("test-secret-key-that-is-long-enough-0123456789"));
    if on_postgres() {
        // Tests are light; many run one after another in one process and Postgres takes 100
        // connections in all.
        config.database_max_connections = 4;
        let (app_url, admin_url) = postgres::fresh_database().await;
        config.database_url = Some(SecretString::from(app_url));
        config.database_admin_url = Some(SecretString::from(admin_url));
        if let Some(redis) = env("CRM_TEST_REDIS_URL") {
            config.redis_url = Some(SecretString::from(redis));
        }
        if let Some(endpoint) = env("CRM_TEST_S3_ENDPOINT") {
            config.s3_endpoint = Some(endpoint);
            config.s3_bucket = Some(format!("crm-test-{}", uuid::Uuid::new_v4().simple()));
            config.s3_access_key_id = Some("test".into());
            config.s3_secret_access_key = Some(SecretString::from("test-secret"));
        }
    }
    config
}

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
