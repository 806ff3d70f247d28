//! A trunk call to the company: ring the agents, bridge the one who answers.
use super::*;

pub async fn inbound(context: Arc<Context>, route: InboundRoute, mut tx: Transaction) {
    let (state_sender, mut states) = context.dialogs.new_dialog_state_channel();
    let trunk_peer = crate::handler::source(&tx).map_or(context.advertise.local, |s| s.ip());
    let server = match context.dialogs.get_or_create_server_invite(
        &tx,
        state_sender.clone(),
        None,
        Some(context.advertise.contact_for(trunk_peer)),
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
    let end = |by: HangupBy, cause: Option<u16>| close(&context.services, tenant, call_id, by, cause);

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
    let Some(caller_uri) =
        uri(&format!("sip:{caller}@{}", SocketAddr::new(context.advertise.local, context.advertise.port)))
    else {
        let _ = server.reject(Some(StatusCode::ServerInternalError), None);
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let _ = server.ringing(None, None);
    let ringing = Ringing {
        context: &context,
        media_port: agent_leg.port,
        codecs: &offered,
        caller: &caller_uri,
        state_sender: &state_sender,
        caller_call_id: &server_call_id,
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
    let (agent, phone, client, response) = match outcome {
        Rang::Answered { user, phone, dialog, response } => (user, phone, dialog, response),
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
    let ends = Ends { customer_call_id: server_call_id, agent_call_id: client.id().call_id };

    // Answered: answer the trunk with what the agent chose, and bridge.
    let Some(agent_answer) = sdp::parse(response.body()) else {
        let _ = client.bye().await;
        let _ = server.reject(Some(StatusCode::NotAcceptableHere), None);
        end(HangupBy::System, Some(488)).await;
        return;
    };
    let chosen: Vec<u8> = agent_answer.payload_types.iter().copied().filter(|pt| offered.contains(pt)).collect();
    let customer_media = context.advertise.media_for(trunk_peer, customer_leg.port);
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
        peers: [trunk_peer, phone],
        codecs: chosen,
    };
    bridged.run(&context, &mut states).await;
}
