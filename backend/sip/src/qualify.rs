//! Keep-alives to trunks (OPTIONS, "qualify"): reachability and latency for the API, and NAT
//! bindings on Kerio Control kept open.
use crate::handler::Context;
use rsipstack::sip::{self as rsip, Method};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a trunk has to answer before it counts as unreachable.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

pub async fn run(context: Arc<Context>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let targets = match context.services.qualify_targets().await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, "cannot list trunks to keep alive");
                continue;
            }
        };
        for (_, trunk, addr) in targets {
            let context = context.clone();
            tokio::spawn(async move {
                let latency = ping(&context, addr).await;
                let reachability = crm_core::telephony::Reachability {
                    reachable: latency.is_some(),
                    latency_ms: latency.map(|d| d.as_millis() as u64),
                    checked_at: chrono::Utc::now(),
                };
                context.registrar.set_trunk(trunk, reachability);
            });
        }
    }
}

/// One OPTIONS to `addr`; its round trip when any response came back in time.
async fn ping(context: &Context, addr: SocketAddr) -> Option<Duration> {
    let target = rsip::Uri::try_from(format!("sip:{addr}")).ok()?;
    let endpoint = context.endpoint.clone();
    let via = endpoint.get_via(None, None).ok()?;
    let from = rsip::typed::From {
        display_name: None,
        uri: context.advertise.contact_for(addr.ip()),
        params: vec![rsip::Param::Tag(make_tag())],
    };
    let to = rsip::typed::To { display_name: None, uri: target.clone(), params: vec![] };
    let request = endpoint.make_request(Method::Options, target, via, from, to, 1, None);
    let key = TransactionKey::from_request(&request, TransactionRole::Client).ok()?;
    let mut tx = Transaction::new_client(key, request, endpoint, None);
    tx.destination = Some(SipAddr { r#type: Some(rsip::Transport::Udp), addr: addr.into() });
    let started = Instant::now();
    tx.send().await.ok()?;
    tokio::time::timeout(ANSWER_WITHIN, async {
        while let Some(message) = tx.receive().await {
            if let rsip::SipMessage::Response(response) = message
                && response.status_code.kind() != rsip::StatusCodeKind::Provisional
            {
                return Some(started.elapsed());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
