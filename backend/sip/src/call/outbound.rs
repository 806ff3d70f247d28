//! Click-to-call: ring the agent, then the customer through the trunk, bridge.
use super::*;

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
    let end = |by: HangupBy, cause: Option<u16>| close(&context.services, tenant, call_id, by, cause);
    let (Some(agent), Some(trunk_addr)) = (call.user_id, trunk.address) else {
        end(HangupBy::System, Some(500)).await;
        return;
    };
    let (Some(customer_leg), Some(agent_leg)) = (context.ports.allocate(), context.ports.allocate()) else {
        end(HangupBy::System, Some(503)).await;
        return;
    };
    // The agent's phone sees the call as from the customer's number; the trunk, from ours.
    let host = SocketAddr::new(context.advertise.local, context.advertise.port);
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
    let ringing = Ringing {
        context: &context,
        media_port: agent_leg.port,
        codecs: &offered,
        caller: &shown,
        state_sender: &state_sender,
        caller_call_id: "",
    };
    let phones: Vec<(UserId, RegisteredPhone)> = phones.into_iter().map(|p| (agent, p)).collect();
    let (agent_dialog, phone, agent_answer) = match ringing.ring(&phones, context.ring_timeout, &mut states).await {
        Rang::Answered { dialog, phone, response, .. } => match sdp::parse(response.body()) {
            Some(answer) => (dialog, phone, answer),
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
        contact: context.advertise.contact_for(trunk_addr.ip()),
        offer: Some(sdp::build(
            context.advertise.media_for(trunk_addr.ip(), customer_leg.port),
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
    let ends = Ends { customer_call_id: customer_dialog.id().call_id, agent_call_id };
    let bridged = Bridged {
        tenant,
        call_id,
        agent,
        customer: customer_dialog,
        agent_dialog,
        ends,
        legs: [(customer_leg, customer_answer.map(|a| a.addr)), (agent_leg, Some(agent_answer.addr))],
        peers: [trunk_addr.ip(), phone],
        codecs,
    };
    bridged.run(&context, &mut states).await;
}
