//! Our outward registrations: trunks whose remote side (a provider, or Kerio Control set up that
//! way) wants us to REGISTER. One task per trunk keeps its registration alive, refreshing before
//! the granted expiry and retrying with back-off; a trunk removed or changed is unregistered.
use crate::handler::Context;
use crm_core::TrunkId;
use crm_core::telephony::{RegistrationStatus, RegistrationTarget};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::registration::Registration;
use rsipstack::sip::{self as rsip, StatusCodeKind};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Retries after a failure start here and double up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(120);

struct Running {
    target: RegistrationTarget,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Follows the configured registrations, checking for changes every `every`.
pub async fn run(context: Arc<Context>, every: Duration, stop: CancellationToken) {
    let mut running: HashMap<TrunkId, Running> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let targets = match context.services.registration_targets().await {
            Ok(targets) => targets,
            Err(error) => {
                tracing::warn!(%error, "cannot list trunk registrations");
                continue;
            }
        };
        let stale: Vec<TrunkId> = running
            .iter()
            .filter(|(id, r)| !targets.iter().any(|t| t.trunk_id == **id && t.same_as(&r.target)))
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(old) = running.remove(&id) {
                old.cancel.cancel();
                // Its unregistration must not land after the new registration of the same contact.
                let _ = tokio::time::timeout(Duration::from_secs(5), old.task).await;
            }
        }
        for target in targets {
            if running.contains_key(&target.trunk_id) {
                continue;
            }
            let cancel = stop.child_token();
            let task = tokio::spawn(keep_registered(context.clone(), target.clone(), cancel.clone()));
            running.insert(target.trunk_id, Running { target, cancel, task });
        }
    }
}

async fn keep_registered(context: Arc<Context>, target: RegistrationTarget, cancel: CancellationToken) {
    let trunk = target.trunk_id;
    let host = target.domain.clone().unwrap_or_else(|| target.address.to_string());
    let Ok(server) = rsip::Uri::try_from(format!("sip:{host}")) else {
        tracing::error!(%trunk, host, "cannot make a registrar URI");
        return;
    };
    let credential = Credential {
        username: target.username.clone(),
        password: target.password.expose_secret().to_owned(),
        realm: None,
        auth_username: None,
    };
    let mut registration = Registration::new(context.endpoint.clone(), Some(credential));
    // Packets go to the trunk's address even when the registrar's domain is named.
    registration.outbound_proxy = Some(target.address);
    let contact_uri = context.advertise.uri(&target.username, target.address.ip());
    registration.contact = Some(rsip::typed::Contact { display_name: None, uri: contact_uri, params: vec![] });

    let mut retry = FIRST_RETRY;
    let mut registered = false;
    loop {
        let outcome = tokio::select! {
            outcome = registration.register(server.clone(), Some(target.expires_secs)) => outcome,
            () = cancel.cancelled() => break,
        };
        let now = chrono::Utc::now();
        let (status, wait) = match outcome {
            Ok(response) if response.status_code.kind() == StatusCodeKind::Successful => {
                let granted = registration.expires().max(1);
                retry = FIRST_RETRY;
                if !registered {
                    tracing::info!(%trunk, registrar = %target.address, seconds = granted, "registered to the trunk");
                }
                registered = true;
                let status = RegistrationStatus {
                    registered: true,
                    error: None,
                    expires_at: Some(now + chrono::Duration::seconds(i64::from(granted))),
                    checked_at: now,
                };
                // Refresh well before it runs out (and a NAT binding with it).
                (status, Duration::from_secs(u64::from(granted)) * 3 / 4)
            }
            other => {
                let error = match other {
                    Ok(response) => response.status_code.to_string(),
                    Err(error) => {
                        tracing::debug!(%error, "registration got no answer");
                        "no answer from the registrar".to_owned()
                    }
                };
                tracing::warn!(%trunk, registrar = %target.address, error, "trunk registration failed; will retry");
                registered = false;
                let status =
                    RegistrationStatus { registered: false, error: Some(error), expires_at: None, checked_at: now };
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                (status, wait)
            }
        };
        context.registrar.set_registration(trunk, Some(status));
        tokio::select! {
            () = tokio::time::sleep(wait.max(Duration::from_secs(1))) => {}
            () = cancel.cancelled() => break,
        }
    }
    if registered {
        let _ = tokio::time::timeout(Duration::from_secs(4), registration.register(server, Some(0))).await;
        tracing::info!(%trunk, "unregistered from the trunk");
    }
    context.registrar.set_registration(trunk, None);
}
