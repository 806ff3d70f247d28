//! A local stand-in for the messaging platforms' HTTP APIs (Telegram's Bot API, Meta's Graph
//! API): answers the documented methods with documented shapes, records every request for
//! the test to check, and can be told to answer the next calls of a method otherwise
//! (errors, rate limits, outages).
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What every file download answers.
pub const FILE_BYTES: &[u8] = b"\xff\xd8\xff\xe0 a small JPEG stand-in";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Authorization` header, when one was sent.
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    /// Scripted answers by the path's last segment, used before the default one.
    script: HashMap<String, VecDeque<(u16, Value, Option<u64>)>>,
    sent: u64,
}

#[derive(Clone)]
pub struct Platform {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Platform {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new().fallback(answer).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// The next call of `method` (the path's last segment: `sendMessage`, `messages`) gets
    /// this answer; `retry_after` adds Meta's `Retry-After` header.
    pub fn then(&self, method: &str, status: u16, body: Value, retry_after: Option<u64>) {
        let mut inner = self.inner.lock().unwrap();
        inner.script.entry(method.to_owned()).or_default().push_back((status, body, retry_after));
    }

    pub fn requests(&self, method: &str) -> Vec<Recorded> {
        let inner = self.inner.lock().unwrap();
        inner.requests.iter().filter(|r| r.path.rsplit('/').next() == Some(method)).cloned().collect()
    }

    /// Waits until `method` was called at least `n` times.
    pub async fn wait_requests(&self, method: &str, n: usize) -> Vec<Recorded> {
        crate::wait_for(&format!("{n} {method} requests"), Duration::from_secs(30), || async {
            let requests = self.requests(method);
            (requests.len() >= n).then_some(requests)
        })
        .await
    }
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let name = path.rsplit('/').next().unwrap_or("").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut inner = inner.lock().unwrap();
    inner.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().unwrap_or("").to_owned(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: body.clone(),
    });
    if let Some((status, reply, retry_after)) = inner.script.get_mut(&name).and_then(VecDeque::pop_front) {
        let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(reply)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
        }
        return response;
    }
    inner.sent += 1;
    let n = inner.sent;
    // Files: Telegram's download path and a Meta CDN stand-in give the same bytes.
    if method == Method::GET && (path.contains("/file/bot") || path.starts_with("/cdn/")) {
        return ([("content-type", "image/jpeg")], FILE_BYTES).into_response();
    }
    let query = uri.query().unwrap_or("");
    if method == Method::GET && query.contains("fields=") && path.starts_with("/ig/") {
        // The Instagram API with Instagram login's profile of a sender.
        return axum::Json(json!({ "id": name, "name": "Lola Park", "username": "lola.park" })).into_response();
    }
    if method == Method::GET && query.contains("fields=") {
        // Meta's User Profile API.
        return axum::Json(if query.contains("username") {
            json!({ "id": name, "name": "Peter Chang", "username": "peter.chang" })
        } else {
            json!({ "id": name, "first_name": "Peter", "last_name": "Chang" })
        })
        .into_response();
    }
    let reply = match name.as_str() {
        "getMe" => {
            json!({ "ok": true, "result": { "id": 123456789, "is_bot": true, "first_name": "Acme", "username": "acme_bot" } })
        }
        "getFile" => json!({ "ok": true, "result": { "file_id": body["file_id"], "file_unique_id": "u1",
            "file_size": FILE_BYTES.len(), "file_path": format!("photos/{}.jpg", body["file_id"].as_str().unwrap_or("x")) } }),
        "setWebhook" | "deleteWebhook" => json!({ "ok": true, "result": true, "description": "Webhook was set" }),
        "sendMessage" | "sendPhoto" | "sendDocument" => json!({ "ok": true, "result": {
            "message_id": 1000 + n, "date": 1441645532,
            "chat": { "id": body["chat_id"].as_str().and_then(|c| c.parse::<i64>().ok()), "type": "private" },
            "text": body["text"] } }),
        "messages" => json!({ "recipient_id": body["recipient"]["id"], "message_id": format!("m_sent_{n}") }),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({ "ok": false, "error_code": 404, "description": "Not Found" })),
            )
                .into_response();
        }
    };
    axum::Json(reply).into_response()
}
