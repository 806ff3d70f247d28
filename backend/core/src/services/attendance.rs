//! Who is at their desk for chats. A person counts as online while they have the app open: each
//! live subscription socket of theirs refreshes `seen_at` every [`HEARTBEAT`], and the last one
//! of a process to close clears it. A process that dies without closing is forgotten after
//! [`ONLINE_FOR`]. `away` is the person's own switch.
use super::Services;
use crate::auth::{Credential, Principal};
use crate::ports::Member;
use crate::{Error, Result, TenantId, UserId};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Mutex;

pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
pub const ONLINE_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(90);

/// Open sockets per person in this process.
#[derive(Default)]
pub struct Sockets(Mutex<HashMap<(TenantId, UserId), usize>>);

impl Sockets {
    fn change(&self, key: (TenantId, UserId), opened: bool) -> usize {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(key).or_default();
        *count = if opened { *count + 1 } else { count.saturating_sub(1) };
        let left = *count;
        if left == 0 {
            map.remove(&key);
        }
        left
    }
}

impl Services {
    /// A socket of a signed-in person opened (`true`), is still open, or closed (`false`).
    /// Integrations (API tokens) are not people at a desk and are not counted.
    pub async fn attend(&self, principal: &Principal, state: Option<bool>) -> Result<()> {
        if !matches!(principal.credential, Credential::Session { .. }) {
            return Ok(());
        }
        let key = (principal.tenant_id, principal.user_id);
        let seen = match state {
            Some(opened) => self.sockets.change(key, opened) > 0,
            None => true,
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.set_seen(principal.user_id, seen.then(Utc::now)).await?;
        tx.commit().await
    }

    /// The caller's own switch: away people keep their chats but are given no new ones.
    pub async fn set_away(&self, principal: &Principal, away: bool) -> Result<Member> {
        principal.require_session()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.set_away(principal.user_id, away).await?;
        let member = tx.member(principal.user_id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(member)
    }
}
