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
use futures::{FutureExt, SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

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
    let (mut sink, stream) = socket.split();
    let (authenticated_tx, mut authenticated_rx) = oneshot::channel::<crm_core::auth::Principal>();
    let services = state.services.clone();
    // async-graphql closes a refused init with 1002; the protocol says 4403 for that.
    let refused = Arc::new(AtomicBool::new(false));
    let refused_in_init = refused.clone();
    let input = stream.take_while(|message| futures::future::ready(message.is_ok())).filter_map(|message| async move {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
            _ => None,
        }
    });
    let on_init = move |payload: serde_json::Value| async move {
        let token = token_from(&payload);
        let caller = crate::http::caller(&services, token.as_deref()).await.map_err(crate::ApiError::from)?;
        let Caller::Authenticated(principal) = caller else {
            refused_in_init.store(true, Ordering::Relaxed);
            return Err(async_graphql::Error::new("a valid access token or API token is required"));
        };
        let _ = authenticated_tx.send(principal.clone());
        let mut data = Data::default();
        data.insert(Caller::Authenticated(principal));
        Ok(data)
    };
    let messages = async_graphql::http::WebSocket::new(state.schema.clone(), Box::pin(input), protocol)
        .on_connection_init(on_init);
    tokio::pin!(messages);

    let init_deadline = tokio::time::sleep(state.settings.ws_init_timeout);
    tokio::pin!(init_deadline);
    let mut authenticated = false;
    // The person behind the socket counts as online while it is open (see attendance).
    let mut present: Option<crm_core::auth::Principal> = None;
    let mut heartbeat = tokio::time::interval(crm_core::services::attendance::HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expiry: std::pin::Pin<Box<tokio::time::Sleep>> = Box::pin(tokio::time::sleep(Duration::MAX / 4));
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { break };
                // What else is ready goes out in the same write: one syscall here and one
                // read at the proxy for a burst of events, not one per event.
                let (mut next, mut written, mut closing) = (Some(message), 0, false);
                while let Some(message) = next.take() {
                    let outgoing = frame(message, refused.load(Ordering::Relaxed));
                    closing = matches!(outgoing, Message::Close(_));
                    if sink.feed(outgoing).await.is_err() {
                        closing = true;
                    }
                    written += 1;
                    if !closing && written < WRITE_BATCH {
                        next = messages.next().now_or_never().flatten();
                    }
                }
                if sink.flush().await.is_err() || closing {
                    break;
                }
            }
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
            }
            _ = heartbeat.tick(), if present.is_some() => {
                if let Some(principal) = &present {
                    attend(&state, principal, None).await;
                }
            }
            () = &mut init_deadline, if !authenticated => {
                let _ = sink.send(close(4408, "Connection initialisation timeout")).await;
                break;
            }
            () = &mut expiry => {
                let _ = sink.send(close(4403, "Forbidden: the token expired; reconnect with a fresh one")).await;
                break;
            }
        }
    }
    if let Some(principal) = present {
        attend(&state, &principal, Some(false)).await;
    }
}

/// Presence is a convenience for routing: failing to record it must not close the socket.
async fn attend(state: &ApiState, principal: &crm_core::auth::Principal, state_change: Option<bool>) {
    if let Err(err) = state.services.attend(principal, state_change).await {
        tracing::warn!(error = %err, "could not record presence");
    }
}
