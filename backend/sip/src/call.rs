//! An inbound trunk call, bridged back-to-back to an agent's phone: two SIP dialogs, one RTP
//! relay between them, one recording, and the call record kept up to date throughout.
use crate::handler::Context;
use crate::sdp;
use crm_core::calls::Call;
use crm_core::calls::{HangupBy, Recording};
use crm_core::telephony::{InboundRoute, RegisteredPhone, Trunk};
use crm_core::{CallId, TenantId, UserId};
use crm_media::{Leg, Relay, RtpSocket};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, DialogStateSender, TerminatedReason};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{self as rsip, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// Who to ring, in stages: the responsible manager's phones first, alone for a while; then
/// every registered phone of the company at once. Without a registered responsible manager,
/// everyone at once.
fn stages(context: &Context, tenant: TenantId, responsible: Option<UserId>) -> Vec<Vec<(UserId, RegisteredPhone)>> {
    let phones = context.registrar.tenant_phones(tenant);
    let (first, rest): (Vec<_>, Vec<_>) = phones.into_iter().partition(|(user, _)| Some(*user) == responsible);
    [first, rest].into_iter().filter(|stage| !stage.is_empty()).collect()
}

/// How ringing ended.
enum Rang {
    Answered {
        user: UserId,
        dialog: InviteDialog,
        response: rsip::Response,
    },
    CallerGone,
    /// Nobody answered: 486 when every phone was busy, else 480.
    Failed(u16),
}

struct Ringing<'a> {
    context: &'a Context,
    offer: &'a [u8],
    caller: &'a rsip::Uri,
    state_sender: &'a DialogStateSender,
    server_call_id: &'a str,
}

impl Ringing<'_> {
    /// Rings `phones` in parallel for up to `budget`; the first to answer wins and the others
    /// are cancelled.
    async fn ring(
        &self,
        phones: &[(UserId, RegisteredPhone)],
        budget: Duration,
        states: &mut DialogStateReceiver,
    ) -> Rang {
        let mut forks = Vec::new();
        let mut pending = FuturesUnordered::new();
        for (user, phone) in phones {
            let Some(callee) = uri(&phone.contact) else { continue };
            let option = InviteOption {
                caller: self.caller.clone(),
                callee,
                destination: Some(SipAddr { r#type: Some(rsip::Transport::Udp), addr: phone.source.into() }),
                contact: self.context.contact.clone(),
                offer: Some(self.offer.to_vec()),
                content_type: Some("application/sdp".into()),
                ..Default::default()
            };
            match self.context.dialogs.do_invite_async(option, self.state_sender.clone()) {
                Ok((dialog, answer)) => {
                    let index = forks.len();
                    forks.push((*user, dialog));
                    pending.push(async move { (index, answer.await) });
                }
                Err(error) => tracing::warn!(%error, "cannot ring a phone"),
            }
        }
        let cancel_all_but = |winner: Option<usize>| {
            let losers: Vec<InviteDialog> =
                forks.iter().enumerate().filter(|(i, _)| Some(*i) != winner).map(|(_, (_, d))| d.clone()).collect();
            async move {
                for dialog in losers {
                    let _ = dialog.cancel().await;
                }
            }
        };
        let deadline = tokio::time::sleep(budget);
        tokio::pin!(deadline);
        let mut all_busy = true;
        while !pending.is_empty() {
            tokio::select! {
                Some((index, result)) = pending.next() => {
                    let response = match result {
                        Ok(Ok((_, Some(response)))) => response,
                        _ => {
                            all_busy = false;
                            continue;
                        }
                    };
                    if response.status_code.kind() == rsip::StatusCodeKind::Successful {
                        cancel_all_but(Some(index)).await;
                        let (user, dialog) = forks[index].clone();
                        return Rang::Answered { user, dialog, response };
                    }
                    all_busy &= matches!(response.status_code.code(), 486 | 600 | 603);
                }
                () = &mut deadline => {
                    cancel_all_but(None).await;
                    return Rang::Failed(480);
                }
                () = caller_gone(states, self.server_call_id) => {
                    cancel_all_but(None).await;
                    return Rang::CallerGone;
                }
            }
        }
        Rang::Failed(if all_busy && !forks.is_empty() { 486 } else { 480 })
    }
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
    let stages = stages(&context, tenant, customer.and_then(|c| c.responsible_user_id));
    if stages.is_empty() {
        tracing::info!(call = %call_id, "no agent's phone is registered");
        let _ = server.reject(Some(StatusCode::TemporarilyUnavailable), None);
        end(HangupBy::System, Some(480)).await;
        return;
    }
    let (Some(customer_leg), Some(agent_leg)) = (context.ports.allocate(), context.ports.allocate()) else {
        let _ = server.reject(Some(StatusCode::ServiceUnavailable), None);
        end(HangupBy::System, Some(503)).await;
        return;
    };

    // Ring the agents' phones, offering the codecs the trunk offered, media through us.
    let agent_media = SocketAddr::new(context.media_ip, agent_leg.port);
    let offer_sdp = sdp::build(agent_media, &offered, rand::random::<u32>().into(), "sendrecv");
    let Some(caller_uri) = uri(&format!("sip:{caller}@{}", context.contact.host_with_port)) else {
        let _ = server.reject(Some(StatusCode::ServerInternalError), None);
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let _ = server.ringing(None, None);
    let ringing = Ringing {
        context: &context,
        offer: &offer_sdp,
        caller: &caller_uri,
        state_sender: &state_sender,
        server_call_id: &server_call_id,
    };
    let started_ringing = tokio::time::Instant::now();
    let mut outcome = Rang::Failed(480);
    let last = stages.len() - 1;
    for (n, stage) in stages.iter().enumerate() {
        let budget = if n < last {
            context.responsible_first
        } else {
            context.ring_timeout.saturating_sub(started_ringing.elapsed())
        };
        outcome = ringing.ring(stage, budget, &mut states).await;
        if !matches!(outcome, Rang::Failed(_)) {
            break;
        }
    }
    let (agent, client, response) = match outcome {
        Rang::Answered { user, dialog, response } => (user, dialog, response),
        Rang::CallerGone => {
            let _ = server.reject(Some(StatusCode::RequestTerminated), None);
            end(HangupBy::Customer, Some(487)).await;
            return;
        }
        Rang::Failed(code) => {
            // All busy: the caller hears busy; otherwise unavailable.
            let (status, by) = if code == 486 {
                (StatusCode::BusyHere, HangupBy::Agent)
            } else {
                (StatusCode::TemporarilyUnavailable, HangupBy::System)
            };
            let _ = server.reject(Some(status), None);
            end(by, Some(code)).await;
            return;
        }
    };
    let ends = Ends { server_call_id, client_call_id: client.id().call_id };

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
    let bridged = Bridged {
        tenant,
        call_id,
        agent,
        customer: server,
        agent_dialog: client,
        ends,
        legs: [(customer_leg, offer.map(|o| o.addr)), (agent_leg, Some(agent_answer.addr))],
        codecs: chosen,
    };
    bridged.run(&context, &mut states).await;
}

/// A call both of whose sides answered: relayed, recorded, and closed when either hangs up.
struct Bridged {
    tenant: TenantId,
    call_id: CallId,
    agent: UserId,
    customer: InviteDialog,
    agent_dialog: InviteDialog,
    ends: Ends,
    /// Our RTP socket and the peer's signalled address, customer side then agent side.
    legs: [(RtpSocket, Option<SocketAddr>); 2],
    codecs: Vec<u8>,
}

impl Bridged {
    async fn run(self, context: &Context, states: &mut DialogStateReceiver) {
        let Bridged { tenant, call_id, agent, customer, agent_dialog, ends, legs, codecs } = self;
        let key = format!("tenants/{tenant}/recordings/{call_id}.wav");
        let writer = match context.spool.create(&call_id.to_string(), &key) {
            Ok(writer) => Some(writer),
            Err(error) => {
                tracing::error!(%error, call = %call_id, "cannot start the recording; the call goes on unrecorded");
                None
            }
        };
        let [(customer_leg, customer_remote), (agent_leg, agent_remote)] = legs;
        let media =
            [SocketAddr::new(context.media_ip, customer_leg.port), SocketAddr::new(context.media_ip, agent_leg.port)];
        let relay = Relay::start(customer_leg, agent_leg, [customer_remote, agent_remote], writer);
        if let Err(error) = context.services.answer_call(tenant, call_id, agent).await {
            tracing::error!(%error, call = %call_id, "could not mark a call answered");
        }

        // Talk until either side hangs up, then hang up the other.
        let legs = Legs { relay: &relay, ends: &ends, media: [(media[0], codecs.clone()), (media[1], codecs)] };
        let by = talk(states, &legs).await;
        let other = if by == HangupBy::Customer { &agent_dialog } else { &customer };
        let _ = other.bye().await;
        let (stats, recording) = relay.stop().await;
        if let Err(error) = context.services.end_call(tenant, call_id, by, None).await {
            tracing::error!(%error, call = %call_id, "could not close a call");
        }
        tracing::info!(call = %call_id, received = ?stats.received, recorded = ?stats.recorded, "call ended");
        if let Some(Ok(_)) = recording {
            let (services, spool) = (context.services.clone(), context.spool.clone());
            tokio::spawn(async move { upload(services, spool, tenant, call_id).await });
        }
    }
}

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
async fn caller_gone(states: &mut DialogStateReceiver, server_call_id: &str) {
    while let Some(state) = states.recv().await {
        if let DialogState::Terminated(id, _) = state
            && id.call_id == server_call_id
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

/// Click-to-call through this edge.
pub struct SipDialer(pub Arc<Context>);

#[async_trait::async_trait]
impl crm_core::telephony::Dialer for SipDialer {
    fn edge_id(&self) -> &str {
        &self.0.edge_id
    }

    async fn dial(&self, call: Call, phones: Vec<RegisteredPhone>, trunk: Trunk) -> crm_core::Result<()> {
        tokio::spawn(outbound(self.0.clone(), call, phones, trunk));
        Ok(())
    }
}

/// An outbound call: the agent's phones ring first (showing the number being called); when
/// one answers, the trunk is asked to call the customer; when they answer, the two are bridged.
async fn outbound(context: Arc<Context>, call: Call, phones: Vec<RegisteredPhone>, trunk: Trunk) {
    let (tenant, call_id) = (call.tenant_id, call.id);
    let end = |by: HangupBy, cause: Option<u16>| {
        let services = context.services.clone();
        async move {
            if let Err(error) = services.end_call(tenant, call_id, by, cause).await {
                tracing::error!(%error, call = %call_id, "could not close a call");
            }
        }
    };
    let (Some(agent), Some(trunk_addr)) = (call.user_id, trunk.address) else {
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let (Some(customer_leg), Some(agent_leg)) = (context.ports.allocate(), context.ports.allocate()) else {
        end(HangupBy::System, Some(503)).await;
        return;
    };
    let host = context.contact.host_with_port.to_string();
    let (Some(shown), Some(caller), Some(callee)) = (
        uri(&format!("sip:{}@{host}", call.to_number)),
        uri(&format!("sip:{}@{host}", call.from_number)),
        uri(&format!("sip:{}@{trunk_addr}", call.to_number)),
    ) else {
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let (state_sender, mut states) = context.dialogs.new_dialog_state_channel();

    // 1. The agent's own phones.
    let offered = [8u8, 0, 101];
    let agent_offer = sdp::build(
        SocketAddr::new(context.media_ip, agent_leg.port),
        &offered,
        rand::random::<u32>().into(),
        "sendrecv",
    );
    let ringing = Ringing {
        context: &context,
        offer: &agent_offer,
        caller: &shown,
        state_sender: &state_sender,
        server_call_id: "",
    };
    let phones: Vec<(UserId, RegisteredPhone)> = phones.into_iter().map(|p| (agent, p)).collect();
    let (agent_dialog, agent_answer) = match ringing.ring(&phones, context.ring_timeout, &mut states).await {
        Rang::Answered { dialog, response, .. } => match sdp::parse(response.body()) {
            Some(answer) => (dialog, answer),
            None => {
                let _ = dialog.bye().await;
                end(HangupBy::System, Some(488)).await;
                return;
            }
        },
        Rang::Failed(code) => {
            end(HangupBy::Agent, Some(code)).await;
            return;
        }
        Rang::CallerGone => {
            end(HangupBy::Agent, Some(487)).await;
            return;
        }
    };
    let codecs: Vec<u8> = agent_answer.payload_types.iter().copied().filter(|pt| offered.contains(pt)).collect();

    // 2. The customer, through the trunk, with the trunk's caller ID.
    let option = InviteOption {
        caller,
        callee,
        destination: Some(SipAddr { r#type: Some(rsip::Transport::Udp), addr: trunk_addr.into() }),
        contact: context.contact.clone(),
        offer: Some(sdp::build(
            SocketAddr::new(context.media_ip, customer_leg.port),
            &codecs,
            rand::random::<u32>().into(),
            "sendrecv",
        )),
        content_type: Some("application/sdp".into()),
        ..Default::default()
    };
    let (customer_dialog, answer) = match context.dialogs.do_invite_async(option, state_sender.clone()) {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "cannot call out through the trunk");
            let _ = agent_dialog.bye().await;
            end(HangupBy::System, Some(503)).await;
            return;
        }
    };
    let agent_call_id = agent_dialog.id().call_id;
    let response = tokio::select! {
        result = tokio::time::timeout(Duration::from_secs(60), answer) => match result {
            Ok(Ok(Ok((_, Some(response))))) => response,
            _ => {
                let _ = customer_dialog.cancel().await;
                let _ = agent_dialog.bye().await;
                end(HangupBy::System, Some(408)).await;
                return;
            }
        },
        () = caller_gone(&mut states, &agent_call_id) => {
            // The agent gave up before the customer answered.
            let _ = customer_dialog.cancel().await;
            end(HangupBy::Agent, Some(487)).await;
            return;
        }
    };
    let customer_answer = match response.status_code.kind() {
        rsip::StatusCodeKind::Successful => sdp::parse(response.body()),
        _ => {
            let code = response.status_code.code();
            let _ = agent_dialog.bye().await;
            end(HangupBy::Customer, Some(code)).await;
            return;
        }
    };
    let ends = Ends { server_call_id: customer_dialog.id().call_id, client_call_id: agent_call_id };
    let bridged = Bridged {
        tenant,
        call_id,
        agent,
        customer: customer_dialog,
        agent_dialog,
        ends,
        legs: [(customer_leg, customer_answer.map(|a| a.addr)), (agent_leg, Some(agent_answer.addr))],
        codecs,
    };
    bridged.run(&context, &mut states).await;
}
