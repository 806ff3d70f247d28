//! The call lifecycle, written by the call paths (as the system, for one tenant), and read
//! by people and integrations.
use super::Services;
use crate::auth::Principal;
use crate::calls::{Call, CallQuery, CallStatus, Direction, HangupBy, NewCall, Recording};
use crate::events::EventKind;
use crate::ports::{Customer, Page, TenantTx};
use crate::tasks::{CALLBACK_WITHIN_MINUTES, Task};
use crate::telephony::InboundRoute;
use crate::{CallId, CustomerId, Error, Result, TaskId, TenantId, TrunkId, UserId, phone};
use chrono::Utc;
use futures::future::BoxFuture;

pub const MAX_CALL_PAGE: u64 = 100;

/// More writes that belong with a call's change.
type FollowUp = for<'a> fn(&'a mut dyn TenantTx, &'a Call) -> BoxFuture<'a, Result<()>>;

/// The customer was reached: their open callback tasks are done.
fn close_callbacks<'a>(tx: &'a mut dyn TenantTx, call: &'a Call) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        match call.customer_id {
            Some(customer) => tx.close_callbacks(customer, Utc::now()).await.map(drop),
            None => Ok(()),
        }
    })
}

/// A missed inbound call leaves a task to call back: for the customer's responsible
/// manager, or the company's queue.
fn leave_callback<'a>(tx: &'a mut dyn TenantTx, call: &'a Call) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        if call.status != CallStatus::Missed || call.direction != Direction::Inbound {
            return Ok(());
        }
        let customer = match call.customer_id {
            Some(id) => tx.customer(id).await?,
            None => None,
        };
        let who = customer
            .as_ref()
            .map(|c| format!("{} ({})", c.name, call.from_number))
            .unwrap_or_else(|| call.from_number.clone());
        let task = Task {
            id: TaskId::new(),
            kind: "callback".into(),
            title: format!("Call back {who}"),
            customer_id: call.customer_id,
            call_id: Some(call.id),
            assignee_id: customer.and_then(|c| c.responsible_user_id),
            due_at: Utc::now() + chrono::Duration::minutes(CALLBACK_WITHIN_MINUTES),
            done_at: None,
            created_at: Utc::now(),
        };
        tx.insert_task(&task).await?;
        super::webhooks::emit(tx, "task.created", super::webhooks::task_data(&task)).await
    })
}

impl Services {
    /// An inbound call from the trunk starts ringing: the record is created and the tenant's
    /// users are told, with the customer found by the caller's number (E.164, exact match).
    pub async fn start_inbound_call(
        &self,
        route: &InboundRoute,
        caller: &str,
        edge: &str,
    ) -> Result<(Call, Option<Customer>)> {
        let mut tx = self.db.tenant(route.tenant_id).await?;
        let country = tx.get_tenant().await?.default_country;
        let from_e164 = phone::normalize(caller, &country).ok();
        let customer = match &from_e164 {
            Some(number) => tx.customer_by_phone(number).await?,
            None => None,
        };
        let call = Call::ringing(NewCall {
            tenant_id: route.tenant_id,
            direction: Direction::Inbound,
            from_number: from_e164.unwrap_or_else(|| caller.chars().take(64).collect()),
            to_number: route.number.clone(),
            trunk_id: Some(route.trunk.id),
            customer_id: customer.as_ref().map(|c| c.id),
            user_id: None,
            edge,
        });
        tx.insert_call(&call).await?;
        super::webhooks::emit(tx.as_mut(), "call.started", super::webhooks::call_data(&call)).await?;
        self.commit_announcing(tx, [call_changed(&call)]).await?;
        Ok((call, customer))
    }

    /// Applies `change` to a call; when it changed, `follow_up` runs in the same transaction
    /// (a missed call and its callback task are written together, or not at all).
    async fn change_call(
        &self,
        tenant: TenantId,
        id: CallId,
        change: impl FnOnce(&mut Call) -> Result<bool>,
        follow_up: Option<FollowUp>,
    ) -> Result<Call> {
        let mut tx = self.db.tenant(tenant).await?;
        let mut call = tx.call(id).await?.ok_or(Error::NotFound)?;
        let status = call.status;
        if !change(&mut call)? {
            return Ok(call);
        }
        tx.update_call(&call).await?;
        if call.status != status {
            let event = super::webhooks::call_event(call.status);
            super::webhooks::emit(tx.as_mut(), event, super::webhooks::call_data(&call)).await?;
        }
        if let Some(follow_up) = follow_up {
            follow_up(tx.as_mut(), &call).await?;
        }
        let changed = (call.status != status).then(|| call_changed(&call));
        self.commit_announcing(tx, changed).await?;
        Ok(call)
    }

    /// Click-to-call: rings the caller's own phone, then calls `number` (or the customer's
    /// first phone) through `trunk` (or the first trunk with an outbound address).
    pub async fn dial(
        &self,
        principal: &Principal,
        number: Option<String>,
        customer: Option<CustomerId>,
        trunk: Option<TrunkId>,
    ) -> Result<Call> {
        principal.require_scope("calls:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let country = tx.get_tenant().await?.default_country;
        let customer = match customer {
            Some(id) => Some(tx.customer(id).await?.ok_or(Error::NotFound)?),
            None => None,
        };
        let number = match (number, &customer) {
            (Some(number), _) => phone::normalize(&number, &country)
                .map_err(|_| Error::bad_input("number", "this is not a phone number"))?,
            (None, Some(customer)) => customer
                .phones
                .first()
                .cloned()
                .ok_or_else(|| Error::bad_input("customerId", "this customer has no phone number"))?,
            (None, None) => return Err(Error::bad_input("number", "give a number or a customer to call")),
        };
        let customer = match customer {
            Some(customer) => Some(customer),
            None => tx.customer_by_phone(&number).await?,
        };
        let trunks = tx.trunks().await?;
        let trunk = match trunk {
            Some(id) => trunks.into_iter().find(|t| t.id == id).ok_or(Error::NotFound)?,
            None => trunks
                .into_iter()
                .find(|t| t.address.is_some())
                .ok_or_else(|| Error::bad_input("trunkId", "no trunk has an outbound address"))?,
        };
        if trunk.address.is_none() {
            return Err(Error::bad_input("trunkId", "this trunk has no outbound address"));
        }
        // A company with its own Asterisk calls through it: the worker serving that Asterisk
        // sees the ringing call and rings the agent's extension there.
        let (edge, placed) = match tx.pbx_servers().await?.first() {
            Some(server) => {
                if !tx.sip_accounts().await?.iter().any(|a| a.user_id == principal.user_id) {
                    return Err(Error::Conflict("you have no phone login: ask an admin to create one".into()));
                }
                (crate::pbx::dial_edge(server.id), None)
            }
            None => {
                let dialer = self
                    .dialer
                    .get()
                    .cloned()
                    .ok_or_else(|| Error::Conflict("calls cannot be placed: the SIP edge is off".into()))?;
                let phones = self
                    .presence
                    .as_ref()
                    .map(|p| p.phones(principal.tenant_id, principal.user_id))
                    .unwrap_or_default();
                if phones.is_empty() {
                    return Err(Error::Conflict("your phone is not registered: sign in to it, then call again".into()));
                }
                (dialer.edge_id().to_owned(), Some((dialer, phones)))
            }
        };
        let call = Call::ringing(NewCall {
            tenant_id: principal.tenant_id,
            direction: Direction::Outbound,
            from_number: trunk.default_caller_id.clone().or_else(|| trunk.numbers.first().cloned()).unwrap_or_default(),
            to_number: number,
            trunk_id: Some(trunk.id),
            customer_id: customer.map(|c| c.id),
            user_id: Some(principal.user_id),
            edge: &edge,
        });
        tx.insert_call(&call).await?;
        super::webhooks::emit(tx.as_mut(), "call.started", super::webhooks::call_data(&call)).await?;
        self.commit_announcing(tx, [call_changed(&call)]).await?;
        if let Some((dialer, phones)) = placed {
            dialer.dial(call.clone(), phones, trunk).await?;
        }
        Ok(call)
    }

    /// `user` picked up. Only a ringing call can be answered. Reaching the customer closes
    /// their open callback tasks.
    pub async fn answer_call(&self, tenant: TenantId, id: CallId, user: UserId) -> Result<Call> {
        let answer = |call: &mut Call| {
            if call.status != CallStatus::Ringing {
                return Err(Error::Conflict(format!("the call is {}, not ringing", call.status.as_str())));
            }
            call.status = CallStatus::Answered;
            call.user_id = Some(user);
            call.answered_at = Some(Utc::now());
            Ok(true)
        };
        self.change_call(tenant, id, answer, Some(close_callbacks)).await
    }

    /// Tasks of the caller's company, soonest due first.
    pub async fn tasks(&self, principal: &Principal, open_only: bool) -> Result<Vec<Task>> {
        principal.require_scope("calls:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let tasks = tx.tasks(open_only).await?;
        tx.commit().await?;
        Ok(tasks)
    }

    /// The call is over: completed if it was answered, otherwise missed (or failed, for a
    /// SIP error other than the caller giving up). Ending an ended call changes nothing.
    pub async fn end_call(
        &self,
        tenant: TenantId,
        id: CallId,
        hangup_by: HangupBy,
        sip_cause: Option<u16>,
    ) -> Result<Call> {
        let end = |call: &mut Call| {
            if !call.status.is_open() {
                return Ok(false);
            }
            call.status = match (call.status, sip_cause) {
                (CallStatus::Answered, _) => CallStatus::Completed,
                (_, Some(cause)) if cause >= 500 => CallStatus::Failed,
                _ => CallStatus::Missed,
            };
            call.hangup_by = Some(hangup_by);
            call.sip_cause = sip_cause;
            call.ended_at = Some(Utc::now());
            Ok(true)
        };
        self.change_call(tenant, id, end, Some(leave_callback)).await
    }

    /// Moves a ringing call from edge `from` to `to` (a worker taking on a click-to-call
    /// through its Asterisk); the call if it was taken, `None` if it no longer waits there.
    pub async fn claim_call(&self, tenant: TenantId, id: CallId, from: &str, to: &str) -> Result<Option<Call>> {
        let claim = |call: &mut Call| {
            let waiting = call.status == CallStatus::Ringing && call.edge == from;
            if waiting {
                call.edge = to.to_owned();
            }
            Ok(waiting)
        };
        let call = self.change_call(tenant, id, claim, None).await?;
        Ok((call.edge == to && call.status == CallStatus::Ringing).then_some(call))
    }

    /// Deletes the recordings of calls older than each company's retention period, and marks
    /// the calls; how many were deleted. A recording that cannot be deleted now is tried again
    /// on the next sweep.
    pub async fn expire_recordings(&self, limit: u64) -> Result<usize> {
        let store = self.store.as_ref().ok_or_else(|| Error::internal("no object store configured"))?;
        let mut deleted = 0;
        for (tenant, days) in self.db.retention_periods().await? {
            let before = Utc::now() - chrono::Duration::days(i64::from(days));
            let mut tx = self.db.tenant(tenant).await?;
            let expired = tx.recordings_before(before, limit).await?;
            tx.commit().await?;
            for call in expired {
                let Some(recording) = &call.recording else { continue };
                if let Err(error) = store.delete(&recording.key).await {
                    tracing::warn!(%error, %tenant, call = %call.id, "an expired recording could not be deleted yet");
                    continue;
                }
                let mark = |call: &mut Call| {
                    let Some(recording) = call.recording.as_mut() else { return Ok(false) };
                    recording.deleted_at = Some(Utc::now());
                    Ok(true)
                };
                self.change_call(tenant, call.id, mark, None).await?;
                self.commit_announcing(self.db.tenant(tenant).await?, [call_changed(&call)]).await?;
                tracing::info!(%tenant, call = %call.id, key = recording.key, days, "recording deleted: the company's retention period ran out");
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    pub async fn attach_recording(&self, tenant: TenantId, id: CallId, recording: Recording) -> Result<Call> {
        let attach = |call: &mut Call| {
            call.recording = Some(recording);
            Ok(true)
        };
        self.change_call(tenant, id, attach, None).await
    }

    /// After a crash of `edge`: its calls still ringing or answered are closed as interrupted.
    pub async fn interrupt_calls_of(&self, edge: &str) -> Result<Vec<Call>> {
        let calls = self.db.interrupt_open_calls(edge).await?;
        for call in &calls {
            tracing::warn!(tenant = %call.tenant_id, call = %call.id, edge, "call interrupted by a restart");
            // Closed in bulk across companies: each company's webhook is queued right after.
            let mut tx = self.db.tenant(call.tenant_id).await?;
            super::webhooks::emit(tx.as_mut(), "call.completed", super::webhooks::call_data(call)).await?;
            self.commit_announcing(tx, [call_changed(call)]).await?;
        }
        Ok(calls)
    }

    pub async fn calls(&self, principal: &Principal, query: CallQuery) -> Result<Page<Call>> {
        principal.require_scope("calls:read")?;
        if query.first == 0 || query.first > MAX_CALL_PAGE {
            return Err(Error::bad_input("first", format!("first must be 1 to {MAX_CALL_PAGE}")));
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let page = tx.calls(&query).await?;
        tx.end_read();
        Ok(page)
    }

    pub async fn call(&self, principal: &Principal, id: CallId) -> Result<Call> {
        principal.require_scope("calls:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let call = tx.call(id).await?.ok_or(Error::NotFound)?;
        tx.end_read();
        Ok(call)
    }

    /// A short-lived link to the call's recording, if it has one.
    pub fn recording_url(&self, call: &Call) -> Option<String> {
        let recording = call.recording.as_ref().filter(|r| r.deleted_at.is_none())?;
        Some(self.signer.sign(call.tenant_id, &recording.key, self.settings.download_ttl_secs))
    }
}

/// The live event of a call's change (its status is the one announced).
fn call_changed(call: &Call) -> EventKind {
    EventKind::CallChanged { call_id: call.id, status: call.status }
}
