//! Calls through the edge, back-to-back: the customer's leg (the trunk) and the agent's leg (a
//! phone) are two SIP dialogs with one RTP relay between them and one recording, and the call
//! record is kept up to date throughout. Inbound calls ring agents; click-to-call rings the
//! agent, then the customer.
use crate::handler::Context;
use crate::sdp;
use crm_core::calls::{Call, HangupBy};
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

/// Tells the two legs' dialogs apart in the call's state channel (by Call-ID).
struct Ends {
    customer_call_id: String,
    agent_call_id: String,
}

impl Ends {
    fn is_customer(&self, id: &DialogId) -> bool {
        id.call_id == self.customer_call_id
    }
    fn is_agent(&self, id: &DialogId) -> bool {
        id.call_id == self.agent_call_id
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
        /// Where the answering phone is.
        phone: std::net::IpAddr,
        dialog: InviteDialog,
        response: rsip::Response,
    },
    CallerGone,
    /// Nobody answered: 486 when every phone was busy, else 480.
    Failed(u16),
}

struct Ringing<'a> {
    context: &'a Context,
    /// Our agent-side RTP port and the codecs to offer each phone.
    media_port: u16,
    codecs: &'a [u8],
    caller: &'a rsip::Uri,
    state_sender: &'a DialogStateSender,
    /// The caller's dialog, whose end (CANCEL) stops the ringing; empty for click-to-call.
    caller_call_id: &'a str,
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
        let session = rand::random::<u32>().into();
        for (user, phone) in phones {
            let Some(callee) = uri(&phone.contact) else { continue };
            let peer = phone.source.ip();
            let media = self.context.advertise.media_for(peer, self.media_port);
            let option = InviteOption {
                caller: self.caller.clone(),
                callee,
                destination: Some(SipAddr { r#type: Some(rsip::Transport::Udp), addr: phone.source.into() }),
                contact: self.context.advertise.contact_for(peer),
                offer: Some(sdp::build(media, self.codecs, session, "sendrecv")),
                content_type: Some("application/sdp".into()),
                ..Default::default()
            };
            match self.context.dialogs.do_invite_async(option, self.state_sender.clone()) {
                Ok((dialog, answer)) => {
                    let index = forks.len();
                    forks.push((*user, peer, dialog));
                    pending.push(async move { (index, answer.await) });
                }
                Err(error) => tracing::warn!(%error, "cannot ring a phone"),
            }
        }
        let cancel_all_but = |winner: Option<usize>| {
            let losers: Vec<InviteDialog> =
                forks.iter().enumerate().filter(|(i, _)| Some(*i) != winner).map(|(_, (_, _, d))| d.clone()).collect();
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
                        // A phone that answered just as it was cancelled is hung up again.
                        let late: Vec<InviteDialog> = forks.iter().map(|(_, _, d)| d.clone()).collect();
                        tokio::spawn(async move {
                            while let Some((other, result)) = pending.next().await {
                                if let Ok(Ok((_, Some(r)))) = result
                                    && r.status_code.kind() == rsip::StatusCodeKind::Successful
                                {
                                    let _ = late[other].bye().await;
                                }
                            }
                        });
                        let (user, phone, dialog) = forks[index].clone();
                        return Rang::Answered { user, phone, dialog, response };
                    }
                    all_busy &= matches!(response.status_code.code(), 486 | 600 | 603);
                }
                () = &mut deadline => {
                    cancel_all_but(None).await;
                    return Rang::Failed(480);
                }
                () = caller_gone(states, self.caller_call_id) => {
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
    /// Where each side's signalling comes from (what address of ours it is given).
    peers: [std::net::IpAddr; 2],
    codecs: Vec<u8>,
}

impl Bridged {
    async fn run(self, context: &Context, states: &mut DialogStateReceiver) {
        let Bridged { tenant, call_id, agent, customer, agent_dialog, ends, legs, peers, codecs } = self;
        let key = crm_recording::recording_key(tenant, call_id);
        let writer = match context.spool.create(&call_id.to_string(), &key) {
            Ok(writer) => Some(writer),
            Err(error) => {
                tracing::error!(%error, call = %call_id, "cannot start the recording; the call goes on unrecorded");
                None
            }
        };
        let [(customer_leg, customer_remote), (agent_leg, agent_remote)] = legs;
        let media = [
            context.advertise.media_for(peers[0], customer_leg.port),
            context.advertise.media_for(peers[1], agent_leg.port),
        ];
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
        close(&context.services, tenant, call_id, by, None).await;
        tracing::info!(call = %call_id, received = ?stats.received, recorded = ?stats.recorded, "call ended");
        if let Some(Ok(_)) = recording {
            let (services, spool) = (context.services.clone(), context.spool.clone());
            tokio::spawn(crm_recording::upload_and_link(services, spool, tenant, call_id));
        }
    }
}

/// Ends the call record; a failure is logged (the call itself is over either way).
async fn close(
    services: &crm_core::services::Services,
    tenant: TenantId,
    call: CallId,
    by: HangupBy,
    cause: Option<u16>,
) {
    if let Err(error) = services.end_call(tenant, call, by, cause).await {
        tracing::error!(%error, %call, "could not close a call");
    }
}

/// Resolves when the caller's dialog ends before the call is answered (CANCEL).
async fn caller_gone(states: &mut DialogStateReceiver, call_id: &str) {
    while let Some(state) = states.recv().await {
        if let DialogState::Terminated(id, _) = state
            && id.call_id == call_id
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
                if legs.ends.is_customer(&id) {
                    return HangupBy::Customer;
                }
                if legs.ends.is_agent(&id) {
                    return if matches!(reason, TerminatedReason::Timeout) {
                        HangupBy::System
                    } else {
                        HangupBy::Agent
                    };
                }
            }
            DialogState::Updated(id, request, handle) => {
                let leg = if legs.ends.is_customer(&id) { Leg::Customer } else { Leg::Agent };
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

mod inbound;
mod outbound;

pub use inbound::inbound;
pub use outbound::SipDialer;
