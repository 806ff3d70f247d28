//! Outbound webhooks: managing endpoints, queueing deliveries inside the transaction of the
//! change they announce, and delivering them with retries.
use super::Services;
use crate::auth::Principal;
use crate::ports::TenantTx;
use crate::tasks::Task;
use crate::webhooks::{self, Delivery, DeliveryStatus, Endpoint};
use crate::{DeliveryId, Error, Result, TaskId, WebhookId};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

/// Deliveries attempted at once.
const IN_FLIGHT: usize = 16;

fn secret_context(endpoint: &Endpoint) -> String {
    format!("webhook:{}:{}", endpoint.tenant_id, endpoint.id)
}

fn check_url(url: &str) -> Result<String> {
    let parsed = url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| Error::bad_input("url", "give the receiver's http(s) address"))?;
    Ok(parsed.to_string())
}

fn check_events(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::bad_input("events", format!("choose events among: {}", webhooks::EVENTS.join(", "))));
    }
    let mut chosen = Vec::new();
    for event in events {
        let event = event.trim();
        if !webhooks::EVENTS.contains(&event) {
            return Err(Error::bad_input(
                "events",
                format!("{event:?} is not one of: {}", webhooks::EVENTS.join(", ")),
            ));
        }
        if !chosen.iter().any(|e| e == event) {
            chosen.push(event.to_owned());
        }
    }
    Ok(chosen)
}

/// Queues `event` with `data` for every enabled endpoint of the company subscribed to it, in
/// the caller's transaction: committed with the change, or not at all.
pub(super) async fn emit(tx: &mut dyn TenantTx, event: &'static str, data: serde_json::Value) -> Result<()> {
    let endpoints = tx.webhooks().await?;
    let now = Utc::now();
    for endpoint in endpoints.iter().filter(|e| e.events.iter().any(|x| x == event)) {
        let id = DeliveryId::new();
        let body = serde_json::json!({ "id": id.to_string(), "type": event, "createdAt": now, "data": data });
        let delivery = Delivery {
            id,
            tenant_id: endpoint.tenant_id,
            endpoint_id: endpoint.id,
            event: event.to_owned(),
            payload: body.to_string(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            response_code: None,
            error: None,
            created_at: now,
            delivered_at: None,
        };
        tx.insert_delivery(&delivery).await?;
    }
    Ok(())
}

impl Services {
    fn require_webhooks(principal: &Principal) -> Result<()> {
        principal.require_scope("webhooks:manage")?;
        principal.require_admin()
    }

    /// Subscribes `url` to `events`; the signing secret is returned here only.
    pub async fn create_webhook(
        &self,
        principal: &Principal,
        url: &str,
        events: &[String],
    ) -> Result<(Endpoint, String)> {
        Self::require_webhooks(principal)?;
        let secret = SecretString::from(format!("whsec_{}", crate::token::random_token(24)));
        let mut endpoint = Endpoint {
            id: WebhookId::new(),
            tenant_id: principal.tenant_id,
            url: check_url(url)?,
            events: check_events(events)?,
            sealed_secret: String::new(),
            enabled: true,
            failures: 0,
            disabled_reason: None,
            created_at: Utc::now(),
        };
        endpoint.sealed_secret = self.vault.seal(&secret, &secret_context(&endpoint))?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.insert_webhook(&endpoint).await?;
        tx.commit().await?;
        Ok((endpoint, secret.expose_secret().to_owned()))
    }

    /// Changes an endpoint; enabling it again clears its failures and lets its queue go on.
    pub async fn update_webhook(
        &self,
        principal: &Principal,
        id: WebhookId,
        url: Option<&str>,
        events: Option<&[String]>,
        enabled: Option<bool>,
    ) -> Result<Endpoint> {
        Self::require_webhooks(principal)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut endpoint = tx.webhooks().await?.into_iter().find(|e| e.id == id).ok_or(Error::NotFound)?;
        if let Some(url) = url {
            endpoint.url = check_url(url)?;
        }
        if let Some(events) = events {
            endpoint.events = check_events(events)?;
        }
        if let Some(enabled) = enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.failures = 0;
                endpoint.disabled_reason = None;
            }
        }
        tx.update_webhook(&endpoint).await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    pub async fn delete_webhook(&self, principal: &Principal, id: WebhookId) -> Result<()> {
        Self::require_webhooks(principal)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.delete_webhook(id).await? {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }

    pub async fn webhooks(&self, principal: &Principal) -> Result<Vec<Endpoint>> {
        Self::require_webhooks(principal)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let endpoints = tx.webhooks().await?;
        tx.commit().await?;
        Ok(endpoints)
    }

    /// The endpoint's delivery log, newest first.
    pub async fn webhook_deliveries(&self, principal: &Principal, id: WebhookId, first: u64) -> Result<Vec<Delivery>> {
        Self::require_webhooks(principal)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let deliveries = tx.deliveries(id, first.clamp(1, 200)).await?;
        tx.commit().await?;
        Ok(deliveries)
    }

    /// Sends a delivery again (the same body and id), whatever became of it.
    pub async fn replay_delivery(&self, principal: &Principal, id: DeliveryId) -> Result<Delivery> {
        Self::require_webhooks(principal)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut delivery = tx.delivery(id).await?.ok_or(Error::NotFound)?;
        delivery.status = DeliveryStatus::Pending;
        delivery.next_attempt_at = Some(Utc::now());
        tx.update_delivery(&delivery).await?;
        tx.commit().await?;
        self.webhook_signal.notify_one();
        Ok(delivery)
    }

    pub fn webhook_signal(&self) -> &tokio::sync::Notify {
        &self.webhook_signal
    }

    /// Attempts the deliveries that are due; how many were found.
    pub async fn deliver_webhooks(&self, limit: u64) -> Result<usize> {
        use futures::StreamExt;
        let Some(poster) = self.webhook_poster.clone() else { return Ok(0) };
        let due = self.db.due_webhooks(Utc::now(), limit).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(IN_FLIGHT, |(delivery, endpoint)| {
                let poster = poster.clone();
                async move {
                    if let Err(error) = self.attempt(poster.as_ref(), delivery, endpoint).await {
                        tracing::error!(%error, "a webhook delivery could not be handled; it will be retried");
                    }
                }
            })
            .await;
        Ok(count)
    }

    async fn attempt(
        &self,
        poster: &dyn webhooks::WebhookPoster,
        mut delivery: Delivery,
        endpoint: Endpoint,
    ) -> Result<()> {
        let Some(seen) = delivery.next_attempt_at else { return Ok(()) };
        let mut tx = self.db.tenant(delivery.tenant_id).await?;
        // Taken for a minute, so another process does not send it too.
        if !tx.claim_delivery(delivery.id, seen, Utc::now() + chrono::Duration::minutes(1)).await? {
            return tx.commit().await;
        }
        tx.commit().await?;
        let secret = self.vault.open(&endpoint.sealed_secret, &secret_context(&endpoint))?;
        let timestamp = Utc::now().timestamp();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-crm-event", delivery.event.clone()),
            ("x-crm-delivery", delivery.id.to_string()),
            ("x-crm-timestamp", timestamp.to_string()),
            ("x-crm-signature", webhooks::signature(secret.expose_secret(), timestamp, &delivery.payload)),
        ];
        let outcome = poster.post(&endpoint.url, &headers, &delivery.payload).await;
        delivery.attempts += 1;
        let mut tx = self.db.tenant(delivery.tenant_id).await?;
        let ok = matches!(outcome, Ok(code) if (200..300).contains(&code));
        let Some(failures) = tx.record_webhook_attempt(endpoint.id, ok).await? else {
            return tx.commit().await; // deleted meanwhile: its deliveries went with it
        };
        match outcome {
            Ok(code) if ok => {
                delivery.status = DeliveryStatus::Delivered;
                delivery.response_code = Some(code);
                delivery.error = None;
                delivery.next_attempt_at = None;
                delivery.delivered_at = Some(Utc::now());
            }
            failed => {
                let (code, error) = match failed {
                    Ok(code) => (Some(code), format!("the receiver answered {code}")),
                    Err(error) => (None, error),
                };
                delivery.response_code = code;
                delivery.error = Some(error.clone());
                delivery.next_attempt_at = Some(Utc::now() + webhooks::backoff(self.webhook_retry, delivery.attempts));
                tracing::warn!(endpoint = %endpoint.id, delivery = %delivery.id, attempts = delivery.attempts, error, "a webhook delivery failed; retrying later");
                if failures >= webhooks::DISABLE_AFTER_FAILURES {
                    self.switch_off(tx.as_mut(), &endpoint, failures, &error).await?;
                }
            }
        }
        tx.update_delivery(&delivery).await?;
        tx.commit().await
    }

    /// Switches an endpoint off after persistent failure and tells the company's admins with a
    /// task in the company's queue. Its queue waits until it is enabled again.
    async fn switch_off(&self, tx: &mut dyn TenantTx, endpoint: &Endpoint, failures: u32, error: &str) -> Result<()> {
        let reason = format!("switched off after {failures} failed attempts in a row; last: {error}");
        if !tx.switch_off_webhook(endpoint.id, &reason).await? {
            return Ok(()); // another attempt switched it off already
        }
        tracing::warn!(endpoint = %endpoint.id, tenant = %endpoint.tenant_id, reason, "a webhook endpoint was switched off");
        let now = Utc::now();
        let notice = Task {
            id: TaskId::new(),
            kind: "todo".into(),
            title: format!("Webhook to {} {reason}. Fix the receiver, then enable it again.", endpoint.url)
                .chars()
                .take(300)
                .collect(),
            customer_id: None,
            call_id: None,
            assignee_id: None,
            due_at: now,
            done_at: None,
            created_at: now,
        };
        tx.insert_task(&notice).await
    }
}

/// What a webhook says about a call.
pub(super) fn call_data(call: &crate::calls::Call) -> serde_json::Value {
    serde_json::json!({
        "id": call.id.to_string(), "direction": call.direction.as_str(), "status": call.status.as_str(),
        "from": call.from_number, "to": call.to_number, "customerId": call.customer_id.map(|c| c.to_string()),
        "userId": call.user_id.map(|u| u.to_string()), "startedAt": call.started_at, "answeredAt": call.answered_at,
        "endedAt": call.ended_at, "waitSeconds": call.wait_seconds(), "talkSeconds": call.talk_seconds(),
        "recorded": call.recording.is_some(),
    })
}

/// The event a call's new status announces.
pub(super) fn call_event(status: crate::calls::CallStatus) -> &'static str {
    use crate::calls::CallStatus::*;
    match status {
        Ringing => "call.started",
        Answered => "call.answered",
        Missed => "call.missed",
        Completed | Failed | Interrupted => "call.completed",
    }
}

pub(super) fn customer_data(customer: &crate::ports::Customer) -> serde_json::Value {
    serde_json::json!({
        "id": customer.id.to_string(), "name": customer.name, "phones": customer.phones, "emails": customer.emails,
        "tags": customer.tags, "responsibleUserId": customer.responsible_user_id.map(|u| u.to_string()),
        "createdAt": customer.created_at, "updatedAt": customer.updated_at,
    })
}

pub(super) fn message_data(message: &crate::inbox::Message, customer: crate::CustomerId) -> serde_json::Value {
    serde_json::json!({
        "id": message.id.to_string(), "conversationId": message.conversation_id.to_string(),
        "customerId": customer.to_string(), "direction": message.direction.as_str(), "text": message.text,
        "attachments": message.attachments.iter().map(|a| a.kind.clone()).collect::<Vec<_>>(),
        "senderUserId": message.sender_user_id.map(|u| u.to_string()), "createdAt": message.created_at,
    })
}

pub(super) fn task_data(task: &Task) -> serde_json::Value {
    serde_json::json!({
        "id": task.id.to_string(), "kind": task.kind, "title": task.title,
        "customerId": task.customer_id.map(|c| c.to_string()), "callId": task.call_id.map(|c| c.to_string()),
        "assigneeId": task.assignee_id.map(|u| u.to_string()), "dueAt": task.due_at,
    })
}
