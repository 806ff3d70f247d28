//! A graphql-transport-ws client for subscription tests.
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Subscriber {
    socket: Socket,
}

/// How a socket ended, when the server closed it.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

pub async fn open(url: &str) -> Socket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("WebSocket connects");
    socket
}

impl Subscriber {
    /// Connects, authenticates with `token` and starts `query`; waits for the ack.
    pub async fn connect(url: &str, token: Option<&str>, query: &str) -> Self {
        let mut socket = open(url).await;
        let payload = token.map(|t| json!({ "Authorization": format!("Bearer {t}") })).unwrap_or(json!({}));
        socket.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
        let mut subscriber = Self { socket };
        let ack = subscriber.next_json(Duration::from_secs(10)).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "got {ack}");
        let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
        subscriber.socket.send(Message::text(start.to_string())).await.unwrap();
        subscriber
    }

    pub fn from_socket(socket: Socket) -> Self {
        Self { socket }
    }

    pub async fn send(&mut self, value: Value) {
        self.socket.send(Message::text(value.to_string())).await.unwrap();
    }

    /// The next JSON message, skipping pings; `Err` with the close frame if the server closed.
    pub async fn next_json(&mut self, timeout: Duration) -> Result<Value, Closed> {
        loop {
            let message =
                tokio::time::timeout(timeout, self.socket.next()).await.expect("a message before the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        continue;
                    }
                    return Ok(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    return Err(Closed { code, reason });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed { code: 1006, reason: String::new() }),
            }
        }
    }

    /// The next `next` payload's data.
    pub async fn next_data(&mut self) -> Value {
        let message = self.next_json(Duration::from_secs(10)).await.expect("an event");
        assert_eq!(message["type"], "next", "got {message}");
        message["payload"]["data"].clone()
    }
}
