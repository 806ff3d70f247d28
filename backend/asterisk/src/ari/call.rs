//! One inbound call through Asterisk, as the built-in edge handles one: the customer rings,
//! the responsible manager's phone first, then everyone's; the first to answer is bridged;
//! each side is recorded on its own (a snoop channel per side, since a bridged channel cannot be
//! recorded), and the two are merged into the stereo WAV both paths store.
use super::client::AriClient;
use super::events::{Channel, Event};
use super::worker::{Routes, WorkerSettings};
use crm_core::calls::HangupBy;
use crm_core::pbx::{PbxCallRecord, PbxCallStage};
use crm_core::services::Services;
use crm_core::telephony::Refusal;
use crm_core::{CallId, TenantId, UserId};
use crm_recording::Spool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

pub(crate) struct CallContext {
    pub client: AriClient,
    pub services: Services,
    pub spool: Spool,
    pub settings: WorkerSettings,
    pub routes: Routes,
    /// Calls this process is handling: each is handled once (events, takeovers and retries
    /// all check here first).
    pub active: std::sync::Mutex<std::collections::HashSet<CallId>>,
}

/// A bridged call as any worker needs it to finish the call and store its recording.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Bridged {
    pub tenant: TenantId,
    pub call: CallId,
    /// The customer's leg (the trunk's channel, or the one dialled through it).
    pub trunk: String,
    pub agent: String,
    pub bridge: String,
    pub snoops: [String; 2],
    pub names: [String; 2],
    /// The agent who answered (absent from records older than this field).
    #[serde(default)]
    pub answered_by: Option<UserId>,
}

/// A call not answered yet: the channels to hang up if its worker dies.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Unanswered {
    pub channels: Vec<String>,
}

/// Holds a call as this process's while it lives.
pub(crate) struct Held<'a> {
    context: &'a CallContext,
    call: CallId,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.context.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.call);
    }
}

impl CallContext {
    /// Takes `call` on unless this process already handles it.
    pub(crate) fn hold(&self, call: CallId) -> Option<Held<'_>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner()).insert(call).then_some(Held { context: self, call })
    }

    /// Writes down where a call stands (durably: a worker or Redis dying loses nothing).
    pub(crate) async fn note(
        &self,
        tenant: TenantId,
        call: CallId,
        stage: PbxCallStage,
        state: &impl serde::Serialize,
    ) {
        let record = PbxCallRecord {
            tenant_id: tenant,
            call_id: call,
            server: self.settings.server_key.clone(),
            stage,
            state: serde_json::to_string(state).unwrap_or_default(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            last_error: None,
        };
        if let Err(error) = self.services.save_pbx_call(&record).await {
            tracing::error!(%error, %call, "cannot write down a call's state; another worker could not finish it");
        }
    }

    /// Ends the call record; a failure is logged (the call itself is over either way).
    pub(crate) async fn close(&self, tenant: TenantId, call: CallId, by: HangupBy, cause: Option<u16>) {
        if let Err(error) = self.services.end_call(tenant, call, by, cause).await {
            tracing::error!(%error, %call, "could not close a call");
        }
    }

    /// Ends a call that was never bridged (nothing to record) and forgets it.
    pub(crate) async fn close_unbridged(&self, tenant: TenantId, call: CallId, by: HangupBy, cause: Option<u16>) {
        self.close(tenant, call, by, cause).await;
        self.forget(tenant, call).await;
    }

    pub(crate) async fn forget(&self, tenant: TenantId, call: CallId) {
        if let Err(error) = self.services.drop_pbx_call(tenant, call).await {
            tracing::warn!(%error, %call, "cannot drop a finished call's record; it will be looked at again");
        }
    }
}

/// Every `period`: finishes the calls other workers left (they died, or lost the lease),
/// closes unanswered ones, and retries recordings that could not be stored yet.
pub(crate) async fn sweep_every(context: Arc<CallContext>, period: Duration) {
    let mut fresh = true;
    loop {
        sweep(&context, fresh).await;
        fresh = false;
        tokio::time::sleep(period).await;
    }
}

async fn sweep(context: &Arc<CallContext>, fresh: bool) {
    let records = match context.services.pbx_calls(&context.settings.server_key).await {
        Ok(records) => records,
        Err(error) => {
            tracing::warn!(%error, "cannot read this Asterisk's calls in progress");
            return;
        }
    };
    let now = chrono::Utc::now();
    for record in records {
        let active = context.active.lock().unwrap_or_else(|e| e.into_inner()).contains(&record.call_id);
        match (record.stage, active) {
            (PbxCallStage::Ringing, false) => {
                tokio::spawn(abandon(context.clone(), record));
            }
            (PbxCallStage::Talking, false) => {
                let Ok(bridged) = serde_json::from_str::<Bridged>(&record.state) else { continue };
                tracing::info!(call = %bridged.call, "taking over a call in progress");
                tokio::spawn(resume(context.clone(), bridged));
            }
            // Events may have been missed while the link was down.
            (PbxCallStage::Talking, true) if fresh => {
                let Ok(bridged) = serde_json::from_str::<Bridged>(&record.state) else { continue };
                tokio::spawn(recheck(context.clone(), bridged));
            }
            (PbxCallStage::Recording, false) if record.next_attempt_at <= now => {
                tokio::spawn(super::store::retry(context.clone(), record));
            }
            _ => {}
        }
    }
}

/// A call whose worker died before it was answered: its channels are hung up and it is closed
/// as missed (leaving a callback task, as any missed call).
async fn abandon(context: Arc<CallContext>, record: PbxCallRecord) {
    let Some(_held) = context.hold(record.call_id) else { return };
    if let Ok(unanswered) = serde_json::from_str::<Unanswered>(&record.state) {
        for channel in &unanswered.channels {
            let _ = context.client.hangup(channel, "normal").await;
        }
    }
    tracing::info!(call = %record.call_id, "a call left ringing by another worker is closed as missed");
    context.close_unbridged(record.tenant_id, record.call_id, HangupBy::System, Some(480)).await;
}

/// Tells a call in progress that a side hung up while no event could arrive.
async fn recheck(context: Arc<CallContext>, bridged: Bridged) {
    for channel in [&bridged.trunk, &bridged.agent] {
        if matches!(context.client.channel_exists(channel).await, Ok(false)) {
            let gone = Channel { id: channel.clone(), ..Default::default() };
            context.routes.deliver(&Event::ChannelDestroyed { channel: gone, cause: None });
        }
    }
}

async fn resume(context: Arc<CallContext>, bridged: Bridged) {
    let context = &*context;
    let Some(held) = context.hold(bridged.call) else { return };
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut owned = Owned::new(context, sender);
    for channel in [&bridged.trunk, &bridged.agent].into_iter().chain(&bridged.snoops) {
        owned.channel(channel);
    }
    for name in &bridged.names {
        owned.recording(name);
    }
    // A side may have hung up while no worker was listening.
    let client = &context.client;
    let by = if matches!(client.channel_exists(&bridged.trunk).await, Ok(false)) {
        Some(HangupBy::Customer)
    } else if matches!(client.channel_exists(&bridged.agent).await, Ok(false)) {
        Some(HangupBy::Agent)
    } else {
        None
    };
    mark_answered(context, &bridged).await;
    finish(context, held, owned, &mut events, &bridged, by).await;
}

/// Marks the call answered by its agent; a call already marked (the usual case on a takeover)
/// stays as it is.
async fn mark_answered(context: &CallContext, bridged: &Bridged) {
    let Some(agent) = bridged.answered_by else { return };
    match context.services.answer_call(bridged.tenant, bridged.call, agent).await {
        Ok(_) | Err(crm_core::Error::Conflict(_)) => {}
        Err(error) => tracing::error!(%error, call = %bridged.call, "could not mark a call answered"),
    }
}

/// The channels and recordings a call registered for its events, forgotten when it ends.
pub(crate) struct Owned<'a> {
    context: &'a CallContext,
    sender: UnboundedSender<Event>,
    channels: Vec<String>,
    recordings: Vec<String>,
}

impl<'a> Owned<'a> {
    pub(crate) fn new(context: &'a CallContext, sender: UnboundedSender<Event>) -> Self {
        Self { context, sender, channels: Vec::new(), recordings: Vec::new() }
    }
    pub(crate) fn channel(&mut self, id: &str) {
        self.context.routes.channel(id, &self.sender);
        self.channels.push(id.to_owned());
    }
    fn recording(&mut self, name: &str) {
        self.context.routes.recording(name, &self.sender);
        self.recordings.push(name.to_owned());
    }
}

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        self.context.routes.forget(&self.channels, &self.recordings);
    }
}

/// The event ends `channel` (hung up or gone).
pub(crate) fn ended(event: &Event, channel: &str) -> bool {
    matches!(event, Event::StasisEnd { channel: c } | Event::ChannelHangupRequest { channel: c, .. }
        | Event::ChannelDestroyed { channel: c, .. } if c.id == channel)
}

enum Rang {
    Answered {
        user: UserId,
        channel: String,
    },
    CallerGone,
    /// 486 when every phone was busy, else 480.
    Failed(u16),
}

pub(crate) async fn inbound(
    context: Arc<CallContext>,
    tenant: TenantId,
    exten: String,
    trunk: Channel,
    sender: UnboundedSender<Event>,
    mut events: UnboundedReceiver<Event>,
) {
    let context = &*context;
    let mut owned = Owned { context, sender, channels: vec![trunk.id.clone()], recordings: Vec::new() };
    let client = &context.client;
    let route = match context.services.route_pbx_inbound(tenant, &exten).await {
        Ok(Ok(route)) => route,
        Ok(Err(Refusal::UnknownSource | Refusal::UnknownNumber)) => {
            let _ = client.hangup(&trunk.id, "unallocated").await;
            return;
        }
        Err(error) => {
            tracing::error!(%error, "routing an Asterisk call failed");
            let _ = client.hangup(&trunk.id, "failure").await;
            return;
        }
    };
    let caller = trunk.caller.as_ref().map(|c| c.number.clone()).unwrap_or_default();
    let (call, customer) = match context.services.start_inbound_call(&route, &caller, &context.settings.worker_id).await
    {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, "could not record an Asterisk call");
            let _ = client.hangup(&trunk.id, "failure").await;
            return;
        }
    };
    let call_id = call.id;
    let Some(held) = context.hold(call_id) else { return };
    context.note(tenant, call_id, PbxCallStage::Ringing, &Unanswered { channels: vec![trunk.id.clone()] }).await;
    let end = |by: HangupBy, cause: Option<u16>| context.close_unbridged(tenant, call_id, by, cause);
    let _ = client.ring(&trunk.id).await;

    // Who rings, in stages: the responsible manager alone first, then everyone.
    let phones = match context.services.tenant_pbx(tenant).await {
        Ok(pbx) => pbx.extensions,
        Err(error) => {
            tracing::error!(%error, "cannot list the company's extensions");
            Vec::new()
        }
    };
    let mut online = Vec::new();
    for phone in phones {
        let state = client.endpoint("PJSIP", &phone.username).await.ok().and_then(|e| e.state);
        if state.as_deref() == Some("online") {
            online.push((phone.user_id, phone.username));
        }
    }
    let responsible = customer.and_then(|c| c.responsible_user_id);
    let (first, rest): (Vec<_>, Vec<_>) = online.into_iter().partition(|(user, _)| Some(*user) == responsible);
    let stages: Vec<_> = [first, rest].into_iter().filter(|s| !s.is_empty()).collect();
    if stages.is_empty() {
        tracing::info!(call = %call_id, "no agent's phone is registered with Asterisk");
        let _ = client.hangup(&trunk.id, "no_answer").await;
        end(HangupBy::System, Some(480)).await;
        return;
    }

    let started = Instant::now();
    let mut outcome = Rang::Failed(480);
    let last = stages.len() - 1;
    for (n, stage) in stages.iter().enumerate() {
        let budget = if n < last {
            context.settings.responsible_first
        } else {
            context.settings.ring_timeout.saturating_sub(started.elapsed())
        };
        outcome = ring(context, &mut owned, &mut events, call_id, tenant, &trunk.id, &caller, stage, budget).await;
        if !matches!(outcome, Rang::Failed(_)) {
            break;
        }
    }
    let (agent, agent_channel) = match outcome {
        Rang::Answered { user, channel } => (user, channel),
        Rang::CallerGone => {
            end(HangupBy::Customer, Some(487)).await;
            return;
        }
        Rang::Failed(code) => {
            let (reason, by) = if code == 486 { ("busy", HangupBy::Agent) } else { ("no_answer", HangupBy::System) };
            let _ = client.hangup(&trunk.id, reason).await;
            end(by, Some(code)).await;
            return;
        }
    };
    if let Err(error) = client.answer(&trunk.id).await {
        tracing::warn!(%error, call = %call_id, "cannot answer the trunk's channel");
    }
    talk(context, held, owned, &mut events, tenant, call_id, agent, [&trunk.id, &agent_channel]).await;
}

/// Both legs answered (`legs`: the customer's, the agent's): bridges them, records each side,
/// marks the call answered by `agent`, and carries it to its end.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn talk(
    context: &CallContext,
    held: Held<'_>,
    mut owned: Owned<'_>,
    events: &mut UnboundedReceiver<Event>,
    tenant: TenantId,
    call_id: CallId,
    agent: UserId,
    legs: [&str; 2],
) {
    let client = &context.client;
    let bridge = call_id.to_string();
    let names = [format!("crm/{call_id}-customer"), format!("crm/{call_id}-agent")];
    let snoops = [format!("{call_id}-snoop-customer"), format!("{call_id}-snoop-agent")];
    for snoop in &snoops {
        owned.channel(snoop);
    }
    for name in &names {
        owned.recording(name);
    }
    let ari = |e: super::client::AriError| Setup::Failed(e.to_string());
    let setup = async {
        client.create_bridge(&bridge).await.map_err(ari)?;
        client.add_to_bridge(&bridge, &legs).await.map_err(ari)?;
        for ((target, snoop), name) in legs.into_iter().zip(&snoops).zip(&names) {
            let args = format!("{tenant},snoop,{call_id}");
            client.snoop(target, snoop, &context.settings.app, &args).await.map_err(ari)?;
            // A snoop channel can be recorded once it is in our application.
            entered(events, snoop, legs).await?;
            client.record_channel(snoop, name).await.map_err(ari)?;
        }
        Ok::<(), Setup>(())
    };
    if let Err(failure) = setup.await {
        for leg in legs {
            let _ = client.hangup(leg, "normal").await;
        }
        let _ = client.destroy_bridge(&bridge).await;
        match failure {
            Setup::Ended(by) => context.close_unbridged(tenant, call_id, by, None).await,
            Setup::Failed(error) => {
                tracing::error!(error, call = %call_id, "could not bridge an answered call");
                context.close_unbridged(tenant, call_id, HangupBy::System, Some(500)).await;
            }
        }
        return;
    }
    let bridged = Bridged {
        tenant,
        call: call_id,
        trunk: legs[0].to_owned(),
        agent: legs[1].to_owned(),
        bridge,
        snoops,
        names,
        answered_by: Some(agent),
    };
    // Written down before the call shows as answered: a worker dying in between leaves a call
    // the next one carries on (and marks answered), never an answered one it would hang up.
    context.note(tenant, call_id, PbxCallStage::Talking, &bridged).await;
    mark_answered(context, &bridged).await;
    finish(context, held, owned, events, &bridged, None).await;
}

/// Talks until a side hangs up (unless `by` says one already did), hangs up the other, closes
/// the call, and stores its recording.
async fn finish(
    context: &CallContext,
    held: Held<'_>,
    owned: Owned<'_>,
    events: &mut UnboundedReceiver<Event>,
    bridged: &Bridged,
    by: Option<HangupBy>,
) {
    let client = &context.client;
    let (tenant, call_id, names) = (bridged.tenant, bridged.call, &bridged.names);
    let by = match by {
        Some(by) => by,
        None => loop {
            match events.recv().await {
                Some(event) if ended(&event, &bridged.trunk) => break HangupBy::Customer,
                Some(event) if ended(&event, &bridged.agent) => break HangupBy::Agent,
                Some(_) => {}
                None => break HangupBy::System,
            }
        },
    };
    let other = if by == HangupBy::Customer { &bridged.agent } else { &bridged.trunk };
    let _ = client.hangup(other, "normal").await;
    let _ = client.destroy_bridge(&bridged.bridge).await;
    context.close(tenant, call_id, by, None).await;
    context.note(tenant, call_id, PbxCallStage::Recording, bridged).await;

    // The snoops end with their channels; their recordings finish then (or already did, while
    // no worker was listening).
    let mut finished = 0;
    for name in names {
        if matches!(client.live_recording_exists(name).await, Ok(false)) {
            finished += 1;
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    while finished < names.len() {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::RecordingFinished { recording } | Event::RecordingFailed { recording })
                    if names.contains(&recording.name) => finished += 1,
                Some(_) => {}
                None => break,
            },
            () = &mut deadline => {
                tracing::warn!(call = %call_id, "Asterisk did not finish the recordings in time; fetching what is there");
                break;
            }
        }
    }
    drop(owned);
    super::store::store_or_retry_later(context, bridged, 0).await;
    drop(held);
}

/// Why bridging an answered call stopped.
enum Setup {
    /// A side hung up meanwhile (customer: the trunk leg; agent: the phone's).
    Ended(HangupBy),
    Failed(String),
}

/// Waits for `channel` to enter our application; stops if a leg (trunk, agent) ends first.
async fn entered(events: &mut UnboundedReceiver<Event>, channel: &str, legs: [&str; 2]) -> Result<(), Setup> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if ended(&event, legs[0]) {
                return Err(Setup::Ended(HangupBy::Customer));
            }
            if ended(&event, legs[1]) {
                return Err(Setup::Ended(HangupBy::Agent));
            }
            if matches!(&event, Event::StasisStart { channel: c, .. } if c.id == channel) {
                return Ok(());
            }
        }
        Err(Setup::Failed("the event stream closed".to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| Err(Setup::Failed(format!("{channel} did not enter the application in time"))))
}

/// Rings `phones` at once for up to `budget`; the first to answer wins, the others are hung up.
#[allow(clippy::too_many_arguments)]
async fn ring(
    context: &CallContext,
    owned: &mut Owned<'_>,
    events: &mut UnboundedReceiver<Event>,
    call: CallId,
    tenant: TenantId,
    trunk: &str,
    caller: &str,
    phones: &[(UserId, String)],
    budget: Duration,
) -> Rang {
    let client = &context.client;
    let mut pending: Vec<(UserId, String)> = Vec::new();
    for (n, (user, username)) in phones.iter().enumerate() {
        let id = format!("{call}-agent-{}-{n}", owned.channels.len());
        owned.channel(&id);
        let args = format!("{tenant},agent,{call}");
        let timeout = budget.as_secs().max(1);
        match client.originate(&id, &format!("PJSIP/{username}"), &context.settings.app, &args, caller, timeout).await {
            Ok(()) => pending.push((*user, id)),
            Err(error) => tracing::warn!(%error, "cannot ring a phone through Asterisk"),
        }
    }
    let hang_up_all = |except: Option<&str>| {
        let others: Vec<String> =
            pending.iter().map(|(_, id)| id.clone()).filter(|id| Some(id.as_str()) != except).collect();
        async move {
            for id in others {
                let _ = client.hangup(&id, "normal").await;
            }
        }
    };
    let (mut busy, mut tried) = (0usize, pending.len());
    let deadline = tokio::time::sleep(budget);
    tokio::pin!(deadline);
    let mut live = pending.clone();
    while !live.is_empty() {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if ended(&event, trunk) {
                    hang_up_all(None).await;
                    return Rang::CallerGone;
                }
                match event {
                    // A phone's channel enters our app once it is answered.
                    Event::StasisStart { channel, .. } => {
                        if let Some((user, id)) = live.iter().find(|(_, id)| *id == channel.id).cloned() {
                            hang_up_all(Some(&id)).await;
                            return Rang::Answered { user, channel: id };
                        }
                    }
                    Event::ChannelDestroyed { channel, cause } if live.iter().any(|(_, id)| *id == channel.id) => {
                        live.retain(|(_, id)| *id != channel.id);
                        // Q.850 cause 17: user busy.
                        busy += usize::from(cause == Some(17));
                    }
                    _ => {}
                }
            }
            () = &mut deadline => {
                hang_up_all(None).await;
                tried = 0;
                break;
            }
        }
    }
    Rang::Failed(if tried > 0 && busy == tried { 486 } else { 480 })
}
