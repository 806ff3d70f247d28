//! The channels adapter as the domain sees it (`crm_core::inbox::ChannelPlatforms`).
use crate::{meta, telegram};
use crm_core::ConnectionId;
use crm_core::inbox::{ChannelKind, ChannelPlatforms, ChannelSecrets, FetchError, Inbound, Message, SendOutcome};
use serde_json::json;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct PlatformSettings {
    /// Telegram's Bot API, `https://api.telegram.org`.
    pub telegram_api: String,
    /// Meta's Graph API with its version, `https://graph.facebook.com/v21.0`.
    pub graph_api: String,
    /// The Instagram API with Instagram login, `https://graph.instagram.com/v21.0`.
    pub instagram_api: String,
    /// Where platforms reach our webhooks, `https://crm.example.com`.
    pub public_url: String,
}

pub struct Platforms {
    http: reqwest::Client,
    settings: PlatformSettings,
}

impl Platforms {
    pub fn new(settings: PlatformSettings) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        Self { http, settings }
    }

    fn graph<'a>(&'a self, secrets: &'a ChannelSecrets) -> meta::Graph<'a> {
        let bearer = secrets.instagram_login;
        let base = if bearer { &self.settings.instagram_api } else { &self.settings.graph_api };
        meta::Graph { base, token: &secrets.token, bearer }
    }
}

#[async_trait::async_trait]
impl ChannelPlatforms for Platforms {
    async fn connect_telegram(
        &self,
        token: &str,
        connection: ConnectionId,
        secret: &str,
    ) -> Result<(String, Option<String>), String> {
        let base = &self.settings.telegram_api;
        let me = telegram::call(&self.http, base, token, "getMe", json!({})).await.map_err(|f| f.description)?;
        let id = me["id"].as_i64().ok_or("getMe gave no bot id")?.to_string();
        let url = format!("{}/webhooks/telegram/{connection}", self.settings.public_url.trim_end_matches('/'));
        let body = json!({ "url": url, "secret_token": secret, "allowed_updates": ["message", "edited_message"] });
        telegram::call(&self.http, base, token, "setWebhook", body).await.map_err(|f| f.description)?;
        Ok((id, me["username"].as_str().map(str::to_owned)))
    }

    async fn disconnect_telegram(&self, token: &str) -> Result<(), String> {
        let base = &self.settings.telegram_api;
        telegram::call(&self.http, base, token, "deleteWebhook", json!({})).await.map(drop).map_err(|f| f.description)
    }

    fn read(&self, kind: ChannelKind, payload: &str) -> Result<Inbound, String> {
        match kind {
            ChannelKind::Telegram => telegram::read(payload),
            ChannelKind::Messenger | ChannelKind::Instagram => meta::read(payload),
        }
    }

    async fn profile(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        external_id: &str,
    ) -> Option<(Option<String>, Option<String>)> {
        let fields = match kind {
            ChannelKind::Telegram => return None,
            ChannelKind::Messenger => "first_name,last_name",
            ChannelKind::Instagram => "name,username",
        };
        meta::profile(&self.http, &self.graph(secrets), external_id, fields).await
    }

    async fn fetch(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        source: &str,
    ) -> Result<(bytes::Bytes, String), FetchError> {
        let url = match kind {
            ChannelKind::Telegram => {
                let base = &self.settings.telegram_api;
                let file = telegram::call(&self.http, base, &secrets.token, "getFile", json!({ "file_id": source }))
                    .await
                    .map_err(|f| FetchError { permanent: !f.retry, reason: f.description })?;
                let path = file["file_path"]
                    .as_str()
                    .ok_or_else(|| FetchError { permanent: true, reason: "Telegram gave no file path".into() })?;
                format!("{base}/file/bot{}/{path}", secrets.token)
            }
            ChannelKind::Messenger | ChannelKind::Instagram => source.to_owned(),
        };
        download(&self.http, &url).await
    }

    async fn send(
        &self,
        kind: ChannelKind,
        secrets: &ChannelSecrets,
        thread: &str,
        message: &Message,
        tag: Option<&str>,
    ) -> SendOutcome {
        let text = message.text.as_deref().unwrap_or("");
        match kind {
            ChannelKind::Telegram => {
                let (method, body) = telegram::send_body(thread, text, message.attachments.first());
                match telegram::call(&self.http, &self.settings.telegram_api, &secrets.token, method, body).await {
                    Ok(sent) => match sent["message_id"].as_i64() {
                        Some(id) => SendOutcome::Sent { external_id: format!("{thread}:{id}") },
                        None => SendOutcome::Retry { after: None, error: "Telegram gave no message id".into() },
                    },
                    Err(failure) => failure.outcome(),
                }
            }
            ChannelKind::Messenger | ChannelKind::Instagram => {
                let body = meta::send_body(thread, text, message.attachments.first(), tag);
                meta::send(&self.http, &self.graph(secrets), &body).await
            }
        }
    }
}

/// Files larger than this are not copied (Telegram's bots cannot fetch more either).
const MAX_FILE: usize = 20 * 1024 * 1024;

async fn download(http: &reqwest::Client, url: &str) -> Result<(bytes::Bytes, String), FetchError> {
    let failed = |permanent: bool, reason: String| FetchError { permanent, reason };
    let response = http.get(url).send().await.map_err(|e| failed(false, telegram::without_url(&e)))?;
    let status = response.status();
    if !status.is_success() {
        // Gone or refused for good; anything else may pass.
        let permanent = status.is_client_error() && status.as_u16() != 429;
        return Err(failed(permanent, format!("the platform answered {status}")));
    }
    if response.content_length().is_some_and(|n| n > MAX_FILE as u64) {
        return Err(failed(true, "larger than 20 MB".into()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body = response.bytes().await.map_err(|e| failed(false, telegram::without_url(&e)))?;
    if body.len() > MAX_FILE {
        return Err(failed(true, "larger than 20 MB".into()));
    }
    Ok((body, content_type))
}
