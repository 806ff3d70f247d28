//! Customers: the people and companies a tenant talks to.
use super::{Services, check_len};
use crate::auth::Principal;
use crate::events::{ChangeKind, Event, EventKind};
use crate::ports::{Customer, CustomerQuery, Page, TenantTx};
use crate::{CustomerId, Error, Result, UserId, phone};
use chrono::Utc;

#[derive(Clone, Debug, Default)]
pub struct CustomerInput {
    pub name: String,
    pub phones: Vec<String>,
    pub responsible_user_id: Option<UserId>,
}

/// Fields left `None` stay as they are; `responsible_user_id: Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub responsible_user_id: Option<Option<UserId>>,
}

pub const MAX_PAGE: u64 = 100;

impl Services {
    pub async fn create_customer(&self, principal: &Principal, input: CustomerInput) -> Result<Customer> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let now = Utc::now();
        let customer = Customer {
            id: CustomerId::new(),
            tenant_id: principal.tenant_id,
            name: check_len("name", &input.name, 200)?,
            phones: normalize_phones(tx.as_mut(), &input.phones).await?,
            responsible_user_id: check_responsible(tx.as_mut(), input.responsible_user_id).await?,
            created_at: now,
            updated_at: now,
        };
        tx.insert_customer(&customer).await?;
        tx.commit().await?;
        self.announce(&customer, ChangeKind::Created).await;
        Ok(customer)
    }

    pub async fn update_customer(
        &self,
        principal: &Principal,
        id: CustomerId,
        patch: CustomerPatch,
    ) -> Result<Customer> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut customer = tx.customer(id).await?.ok_or(Error::NotFound)?;
        if let Some(name) = patch.name {
            customer.name = check_len("name", &name, 200)?;
        }
        if let Some(phones) = patch.phones {
            customer.phones = normalize_phones(tx.as_mut(), &phones).await?;
        }
        if let Some(responsible) = patch.responsible_user_id {
            customer.responsible_user_id = check_responsible(tx.as_mut(), responsible).await?;
        }
        customer.updated_at = Utc::now();
        tx.update_customer(&customer).await?;
        tx.commit().await?;
        self.announce(&customer, ChangeKind::Updated).await;
        Ok(customer)
    }

    pub async fn delete_customer(&self, principal: &Principal, id: CustomerId) -> Result<Customer> {
        principal.require_scope("customers:write")?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let customer = tx.customer(id).await?.ok_or(Error::NotFound)?;
        tx.delete_customer(id).await?;
        tx.commit().await?;
        self.announce(&customer, ChangeKind::Deleted).await;
        Ok(customer)
    }

    pub async fn customer(&self, principal: &Principal, id: CustomerId) -> Result<Customer> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let customer = tx.customer(id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(customer)
    }

    pub async fn customers(&self, principal: &Principal, mut query: CustomerQuery) -> Result<Page<Customer>> {
        principal.require_scope("customers:read")?;
        if query.first == 0 || query.first > MAX_PAGE {
            return Err(Error::bad_input("first", format!("first must be 1 to {MAX_PAGE}")));
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if search.chars().count() > 200 {
                return Err(Error::bad_input("search", "search must be at most 200 characters"));
            }
            // A search that reads as a phone number also finds the customer by that phone.
            if search.chars().filter(char::is_ascii_digit).count() >= 5 {
                let country = tx.get_tenant().await?.default_country;
                query.phone = phone::normalize(search, &country).ok();
            }
            query.search = Some(search.to_owned());
        } else {
            query.search = None;
        }
        let page = tx.customers(&query).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Events are best-effort after commit: the change is saved even if the bus is down.
    async fn announce(&self, customer: &Customer, change: ChangeKind) {
        let event = Event {
            tenant_id: customer.tenant_id,
            kind: EventKind::CustomerChanged { customer_id: customer.id, change },
        };
        if let Err(error) = self.bus.publish(event).await {
            tracing::error!(%error, customer = %customer.id, "could not publish customer change");
        }
    }
}

async fn normalize_phones(tx: &mut dyn TenantTx, raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > 20 {
        return Err(Error::bad_input("phones", "at most 20 phone numbers per customer"));
    }
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let country = tx.get_tenant().await?.default_country;
    let mut phones: Vec<String> = Vec::with_capacity(raw.len());
    for number in raw {
        let e164 = phone::normalize(number, &country)?;
        if !phones.contains(&e164) {
            phones.push(e164);
        }
    }
    Ok(phones)
}

async fn check_responsible(tx: &mut dyn TenantTx, user: Option<UserId>) -> Result<Option<UserId>> {
    match user {
        Some(id) if tx.role_of(id).await?.is_none() => {
            Err(Error::bad_input("responsibleUserId", "the responsible user is not a member of this company"))
        }
        other => Ok(other),
    }
}
