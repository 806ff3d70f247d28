//! Outbound webhooks: endpoints a company subscribes to events, and the deliveries queued for
//! them in the same transaction as the change each one announces (so none is lost).
use crate::{DeliveryId, TenantId, WebhookId};
use chrono::{DateTime, Utc};

/// Every event an endpoint may subscribe to.
pub const EVENTS: &[&str] = &[
    "call.started",
    "call.answered",
    "call.completed",
    "call.missed",
    "message.received",
    "message.sent",
    "customer.created",
    "customer.updated",
    "task.created",
];

/// Consecutive failed attempts after which an endpoint is switched off.
pub const DISABLE_AFTER_FAILURES: u32 = 15;

#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret, sealed by the vault.
    pub sealed_secret: String,
    pub enabled: bool,
    /// Failed attempts in a row (any delivery); reset by a success.
    pub failures: u32,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

crate::text_enum!(DeliveryStatus { Pending => "pending", Delivered => "delivered", Failed => "failed" });

#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookId,
    pub event: String,
    /// The JSON body sent, the same on every attempt.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (`None` once delivered or given up).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status, or why there was none.
    pub response_code: Option<u16>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How long to wait after `attempts` failures: `base` doubling, at most an hour.
pub fn backoff(base: std::time::Duration, attempts: u32) -> chrono::Duration {
    let wait = base.saturating_mul(2u32.pow(attempts.saturating_sub(1).min(12)));
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)).min(chrono::Duration::hours(1))
}

/// `sha256=` and the HMAC-SHA256 of `{timestamp}.{body}` with the endpoint's secret.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a delivery to a receiver: the HTTP status, or why there was none.
#[async_trait::async_trait]
pub trait WebhookPoster: Send + Sync {
    async fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> std::result::Result<u16, String>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off_to_an_hour() {
        let base = std::time::Duration::from_secs(10);
        let waits: Vec<i64> = (1..=11).map(|n| super::backoff(base, n).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let a = super::signature("s3cret", 1_700_000_000, "{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, super::signature("s3cret", 1_700_000_001, "{}"));
        assert_ne!(a, super::signature("s3cret", 1_700_000_000, "{ }"));
    }
}
