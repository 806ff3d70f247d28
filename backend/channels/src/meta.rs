//! Meta's Graph API for Messenger (and Instagram messaging, which shares the webhook and Send
//! API shapes): signed webhooks with `entry[].messaging[]` events, and the Send API
//! (https://developers.facebook.com/docs/messenger-platform).
use chrono::{TimeZone, Utc};
use crm_core::inbox::{Attachment, Inbound, InboundMessage, SendOutcome, Sender};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// Checks `X-Hub-Signature-256` (`sha256=` and the hex HMAC-SHA256 of the raw body under the
/// app secret) in constant time.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else { return false };
    let Ok(signature) = hex::decode(hex_sig.trim()) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Splits a webhook body into its messaging events, each with the key a redelivery repeats
/// (the message id, or the sender and time for events without one). `Err` when it is not a
/// Meta webhook body at all.
pub fn split_webhook(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let entries = body["entry"].as_array().ok_or("no entry list")?;
    let mut events = Vec::new();
    for entry in entries {
        for event in entry["messaging"].as_array().into_iter().flatten() {
            let sender = event["sender"]["id"].as_str().unwrap_or("");
            let time = event["timestamp"].as_i64().unwrap_or(0);
            let key = match (event["message"]["mid"].as_str(), event["postback"]["mid"].as_str()) {
                (Some(mid), _) => format!("m:{mid}"),
                (None, Some(mid)) => format!("p:{mid}"),
                (None, None) => {
                    let kind = ["postback", "read", "delivery", "reaction"]
                        .into_iter()
                        .find(|k| !event[*k].is_null())
                        .unwrap_or("event");
                    format!("{kind}:{sender}:{time}")
                }
            };
            events.push((key, event.to_string()));
        }
    }
    Ok(events)
}

/// Reads one messaging event: messages and postbacks from people; echoes of our own sends,
/// read receipts, deliveries and reactions are ignored.
pub fn read(payload: &str) -> Result<Inbound, String> {
    let event: Value = serde_json::from_str(payload).map_err(|e| format!("not JSON: {e}"))?;
    let sender = event["sender"]["id"].as_str().ok_or("no sender")?.to_owned();
    let sent_at =
        event["timestamp"].as_i64().and_then(|t| Utc.timestamp_millis_opt(t).single()).unwrap_or_else(Utc::now);
    let (external_id, text, attachments) = if let Some(message) = event.get("message").filter(|m| m.is_object()) {
        if message["is_echo"] == true {
            return Ok(Inbound::Ignored("echo of our own message"));
        }
        let mid = message["mid"].as_str().ok_or("a message without mid")?.to_owned();
        let attachments = message["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let source = a["payload"]["url"].as_str()?.to_owned();
                let kind = match a["type"].as_str()? {
                    "image" => "image",
                    "audio" => "audio",
                    "video" => "video",
                    _ => "file",
                };
                Some(Attachment::new(kind, source, None))
            })
            .collect::<Vec<_>>();
        (mid, message["text"].as_str().map(str::to_owned), attachments)
    } else if let Some(postback) = event.get("postback").filter(|p| p.is_object()) {
        let id = postback["mid"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("postback:{sender}:{}", sent_at.timestamp_millis()));
        let title = postback["title"].as_str().or(postback["payload"].as_str()).unwrap_or("").to_owned();
        (id, Some(title), Vec::new())
    } else {
        return Ok(Inbound::Ignored("not a message (read, delivery or reaction)"));
    };
    if text.as_deref().is_none_or(str::is_empty) && attachments.is_empty() {
        return Ok(Inbound::Ignored("an empty message"));
    }
    Ok(Inbound::Message(InboundMessage {
        thread: sender.clone(),
        sender: Sender { external_id: sender, name: None, username: None },
        external_id,
        text,
        attachments,
        sent_at,
    }))
}

/// Which Graph API a connection talks to, and with which token.
pub struct Graph<'a> {
    /// `https://graph.facebook.com/v21.0`, or `https://graph.instagram.com/v21.0` for the
    /// Instagram API with Instagram login.
    pub base: &'a str,
    pub token: &'a str,
    /// Instagram login's user tokens go in an `Authorization: Bearer` header; page tokens as
    /// the `access_token` parameter, as each API's documentation shows.
    pub bearer: bool,
}

impl Graph<'_> {
    fn request(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.bearer { builder.bearer_auth(self.token) } else { builder.query(&[("access_token", self.token)]) }
    }
}

/// A person's name (and Instagram username) from the User Profile API; `None` when Meta will
/// not say (the person's privacy settings, or an error, which is logged).
pub async fn profile(
    http: &reqwest::Client,
    graph: &Graph<'_>,
    id: &str,
    fields: &str,
) -> Option<(Option<String>, Option<String>)> {
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return None;
    }
    let response = graph.request(http.get(format!("{}/{id}", graph.base)).query(&[("fields", fields)])).send().await;
    let body: Value = match response {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        Ok(r) => {
            tracing::info!(status = r.status().as_u16(), "Meta gave no profile for a new sender");
            return None;
        }
        Err(error) => {
            tracing::info!(error = crate::telegram::without_url(&error), "Meta's profile API did not answer");
            return None;
        }
    };
    let text = |field: &str| body[field].as_str().map(str::to_owned).filter(|t| !t.is_empty());
    let name = text("name").or_else(|| {
        let parts: Vec<String> = [text("first_name"), text("last_name")].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    Some((name, text("username")))
}

/// The Send API's body for a text reply; `tag` only outside the 24-hour window.
pub fn send_body(recipient: &str, text: &str, file: Option<&Attachment>, tag: Option<&str>) -> Value {
    let message = match file {
        Some(file) => {
            let kind = if file.kind == "image" { "image" } else { "file" };
            json!({ "attachment": { "type": kind, "payload": { "url": file.source, "is_reusable": true } } })
        }
        None => json!({ "text": text }),
    };
    let mut body = json!({ "recipient": { "id": recipient }, "message": message });
    match tag {
        Some(tag) => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!(tag);
        }
        None => body["messaging_type"] = json!("RESPONSE"),
    }
    body
}

/// Posts to the Send API; the message id, or how it failed.
pub async fn send(http: &reqwest::Client, graph: &Graph<'_>, body: &Value) -> SendOutcome {
    let response = graph.request(http.post(format!("{}/me/messages", graph.base))).json(body).send().await;
    let response = match response {
        Ok(response) => response,
        Err(error) => return SendOutcome::Retry { after: None, error: crate::telegram::without_url(&error) },
    };
    let status = response.status();
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success()
        && let Some(id) = body["message_id"].as_str()
    {
        return SendOutcome::Sent { external_id: id.to_owned() };
    }
    let error = &body["error"];
    let reason = format!(
        "{}: {} (code {})",
        status.as_u16(),
        error["message"].as_str().unwrap_or("no message"),
        error["code"].as_i64().map_or_else(|| "none".to_owned(), |c| c.to_string())
    );
    // 429, 5xx and Graph's throttling codes (4, 17, 32, 613) pass; anything else is final.
    let throttled = matches!(error["code"].as_i64(), Some(4 | 17 | 32 | 613));
    if status.as_u16() == 429 || status.is_server_error() || throttled {
        SendOutcome::Retry { after, error: reason }
    } else {
        // 551: "This person isn't available right now" (blocked or left).
        let blocked = error["code"].as_i64() == Some(551);
        SendOutcome::Failed { error: reason, blocked }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(verify_signature("app-secret", body, Some(&good)));
        assert!(!verify_signature("other-secret", body, Some(&good)));
        assert!(!verify_signature("app-secret", b"{}", Some(&good)));
        assert!(!verify_signature("app-secret", body, None));
        assert!(!verify_signature("app-secret", body, Some("sha1=abc")));
    }

    #[test]
    fn events_are_split_keyed_and_read() {
        let body = br#"{"object":"page","entry":[{"id":"PAGE","time":1458692752478,"messaging":[
            {"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"message":{"mid":"m_1","text":"hello"}},
            {"sender":{"id":"PAGE"},"recipient":{"id":"PSID"},"timestamp":1458692752479,"message":{"mid":"m_2","is_echo":true,"text":"ours"}},
            {"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752480,"read":{"watermark":1458668856253}},
            {"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752481,"postback":{"mid":"m_3","title":"Talk to us","payload":"START"}}
        ]}]}"#;
        let events = split_webhook(body).unwrap();
        let keys: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["m:m_1", "m:m_2", "read:PSID:1458692752480", "p:m_3"]);
        let Inbound::Message(first) = read(&events[0].1).unwrap() else { panic!("a message") };
        assert_eq!((first.thread.as_str(), first.text.as_deref()), ("PSID", Some("hello")));
        assert_eq!(read(&events[1].1).unwrap(), Inbound::Ignored("echo of our own message"));
        assert!(matches!(read(&events[2].1), Ok(Inbound::Ignored(_))));
        let Inbound::Message(postback) = read(&events[3].1).unwrap() else { panic!("a postback") };
        assert_eq!(postback.text.as_deref(), Some("Talk to us"));
        assert!(split_webhook(b"[]").is_err());
    }

    #[test]
    fn replies_outside_the_window_carry_the_human_agent_tag() {
        assert_eq!(send_body("P", "hi", None, None)["messaging_type"], "RESPONSE");
        let tagged = send_body("P", "hi", None, Some("HUMAN_AGENT"));
        assert_eq!(
            (tagged["messaging_type"].as_str(), tagged["tag"].as_str()),
            (Some("MESSAGE_TAG"), Some("HUMAN_AGENT"))
        );
    }
}
