//! Trunks, agents' SIP logins, and the inbound routing decision, for both call paths.
use super::{Services, check_len};
use crate::auth::Principal;
use crate::pbx::{ConfigFile, TenantPbx, TrunkWithSecret};
use crate::ports::TenantTx;
use crate::telephony::{self, InboundRoute, OutboundRegistration, Refusal, RegistrationTarget, SipAccount, Trunk};
use crate::vault::Vault;
use crate::{Error, Result, TenantId, TrunkId, UserId, phone};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone, Debug, Default)]
pub struct TrunkInput {
    pub name: String,
    pub sources: Vec<String>,
    pub numbers: Vec<String>,
    pub default_caller_id: Option<String>,
    /// host:port for outbound calls.
    pub address: Option<String>,
    /// Digest credentials the trunk must present; both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    pub qualify: bool,
    /// Register to the trunk's address with these (a provider that wants REGISTER).
    pub registration: Option<RegistrationInput>,
}

#[derive(Clone, Debug, Default)]
pub struct RegistrationInput {
    pub username: String,
    pub password: String,
    pub domain: Option<String>,
    pub expires_secs: Option<u32>,
}

/// A new SIP login. The password is shown only here.
#[derive(Clone, Debug)]
pub struct NewSipAccount {
    pub account: SipAccount,
    pub password: String,
}

fn random(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn build_registration(
    vault: &Vault,
    tenant: TenantId,
    trunk: TrunkId,
    address: Option<SocketAddr>,
    input: Option<RegistrationInput>,
) -> Result<Option<OutboundRegistration>> {
    let Some(input) = input else { return Ok(None) };
    if address.is_none() {
        return Err(Error::bad_input("address", "registering needs the trunk's address (host:port of the registrar)"));
    }
    let username = check_len("registration.username", &input.username, 64)?;
    if username.chars().any(|c| c.is_whitespace() || c.is_control() || "@:;<>\"".contains(c)) {
        return Err(Error::bad_input("registration.username", "a SIP username cannot hold spaces or @ : ; < > \""));
    }
    if input.password.is_empty() || input.password.chars().count() > 128 {
        return Err(Error::bad_input("registration.password", "give the registration password (up to 128 characters)"));
    }
    let domain = input
        .domain
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .map(|d| {
            let valid = d.len() <= 253
                && d.split('.')
                    .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            if valid {
                Ok(d)
            } else {
                Err(Error::bad_input("registration.domain", format!("{d:?} is not a domain name")))
            }
        })
        .transpose()?;
    let expires_secs = input.expires_secs.unwrap_or(600);
    if !(60..=86_400).contains(&expires_secs) {
        return Err(Error::bad_input("registration.expiresSecs", "registration lifetime must be 60 to 86400 seconds"));
    }
    let password = secrecy::SecretString::from(input.password);
    let sealed_password = vault.seal(&password, &registration_context(tenant, trunk))?;
    Ok(Some(OutboundRegistration { username, sealed_password, domain, expires_secs }))
}

/// Binds a sealed registration password to its trunk.
fn registration_context(tenant: TenantId, trunk: TrunkId) -> String {
    format!("trunk-registration:{tenant}:{trunk}")
}

async fn build_trunk(
    vault: &Vault,
    tenant: TenantId,
    tx: &mut dyn TenantTx,
    id: TrunkId,
    input: TrunkInput,
    created_at: chrono::DateTime<Utc>,
) -> Result<Trunk> {
    let country = tx.get_tenant().await?.default_country;
    if input.numbers.len() > 500 {
        return Err(Error::bad_input("numbers", "at most 500 numbers per trunk"));
    }
    let mut numbers = Vec::with_capacity(input.numbers.len());
    for number in &input.numbers {
        let e164 = phone::normalize(number, &country)
            .map_err(|_| Error::bad_input("numbers", format!("{number:?} is not a phone number")))?;
        if !numbers.contains(&e164) {
            numbers.push(e164);
        }
    }
    let default_caller_id = input
        .default_caller_id
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            phone::normalize(&c, &country)
                .map_err(|_| Error::bad_input("defaultCallerId", format!("{c:?} is not a phone number")))
        })
        .transpose()?;
    let address = input
        .address
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            a.trim()
                .parse::<std::net::SocketAddr>()
                .or_else(|_| a.trim().parse::<IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 5060)))
                .map_err(|_| Error::bad_input("address", format!("{a:?} is not an IP address with an optional port")))
        })
        .transpose()?;
    let credentials = match (input.username.filter(|u| !u.trim().is_empty()), input.password.filter(|p| !p.is_empty()))
    {
        (Some(user), Some(password)) => {
            let user = check_len("username", &user, 64)?;
            if password.chars().count() < 8 {
                return Err(Error::bad_input("password", "a trunk password needs at least 8 characters"));
            }
            Some((user.clone(), telephony::ha1(&user, &password)))
        }
        (None, None) => None,
        _ => return Err(Error::bad_input("password", "give both a username and a password, or neither")),
    };
    let registration = build_registration(vault, tenant, id, address, input.registration)?;
    Ok(Trunk {
        registration,
        credentials,
        address,
        id,
        name: check_len("name", &input.name, 100)?,
        sources: telephony::parse_sources(&input.sources)?,
        numbers,
        default_caller_id,
        qualify: input.qualify,
        created_at,
        updated_at: Utc::now(),
    })
}

impl Services {
    pub async fn create_trunk(&self, principal: &Principal, input: TrunkInput) -> Result<Trunk> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let trunk =
            build_trunk(&self.vault, principal.tenant_id, tx.as_mut(), TrunkId::new(), input, Utc::now()).await?;
        tx.insert_trunk(&trunk).await?;
        tx.commit().await?;
        tracing::info!(tenant = %principal.tenant_id, trunk = %trunk.id, "trunk created");
        Ok(trunk)
    }

    /// Replaces a trunk's settings.
    pub async fn update_trunk(&self, principal: &Principal, id: TrunkId, input: TrunkInput) -> Result<Trunk> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let existing = tx.trunk(id).await?.ok_or(Error::NotFound)?;
        let trunk = build_trunk(&self.vault, principal.tenant_id, tx.as_mut(), id, input, existing.created_at).await?;
        tx.update_trunk(&trunk).await?;
        tx.commit().await?;
        Ok(trunk)
    }

    pub async fn delete_trunk(&self, principal: &Principal, id: TrunkId) -> Result<()> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.delete_trunk(id).await? {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }

    pub async fn trunks(&self, principal: &Principal) -> Result<Vec<Trunk>> {
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let trunks = tx.trunks().await?;
        tx.commit().await?;
        Ok(trunks)
    }

    /// Gives `user` a SIP login for their phone, replacing any earlier one (admins, or the user).
    pub async fn create_sip_account(&self, principal: &Principal, user: UserId) -> Result<NewSipAccount> {
        principal.require_session()?;
        if user != principal.user_id {
            principal.require_admin()?;
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if tx.role_of(user).await?.is_none() {
            return Err(Error::NotFound);
        }
        let username = format!("u{}", random(10).to_lowercase());
        let password = random(20);
        let account = SipAccount {
            tenant_id: principal.tenant_id,
            user_id: user,
            ha1: telephony::ha1(&username, &password),
            username,
            created_at: Utc::now(),
        };
        tx.put_sip_account(&account).await?;
        tx.commit().await?;
        Ok(NewSipAccount { account, password })
    }

    pub async fn sip_accounts(&self, principal: &Principal) -> Result<Vec<SipAccount>> {
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut accounts = tx.sip_accounts().await?;
        tx.commit().await?;
        // Agents see their own login only.
        if !principal.role.is_admin() {
            accounts.retain(|a| a.user_id == principal.user_id);
        }
        Ok(accounts)
    }

    /// Trunks the SIP edge should keep alive, across tenants (system use).
    pub async fn qualify_targets(&self) -> Result<Vec<(crate::TenantId, TrunkId, std::net::SocketAddr)>> {
        self.db.qualify_targets().await
    }

    /// Trunks the SIP edge should register to, across tenants, with their passwords opened.
    /// A password that cannot be opened is logged and its trunk left out.
    pub async fn registration_targets(&self) -> Result<Vec<RegistrationTarget>> {
        let mut targets = Vec::new();
        for (tenant_id, trunk) in self.db.registration_targets().await? {
            let (Some(registration), Some(address)) = (trunk.registration, trunk.address) else { continue };
            match self.vault.open(&registration.sealed_password, &registration_context(tenant_id, trunk.id)) {
                Ok(password) => targets.push(RegistrationTarget {
                    tenant_id,
                    trunk_id: trunk.id,
                    address,
                    username: registration.username,
                    password,
                    domain: registration.domain,
                    expires_secs: registration.expires_secs,
                }),
                Err(error) => tracing::error!(%error, trunk = %trunk.id, "trunk registration password unreadable"),
            }
        }
        Ok(targets)
    }

    pub fn trunk_registration(&self, trunk: TrunkId) -> Option<crate::telephony::RegistrationStatus> {
        self.presence.as_ref().and_then(|p| p.registration(trunk))
    }

    /// A company's trunks (registration passwords opened) and extensions, for its PBX.
    pub async fn tenant_pbx(&self, tenant: TenantId) -> Result<TenantPbx> {
        let mut tx = self.db.tenant(tenant).await?;
        let (trunks, extensions) = (tx.trunks().await?, tx.sip_accounts().await?);
        let app = tx.pbx_servers().await?.into_iter().next().map(|s| s.app);
        tx.commit().await?;
        let trunks = trunks
            .into_iter()
            .map(|trunk| {
                let registration_password = match &trunk.registration {
                    Some(r) => Some(self.vault.open(&r.sealed_password, &registration_context(tenant, trunk.id))?),
                    None => None,
                };
                Ok(TrunkWithSecret { trunk, registration_password })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TenantPbx { tenant_id: tenant, trunks, extensions, app })
    }

    /// Every configuration file of a company's Asterisk, installation secrets included
    /// (for the operator's `crm asterisk-config`).
    pub async fn asterisk_config_files(&self, tenant: TenantId) -> Result<Vec<ConfigFile>> {
        let renderer = self.pbx.as_ref().ok_or_else(|| Error::internal("no PBX renderer configured"))?;
        renderer.render(&self.tenant_pbx(tenant).await?)
    }

    /// The company's Asterisk configuration for its admins: everything but the installation's
    /// own secrets.
    pub async fn asterisk_config(&self, principal: &Principal) -> Result<Vec<ConfigFile>> {
        principal.require_session()?;
        principal.require_admin()?;
        let mut files = self.asterisk_config_files(principal.tenant_id).await?;
        files.retain(|f| !f.installation_secret);
        Ok(files)
    }

    /// How the trunk answered its last keep-alive (none yet, or the SIP edge is off: `None`).
    pub fn trunk_reachability(&self, trunk: TrunkId) -> Option<crate::telephony::Reachability> {
        self.presence.as_ref().and_then(|p| p.trunk(trunk))
    }

    /// The phones registered for `account` right now (empty when the SIP edge is off).
    pub fn registered_phones(&self, account: &SipAccount) -> Vec<crate::telephony::RegisteredPhone> {
        self.presence.as_ref().map(|p| p.phones(account.tenant_id, account.user_id)).unwrap_or_default()
    }

    /// The SIP login a REGISTER or INVITE names, for digest checking by the edge.
    pub async fn sip_login(&self, username: &str) -> Result<Option<SipAccount>> {
        self.db.sip_account(username).await
    }

    /// The company and trunk that deliver an E.164 number.
    async fn number_trunk(&self, number: &str) -> Result<Option<(TenantId, Trunk)>> {
        let Some((tenant, trunk_id)) = self.db.number_owner(number).await? else { return Ok(None) };
        let mut tx = self.db.tenant(tenant).await?;
        let trunk = tx.trunk(trunk_id).await?;
        tx.commit().await?;
        Ok(trunk.map(|t| (tenant, t)))
    }

    /// Routing for a call a PBX (Asterisk) already gave to `tenant` (its dialplan names the
    /// company): the number must be one of the company's own, or the call is refused.
    pub async fn route_pbx_inbound(&self, tenant: TenantId, dialed: &str) -> Result<Result<InboundRoute, Refusal>> {
        let number = telephony::dialed_e164(dialed);
        let owner = match &number {
            Some(number) => self.number_trunk(number).await?,
            None => None,
        };
        let route = match (owner, number) {
            (Some((owner, trunk)), Some(number)) if owner == tenant => {
                Some(InboundRoute { tenant_id: tenant, trunk, number })
            }
            _ => None,
        };
        Ok(route.ok_or_else(|| {
            metrics::counter!("crm_pbx_inbound_refused_total").increment(1);
            tracing::warn!(%tenant, dialed, "PBX call to a number that is not the company's: refused");
            Refusal::UnknownNumber
        }))
    }

    /// Decides whose call an inbound INVITE is: its number picks the trunk, its source must be
    /// one of that trunk's. Refusals are counted; nothing is created for them.
    pub async fn route_inbound(&self, source: IpAddr, dialed: &str) -> Result<Result<InboundRoute, Refusal>> {
        let number = telephony::dialed_e164(dialed);
        let owner = match &number {
            Some(number) => self.number_trunk(number).await?,
            None => None,
        };
        let decision = telephony::route(source, number.as_deref(), owner);
        if let Err(refusal) = decision {
            metrics::counter!("crm_sip_inbound_refused_total", "reason" => refusal.as_str()).increment(1);
            tracing::warn!(%source, dialed, reason = refusal.as_str(), "inbound call refused");
        }
        Ok(decision)
    }
}
