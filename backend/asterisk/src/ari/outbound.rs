//! Click-to-call through a company's own Asterisk. `dial` records the call as ringing on the
//! Asterisk's waiting edge and announces it; the worker serving that Asterisk claims it, rings
//! the agent's extension, then dials the customer through the trunk with the trunk's caller ID,
//! and bridges and records the two as an inbound call.
use super::call::{CallContext, Owned, Unanswered, ended, talk};
use super::events::Event;
use crm_core::calls::{Call, CallStatus, HangupBy};
use crm_core::events::EventKind;
use crm_core::pbx::PbxCallStage;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Takes on the company's click-to-calls while this worker serves its Asterisk.
pub(crate) async fn dial_requests(context: Arc<CallContext>) {
    let Some((tenant, server)) = context.settings.owner else { return };
    let waiting = crm_core::pbx::dial_edge(server);
    let mut events = context.services.bus().subscribe();
    // Requested while no worker served this Asterisk: too late to ring now.
    match context.services.interrupt_calls_of(&waiting).await {
        Ok(stale) if !stale.is_empty() => tracing::info!(calls = stale.len(), "click-to-calls nobody took were closed"),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot close click-to-calls nobody took"),
    }
    while let Some(event) = events.next().await {
        let EventKind::CallChanged { call_id, status: CallStatus::Ringing } = event.kind else { continue };
        if event.tenant_id != tenant {
            continue;
        }
        match context.services.claim_call(tenant, call_id, &waiting, &context.settings.worker_id).await {
            Ok(Some(call)) => {
                tokio::spawn(dial(context.clone(), call));
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, call = %call_id, "cannot take on a click-to-call"),
        }
    }
}

/// How a dialled leg ended its ringing.
enum Pickup {
    Answered,
    /// It ended unanswered; 486 when busy, else 480.
    Refused(u16),
    /// The other leg (the agent, while the customer rings) hung up: 487.
    Gone(u16),
}

async fn dial(context: Arc<CallContext>, call: Call) {
    let context = &*context;
    let (tenant, call_id) = (call.tenant_id, call.id);
    let Some(held) = context.hold(call_id) else { return };
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut owned = Owned::new(context, sender);
    let (agent_leg, customer_leg) = (format!("{call_id}-agent"), format!("{call_id}-customer"));
    owned.channel(&agent_leg);
    owned.channel(&customer_leg);
    let unanswered = Unanswered { channels: vec![agent_leg.clone(), customer_leg.clone()] };
    context.note(tenant, call_id, PbxCallStage::Ringing, &unanswered).await;
    let end = |by: HangupBy, cause: u16| context.close_unbridged(tenant, call_id, by, Some(cause));

    let (Some(user), Some(trunk)) = (call.user_id, call.trunk_id) else {
        end(HangupBy::System, 500).await;
        return;
    };
    let extension = match context.services.tenant_pbx(tenant).await {
        Ok(pbx) => pbx.extensions.into_iter().find(|e| e.user_id == user).map(|e| e.username),
        Err(error) => {
            tracing::error!(%error, call = %call_id, "cannot read the company's extensions");
            None
        }
    };
    let Some(extension) = extension else {
        end(HangupBy::System, 480).await;
        return;
    };
    let client = &context.client;
    let (app, timeout) = (&context.settings.app, context.settings.ring_timeout);
    let args = |leg: &str| format!("{tenant},{leg},{call_id}");

    // The agent's own phone first, showing whom it will call.
    let rung = client
        .originate(&agent_leg, &format!("PJSIP/{extension}"), app, &args("agent"), &call.to_number, timeout.as_secs())
        .await;
    if let Err(error) = rung {
        tracing::error!(%error, call = %call_id, "cannot ring the agent's phone through Asterisk");
        end(HangupBy::System, 500).await;
        return;
    }
    if let Pickup::Refused(code) | Pickup::Gone(code) = pickup(&mut events, &agent_leg, None, timeout).await {
        let _ = client.hangup(&agent_leg, "normal").await;
        end(HangupBy::Agent, code).await;
        return;
    }

    // Then the customer, through the trunk, with the trunk's caller ID.
    let endpoint = format!("PJSIP/{}@{}", call.to_number, crate::config::trunk_endpoint(trunk));
    if let Err(error) =
        client.originate(&customer_leg, &endpoint, app, &args("customer"), &call.from_number, timeout.as_secs()).await
    {
        tracing::error!(%error, call = %call_id, "cannot dial the customer through Asterisk");
        let _ = client.hangup(&agent_leg, "normal").await;
        end(HangupBy::System, 500).await;
        return;
    }
    match pickup(&mut events, &customer_leg, Some(&agent_leg), timeout).await {
        Pickup::Answered => {}
        Pickup::Gone(_) => {
            let _ = client.hangup(&customer_leg, "normal").await;
            end(HangupBy::Agent, 487).await;
            return;
        }
        Pickup::Refused(code) => {
            let _ = client.hangup(&agent_leg, "normal").await;
            end(HangupBy::Customer, code).await;
            return;
        }
    }
    talk(context, held, owned, &mut events, tenant, call_id, user, [&customer_leg, &agent_leg]).await;
}

/// Waits for `leg` to be answered (it enters our application), for at most `budget`.
async fn pickup(events: &mut UnboundedReceiver<Event>, leg: &str, other: Option<&str>, budget: Duration) -> Pickup {
    let wait = async {
        while let Some(event) = events.recv().await {
            if other.is_some_and(|other| ended(&event, other)) {
                return Pickup::Gone(487);
            }
            match event {
                Event::StasisStart { channel, .. } if channel.id == leg => return Pickup::Answered,
                // Q.850 cause 17: user busy.
                Event::ChannelDestroyed { channel, cause } if channel.id == leg => {
                    return Pickup::Refused(if cause == Some(17) { 486 } else { 480 });
                }
                _ => {}
            }
        }
        Pickup::Refused(480)
    };
    tokio::time::timeout(budget + Duration::from_secs(2), wait).await.unwrap_or(Pickup::Refused(480))
}
