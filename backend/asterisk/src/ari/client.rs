//! ARI's REST side (reqwest), the calls a recording CRM makes; shapes from `channels.json`,
//! `bridges.json` and `recordings.json` of the ARI definitions.
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AriError {
    #[error(
        "Asterisk refused the ARI credentials (401): check CRM_ASTERISK_ARI_USERNAME and CRM_ASTERISK_ARI_PASSWORD against ari.conf"
    )]
    Unauthorized,
    #[error("ARI {method} {path} answered {status}: {message}")]
    Status { method: Method, path: String, status: StatusCode, message: String },
    #[error("cannot reach ARI at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
}

impl AriError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AriError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct AriClient {
    http: reqwest::Client,
    /// `http://host:port` (ARI lives under `/ari`).
    base: String,
    username: String,
    password: SecretString,
}

impl std::fmt::Debug for AriClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AriClient").field("base", &self.base).field("username", &self.username).finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EndpointState {
    #[serde(default)]
    pub state: Option<String>,
}

/// Path segments ARI takes (recording names hold `/`, which must be `%2F`).
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl AriClient {
    pub fn new(base: &str, username: &str, password: SecretString) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        Self { http, base: base.trim_end_matches('/').to_owned(), username: username.to_owned(), password }
    }

    /// The WebSocket URL of the event stream for `app`.
    pub fn events_url(&self, app: &str) -> String {
        let ws = self.base.replacen("http", "ws", 1);
        format!("{ws}/ari/events?app={}&subscribeAll=false", segment(app))
    }

    pub fn basic_auth(&self) -> String {
        use base64::Engine;
        let raw = format!("{}:{}", self.username, self.password.expose_secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    async fn call(&self, method: Method, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Response, AriError> {
        let url = format!("{}/ari{path}", self.base);
        let response = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .query(query)
            .send()
            .await
            .map_err(|source| AriError::Unreachable { url: self.base.clone(), source })?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(AriError::Unauthorized),
            status if status.is_success() => Ok(response),
            status => {
                let message = response.text().await.unwrap_or_default();
                Err(AriError::Status { method, path: path.to_owned(), status, message })
            }
        }
    }

    /// Checks the credentials and that Asterisk answers.
    pub async fn ping(&self) -> Result<(), AriError> {
        self.call(Method::GET, "/asterisk/info", &[]).await.map(drop)
    }

    /// Drops event types we never read (ChannelVarset was over half of a call's events).
    pub async fn filter_events(&self, app: &str, disallowed: &[&str]) -> Result<(), AriError> {
        let url = format!("{}/ari/applications/{}/eventFilter", self.base, segment(app));
        let body = serde_json::json!({ "disallowed": disallowed.iter().map(|t| serde_json::json!({ "type": t })).collect::<Vec<_>>() });
        let response = self
            .http
            .put(&url)
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .json(&body)
            .send()
            .await
            .map_err(|source| AriError::Unreachable { url: self.base.clone(), source })?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(AriError::Unauthorized),
            status if status.is_success() => Ok(()),
            status => Err(AriError::Status {
                method: Method::PUT,
                path: "/applications/{app}/eventFilter".into(),
                status,
                message: response.text().await.unwrap_or_default(),
            }),
        }
    }

    pub async fn ring(&self, channel: &str) -> Result<(), AriError> {
        self.call(Method::POST, &format!("/channels/{}/ring", segment(channel)), &[]).await.map(drop)
    }

    pub async fn answer(&self, channel: &str) -> Result<(), AriError> {
        self.call(Method::POST, &format!("/channels/{}/answer", segment(channel)), &[]).await.map(drop)
    }

    /// `reason`: normal, busy, no_answer, ... (channels.json).
    pub async fn hangup(&self, channel: &str, reason: &str) -> Result<(), AriError> {
        self.call(Method::DELETE, &format!("/channels/{}", segment(channel)), &[("reason", reason)]).await.map(drop)
    }

    /// Calls `endpoint` (e.g. `PJSIP/u123`) into our app with `args`, as channel `id`.
    pub async fn originate(
        &self,
        id: &str,
        endpoint: &str,
        app: &str,
        args: &str,
        caller_id: &str,
        timeout_secs: u64,
    ) -> Result<(), AriError> {
        let timeout = timeout_secs.to_string();
        let query = [
            ("endpoint", endpoint),
            ("app", app),
            ("appArgs", args),
            ("callerId", caller_id),
            ("timeout", timeout.as_str()),
        ];
        self.call(Method::POST, &format!("/channels/{}", segment(id)), &query).await.map(drop)
    }

    /// A channel that hears what `channel` says (spy=in), in our app as `id`.
    pub async fn snoop(&self, channel: &str, id: &str, app: &str, args: &str) -> Result<(), AriError> {
        let query = [("spy", "in"), ("app", app), ("appArgs", args), ("snoopId", id)];
        self.call(Method::POST, &format!("/channels/{}/snoop", segment(channel)), &query).await.map(drop)
    }

    pub async fn record_channel(&self, channel: &str, name: &str) -> Result<(), AriError> {
        let query = [("name", name), ("format", "wav"), ("ifExists", "overwrite"), ("beep", "false")];
        self.call(Method::POST, &format!("/channels/{}/record", segment(channel)), &query).await.map(drop)
    }

    /// A two-party bridge whose media always passes through Asterisk: its calls are recorded
    /// from snoops, which hear nothing while a native RTP bridge relays the packets past the
    /// core. ("mixing" first: a later "mixing" would allow native bridging again.)
    pub async fn create_bridge(&self, id: &str) -> Result<(), AriError> {
        self.call(Method::POST, "/bridges", &[("type", "mixing,proxy_media"), ("bridgeId", id)]).await.map(drop)
    }

    pub async fn add_to_bridge(&self, bridge: &str, channels: &[&str]) -> Result<(), AriError> {
        let channels = channels.join(",");
        self.call(Method::POST, &format!("/bridges/{}/addChannel", segment(bridge)), &[("channel", &channels)])
            .await
            .map(drop)
    }

    pub async fn destroy_bridge(&self, bridge: &str) -> Result<(), AriError> {
        self.call(Method::DELETE, &format!("/bridges/{}", segment(bridge)), &[]).await.map(drop)
    }

    pub async fn endpoint(&self, technology: &str, resource: &str) -> Result<EndpointState, AriError> {
        let path = format!("/endpoints/{}/{}", segment(technology), segment(resource));
        let response = self.call(Method::GET, &path, &[]).await?;
        response.json().await.map_err(|source| AriError::Unreachable { url: self.base.clone(), source })
    }

    /// Whether a channel still exists (`Err` when Asterisk cannot say).
    pub async fn channel_exists(&self, id: &str) -> Result<bool, AriError> {
        match self.call(Method::GET, &format!("/channels/{}", segment(id)), &[]).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether a recording is still being made (`Err` when Asterisk cannot say).
    pub async fn live_recording_exists(&self, name: &str) -> Result<bool, AriError> {
        match self.call(Method::GET, &format!("/recordings/live/{}", segment(name)), &[]).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn stored_recording(&self, name: &str) -> Result<bytes::Bytes, AriError> {
        let response = self.call(Method::GET, &format!("/recordings/stored/{}/file", segment(name)), &[]).await?;
        response.bytes().await.map_err(|source| AriError::Unreachable { url: self.base.clone(), source })
    }

    pub async fn delete_stored_recording(&self, name: &str) -> Result<(), AriError> {
        match self.call(Method::DELETE, &format!("/recordings/stored/{}", segment(name)), &[]).await {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            other => other.map(drop),
        }
    }
}
