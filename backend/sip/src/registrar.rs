//! Where agents' phones are: we are their registrar.
use chrono::{DateTime, Utc};
use crm_core::telephony::{Presence, Reachability, RegisteredPhone, RegistrationStatus};
use crm_core::{TenantId, TrunkId, UserId};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug)]
struct Registration {
    tenant_id: TenantId,
    user_id: UserId,
    phones: Vec<RegisteredPhone>,
}

/// What the edge knows live: registrations by SIP username (a user may have several phones),
/// and how each trunk answered its last keep-alive. Held in memory by the edge process.
#[derive(Default, Debug)]
pub struct Registrar {
    by_username: Mutex<HashMap<String, Registration>>,
    trunks: Mutex<HashMap<TrunkId, Reachability>>,
    registrations: Mutex<HashMap<TrunkId, RegistrationStatus>>,
}

impl Registrar {
    /// Adds or refreshes `phone` (by its contact), or removes it when it expires now.
    pub fn update(&self, username: &str, tenant_id: TenantId, user_id: UserId, phone: RegisteredPhone) {
        let mut all = self.by_username.lock().unwrap_or_else(|e| e.into_inner());
        let registration =
            all.entry(username.to_owned()).or_insert_with(|| Registration { tenant_id, user_id, phones: Vec::new() });
        let now = Utc::now();
        registration.phones.retain(|p| p.contact != phone.contact && p.expires_at > now);
        if phone.expires_at > now {
            registration.phones.push(phone);
        }
    }

    fn live(&self, now: DateTime<Utc>, keep: impl Fn(&Registration) -> bool) -> Vec<RegisteredPhone> {
        let all = self.by_username.lock().unwrap_or_else(|e| e.into_inner());
        all.values().filter(|r| keep(r)).flat_map(|r| r.phones.iter().filter(|p| p.expires_at > now).cloned()).collect()
    }
}

impl Registrar {
    pub fn set_registration(&self, trunk: TrunkId, status: Option<RegistrationStatus>) {
        let mut all = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        match status {
            Some(status) => all.insert(trunk, status),
            None => all.remove(&trunk),
        };
    }

    pub fn set_trunk(&self, trunk: TrunkId, reachability: Reachability) {
        self.trunks.lock().unwrap_or_else(|e| e.into_inner()).insert(trunk, reachability);
    }

    /// Every live phone of the tenant, with its user.
    pub fn tenant_phones(&self, tenant: TenantId) -> Vec<(UserId, RegisteredPhone)> {
        let now = Utc::now();
        let all = self.by_username.lock().unwrap_or_else(|e| e.into_inner());
        let mut phones: Vec<(UserId, RegisteredPhone)> = all
            .values()
            .filter(|r| r.tenant_id == tenant)
            .flat_map(|r| r.phones.iter().filter(|p| p.expires_at > now).map(|p| (r.user_id, p.clone())))
            .collect();
        phones.sort_by(|a, b| a.1.contact.cmp(&b.1.contact));
        phones
    }
}

impl Presence for Registrar {
    fn phones(&self, tenant: TenantId, user: UserId) -> Vec<RegisteredPhone> {
        self.live(Utc::now(), |r| r.tenant_id == tenant && r.user_id == user)
    }

    fn trunk(&self, trunk: TrunkId) -> Option<Reachability> {
        self.trunks.lock().unwrap_or_else(|e| e.into_inner()).get(&trunk).copied()
    }

    fn registration(&self, trunk: TrunkId) -> Option<RegistrationStatus> {
        self.registrations.lock().unwrap_or_else(|e| e.into_inner()).get(&trunk).cloned()
    }
}
