//! An inbound trunk call, bridged back-to-back to an agent's phone: two SIP dialogs, one RTP
//! relay between them, one recording, and the call record kept up to date throughout.
use crate::handler::Context;
use crate::sdp;
use crm_core::calls::{HangupBy, Recording};
use crm_core::telephony::{InboundRoute, RegisteredPhone};
use crm_core::{CallId, TenantId, UserId};
use crm_media::{Leg, Relay};
use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{self as rsip, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long the agent's phone may ring before the call counts as missed.
const RING_TIMEOUT: Duration = Duration::from_secs(30);

struct Ends {
    server_call_id: String,
    client_call_id: String,
}

impl Ends {
    fn is_server(&self, id: &DialogId) -> bool {
        id.call_id == self.server_call_id
    }
    fn is_client(&self, id: &DialogId) -> bool {
        id.call_id == self.client_call_id
    }
}

/// The phone to ring: the customer's responsible manager's, else any registered agent's.
fn pick_phone(context: &Context, tenant: TenantId, responsible: Option<UserId>) -> Option<(UserId, RegisteredPhone)> {
    let phones = context.registrar.tenant_phones(tenant);
    responsible.and_then(|user| phones.iter().find(|(u, _)| *u == user).cloned()).or_else(|| phones.into_iter().next())
}

fn uri(text: &str) -> Option<rsip::Uri> {
    rsip::Uri::try_from(text.trim().trim_start_matches('<').trim_end_matches('>')).ok()
}

pub async fn inbound(context: Arc<Context>, route: InboundRoute, mut tx: Transaction) {
    let (state_sender, mut states) = context.dialogs.new_dialog_state_channel();
    let server = match context.dialogs.get_or_create_server_invite(
        &tx,
        state_sender.clone(),
        None,
        Some(context.contact.clone()),
    ) {
        Ok(dialog) => dialog,
        Err(error) => {
            tracing::warn!(%error, "cannot start a dialog for an inbound call");
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return;
        }
    };
    let offer = sdp::parse(tx.original.body());
    let caller = tx
        .original
        .from_header()
        .ok()
        .and_then(|f| f.uri().ok())
        .and_then(|u| u.auth.map(|a| a.user))
        .unwrap_or_default();
    let server_call_id = server.id().call_id;
    let mut server_tx = server.clone();
    tokio::spawn(async move {
        if let Err(error) = server_tx.handle(&mut tx).await {
            tracing::debug!(%error, "inbound INVITE transaction ended with an error");
        }
    });

    let started = context.services.start_inbound_call(&route, &caller, &context.edge_id).await;
    let Ok((call, customer)) = started else {
        tracing::error!("could not record an inbound call");
        let _ = server.reject(Some(StatusCode::ServerInternalError), None);
        return;
    };
    let (tenant, call_id) = (call.tenant_id, call.id);
    let end = |by: HangupBy, cause: Option<u16>| {
        let services = context.services.clone();
        async move {
            if let Err(error) = services.end_call(tenant, call_id, by, cause).await {
                tracing::error!(%error, call = %call_id, "could not close a call");
            }
        }
    };

    let offered: Vec<u8> = offer
        .as_ref()
        .map(|o| o.payload_types.iter().copied().filter(|pt| sdp::SUPPORTED.contains(pt)).collect())
        .unwrap_or_default();
    if offer.is_none() || !offered.iter().any(|pt| *pt == 0 || *pt == 8) {
        let _ = server.reject(Some(StatusCode::NotAcceptableHere), None);
        end(HangupBy::System, Some(488)).await;
        return;
    }
    let Some((agent, phone)) = pick_phone(&context, tenant, customer.and_then(|c| c.responsible_user_id)) else {
        tracing::info!(call = %call_id, "no agent's phone is registered");
        let _ = server.reject(Some(StatusCode::TemporarilyUnavailable), None);
        end(HangupBy::System, Some(480)).await;
        return;
    };
    let (Some(customer_leg), Some(agent_leg)) = (context.ports.allocate(), context.ports.allocate()) else {
        let _ = server.reject(Some(StatusCode::ServiceUnavailable), None);
        end(HangupBy::System, Some(503)).await;
        return;
    };

    // Ring the agent's phone, offering the codecs the trunk offered, media through us.
    let agent_media = SocketAddr::new(context.media_ip, agent_leg.port);
    let (Some(callee), Some(caller_uri)) =
        (uri(&phone.contact), uri(&format!("sip:{caller}@{}", context.contact.host_with_port)))
    else {
        let _ = server.reject(Some(StatusCode::ServerInternalError), None);
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let option = InviteOption {
        caller: caller_uri,
        callee,
        destination: Some(SipAddr { r#type: Some(rsip::Transport::Udp), addr: phone.source.into() }),
        contact: context.contact.clone(),
        offer: Some(sdp::build(agent_media, &offered, rand::random::<u32>().into(), "sendrecv")),
        content_type: Some("application/sdp".into()),
        ..Default::default()
    };
    let (client, invite) = match context.dialogs.do_invite_async(option, state_sender) {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "cannot ring the agent's phone");
            let _ = server.reject(Some(StatusCode::TemporarilyUnavailable), None);
            end(HangupBy::System, Some(480)).await;
            return;
        }
    };
    let ends = Ends { server_call_id, client_call_id: client.id().call_id };
    let _ = server.ringing(None, None);

    // Wait for the agent to answer, the caller to give up, or the ring timeout.
    let answer = tokio::select! {
        result = tokio::time::timeout(RING_TIMEOUT, invite) => match result {
            Ok(Ok(Ok((_, Some(response))))) => Ok(response),
            Ok(_) => Err((HangupBy::System, 480)),
            Err(_) => {
                let _ = client.cancel().await;
                Err((HangupBy::System, 480))
            }
        },
        () = caller_gone(&mut states, &ends) => {
            let _ = client.cancel().await;
            Err((HangupBy::Customer, 487))
        }
    };
    let response = match answer {
        Ok(response) if response.status_code.kind() == rsip::StatusCodeKind::Successful => response,
        Ok(response) => {
            let code = response.status_code.code();
            // Busy or declined: the caller hears busy; anything else, unavailable.
            let status =
                if matches!(code, 486 | 600 | 603) { StatusCode::BusyHere } else { StatusCode::TemporarilyUnavailable };
            let _ = server.reject(Some(status), None);
            end(HangupBy::Agent, Some(code)).await;
            return;
        }
        Err((by, cause)) => {
            let _ = server.reject(
                Some(if cause == 487 { StatusCode::RequestTerminated } else { StatusCode::TemporarilyUnavailable }),
                None,
            );
            end(by, Some(cause)).await;
            return;
        }
    };

    // Answered: answer the trunk with what the agent chose, and bridge.
    let Some(agent_answer) = sdp::parse(response.body()) else {
        let _ = client.bye().await;
        let _ = server.reject(Some(StatusCode::NotAcceptableHere), None);
        end(HangupBy::System, Some(488)).await;
        return;
    };
    let chosen: Vec<u8> = agent_answer.payload_types.iter().copied().filter(|pt| offered.contains(pt)).collect();
    let customer_media = SocketAddr::new(context.media_ip, customer_leg.port);
    let answer_sdp = sdp::build(customer_media, &chosen, rand::random::<u32>().into(), "sendrecv");
    let content_type = rsip::Header::ContentType("application/sdp".into());
    if server.accept(Some(vec![content_type]), Some(answer_sdp)).is_err() {
        let _ = client.bye().await;
        end(HangupBy::System, Some(500)).await;
        return;
    }
    let key = format!("tenants/{tenant}/recordings/{call_id}.wav");
    let writer = match context.spool.create(&call_id.to_string(), &key) {
        Ok(writer) => Some(writer),
        Err(error) => {
            tracing::error!(%error, call = %call_id, "cannot start the recording; the call goes on unrecorded");
            None
        }
    };
    let remotes = [offer.map(|o| o.addr), Some(agent_answer.addr)];
    let relay = Relay::start(customer_leg, agent_leg, remotes, writer);
    if let Err(error) = context.services.answer_call(tenant, call_id, agent).await {
        tracing::error!(%error, call = %call_id, "could not mark a call answered");
    }

    // Talk until either side hangs up, then hang up the other.
    let legs = Legs { relay: &relay, ends: &ends, media: [(customer_media, chosen.clone()), (agent_media, chosen)] };
    let by = talk(&mut states, &legs).await;
    match by {
        HangupBy::Customer => {
            let _ = client.bye().await;
        }
        _ => {
            let _ = server.bye().await;
        }
    }
    let (stats, recording) = relay.stop().await;
    end(by, None).await;
    tracing::info!(call = %call_id, received = ?stats.received, recorded = ?stats.recorded, "call ended");
    if let Some(Ok(_)) = recording {
        let (services, spool) = (context.services.clone(), context.spool.clone());
        tokio::spawn(async move { upload(services, spool, tenant, call_id).await });
    }
    hold(client, server);
}

/// Keeps the dialogs alive until both are done (their handles end the transactions).
fn hold(_client: InviteDialog, _server: InviteDialog) {}

async fn upload(services: crm_core::services::Services, spool: crm_recording::Spool, tenant: TenantId, call: CallId) {
    match spool.upload(&call.to_string()).await {
        Ok(uploaded) => {
            let recording = Recording {
                key: uploaded.key,
                duration_ms: uploaded.duration.as_millis() as u64,
                bytes: uploaded.bytes,
            };
            if let Err(error) = services.attach_recording(tenant, call, recording).await {
                tracing::error!(%error, %call, "could not link a recording");
            }
        }
        Err(error) => tracing::error!(%error, %call, "could not upload a recording; it stays in the spool"),
    }
}

/// Resolves when the caller's dialog ends before the call is answered (CANCEL).
async fn caller_gone(states: &mut DialogStateReceiver, ends: &Ends) {
    while let Some(state) = states.recv().await {
        if let DialogState::Terminated(id, _) = state
            && ends.is_server(&id)
        {
            return;
        }
    }
    std::future::pending::<()>().await;
}

struct Legs<'a> {
    relay: &'a Relay,
    ends: &'a Ends,
    /// Our media address and codecs on each leg (customer, agent), for answering re-INVITEs.
    media: [(SocketAddr, Vec<u8>); 2],
}

/// Serves the bridged call until either side hangs up; returns who did. Re-INVITEs (hold,
/// resume, a new address) are answered here, as the media anchor: the relay follows the new
/// address and the other side simply hears what the relay carries (silence while on hold).
async fn talk(states: &mut DialogStateReceiver, legs: &Legs<'_>) -> HangupBy {
    while let Some(state) = states.recv().await {
        match state {
            DialogState::Terminated(id, reason) => {
                if legs.ends.is_server(&id) {
                    return HangupBy::Customer;
                }
                if legs.ends.is_client(&id) {
                    return if matches!(reason, TerminatedReason::Timeout) {
                        HangupBy::System
                    } else {
                        HangupBy::Agent
                    };
                }
            }
            DialogState::Updated(id, request, handle) => {
                let leg = if legs.ends.is_server(&id) { Leg::Customer } else { Leg::Agent };
                let offer = sdp::parse(request.body()).filter(|_| request.method == rsip::Method::Invite);
                let Some(offer) = offer else {
                    let _ = handle.reply(StatusCode::OK).await;
                    continue;
                };
                legs.relay.set_remote(leg, Some(offer.addr));
                let (addr, codecs) = &legs.media[leg as usize];
                let body =
                    sdp::build(*addr, codecs, rand::random::<u32>().into(), sdp::answer_direction(offer.direction));
                let content_type = rsip::Header::ContentType("application/sdp".into());
                let _ = handle.respond(StatusCode::OK, Some(vec![content_type]), Some(body)).await;
                tracing::info!(?leg, direction = offer.direction, "re-INVITE answered");
            }
            DialogState::Options(_, _, handle) | DialogState::Info(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            _ => {}
        }
    }
    HangupBy::System
}
