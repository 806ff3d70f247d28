//! Telegram's Bot API: `getMe`, `setWebhook`, `deleteWebhook`, `sendMessage`, and the `Update`
//! objects its webhook posts (https://core.telegram.org/bots/api).
use chrono::{TimeZone, Utc};
use crm_core::inbox::{Attachment, Inbound, InboundMessage, SendOutcome, Sender};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    message: Option<TgMessage>,
    #[serde(default)]
    edited_message: Option<Value>,
}

#[derive(Deserialize)]
struct TgMessage {
    message_id: i64,
    #[serde(default)]
    from: Option<User>,
    chat: Chat,
    date: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    photo: Option<Vec<FileRef>>,
    #[serde(default)]
    voice: Option<FileRef>,
    #[serde(default)]
    video: Option<FileRef>,
    #[serde(default)]
    document: Option<FileRef>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct FileRef {
    file_id: String,
    #[serde(default)]
    file_name: Option<String>,
}

/// The key a redelivery of this update repeats: its `update_id`.
pub fn update_key(payload: &Value) -> Option<String> {
    payload.get("update_id").and_then(Value::as_i64).map(|id| id.to_string())
}

/// Reads one update. Private chats become messages; groups are not served (a company's
/// customers write to its bot one to one); edits, and updates of other kinds, are ignored.
pub fn read(payload: &str) -> Result<Inbound, String> {
    let update: Update = serde_json::from_str(payload).map_err(|e| format!("not a Telegram update: {e}"))?;
    if update.edited_message.is_some() {
        return Ok(Inbound::Ignored("edited messages are kept as first sent"));
    }
    let Some(message) = update.message else { return Ok(Inbound::Ignored("not a message")) };
    if message.chat.kind != "private" {
        return Ok(Inbound::Ignored("group chats are not served"));
    }
    let Some(from) = message.from.filter(|f| !f.is_bot) else { return Ok(Inbound::Ignored("not from a person")) };
    let mut attachments = Vec::new();
    if let Some(photo) = message.photo.and_then(|sizes| sizes.into_iter().last()) {
        attachments.push(Attachment::new("image", photo.file_id, None));
    }
    for (kind, file) in [("audio", message.voice), ("video", message.video), ("file", message.document)] {
        if let Some(file) = file {
            attachments.push(Attachment::new(kind, file.file_id, file.file_name));
        }
    }
    let text = message.text.or(message.caption);
    if text.is_none() && attachments.is_empty() {
        return Ok(Inbound::Ignored("nothing we keep (sticker, location, contact)"));
    }
    let name = [from.first_name, from.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Ok(Inbound::Message(InboundMessage {
        thread: message.chat.id.to_string(),
        sender: Sender {
            external_id: from.id.to_string(),
            name: Some(name).filter(|n| !n.is_empty()),
            username: from.username,
        },
        external_id: format!("{}:{}", message.chat.id, message.message_id),
        text,
        attachments,
        sent_at: Utc.timestamp_opt(message.date, 0).single().unwrap_or_else(Utc::now),
    }))
}

/// Calls a Bot API method; the `result` when Telegram says ok.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    body: Value,
) -> Result<Value, Failure> {
    let response = http.post(format!("{base}/bot{token}/{method}")).json(&body).send().await.map_err(|e| Failure {
        retry: true,
        after: None,
        code: None,
        description: without_url(&e),
    })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if body["ok"] == true {
        return Ok(body["result"].clone());
    }
    let description = body["description"].as_str().unwrap_or("no description").to_owned();
    let after = body["parameters"]["retry_after"].as_u64().map(Duration::from_secs);
    let retry = status.is_server_error() || status.as_u16() == 429;
    Err(Failure { retry, after, code: Some(status.as_u16()), description })
}

/// reqwest's errors name the URL, which holds the bot token: never let it reach a log.
pub fn without_url(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the platform did not answer in time".into()
    } else if error.is_connect() {
        "cannot connect to the platform".into()
    } else {
        "the request to the platform failed".into()
    }
}

pub struct Failure {
    pub retry: bool,
    pub after: Option<Duration>,
    pub code: Option<u16>,
    pub description: String,
}

impl Failure {
    pub fn outcome(self) -> SendOutcome {
        let error = match self.code {
            Some(code) => format!("{code}: {}", self.description),
            None => self.description,
        };
        if self.retry {
            SendOutcome::Retry { after: self.after, error }
        } else {
            // 403 "Forbidden: bot was blocked by the user" (or the user is deactivated).
            let blocked = self.code == Some(403);
            SendOutcome::Failed { error, blocked }
        }
    }
}

/// The method and body of a reply: a text, or a photo or document by URL with the text as
/// its caption.
pub fn send_body(chat: &str, text: &str, file: Option<&Attachment>) -> (&'static str, Value) {
    match file {
        None => ("sendMessage", json!({ "chat_id": chat, "text": text })),
        Some(file) => {
            let (method, field) =
                if file.kind == "image" { ("sendPhoto", "photo") } else { ("sendDocument", "document") };
            let mut body = json!({ "chat_id": chat, field: file.source });
            if !text.is_empty() {
                body["caption"] = json!(text);
            }
            (method, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_text_message_is_read_with_its_sender() {
        let update = r#"{"update_id":10000,"message":{"date":1441645532,"chat":{"last_name":"Test Lastname","id":1111111,"first_name":"Test","username":"Test","type":"private"},"message_id":1365,"from":{"last_name":"Test Lastname","id":1111111,"first_name":"Test","username":"Test","is_bot":false},"text":"/start"}}"#;
        let Inbound::Message(message) = read(update).unwrap() else { panic!("a message") };
        assert_eq!(message.thread, "1111111");
        assert_eq!(message.external_id, "1111111:1365");
        assert_eq!(message.sender.name.as_deref(), Some("Test Test Lastname"));
        assert_eq!(message.sender.username.as_deref(), Some("Test"));
        assert_eq!(message.text.as_deref(), Some("/start"));
    }

    #[test]
    fn groups_edits_and_junk_are_told_apart() {
        let group = r#"{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":-5,"type":"group"},"from":{"id":1,"is_bot":false,"first_name":"A"},"text":"hi"}}"#;
        assert!(matches!(read(group), Ok(Inbound::Ignored(_))));
        let edit =
            r#"{"update_id":2,"edited_message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"x"}}"#;
        assert!(matches!(read(edit), Ok(Inbound::Ignored(_))));
        assert!(read("{not json").is_err());
        assert!(read(r#"{"update_id":3,"message":{"message_id":"x"}}"#).is_err());
    }
}
