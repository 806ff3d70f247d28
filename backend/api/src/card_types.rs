//! The customer card's GraphQL types: identities, the timeline, merges, duplicates, notes.
use crate::context::{principal, services};
use crate::error::ApiResult;
use crate::inbox_types::Message;
use crate::types::{Call, Customer, Task};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{ComplexObject, Context, ID, SimpleObject, Union};
use chrono::{DateTime, Utc};
use crm_core::cards;
use crm_core::services::{TimelineItem as DomainItem, TimelinePage};

/// `timeline`'s page size when none is given.
const TIMELINE_FIRST: i32 = 20;

/// A timeline page read with its customer, and what it was asked with.
#[derive(Debug)]
pub struct TimelineRead {
    first: u64,
    after: Option<String>,
    page: TimelinePage,
}

/// The customer `ctx` resolves, with their timeline's page read in the same transaction when
/// the selection asks for one `timeline` (the card as the app opens it); otherwise the card.
pub async fn customer_and_timeline(ctx: &Context<'_>, id: crm_core::CustomerId) -> ApiResult<Customer> {
    let (services, principal) = (services(ctx), principal(ctx)?);
    let Some((first, after)) = timeline_asked(ctx) else {
        return Ok(services.customer(principal, id).await?.into());
    };
    // The card as the timeline shows it often selects none of these: then they are not read.
    let details = ["phones", "emails", "tags"].iter().any(|field| ctx.look_ahead().field(field).exists());
    let (customer, page) = services.customer_with_timeline(principal, id, details, first, after.as_deref()).await?;
    let mut customer = Customer::from(customer);
    customer.timeline_read = page.map(|page| std::sync::Arc::new(TimelineRead { first, after, page }));
    Ok(customer)
}

/// The arguments of the one `timeline` field under this one, if there is exactly one.
fn timeline_asked(ctx: &Context<'_>) -> Option<(u64, Option<String>)> {
    let fields = ctx.look_ahead().field("timeline").selection_fields();
    let [field] = fields.as_slice() else { return None };
    let (mut first, mut after) = (u64::try_from(TIMELINE_FIRST).ok()?, None);
    for (name, value) in field.arguments().ok()? {
        match (name.as_str(), value) {
            ("first", async_graphql::Value::Number(n)) => first = n.as_u64()?,
            ("after", async_graphql::Value::String(text)) => after = Some(text),
            ("after", async_graphql::Value::Null) => {}
            _ => return None,
        }
    }
    Some((first, after))
}

/// A messenger account of the customer's.
#[derive(SimpleObject, Clone, Debug)]
pub struct Identity {
    /// `telegram`, `messenger` or `instagram`.
    pub kind: String,
    /// The platform's id for the person (Telegram user id, PSID, IGSID).
    pub external_id: String,
    pub username: Option<String>,
}

impl From<cards::Identity> for Identity {
    fn from(i: cards::Identity) -> Self {
        Self { kind: i.kind, external_id: i.external_id, username: i.username }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Note {
    pub id: ID,
    pub customer_id: ID,
    pub author_id: Option<ID>,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl From<cards::Note> for Note {
    fn from(n: cards::Note) -> Self {
        Self {
            id: ID(n.id.to_string()),
            customer_id: ID(n.customer_id.to_string()),
            author_id: n.author_id.map(|u| ID(u.to_string())),
            text: n.text,
            created_at: n.created_at,
        }
    }
}

/// What a merge moved to the customer kept.
#[derive(SimpleObject, Clone, Debug)]
pub struct MergeMoved {
    pub calls: u64,
    pub conversations: u64,
    pub identities: u64,
    pub tasks: u64,
    pub notes: u64,
}

/// A customer merged into another: the record of it.
#[derive(SimpleObject, Clone, Debug)]
pub struct CustomerMerge {
    pub id: ID,
    pub kept_id: ID,
    pub merged_id: ID,
    /// The merged customer's name, as it was.
    pub merged_name: String,
    pub moved: MergeMoved,
    pub user_id: Option<ID>,
    pub created_at: DateTime<Utc>,
}

impl From<cards::Merge> for CustomerMerge {
    fn from(m: cards::Merge) -> Self {
        let moved = m.moved;
        Self {
            id: ID(m.id.to_string()),
            kept_id: ID(m.kept_id.to_string()),
            merged_id: ID(m.merged_id.to_string()),
            merged_name: m.merged_name,
            moved: MergeMoved {
                calls: moved.calls,
                conversations: moved.conversations,
                identities: moved.identities,
                tasks: moved.tasks,
                notes: moved.notes,
            },
            user_id: m.user_id.map(|u| ID(u.to_string())),
            created_at: m.created_at,
        }
    }
}

/// Two customers that look like one person.
#[derive(SimpleObject, Clone, Debug)]
pub struct DuplicateSuggestion {
    pub customer: Customer,
    pub other: Customer,
    /// `phone` or `email`.
    pub reason: String,
    /// The phone (E.164) or email they share.
    pub value: String,
}

/// One entry of a customer's timeline.
#[derive(Union, Clone, Debug)]
#[allow(clippy::large_enum_variant)] // made per page of at most 100 entries, never stored
pub enum TimelineItem {
    Call(Call),
    Message(Message),
    Note(Note),
    Task(Task),
}

impl From<DomainItem> for TimelineItem {
    fn from(item: DomainItem) -> Self {
        match item {
            DomainItem::Call(c) => Self::Call(c.into()),
            DomainItem::Message(m) => Self::Message(m.into()),
            DomainItem::Note(n) => Self::Note(n.into()),
            DomainItem::Task(t) => Self::Task(t.into()),
        }
    }
}

pub type TimelineConnection = Connection<String, TimelineItem>;

pub fn timeline_connection(page: TimelinePage, after: bool) -> TimelineConnection {
    let mut connection = Connection::new(after, page.has_next);
    connection.edges.extend(page.items.into_iter().map(|(cursor, item)| Edge::new(cursor, item.into())));
    connection
}

pub(crate) fn duplicates(
    found: Vec<(cards::Duplicate, crm_core::ports::Customer, crm_core::ports::Customer)>,
) -> Vec<DuplicateSuggestion> {
    found
        .into_iter()
        .map(|(d, a, b)| DuplicateSuggestion {
            customer: a.into(),
            other: b.into(),
            reason: d.reason.to_owned(),
            value: d.value,
        })
        .collect()
}

#[ComplexObject]
impl Customer {
    /// Their Telegram, Messenger and Instagram accounts.
    async fn identities(&self, ctx: &Context<'_>) -> ApiResult<Vec<Identity>> {
        let found = services(ctx).identities_of(principal(ctx)?, self.customer_id).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// Calls (with recordings), messages from every channel, notes and tasks, newest first.
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "TIMELINE_FIRST")] first: i32,
        after: Option<String>,
    ) -> ApiResult<TimelineConnection> {
        let first = u64::try_from(first).unwrap_or(0);
        if let Some(read) = self.timeline_read.as_deref().filter(|read| read.first == first && read.after == after) {
            return Ok(timeline_connection(read.page.clone(), after.is_some()));
        }
        let page = services(ctx).timeline(principal(ctx)?, self.customer_id, first, after.as_deref()).await?;
        Ok(timeline_connection(page, after.is_some()))
    }

    /// Customers merged into this one, newest first.
    async fn merges(&self, ctx: &Context<'_>) -> ApiResult<Vec<CustomerMerge>> {
        let merges = services(ctx).merges_into(principal(ctx)?, self.customer_id).await?;
        Ok(merges.into_iter().map(Into::into).collect())
    }

    /// Values of the company's custom fields.
    async fn custom_fields(&self) -> Vec<CustomFieldValue> {
        self.fields.iter().map(|(key, value)| CustomFieldValue { key: key.clone(), value: value.clone() }).collect()
    }

    /// Other customers sharing a phone or an email with this one.
    async fn duplicates(&self, ctx: &Context<'_>) -> ApiResult<Vec<DuplicateSuggestion>> {
        Ok(duplicates(services(ctx).duplicates(principal(ctx)?, Some(self.customer_id), 20).await?))
    }
}

/// The type of a custom field's values.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CustomFieldKind {
    Text,
    Number,
    /// `YYYY-MM-DD` (DD.MM.YYYY is read too).
    Date,
    /// One of the field's `choices`.
    Choice,
}

impl From<CustomFieldKind> for crm_core::fields::FieldKind {
    fn from(k: CustomFieldKind) -> Self {
        match k {
            CustomFieldKind::Text => Self::Text,
            CustomFieldKind::Number => Self::Number,
            CustomFieldKind::Date => Self::Date,
            CustomFieldKind::Choice => Self::Choice,
        }
    }
}

impl From<crm_core::fields::FieldKind> for CustomFieldKind {
    fn from(k: crm_core::fields::FieldKind) -> Self {
        use crm_core::fields::FieldKind;
        match k {
            FieldKind::Text => Self::Text,
            FieldKind::Number => Self::Number,
            FieldKind::Date => Self::Date,
            FieldKind::Choice => Self::Choice,
        }
    }
}

/// A field the company added to its customer cards.
#[derive(SimpleObject, Clone, Debug)]
pub struct CustomField {
    pub id: ID,
    pub key: String,
    pub label: String,
    pub kind: CustomFieldKind,
    pub choices: Vec<String>,
}

impl From<crm_core::fields::CustomField> for CustomField {
    fn from(f: crm_core::fields::CustomField) -> Self {
        Self { id: ID(f.id.to_string()), key: f.key, label: f.label, kind: f.kind.into(), choices: f.choices }
    }
}

/// A customer's value of a custom field (numbers and dates in canonical form).
#[derive(SimpleObject, Clone, Debug)]
pub struct CustomFieldValue {
    pub key: String,
    pub value: String,
}

/// Sets a custom field's value; null clears it.
#[derive(async_graphql::InputObject, Clone, Debug)]
pub struct CustomFieldInput {
    pub key: String,
    pub value: Option<String>,
}

pub(crate) fn field_changes(input: Option<Vec<CustomFieldInput>>) -> Vec<(String, Option<String>)> {
    input.unwrap_or_default().into_iter().map(|f| (f.key, f.value)).collect()
}

/// Which column of the file fills what: `name`, `phone`, `email`, `tag`, `responsible` (a
/// member's email), `field:<key>` (a custom field) or `skip`.
#[derive(async_graphql::InputObject, Clone, Debug)]
pub struct ColumnMapping {
    /// The column's header, as in the file.
    pub column: String,
    pub target: String,
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    Running,
    Done,
    Failed,
}

/// A row the import left out, and why.
#[derive(SimpleObject, Clone, Debug)]
pub struct ImportRejection {
    /// As a spreadsheet numbers it (the header is row 1).
    pub row: u32,
    pub reason: String,
}

/// A CSV import of customers: its progress while it runs, its report after.
#[derive(SimpleObject, Clone, Debug)]
pub struct CustomerImport {
    pub id: ID,
    pub dry_run: bool,
    pub status: ImportStatus,
    pub total: u32,
    pub processed: u32,
    /// Customers created (a dry run: that would be).
    pub created: u32,
    pub rejected: u32,
    pub rejections: Vec<ImportRejection>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<crm_core::imports::CustomerImport> for CustomerImport {
    fn from(i: crm_core::imports::CustomerImport) -> Self {
        use crm_core::imports::ImportStatus as S;
        Self {
            id: ID(i.id.to_string()),
            dry_run: i.dry_run,
            status: match i.status {
                S::Running => ImportStatus::Running,
                S::Done => ImportStatus::Done,
                S::Failed => ImportStatus::Failed,
            },
            total: i.total,
            processed: i.processed,
            created: i.created,
            rejected: i.rejections.len() as u32,
            rejections: i.rejections.into_iter().map(|r| ImportRejection { row: r.row, reason: r.reason }).collect(),
            error: i.error,
            created_at: i.created_at,
            finished_at: i.finished_at,
        }
    }
}
