//! Where agents' phones are: we are their registrar.
use crm_core::{TenantId, UserId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    /// The Contact URI the phone registered.
    pub uri: String,
    /// Where its REGISTER really came from (NAT): calls go there.
    pub source: SocketAddr,
    pub expires: Instant,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Registration {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub contacts: Vec<Contact>,
}

/// Registrations by SIP username. A user may have several phones (contacts).
#[derive(Default, Debug)]
pub struct Registrar {
    by_username: Mutex<HashMap<String, Registration>>,
}

impl Registrar {
    /// Adds or refreshes `contact`, or removes it when `expires` is zero.
    pub fn update(&self, username: &str, tenant_id: TenantId, user_id: UserId, contact: Contact, expires: Duration) {
        let mut all = self.by_username.lock().unwrap_or_else(|e| e.into_inner());
        let registration =
            all.entry(username.to_owned()).or_insert_with(|| Registration { tenant_id, user_id, contacts: Vec::new() });
        let now = Instant::now();
        registration.contacts.retain(|c| c.uri != contact.uri && c.expires > now);
        if !expires.is_zero() {
            registration.contacts.push(contact);
        }
    }

    /// The user's live contacts.
    pub fn contacts(&self, tenant_id: TenantId, user_id: UserId) -> Vec<Contact> {
        let now = Instant::now();
        let all = self.by_username.lock().unwrap_or_else(|e| e.into_inner());
        all.values()
            .filter(|r| r.tenant_id == tenant_id && r.user_id == user_id)
            .flat_map(|r| r.contacts.iter().filter(|c| c.expires > now).cloned())
            .collect()
    }
}
