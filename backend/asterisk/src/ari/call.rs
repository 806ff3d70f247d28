//! One inbound call through Asterisk, as the built-in edge handles one: the customer rings,
//! the responsible manager's phone first, then everyone's; the first to answer is bridged;
//! each side is recorded on its own (a snoop channel per side, since a bridged channel cannot be
//! recorded), and the two are merged into the stereo WAV both paths store.
use super::client::AriClient;
use super::events::{Channel, Event};
use super::worker::{Routes, WorkerSettings};
use crm_core::calls::HangupBy;
use crm_core::services::Services;
use crm_core::telephony::Refusal;
use crm_core::{CallId, TenantId, UserId};
use crm_recording::{Side, Spool};
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
    /// Calls this process is handling (a reconnect must not take them over a second time).
    pub active: std::sync::Mutex<std::collections::HashSet<CallId>>,
}

/// A bridged call as another worker needs it to finish the call if this one dies.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Bridged {
    tenant: TenantId,
    call: CallId,
    trunk: String,
    agent: String,
    bridge: String,
    snoops: [String; 2],
    names: [String; 2],
}

impl CallContext {
    fn records_set(&self) -> String {
        format!("asterisk-calls:{}:{}", self.settings.ari_url, self.settings.app)
    }

    async fn remember(&self, bridged: &Bridged) {
        if let Some(records) = &self.settings.records {
            let value = serde_json::to_string(bridged).unwrap_or_default();
            if let Err(error) = records.put(&self.records_set(), &bridged.call.to_string(), &value).await {
                tracing::warn!(%error, call = %bridged.call, "cannot share a call's state; another worker could not finish it");
            }
        }
    }

    /// Ends the call record; a failure is logged (the call itself is over either way).
    async fn close(&self, tenant: TenantId, call: CallId, by: HangupBy, cause: Option<u16>) {
        if let Err(error) = self.services.end_call(tenant, call, by, cause).await {
            tracing::error!(%error, %call, "could not close a call");
        }
    }

    async fn forget(&self, call: CallId) {
        if let Some(records) = &self.settings.records {
            let _ = records.remove(&self.records_set(), &call.to_string()).await;
        }
    }
}

/// Takes over the bridged calls other workers left (they died, or lost the lease).
pub(crate) async fn take_over(context: Arc<CallContext>) {
    let Some(records) = &context.settings.records else { return };
    let stored = match records.all(&context.records_set()).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::warn!(%error, "cannot read the calls other workers left");
            return;
        }
    };
    for value in stored {
        let Ok(bridged) = serde_json::from_str::<Bridged>(&value) else { continue };
        if !context.active.lock().unwrap_or_else(|e| e.into_inner()).insert(bridged.call) {
            continue;
        }
        tracing::info!(call = %bridged.call, "taking over a call in progress");
        tokio::spawn(resume(context.clone(), bridged));
    }
}

async fn resume(context: Arc<CallContext>, bridged: Bridged) {
    let context = &*context;
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut owned = Owned { context, sender, channels: Vec::new(), recordings: Vec::new() };
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
    finish(context, owned, &mut events, &bridged, by).await;
}

/// The channels and recordings a call registered for its events, forgotten when it ends.
struct Owned<'a> {
    context: &'a CallContext,
    sender: UnboundedSender<Event>,
    channels: Vec<String>,
    recordings: Vec<String>,
}

impl Owned<'_> {
    fn channel(&mut self, id: &str) {
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
fn ended(event: &Event, channel: &str) -> bool {
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
    let end = |by: HangupBy, cause: Option<u16>| context.close(tenant, call_id, by, cause);
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

    // Answered: bridge, record each side, talk until either hangs up.
    let bridge = call_id.to_string();
    let names = [format!("crm/{call_id}-customer"), format!("crm/{call_id}-agent")];
    let snoops = [format!("{call_id}-snoop-customer"), format!("{call_id}-snoop-agent")];
    for snoop in &snoops {
        owned.channel(snoop);
    }
    for name in &names {
        owned.recording(name);
    }
    let legs = [trunk.id.as_str(), agent_channel.as_str()];
    let ari = |e: super::client::AriError| Setup::Failed(e.to_string());
    let setup = async {
        client.answer(&trunk.id).await.map_err(ari)?;
        client.create_bridge(&bridge).await.map_err(ari)?;
        client.add_to_bridge(&bridge, &legs).await.map_err(ari)?;
        for ((target, snoop), name) in legs.into_iter().zip(&snoops).zip(&names) {
            let args = format!("{tenant},snoop,{call_id}");
            client.snoop(target, snoop, &context.settings.app, &args).await.map_err(ari)?;
            // A snoop channel can be recorded once it is in our application.
            entered(&mut events, snoop, legs).await?;
            client.record_channel(snoop, name).await.map_err(ari)?;
        }
        Ok::<(), Setup>(())
    };
    if let Err(failure) = setup.await {
        let _ = client.hangup(&trunk.id, "normal").await;
        let _ = client.hangup(&agent_channel, "normal").await;
        let _ = client.destroy_bridge(&bridge).await;
        match failure {
            Setup::Ended(by) => end(by, None).await,
            Setup::Failed(error) => {
                tracing::error!(error, call = %call_id, "could not bridge an answered call");
                end(HangupBy::System, Some(500)).await;
            }
        }
        return;
    }
    if let Err(error) = context.services.answer_call(tenant, call_id, agent).await {
        tracing::error!(%error, call = %call_id, "could not mark a call answered");
    }
    let bridged = Bridged {
        tenant,
        call: call_id,
        trunk: trunk.id.clone(),
        agent: agent_channel.clone(),
        bridge,
        snoops: snoops.clone(),
        names: names.clone(),
    };
    context.active.lock().unwrap_or_else(|e| e.into_inner()).insert(call_id);
    context.remember(&bridged).await;
    finish(context, owned, &mut events, &bridged, None).await;
}

/// Talks until a side hangs up (unless `by` says one already did), hangs up the other, closes
/// the call, and stores its recording.
async fn finish(
    context: &CallContext,
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
    store_recording(context, tenant, call_id, names).await;
    context.forget(call_id).await;
    context.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&call_id);
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

/// Fetches both sides' recordings, merges them into the stereo WAV (customer left, agent
/// right) in the spool, uploads and links it, and deletes them from Asterisk.
async fn store_recording(context: &CallContext, tenant: TenantId, call: CallId, names: &[String; 2]) {
    let client = &context.client;
    let mut sides = Vec::with_capacity(2);
    for name in names {
        match client.stored_recording(name).await {
            Ok(wav) => sides.push(read_mono(&wav)),
            Err(error) => {
                tracing::error!(%error, %call, name, "could not fetch a recording from Asterisk; it stays there");
                return;
            }
        }
    }
    let written = (|| {
        let mut writer = context.spool.create(&call.to_string(), &crm_recording::recording_key(tenant, call))?;
        let longest = sides.iter().map(Vec::len).max().unwrap_or(0);
        // Side by side in 20 ms steps, so neither runs ahead of the other.
        for start in (0..longest).step_by(160) {
            for (side, samples) in [Side::Customer, Side::Agent].into_iter().zip(&sides) {
                if start < samples.len() {
                    writer.push(side, start as u64, &samples[start..(start + 160).min(samples.len())])?;
                }
            }
        }
        writer.finish(Some(longest as u64))
    })();
    if let Err(error) = written {
        tracing::error!(%error, %call, "could not write a recording to the spool");
        return;
    }
    for name in names {
        if let Err(error) = client.delete_stored_recording(name).await {
            tracing::warn!(%error, name, "could not delete a recording from Asterisk");
        }
    }
    crm_recording::upload_and_link(context.services.clone(), context.spool.clone(), tenant, call).await;
}

/// 16-bit samples of a mono WAV (Asterisk's `wav` is 8 kHz signed linear); empty if unreadable.
fn read_mono(wav: &[u8]) -> Vec<i16> {
    match hound::WavReader::new(std::io::Cursor::new(wav)) {
        Ok(mut reader) => reader.samples::<i16>().filter_map(Result::ok).collect(),
        Err(error) => {
            tracing::error!(%error, "a recording from Asterisk is not a WAV file");
            Vec::new()
        }
    }
}
