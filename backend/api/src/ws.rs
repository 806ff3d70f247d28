//! `GET /graphql/ws`: subscriptions over graphql-transport-ws (and the older graphql-ws).
//!
//! The token arrives in `connection_init` (`{"Authorization": "Bearer ..."}` or
//! `{"token": "..."}`). A socket that has not authenticated within `ws_init_timeout` is closed
//! with 4408; an authenticated socket is closed with 4403 when its token expires.
use crate::ApiState;
use crate::context::Caller;
use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crm_core::auth::Principal;
use futures::stream::BoxStream;
use futures::{FutureExt, SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_stream::StreamMap;

pub async fn upgrade(State(state): State<ApiState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()));
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "use the graphql-transport-ws subprotocol").into_response();
    };
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| serve(state, protocol, socket))
}

/// tungstenite zeroes its whole read buffer (128 KiB by default) on every read attempt, and
/// the socket is polled for input after every message sent: at thousands of events a second
/// that zeroing was most of a server's CPU. Clients send little; a larger frame still grows it.
const READ_BUFFER: usize = 4096;

fn token_from(payload: &serde_json::Value) -> Option<String> {
    let raw = ["Authorization", "authorization", "token", "authToken"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))?;
    let token = raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw);
    Some(token.trim().to_owned())
}

/// Client messages waiting for async-graphql at most (a client sends a handful: init,
/// subscribe, complete, ping); a socket that floods past it is closed.
const INPUT_QUEUE: usize = 256;

/// Messages written to a socket before it is flushed at most.
const WRITE_BATCH: usize = 64;

fn frame(message: WsMessage, refused: bool) -> Message {
    match message {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Close(_, reason) if refused => close(4403, &format!("Forbidden: {reason}")),
        WsMessage::Close(code, reason) => close(code, &reason),
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() }))
}

async fn serve(state: ApiState, protocol: WebSocketProtocols, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (authenticated_tx, mut authenticated_rx) = oneshot::channel::<Principal>();
    // Who is behind the socket, once `connection_init` is accepted (set before the ack).
    let caller = Arc::new(OnceLock::<Principal>::new());
    let services = state.services.clone();
    // async-graphql closes a refused init with 1002; the protocol says 4403 for that.
    let refused = Arc::new(AtomicBool::new(false));
    let (refused_in_init, caller_in_init) = (refused.clone(), caller.clone());
    let on_init = move |payload: serde_json::Value| async move {
        let token = token_from(&payload);
        let caller = crate::http::caller(&services, token.as_deref()).await.map_err(crate::ApiError::from)?;
        let Caller::Authenticated(principal) = caller else {
            refused_in_init.store(true, Ordering::Relaxed);
            return Err(async_graphql::Error::new("a valid access token or API token is required"));
        };
        let _ = caller_in_init.set(principal.clone());
        let _ = authenticated_tx.send(principal.clone());
        let mut data = Data::default();
        data.insert(Caller::Authenticated(principal));
        Ok(data)
    };
    // What the socket sends goes to async-graphql, except the subscriptions shared with the
    // process's other sockets (`crate::feeds`), which are served here.
    let (mut to_graphql, graphql_input) = futures::channel::mpsc::channel::<Vec<u8>>(INPUT_QUEUE);
    let mut messages = async_graphql::http::WebSocket::new(state.schema.clone(), graphql_input, protocol)
        .on_connection_init(on_init)
        .map(move |message| frame(message, refused.load(Ordering::Relaxed)))
        .boxed();
    let mut shared: StreamMap<String, BoxStream<'static, Option<Arc<str>>>> = StreamMap::new();

    let init_deadline = tokio::time::sleep(state.settings.ws_init_timeout);
    tokio::pin!(init_deadline);
    let mut authenticated = false;
    // The person behind the socket counts as online while it is open (see attendance).
    let mut present: Option<Principal> = None;
    let mut heartbeat = tokio::time::interval(crm_core::services::attendance::HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expiry: std::pin::Pin<Box<tokio::time::Sleep>> = Box::pin(tokio::time::sleep(Duration::MAX / 4));
    loop {
        let first = tokio::select! {
            input = incoming.next() => {
                let data = match input {
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message.into_data(),
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                match route(&state, caller.get(), &data) {
                    Route::Shared(id, payloads) => {
                        shared.insert(id, payloads.map(Some).chain(futures::stream::once(async { None })).boxed());
                        continue;
                    }
                    Route::Stopped(id) if shared.remove(&id).is_some() => complete(&id),
                    _ => match to_graphql.try_send(data.into()) {
                        Ok(()) => continue,
                        Err(error) if error.is_full() => close(4429, "Too many messages: wait for the answers"),
                        Err(_) => break,
                    },
                }
            }
            message = messages.next() => match message {
                Some(message) => message,
                None => break,
            },
            Some((id, payload)) = shared.next(), if !shared.is_empty() => shared_frame(protocol, &id, payload),
            result = &mut authenticated_rx, if !authenticated => {
                authenticated = true;
                if let Ok(principal) = result {
                    if let Some(expires_at) = principal.expires_at {
                        let left = (expires_at - chrono::Utc::now().timestamp()).max(0) as u64;
                        expiry = Box::pin(tokio::time::sleep(Duration::from_secs(left)));
                    }
                    attend(&state, &principal, Some(true)).await;
                    heartbeat.reset();
                    present = Some(principal);
                }
                continue;
            }
            _ = heartbeat.tick(), if present.is_some() => {
                if let Some(principal) = &present {
                    attend(&state, principal, None).await;
                }
                continue;
            }
            () = &mut init_deadline, if !authenticated => close(4408, "Connection initialisation timeout"),
            () = &mut expiry => close(4403, "Forbidden: the token expired; reconnect with a fresh one"),
        };
        // What else is ready goes out in the same write: one syscall here and one read at the
        // proxy for a burst of events, not one per event.
        let (mut next, mut written, mut closing) = (Some(first), 0, false);
        while let Some(outgoing) = next.take() {
            closing = matches!(outgoing, Message::Close(_));
            if sink.feed(outgoing).await.is_err() {
                closing = true;
            }
            written += 1;
            if !closing && written < WRITE_BATCH {
                next = messages.next().now_or_never().flatten().or_else(|| {
                    let ready = if shared.is_empty() { None } else { shared.next().now_or_never().flatten() };
                    ready.map(|(id, payload)| shared_frame(protocol, &id, payload))
                });
            }
        }
        if sink.flush().await.is_err() || closing {
            break;
        }
    }
    if let Some(principal) = present {
        attend(&state, &principal, Some(false)).await;
    }
}

/// What to do with a message from the socket.
enum Route {
    /// A subscription served from a shared execution: its id and payloads.
    Shared(String, BoxStream<'static, Arc<str>>),
    /// The client ends subscription `id`.
    Stopped(String),
    /// For async-graphql.
    Other,
}

/// The parts of a client message that decide its route.
#[derive(serde::Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<async_graphql::Request>,
}

fn route(state: &ApiState, caller: Option<&Principal>, data: &[u8]) -> Route {
    let Ok(Incoming { kind, id: Some(id), payload }) = serde_json::from_slice::<Incoming>(data) else {
        return Route::Other;
    };
    match (kind.as_str(), payload, caller) {
        ("subscribe" | "start", Some(request), Some(principal)) => {
            match state.feeds.join(&state.schema, principal, request) {
                Some(payloads) => Route::Shared(id, payloads),
                None => Route::Other,
            }
        }
        ("complete" | "stop", _, _) => Route::Stopped(id),
        _ => Route::Other,
    }
}

/// A shared payload wrapped for subscription `id` (as async-graphql words it), or its end.
fn shared_frame(protocol: WebSocketProtocols, id: &str, payload: Option<Arc<str>>) -> Message {
    let Some(payload) = payload else { return complete(id) };
    let kind = match protocol {
        WebSocketProtocols::SubscriptionsTransportWS => "data",
        WebSocketProtocols::GraphQLWS => "next",
    };
    let id = serde_json::Value::from(id);
    Message::Text(format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#).into())
}

fn complete(id: &str) -> Message {
    Message::Text(serde_json::json!({ "type": "complete", "id": id }).to_string().into())
}

/// Presence is a convenience for routing: failing to record it must not close the socket.
async fn attend(state: &ApiState, principal: &Principal, state_change: Option<bool>) {
    if let Err(err) = state.services.attend(principal, state_change).await {
        tracing::warn!(error = %err, "could not record presence");
    }
}
