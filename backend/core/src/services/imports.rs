//! Importing customers from CSV (checked row by row, in the background, with progress) and
//! exporting them.
use super::Services;
use super::customers::{CustomerInput, new_customer};
use crate::auth::Principal;
use crate::imports::{self, CustomerImport, ImportStatus, Rejection, Target};
use crate::ports::{Customer, CustomerQuery, TenantTx};
use crate::{Error, ImportId, Result, TenantId};
use chrono::Utc;
use std::collections::{HashMap, HashSet};

/// Rows written per transaction; progress is saved after each batch.
const BATCH: usize = 200;

/// The largest CSV file `POST /imports/customers` takes (room for `imports::MAX_ROWS` rows of
/// long lines); the GraphQL mutation is bounded by the request body limit instead.
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// A running import that saved no progress for this long was cut off with its process (a
/// batch takes well under a second): it is reported failed, with what it imported.
const STALLED: chrono::Duration = chrono::Duration::minutes(5);

/// A file read and mapped, ready to go row by row.
struct Plan {
    targets: Vec<Target>,
    rows: Vec<imports::NumberedRow>,
}

impl Services {
    /// Starts importing customers from `csv`, columns mapped by `mapping` (header → target).
    /// A dry run checks every row and reports without writing. Returns at once; follow the
    /// import with `customer_import`.
    pub async fn import_customers(
        &self,
        principal: &Principal,
        csv: &str,
        mapping: &[(String, String)],
        dry_run: bool,
    ) -> Result<CustomerImport> {
        principal.require_scope("customers:write")?;
        principal.require_admin()?;
        let (header, rows) = imports::read(csv)?;
        let mut targets = vec![Target::Skip; header.len()];
        for (column, target) in mapping {
            let index = header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(column.trim()))
                .ok_or_else(|| Error::bad_input("mapping", format!("the file has no column {column:?}")))?;
            targets[index] = target.parse()?;
        }
        if targets.iter().filter(|t| **t == Target::Name).count() != 1 {
            return Err(Error::bad_input("mapping", "map exactly one column to name"));
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let fields = tx.custom_fields().await?;
        for target in &targets {
            if let Target::Field(key) = target
                && !fields.iter().any(|f| f.key == *key)
            {
                return Err(Error::bad_input("mapping", format!("there is no custom field {key:?}")));
            }
        }
        let import = CustomerImport {
            id: ImportId::new(),
            dry_run,
            status: ImportStatus::Running,
            total: rows.len() as u32,
            processed: 0,
            created: 0,
            rejections: Vec::new(),
            error: None,
            user_id: Some(principal.user_id),
            created_at: Utc::now(),
            finished_at: None,
            progressed_at: Utc::now(),
        };
        tx.save_import(&import).await?;
        tx.commit().await?;
        let (services, started, tenant) = (self.clone(), import.clone(), principal.tenant_id);
        tokio::spawn(async move { services.run_import(tenant, started, Plan { targets, rows }).await });
        Ok(import)
    }

    pub async fn customer_import(&self, principal: &Principal, id: ImportId) -> Result<CustomerImport> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut import = tx.import(id).await?.ok_or(Error::NotFound)?;
        if import.status == ImportStatus::Running && Utc::now() - import.progressed_at > STALLED {
            tracing::warn!(import = %import.id, tenant = %principal.tenant_id, processed = import.processed, "a customer import was cut off");
            import.status = ImportStatus::Failed;
            import.error = Some(format!(
                "interrupted after {} rows (those are imported): the server stopped; import the rest again",
                import.processed
            ));
            import.finished_at = Some(Utc::now());
            import.progressed_at = Utc::now();
            tx.save_import(&import).await?;
        }
        tx.commit().await?;
        Ok(import)
    }

    async fn run_import(&self, tenant: TenantId, mut import: CustomerImport, plan: Plan) {
        if let Err(error) = self.import_rows(tenant, &mut import, plan).await {
            tracing::error!(%error, import = %import.id, "a customer import stopped");
            import.status = ImportStatus::Failed;
            import.error = Some(format!(
                "stopped after {} rows (those are imported): {}",
                import.processed,
                match error {
                    Error::Internal(_) => "the database was not available; import the rest again".to_owned(),
                    other => other.to_string(),
                }
            ));
            import.finished_at = Some(Utc::now());
            import.progressed_at = Utc::now();
            if let Err(error) = self.save_import(tenant, &import).await {
                tracing::error!(%error, import = %import.id, "the import's failure could not be recorded");
            }
        }
    }

    async fn save_import(&self, tenant: TenantId, import: &CustomerImport) -> Result<()> {
        let mut tx = self.db.tenant(tenant).await?;
        tx.save_import(import).await?;
        tx.commit().await
    }

    /// Rows go in batches, each batch with the import's progress in one transaction: a crash
    /// leaves whole rows and a report that matches them.
    async fn import_rows(&self, tenant: TenantId, import: &mut CustomerImport, plan: Plan) -> Result<()> {
        let mut tx = self.db.tenant(tenant).await?;
        let fields = tx.custom_fields().await?;
        let members: HashMap<String, crate::UserId> =
            tx.members().await?.into_iter().map(|m| (m.account.email.to_lowercase(), m.account.id)).collect();
        tx.commit().await?;
        let mut seen: HashSet<String> = HashSet::new();
        for rows in plan.rows.chunks(BATCH) {
            let mut tx = self.db.tenant(tenant).await?;
            for (line, row) in rows {
                let checked: Result<std::result::Result<Customer, String>> = async {
                    let input = row_input(&plan.targets, row, &members)?;
                    let customer = new_customer(tx.as_mut(), &fields, input).await?;
                    Ok(match taken_phone(tx.as_mut(), &customer.phones, &seen).await? {
                        Some(reason) => Err(reason),
                        None => Ok(customer),
                    })
                }
                .await;
                match checked {
                    Err(Error::BadUserInput { message, .. }) | Ok(Err(message)) => {
                        import.rejections.push(Rejection { row: *line, reason: message });
                    }
                    Err(other) => return Err(other),
                    Ok(Ok(customer)) => {
                        seen.extend(customer.phones.iter().cloned());
                        if !import.dry_run {
                            tx.insert_customer(&customer).await?;
                            let data = super::webhooks::customer_data(&customer);
                            super::webhooks::emit(tx.as_mut(), "customer.created", data).await?;
                        }
                        import.created += 1;
                    }
                }
                import.processed += 1;
            }
            import.progressed_at = Utc::now();
            tx.save_import(import).await?;
            tx.commit().await?;
        }
        import.status = ImportStatus::Done;
        import.finished_at = Some(Utc::now());
        import.progressed_at = Utc::now();
        self.save_import(tenant, import).await?;
        tracing::info!(import = %import.id, %tenant, created = import.created, rejected = import.rejections.len(), dry_run = import.dry_run, "customer import finished");
        Ok(())
    }

    /// All the company's customers as CSV in storage; a signed link to it.
    pub async fn export_customers(&self, principal: &Principal) -> Result<String> {
        principal.require_scope("customers:read")?;
        let store = self.store.as_ref().ok_or_else(|| Error::internal("no object store configured"))?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let fields = tx.custom_fields().await?;
        let emails: HashMap<crate::UserId, String> =
            tx.members().await?.into_iter().map(|m| (m.account.id, m.account.email)).collect();
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut header = vec!["name", "phones", "emails", "tags", "responsible", "created_at"];
        header.extend(fields.iter().map(|f| f.key.as_str()));
        out.write_record(&header).map_err(Error::internal)?;
        let mut after = None;
        loop {
            let query = CustomerQuery { first: 1000, after, ..CustomerQuery::default() };
            let page = tx.customers(&query).await?;
            for c in &page.items {
                let mut record = vec![
                    c.name.clone(),
                    c.phones.join("; "),
                    c.emails.join("; "),
                    c.tags.join("; "),
                    c.responsible_user_id.and_then(|u| emails.get(&u).cloned()).unwrap_or_default(),
                    c.created_at.to_rfc3339(),
                ];
                record.extend(fields.iter().map(|f| c.fields.get(&f.key).cloned().unwrap_or_default()));
                out.write_record(&record).map_err(Error::internal)?;
            }
            after = page.items.last().map(|c| c.id);
            if !page.has_next {
                break;
            }
        }
        tx.commit().await?;
        let body = out.into_inner().map_err(Error::internal)?;
        let name = format!("exports/customers-{}.csv", Utc::now().format("%Y%m%dT%H%M%S"));
        let key = crate::storage::tenant_key(principal.tenant_id, &name)?;
        store.put(&key, body.into(), "text/csv; charset=utf-8").await?;
        Ok(self.signer.sign(principal.tenant_id, &key, self.settings.download_ttl_secs))
    }
}

/// A row as a customer to create, or why it cannot be one.
fn row_input(targets: &[Target], row: &[String], members: &HashMap<String, crate::UserId>) -> Result<CustomerInput> {
    let mut input = CustomerInput::default();
    for (target, value) in targets.iter().zip(row) {
        if value.is_empty() {
            continue;
        }
        match target {
            Target::Name => input.name = value.clone(),
            Target::Phone => input.phones.extend(value.split([';', '/']).map(|p| p.trim().to_owned())),
            Target::Email => input.emails.extend(value.split([';', ' ']).filter(|e| !e.is_empty()).map(str::to_owned)),
            Target::Tag => {
                input.tags.extend(value.split([';', ',']).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
            }
            Target::Responsible => {
                let user = members
                    .get(&value.to_lowercase())
                    .ok_or_else(|| Error::bad_input("responsible", format!("{value:?} is not a member's email")))?;
                input.responsible_user_id = Some(*user);
            }
            Target::Field(key) => input.fields.push((key.clone(), Some(value.clone()))),
            Target::Skip => {}
        }
    }
    Ok(input)
}

/// A phone of the new customer already held by another customer (or an earlier row of this import).
async fn taken_phone(tx: &mut dyn TenantTx, phones: &[String], seen: &HashSet<String>) -> Result<Option<String>> {
    for phone in phones {
        if seen.contains(phone) {
            return Ok(Some(format!("{phone} is on an earlier row of this file")));
        }
        if let Some(other) = tx.customer_by_phone(phone).await? {
            return Ok(Some(format!("{phone} belongs to {} already (merge them instead)", other.name)));
        }
    }
    Ok(None)
}
