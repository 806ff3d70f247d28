//! What the edge does with each incoming SIP transaction.
use crate::digest::Digest;
use crate::registrar::Registrar;
use crm_core::services::{FailureLimiter, Services};
use crm_core::telephony::{Refusal, RegisteredPhone};
use crm_media::PortRange;
use crm_recording::Spool;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{self as rsip, Header, Method, StatusCode};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transaction::transaction::Transaction;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Context {
    pub services: Services,
    pub registrar: Arc<Registrar>,
    pub digest: Digest,
    pub failures: FailureLimiter,
    pub dialogs: Arc<DialogLayer>,
    pub endpoint: rsipstack::transaction::endpoint::EndpointInnerRef,
    pub ports: PortRange,
    pub spool: Spool,
    /// Which of our addresses each peer is given in Contact and SDP.
    pub advertise: crate::advertise::Advertise,
    pub edge_id: String,
    /// How long phones may ring before the call counts as missed.
    pub ring_timeout: Duration,
    /// How long the responsible manager's phones ring alone before everyone's ring.
    pub responsible_first: Duration,
}

pub async fn serve(context: Arc<Context>, mut incoming: TransactionReceiver, cancel: CancellationToken) {
    loop {
        let tx = tokio::select! {
            tx = incoming.recv() => tx,
            () = cancel.cancelled() => None,
        };
        let Some(tx) = tx else { break };
        let context = context.clone();
        tokio::spawn(async move {
            let method = tx.original.method;
            if let Err(error) = handle(context, tx).await {
                tracing::warn!(%error, ?method, "SIP transaction failed");
            }
        });
    }
}

/// Where the request really came from (after NAT), which is what trunks are identified by.
pub(crate) fn source(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection.as_ref()?.get_remote_addr()?.addr.to_string().parse().ok()
}

async fn handle(context: Arc<Context>, mut tx: Transaction) -> rsipstack::Result<()> {
    let Some(from) = source(&tx) else {
        return tx.reply(StatusCode::BadRequest).await;
    };
    // Requests inside a call (ACK, BYE, re-INVITE...) go to its dialog.
    let in_dialog = tx.original.to_header().ok().and_then(|to| to.tag().ok().flatten()).is_some();
    if in_dialog {
        return match context.dialogs.match_dialog(&tx) {
            Some(mut dialog) => dialog.handle(&mut tx).await,
            None if tx.original.method == Method::Ack => Ok(()),
            None => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        };
    }
    let context = &context;
    metrics::counter!("crm_sip_requests_total", "method" => tx.original.method.to_string()).increment(1);
    match tx.original.method {
        Method::Options => tx.reply(StatusCode::OK).await,
        Method::Register => register(context, &mut tx, from).await,
        Method::Invite => invite(context, tx, from).await,
        Method::Ack => Ok(()),
        Method::Bye | Method::Cancel => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        _ => tx.reply(StatusCode::MethodNotAllowed).await,
    }
}

async fn invite(context: &Arc<Context>, mut tx: Transaction, from: SocketAddr) -> rsipstack::Result<()> {
    let dialed = dialed_number(&tx.original);
    let decision = match context.services.route_inbound(from.ip(), &dialed).await {
        Ok(decision) => decision,
        Err(error) => {
            tracing::error!(%error, "routing an inbound call failed");
            return tx.reply(StatusCode::ServerInternalError).await;
        }
    };
    let status = match decision {
        Err(Refusal::UnknownSource) => StatusCode::Forbidden,
        Err(Refusal::UnknownNumber) => StatusCode::NotFound,
        Ok(route) if !trunk_authenticated(context, &tx, &route.trunk) => {
            metrics::counter!("crm_sip_auth_failures_total").increment(1);
            let challenge = Header::ProxyAuthenticate(context.digest.challenge().into());
            tx.reply_with(StatusCode::ProxyAuthenticationRequired, vec![challenge], None).await?;
            absorb_ack(&mut tx).await;
            return Ok(());
        }
        Ok(route) => {
            crate::call::inbound(context.clone(), route, tx).await;
            return Ok(());
        }
    };
    tx.reply(status).await?;
    absorb_ack(&mut tx).await;
    Ok(())
}

/// The number called: the request URI's user, as Kerio sends it. A provider we register to
/// addresses our registered Contact (its user is our login) and names the number in To.
fn dialed_number(request: &rsip::Request) -> String {
    let uri_user = request.uri.auth.as_ref().map(|a| a.user.clone()).unwrap_or_default();
    if crm_core::telephony::dialed_e164(&uri_user).is_some() {
        return uri_user;
    }
    let to_user = request.to_header().ok().and_then(|to| to.uri().ok()).and_then(|uri| uri.auth.map(|a| a.user));
    to_user.unwrap_or(uri_user)
}

/// A trunk with credentials must prove them (Proxy-Authorization); one without needs nothing.
fn trunk_authenticated(context: &Context, tx: &Transaction, trunk: &crm_core::telephony::Trunk) -> bool {
    let Some((username, ha1)) = &trunk.credentials else { return true };
    tx.original.headers.iter().any(|header| match header {
        Header::ProxyAuthorization(value) => {
            context.digest.verify(value.value(), "INVITE", |user| (user == username).then(|| ha1.clone())).is_some()
        }
        _ => false,
    })
}

async fn absorb_ack(tx: &mut Transaction) {
    // Absorb the ACK for the final response (the transaction retransmits until it comes).
    let _ = tokio::time::timeout(Duration::from_secs(32), async {
        while let Some(message) = tx.receive().await {
            if matches!(&message, rsip::SipMessage::Request(r) if r.method == Method::Ack) {
                break;
            }
        }
    })
    .await;
}

fn challenge(context: &Context) -> Vec<Header> {
    vec![Header::WwwAuthenticate(context.digest.challenge().into())]
}

async fn register(context: &Context, tx: &mut Transaction, from: SocketAddr) -> rsipstack::Result<()> {
    let address = from.ip().to_string();
    if context.failures.check(&address).is_err() {
        tracing::warn!(%address, "REGISTER from a blocked address");
        return tx.reply(StatusCode::Forbidden).await;
    }
    let Some(authorization) = tx.original.authorization_header().map(|h| h.value().to_owned()) else {
        return tx.reply_with(StatusCode::Unauthorized, challenge(context), None).await;
    };
    let login = match Digest::username(&authorization) {
        Some(username) => match context.services.sip_login(&username).await {
            Ok(login) => login,
            // Our failure, not the phone's: it should try again, and nothing counts against it.
            Err(error) => {
                tracing::error!(%error, %address, "cannot look up a SIP login; answering 503");
                return tx.reply_with(StatusCode::ServiceUnavailable, vec![Header::RetryAfter("5".into())], None).await;
            }
        },
        None => None,
    };
    let to_user = tx.original.to_header().ok().and_then(|to| to.uri().ok()).and_then(|uri| uri.auth.map(|a| a.user));
    let proven = login.as_ref().and_then(|account| {
        context
            .digest
            .verify(&authorization, "REGISTER", |username| (username == account.username).then(|| account.ha1.clone()))
    });
    let (Some(account), Some(_)) = (&login, proven) else {
        let reason =
            if login.is_none() { "no such SIP login" } else { "wrong digest response, or an old or foreign nonce" };
        context.failures.fail(&address);
        metrics::counter!("crm_sip_auth_failures_total").increment(1);
        tracing::warn!(%address, reason, "SIP authentication failed");
        return tx.reply_with(StatusCode::Unauthorized, challenge(context), None).await;
    };
    if to_user.as_deref() != Some(account.username.as_str()) {
        return tx.reply(StatusCode::Forbidden).await;
    }
    context.failures.clear(&address);

    let requested = tx.original.expires_header().and_then(|e| e.value().trim().parse::<u64>().ok()).unwrap_or(3600);
    if requested != 0 && requested < 60 {
        return tx.reply_with(StatusCode::IntervalTooBrief, vec![Header::MinExpires("60".into())], None).await;
    }
    let expires = Duration::from_secs(requested.min(3600));
    let contacts: Vec<String> = tx.original.contact_headers().iter().map(|c| c.value().to_owned()).collect();
    let user_agent = tx.original.user_agent_header().map(|h| h.value().to_owned());
    let expires_at = chrono::Utc::now() + expires;
    for contact in &contacts {
        let uri = contact.split(';').next().unwrap_or(contact).trim().to_owned();
        let phone = RegisteredPhone { contact: uri, source: from, expires_at, user_agent: user_agent.clone() };
        context.registrar.update(&account.username, account.tenant_id, account.user_id, phone);
    }
    tracing::info!(user = %account.user_id, %from, seconds = expires.as_secs(), "phone registered");
    let mut headers: Vec<Header> = contacts.iter().map(|c| Header::Contact(c.clone().into())).collect();
    headers.push(Header::Expires(expires.as_secs().to_string().into()));
    tx.reply_with(StatusCode::OK, headers, None).await
}
