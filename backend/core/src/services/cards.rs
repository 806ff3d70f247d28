//! The customer card: merging, suggested duplicates, notes, hand-made tasks, and the timeline.
use super::customers::customer_changed;
use super::{Services, check_len};
use crate::auth::Principal;
use crate::calls::Call;
use crate::cards::{Duplicate, Identity, Merge, Note, TimelineEntry, TimelineKey};
use crate::events::ChangeKind;
use crate::inbox::Message;
use crate::ports::{Customer, TenantTx};
use crate::tasks::Task;
use crate::{CustomerId, Error, MergeId, NoteId, Result, TaskId, UserId};
use base64::Engine;
use chrono::{DateTime, Utc};

/// One timeline entry with its record.
#[derive(Clone, Debug)]
pub enum TimelineItem {
    Call(Call),
    Message(Message),
    Note(Note),
    Task(Task),
}

#[derive(Clone, Debug)]
pub struct TimelinePage {
    pub items: Vec<(String, TimelineItem)>,
    pub has_next: bool,
}

#[derive(Clone, Debug)]
pub struct TaskInput {
    pub title: String,
    pub customer_id: Option<CustomerId>,
    /// `None`: the company's queue.
    pub assignee_id: Option<UserId>,
    pub due_at: DateTime<Utc>,
}

const MAX_TIMELINE_PAGE: u64 = 100;

/// A timeline page as asked for: its size and where it starts, checked.
struct TimelineAsk {
    first: u64,
    before: Option<TimelineKey>,
}

impl TimelineAsk {
    fn new(first: u64, after: Option<&str>) -> Result<Self> {
        if first == 0 || first > MAX_TIMELINE_PAGE {
            return Err(Error::bad_input("first", format!("first must be 1 to {MAX_TIMELINE_PAGE}")));
        }
        Ok(Self { first, before: after.map(parse_cursor).transpose()? })
    }

    async fn read(self, tx: &mut dyn TenantTx, customer: CustomerId) -> Result<TimelinePage> {
        let first = self.first;
        let mut entries = tx.timeline(customer, self.before, first + 1).await?;
        let has_next = entries.len() as u64 > first;
        entries.truncate(first as usize);
        let named: Vec<TimelineEntry> = entries.iter().map(|(_, entry)| entry.clone()).collect();
        let mut found = tx.timeline_entries(&named).await?;
        let mut items = Vec::with_capacity(entries.len());
        for (key, entry) in entries {
            let item = match entry {
                TimelineEntry::Call(id) => found.calls.remove(&id).map(TimelineItem::Call),
                TimelineEntry::Message(id) => found.messages.remove(&id).map(TimelineItem::Message),
                TimelineEntry::Note(id) => found.notes.remove(&id).map(TimelineItem::Note),
                TimelineEntry::Task(id) => found.tasks.remove(&id).map(TimelineItem::Task),
            };
            items.push((cursor(key), item.ok_or_else(|| Error::internal("a timeline entry vanished"))?));
        }
        Ok(TimelinePage { items, has_next })
    }
}

/// An opaque position in a list ordered newest first by (time, id).
pub(crate) fn cursor(key: TimelineKey) -> String {
    let raw = format!("{}|{}", key.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), key.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(crate) fn parse_cursor(cursor: &str) -> Result<TimelineKey> {
    let bad = || Error::bad_input("after", "this is not a cursor from this list");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('|').ok_or_else(bad)?;
    Ok(TimelineKey {
        at: DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc),
        id: id.parse().map_err(|_| bad())?,
    })
}

fn union(into: &mut Vec<String>, from: Vec<String>) {
    for value in from {
        if !into.contains(&value) {
            into.push(value);
        }
    }
}

impl Services {
    /// Merges `merged` into `kept`: its calls, conversations, messenger identities, tasks and
    /// notes move over, its phones, emails and tags are added, and it is deleted. All in one
    /// transaction, written down in the kept customer's `merges`.
    pub async fn merge_customers(&self, principal: &Principal, kept: CustomerId, merged: CustomerId) -> Result<Merge> {
        principal.require_scope("customers:write")?;
        if kept == merged {
            return Err(Error::bad_input("mergedId", "a customer cannot be merged into itself"));
        }
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut keep = tx.customer(kept).await?.ok_or(Error::NotFound)?;
        let gone = tx.customer(merged).await?.ok_or_else(|| Error::bad_input("mergedId", "no such customer"))?;
        let moved = tx.move_customer_records(merged, kept).await?;
        union(&mut keep.phones, gone.phones.clone());
        union(&mut keep.emails, gone.emails.clone());
        union(&mut keep.tags, gone.tags.clone());
        for (key, value) in &gone.fields {
            keep.fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
        keep.responsible_user_id = keep.responsible_user_id.or(gone.responsible_user_id);
        keep.updated_at = Utc::now();
        tx.update_customer(&keep).await?;
        tx.delete_customer(merged).await?;
        let merge = Merge {
            id: MergeId::new(),
            kept_id: kept,
            merged_id: merged,
            merged_name: gone.name.clone(),
            moved,
            user_id: Some(principal.user_id),
            created_at: keep.updated_at,
        };
        tx.insert_merge(&merge).await?;
        super::webhooks::emit(tx.as_mut(), "customer.updated", super::webhooks::customer_data(&keep)).await?;
        let changes = [customer_changed(&gone, ChangeKind::Deleted), customer_changed(&keep, ChangeKind::Updated)];
        self.commit_announcing(tx, changes).await?;
        tracing::info!(kept = %kept, merged = %merged, by = %principal.user_id, moved = ?merge.moved, "customers merged");
        Ok(merge)
    }

    pub async fn merges_into(&self, principal: &Principal, customer: CustomerId) -> Result<Vec<Merge>> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let merges = tx.merges_into(customer).await?;
        tx.commit().await?;
        Ok(merges)
    }

    /// Customers that share a phone or an email with another (of one customer, or all).
    pub async fn duplicates(
        &self,
        principal: &Principal,
        of: Option<CustomerId>,
        first: u64,
    ) -> Result<Vec<(Duplicate, Customer, Customer)>> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let pairs = tx.duplicates(of, first.clamp(1, 100)).await?;
        let mut out = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let (Some(a), Some(b)) = (tx.customer(pair.customer_id).await?, tx.customer(pair.other_id).await?) else {
                continue;
            };
            out.push((pair, a, b));
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn identities_of(&self, principal: &Principal, customer: CustomerId) -> Result<Vec<Identity>> {
        principal.require_scope("customers:read")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let identities = tx.identities_of(customer).await?;
        tx.commit().await?;
        Ok(identities)
    }

    pub async fn add_note(&self, principal: &Principal, customer: CustomerId, text: &str) -> Result<Note> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let owner = tx.customer(customer).await?.ok_or_else(|| Error::bad_input("customerId", "no such customer"))?;
        let note = Note {
            id: NoteId::new(),
            customer_id: customer,
            author_id: Some(principal.user_id),
            text: check_len("text", text, 10_000)?,
            created_at: Utc::now(),
        };
        tx.insert_note(&note).await?;
        self.commit_announcing(tx, [customer_changed(&owner, ChangeKind::Updated)]).await?;
        Ok(note)
    }

    /// A task made by hand, for someone (or the company's queue), maybe about a customer.
    pub async fn create_task(&self, principal: &Principal, input: TaskInput) -> Result<Task> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        if let Some(customer) = input.customer_id
            && tx.customer(customer).await?.is_none()
        {
            return Err(Error::bad_input("customerId", "no such customer"));
        }
        if let Some(user) = input.assignee_id
            && tx.role_of(user).await?.is_none()
        {
            return Err(Error::bad_input("assigneeId", "the assignee is not a member of this company"));
        }
        let task = Task {
            id: TaskId::new(),
            kind: "todo".into(),
            title: check_len("title", &input.title, 300)?,
            customer_id: input.customer_id,
            call_id: None,
            assignee_id: input.assignee_id,
            due_at: input.due_at,
            done_at: None,
            created_at: Utc::now(),
        };
        tx.insert_task(&task).await?;
        super::webhooks::emit(tx.as_mut(), "task.created", super::webhooks::task_data(&task)).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Marks a task done (or, with `done: false`, not done again).
    pub async fn complete_task(&self, principal: &Principal, id: TaskId, done: bool) -> Result<Task> {
        principal.require_scope("customers:write")?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let mut task = tx.task(id).await?.ok_or(Error::NotFound)?;
        task.done_at = match (done, task.done_at) {
            (true, None) => Some(Utc::now()),
            (true, at) => at,
            (false, _) => None,
        };
        tx.update_task(&task).await?;
        tx.commit().await?;
        // Callbacks done or not are on the dashboard.
        self.dashboards.invalidate(principal.tenant_id);
        Ok(task)
    }

    /// The customer's calls, messages, notes and tasks in one list, newest first.
    pub async fn timeline(
        &self,
        principal: &Principal,
        customer: CustomerId,
        first: u64,
        after: Option<&str>,
    ) -> Result<TimelinePage> {
        principal.require_scope("customers:read")?;
        let asked = TimelineAsk::new(first, after)?;
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let page = asked.read(&mut *tx, customer).await?;
        tx.end_read();
        Ok(page)
    }

    /// The customer's card and the first page of their timeline, read in one transaction (a
    /// card opened is both). A timeline asked for wrongly is `None`: `timeline` says why.
    /// `details`: whether the card's phones, emails and tags are read (else left empty).
    pub async fn customer_with_timeline(
        &self,
        principal: &Principal,
        id: CustomerId,
        details: bool,
        first: u64,
        after: Option<&str>,
    ) -> Result<(Customer, Option<TimelinePage>)> {
        principal.require_scope("customers:read")?;
        let Ok(asked) = TimelineAsk::new(first, after) else {
            return Ok((self.customer(principal, id).await?, None));
        };
        let mut tx = self.db.tenant(principal.tenant_id).await?;
        let customer = if details { tx.customer(id).await? } else { tx.customer_head(id).await? };
        let customer = customer.ok_or(Error::NotFound)?;
        let page = asked.read(&mut *tx, id).await?;
        tx.end_read();
        Ok((customer, Some(page)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let key = super::TimelineKey { at: chrono::Utc::now(), id: uuid::Uuid::now_v7() };
        assert_eq!(super::parse_cursor(&super::cursor(key)).unwrap(), key);
        assert!(super::parse_cursor("not-a-cursor").is_err());
    }
}
