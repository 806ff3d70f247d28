//! Customers: the people and companies a tenant talks to.
use super::{Services, check_len};
use crate::auth::Principal;
use crate::events::{ChangeKind, EventKind};
use crate::fields::{CustomField, FieldKind};
use crate::ports::{Customer, CustomerQuery, Page, TenantTx};
use crate::{CustomerId, Error, Result, UserId, phone};
use chrono::Utc;

#[derive(Clone, Debug, Default)]
pub struct CustomerInput {
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
    pub tags: Vec<String>,
    /// Custom field values by key.
    pub fields: Vec<(String, Option<String>)>,
    pub responsible_user_id: Option<UserId>,
}

/// Fields left `None` stay as they are; `responsible_user_id: Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Custom field values to set (`None`: clear); others stay.
    pub fields: Vec<(String, Option<String>)>,
    pub responsible_user_id: Option<Option<UserId>>,
}

pub const MAX_PAGE: u64 = 100;

impl Services {
    pub async fn create_customer(&self, principal: &Principal, input: CustomerInput) -> Result<Customer> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let fields = if input.fields.is_empty() { Vec::new() } else { tx.custom_fields().await? };
        let customer = new_customer(tx.as_mut(), &fields, input).await?;
        tx.insert_customer(&customer).await?;
        super::webhooks::emit(tx.as_mut(), "customer.created", super::webhooks::customer_data(&customer)).await?;
        self.commit_announcing(tx, [customer_changed(&customer, ChangeKind::Created)]).await?;
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
        if let Some(emails) = patch.emails {
            customer.emails = check_emails(&emails)?;
        }
        if let Some(tags) = patch.tags {
            customer.tags = check_tags(&tags)?;
        }
        if !patch.fields.is_empty() {
            crate::fields::apply(&tx.custom_fields().await?, &mut customer.fields, &patch.fields)?;
        }
        if let Some(responsible) = patch.responsible_user_id {
            customer.responsible_user_id = check_responsible(tx.as_mut(), responsible).await?;
        }
        customer.updated_at = Utc::now();
        tx.update_customer(&customer).await?;
        super::webhooks::emit(tx.as_mut(), "customer.updated", super::webhooks::customer_data(&customer)).await?;
        self.commit_announcing(tx, [customer_changed(&customer, ChangeKind::Updated)]).await?;
        Ok(customer)
    }

    pub async fn delete_customer(&self, principal: &Principal, id: CustomerId) -> Result<Customer> {
        principal.require_scope("customers:write")?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let customer = tx.customer(id).await?.ok_or(Error::NotFound)?;
        tx.delete_customer(id).await?;
        self.commit_announcing(tx, [customer_changed(&customer, ChangeKind::Deleted)]).await?;
        Ok(customer)
    }

    pub async fn customer(&self, principal: &Principal, id: CustomerId) -> Result<Customer> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let customer = tx.customer(id).await?.ok_or(Error::NotFound)?;
        tx.end_read();
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
            // A search that reads as a phone number finds the customer by that phone.
            if search.chars().filter(char::is_ascii_digit).count() >= 5 {
                let country = tx.get_tenant().await?.default_country;
                query.phone = phone::normalize(search, &country).ok();
            }
            query.search = Some(search.to_owned());
        } else {
            query.search = None;
        }
        if let Some(tag) = &query.tag
            && (tag.is_empty() || tag.chars().count() > 50)
        {
            return Err(Error::bad_input("tag", "a tag is 1 to 50 characters"));
        }
        let page = tx.customers(&query).await?;
        tx.end_read();
        Ok(page)
    }

    pub async fn custom_fields(&self, principal: &Principal) -> Result<Vec<CustomField>> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let fields = tx.custom_fields().await?;
        tx.commit().await?;
        Ok(fields)
    }

    /// Adds a field to every customer card (owners and admins).
    pub async fn create_custom_field(
        &self,
        principal: &Principal,
        key: &str,
        label: &str,
        kind: FieldKind,
        choices: &[String],
    ) -> Result<CustomField> {
        principal.require_scope("customers:write")?;
        principal.require_admin()?;
        let mut checked: Vec<String> = Vec::new();
        for choice in choices {
            let choice = check_len("choices", choice, 100)?;
            if !checked.iter().any(|c| c.eq_ignore_ascii_case(&choice)) {
                checked.push(choice);
            }
        }
        match kind {
            FieldKind::Choice if checked.is_empty() || checked.len() > 50 => {
                return Err(Error::bad_input("choices", "a choice field needs 1 to 50 choices"));
            }
            FieldKind::Choice => {}
            _ if !checked.is_empty() => return Err(Error::bad_input("choices", "only choice fields have choices")),
            _ => {}
        }
        let field = CustomField {
            id: crate::FieldId::new(),
            key: crate::fields::check_key(key)?,
            label: check_len("label", label, 100)?,
            kind,
            choices: checked,
            created_at: Utc::now(),
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        tx.insert_custom_field(&field).await.map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict(format!("there is a field {:?} already", field.key)),
            other => other,
        })?;
        tx.commit().await?;
        Ok(field)
    }

    /// Removes a field from the cards; values already typed stay stored under its key.
    pub async fn delete_custom_field(&self, principal: &Principal, id: crate::FieldId) -> Result<()> {
        principal.require_scope("customers:write")?;
        principal.require_admin()?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if !tx.delete_custom_field(id).await? {
            return Err(Error::NotFound);
        }
        tx.commit().await
    }
}

/// A customer made from `input`, checked (`fields`: the company's custom fields), not stored.
pub(super) async fn new_customer(
    tx: &mut dyn TenantTx,
    fields: &[CustomField],
    input: CustomerInput,
) -> Result<Customer> {
    let now = Utc::now();
    let mut customer = Customer {
        id: CustomerId::new(),
        tenant_id: tx.tenant_id(),
        name: check_len("name", &input.name, 200)?,
        phones: normalize_phones(tx, &input.phones).await?,
        emails: check_emails(&input.emails)?,
        tags: check_tags(&input.tags)?,
        fields: Default::default(),
        responsible_user_id: check_responsible(tx, input.responsible_user_id).await?,
        created_at: now,
        updated_at: now,
    };
    crate::fields::apply(fields, &mut customer.fields, &input.fields)?;
    Ok(customer)
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

fn check_emails(raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > 20 {
        return Err(Error::bad_input("emails", "at most 20 emails per customer"));
    }
    let mut emails: Vec<String> = Vec::with_capacity(raw.len());
    for email in raw {
        let email = super::check_email(email)
            .map_err(|_| Error::bad_input("emails", format!("{email:?} is not an email address")))?;
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// Tags are short labels; the same tag typed twice is kept once.
fn check_tags(raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > 30 {
        return Err(Error::bad_input("tags", "at most 30 tags per customer"));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > 50 || tag.chars().any(char::is_control) {
            return Err(Error::bad_input("tags", format!("{tag:?}: a tag is 1 to 50 printable characters")));
        }
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

async fn check_responsible(tx: &mut dyn TenantTx, user: Option<UserId>) -> Result<Option<UserId>> {
    match user {
        Some(id) if tx.role_of(id).await?.is_none() => {
            Err(Error::bad_input("responsibleUserId", "the responsible user is not a member of this company"))
        }
        other => Ok(other),
    }
}

/// The live event of a change to `customer`.
pub(super) fn customer_changed(customer: &Customer, change: ChangeKind) -> EventKind {
    EventKind::CustomerChanged { customer_id: customer.id, change }
}
