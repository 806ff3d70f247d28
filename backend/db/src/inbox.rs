//! The inbox's rows: connections, stored webhook payloads, identities, conversations,
//! messages, read marks and the outbox. Cross-tenant reads (webhooks, workers) say so through
//! their own row-level security settings; everything else filters by the tenant given.
use crate::convert::db_err;
use crate::database::set_local;
use crate::entities::*;
use chrono::{DateTime, Utc};
use crm_core::inbox::{
    Attachment, CannedReply, ChannelConnection, Conversation, ConversationStatus, InboundUpdate, Message,
    MessageDirection, OutboxItem,
};
use crm_core::{CannedReplyId, ConnectionId, ConversationId, CustomerId, MessageId, Result, TenantId, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

fn connection(m: channel_connections::Model) -> Result<ChannelConnection> {
    Ok(ChannelConnection {
        id: ConnectionId(m.id),
        tenant_id: TenantId(m.tenant_id),
        kind: m.kind.parse()?,
        name: m.name,
        external_id: m.external_id,
        external_name: m.external_name,
        sealed_secrets: m.secrets,
        webhook_secret_hash: m.webhook_secret_hash,
        created_at: m.created_at,
    })
}

fn update(m: inbound_updates::Model) -> InboundUpdate {
    InboundUpdate {
        tenant_id: TenantId(m.tenant_id),
        connection_id: ConnectionId(m.connection_id),
        external_key: m.external_key,
        payload: m.payload,
        received_at: m.received_at,
    }
}

fn conversation(m: conversations::Model) -> Result<Conversation> {
    Ok(Conversation {
        id: ConversationId(m.id),
        tenant_id: TenantId(m.tenant_id),
        connection_id: ConnectionId(m.connection_id),
        thread: m.thread,
        customer_id: CustomerId(m.customer_id),
        assignee_id: m.assignee_id.map(UserId),
        status: m.status.parse()?,
        blocked: m.blocked,
        last_message_at: m.last_message_at,
        last_inbound_at: m.last_inbound_at,
        created_at: m.created_at,
    })
}

fn conversation_row(c: &Conversation) -> conversations::ActiveModel {
    conversations::ActiveModel {
        tenant_id: Set(c.tenant_id.0),
        id: Set(c.id.0),
        connection_id: Set(c.connection_id.0),
        thread: Set(c.thread.clone()),
        customer_id: Set(c.customer_id.0),
        assignee_id: Set(c.assignee_id.map(|u| u.0)),
        status: Set(c.status.as_str().to_owned()),
        blocked: Set(c.blocked),
        last_message_at: Set(c.last_message_at),
        last_inbound_at: Set(c.last_inbound_at),
        created_at: Set(c.created_at),
    }
}

pub(crate) fn message(m: messages::Model) -> Result<Message> {
    let attachments: Vec<Attachment> = serde_json::from_str(&m.attachments).map_err(crm_core::Error::internal)?;
    Ok(Message {
        id: MessageId(m.id),
        tenant_id: TenantId(m.tenant_id),
        conversation_id: ConversationId(m.conversation_id),
        connection_id: ConnectionId(m.connection_id),
        direction: m.direction.parse()?,
        text: m.text,
        attachments,
        external_id: m.external_id,
        sender_user_id: m.sender_user_id.map(UserId),
        status: m.status.parse()?,
        error: m.error,
        created_at: m.created_at,
    })
}

fn message_row(m: &Message) -> messages::ActiveModel {
    messages::ActiveModel {
        tenant_id: Set(m.tenant_id.0),
        id: Set(m.id.0),
        conversation_id: Set(m.conversation_id.0),
        connection_id: Set(m.connection_id.0),
        direction: Set(m.direction.as_str().to_owned()),
        text: Set(m.text.clone()),
        attachments: Set(serde_json::to_string(&m.attachments).unwrap_or_else(|_| "[]".into())),
        external_id: Set(m.external_id.clone()),
        sender_user_id: Set(m.sender_user_id.map(|u| u.0)),
        status: Set(m.status.as_str().to_owned()),
        error: Set(m.error.clone()),
        fetch_pending: Set(
            m.attachments.iter().any(Attachment::pending) && m.direction == crm_core::inbox::MessageDirection::Inbound
        ),
        created_at: Set(m.created_at),
    }
}

fn outbox_item(m: outbox::Model) -> OutboxItem {
    OutboxItem {
        tenant_id: TenantId(m.tenant_id),
        message_id: MessageId(m.message_id),
        conversation_id: ConversationId(m.conversation_id),
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
    }
}

// Across tenants.

pub async fn connection_by_id(txn: &DatabaseTransaction, id: ConnectionId) -> Result<Option<ChannelConnection>> {
    set_local(txn, "app.channel_connection", id.to_string()).await.map_err(db_err)?;
    let row = channel_connections::Entity::find()
        .filter(channel_connections::Column::Id.eq(id.0))
        .one(txn)
        .await
        .map_err(db_err)?;
    row.map(connection).transpose()
}

/// One multi-row insert per tenant (row-level security checks each against its tenant).
pub async fn store_updates(txn: &DatabaseTransaction, updates: &[InboundUpdate]) -> Result<usize> {
    let mut tenants: Vec<TenantId> = updates.iter().map(|u| u.tenant_id).collect();
    tenants.sort_unstable_by_key(|t| t.0);
    tenants.dedup();
    let mut stored = 0;
    for tenant in tenants {
        set_local(txn, "app.tenant_id", tenant.to_string()).await.map_err(db_err)?;
        let rows = updates.iter().filter(|u| u.tenant_id == tenant).map(|u| inbound_updates::ActiveModel {
            tenant_id: Set(u.tenant_id.0),
            connection_id: Set(u.connection_id.0),
            external_key: Set(u.external_key.clone()),
            payload: Set(u.payload.clone()),
            received_at: Set(u.received_at),
            processed_at: Set(None),
            outcome: Set(None),
        });
        let inserted = inbound_updates::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    inbound_updates::Column::TenantId,
                    inbound_updates::Column::ConnectionId,
                    inbound_updates::Column::ExternalKey,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(db_err)?;
        stored += usize::try_from(inserted).unwrap_or(0);
    }
    Ok(stored)
}

pub async fn pending_updates(txn: &DatabaseTransaction, limit: u64) -> Result<Vec<InboundUpdate>> {
    set_local(txn, "app.inbox_worker", "on".into()).await.map_err(db_err)?;
    let rows = inbound_updates::Entity::find()
        .filter(inbound_updates::Column::ProcessedAt.is_null())
        .order_by_asc(inbound_updates::Column::ReceivedAt)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows.into_iter().map(update).collect())
}

pub async fn pending_fetches(txn: &DatabaseTransaction, limit: u64) -> Result<Vec<Message>> {
    set_local(txn, "app.inbox_worker", "on".into()).await.map_err(db_err)?;
    let rows = messages::Entity::find()
        .filter(messages::Column::FetchPending.eq(true))
        .order_by_asc(messages::Column::Id)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(message).collect()
}

pub async fn due_outbox(txn: &DatabaseTransaction, now: DateTime<Utc>, limit: u64) -> Result<Vec<OutboxItem>> {
    set_local(txn, "app.outbox_worker", "on".into()).await.map_err(db_err)?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows.into_iter().map(outbox_item).collect())
}

// Inside one tenant.

pub async fn insert_connection(txn: &DatabaseTransaction, c: &ChannelConnection) -> Result<()> {
    let row = channel_connections::ActiveModel {
        tenant_id: Set(c.tenant_id.0),
        id: Set(c.id.0),
        kind: Set(c.kind.as_str().to_owned()),
        name: Set(c.name.clone()),
        external_id: Set(c.external_id.clone()),
        external_name: Set(c.external_name.clone()),
        secrets: Set(c.sealed_secrets.clone()),
        webhook_secret_hash: Set(c.webhook_secret_hash.clone()),
        created_at: Set(c.created_at),
    };
    channel_connections::Entity::insert(row).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn delete_connection(txn: &DatabaseTransaction, t: Uuid, id: ConnectionId) -> Result<bool> {
    let result = channel_connections::Entity::delete_many()
        .filter(channel_connections::Column::TenantId.eq(t))
        .filter(channel_connections::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

pub async fn connections(
    txn: &DatabaseTransaction,
    t: Uuid,
    id: Option<ConnectionId>,
) -> Result<Vec<ChannelConnection>> {
    let mut select = channel_connections::Entity::find().filter(channel_connections::Column::TenantId.eq(t));
    if let Some(id) = id {
        select = select.filter(channel_connections::Column::Id.eq(id.0));
    }
    let rows = select.order_by_asc(channel_connections::Column::Id).all(txn).await.map_err(db_err)?;
    rows.into_iter().map(connection).collect()
}

/// Takes a stored payload for processing in this transaction: false when it is done, or when
/// another process holds it (Postgres: its row is locked until that transaction ends).
pub async fn claim_update(txn: &DatabaseTransaction, t: Uuid, c: ConnectionId, key: &str) -> Result<bool> {
    use sea_orm::ConnectionTrait;
    let backend = txn.get_database_backend();
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "SELECT 1 AS one FROM inbound_updates WHERE tenant_id = $1 AND connection_id = $2 AND external_key = $3
         AND processed_at IS NULL FOR UPDATE SKIP LOCKED"
    } else {
        // One process writes a SQLite file: nobody else can hold the row.
        "SELECT 1 AS one FROM inbound_updates WHERE tenant_id = ? AND connection_id = ? AND external_key = ?
         AND processed_at IS NULL"
    };
    let statement = sea_orm::Statement::from_sql_and_values(backend, sql, [t.into(), c.0.into(), key.into()]);
    let row = txn.query_one_raw(statement).await.map_err(db_err)?;
    Ok(row.is_some())
}

pub async fn finish_update(
    txn: &DatabaseTransaction,
    t: Uuid,
    c: ConnectionId,
    key: &str,
    outcome: &str,
) -> Result<()> {
    inbound_updates::Entity::update_many()
        .col_expr(inbound_updates::Column::ProcessedAt, Expr::value(Utc::now()))
        .col_expr(inbound_updates::Column::Outcome, Expr::value(outcome))
        .filter(inbound_updates::Column::TenantId.eq(t))
        .filter(inbound_updates::Column::ConnectionId.eq(c.0))
        .filter(inbound_updates::Column::ExternalKey.eq(key))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn identity_owner(txn: &DatabaseTransaction, t: Uuid, kind: &str, id: &str) -> Result<Option<CustomerId>> {
    let row =
        customer_identities::Entity::find_by_id((t, kind.to_owned(), id.to_owned())).one(txn).await.map_err(db_err)?;
    Ok(row.map(|r| CustomerId(r.customer_id)))
}

pub async fn insert_identity(
    txn: &DatabaseTransaction,
    t: Uuid,
    kind: &str,
    id: &str,
    customer: CustomerId,
    username: Option<&str>,
) -> Result<()> {
    let row = customer_identities::ActiveModel {
        tenant_id: Set(t),
        kind: Set(kind.to_owned()),
        external_id: Set(id.to_owned()),
        customer_id: Set(customer.0),
        username: Set(username.map(str::to_owned)),
    };
    customer_identities::Entity::insert(row).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn conversation_by_thread(
    txn: &DatabaseTransaction,
    t: Uuid,
    c: ConnectionId,
    thread: &str,
) -> Result<Option<Conversation>> {
    let row = conversations::Entity::find()
        .filter(conversations::Column::TenantId.eq(t))
        .filter(conversations::Column::ConnectionId.eq(c.0))
        .filter(conversations::Column::Thread.eq(thread))
        .one(txn)
        .await
        .map_err(db_err)?;
    row.map(conversation).transpose()
}

pub async fn conversation_by_id(
    txn: &DatabaseTransaction,
    t: Uuid,
    id: ConversationId,
) -> Result<Option<Conversation>> {
    let row = conversations::Entity::find_by_id((t, id.0)).one(txn).await.map_err(db_err)?;
    row.map(conversation).transpose()
}

pub async fn conversations_of(
    txn: &DatabaseTransaction,
    t: Uuid,
    status: Option<ConversationStatus>,
    assignee: Option<Option<UserId>>,
    before: Option<crm_core::cards::TimelineKey>,
    limit: u64,
) -> Result<Vec<Conversation>> {
    let mut select = conversations::Entity::find()
        .filter(conversations::Column::TenantId.eq(t))
        .filter(crate::cards::before_key(conversations::Column::LastMessageAt, conversations::Column::Id, before));
    if let Some(status) = status {
        select = select.filter(conversations::Column::Status.eq(status.as_str()));
    }
    match assignee {
        Some(Some(user)) => select = select.filter(conversations::Column::AssigneeId.eq(user.0)),
        Some(None) => select = select.filter(conversations::Column::AssigneeId.is_null()),
        None => {}
    }
    let rows = select
        .order_by_desc(conversations::Column::LastMessageAt)
        .order_by_desc(conversations::Column::Id)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.into_iter().map(conversation).collect()
}

pub async fn insert_conversation(txn: &DatabaseTransaction, c: &Conversation) -> Result<()> {
    conversations::Entity::insert(conversation_row(c)).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn update_conversation(txn: &DatabaseTransaction, t: Uuid, c: &Conversation) -> Result<()> {
    conversations::Entity::update_many()
        .set(conversation_row(c))
        .filter(conversations::Column::TenantId.eq(t))
        .filter(conversations::Column::Id.eq(c.id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn insert_message(txn: &DatabaseTransaction, m: &Message) -> Result<bool> {
    let inserted = messages::Entity::insert(message_row(m))
        .on_conflict(
            OnConflict::columns([
                messages::Column::TenantId,
                messages::Column::ConnectionId,
                messages::Column::Direction,
                messages::Column::ExternalId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    if inserted == 1 && m.direction == MessageDirection::Outbound {
        // The conversation's first reply, for the dashboard's first-response time.
        let sql = "UPDATE conversations SET first_reply_at = ?
                   WHERE tenant_id = ? AND id = ? AND (first_reply_at IS NULL OR first_reply_at > ?)";
        let values = vec![m.created_at.into(), m.tenant_id.0.into(), m.conversation_id.0.into(), m.created_at.into()];
        let backend = txn.get_database_backend();
        txn.execute_raw(crate::dashboard::statement(backend, sql, values)).await.map_err(db_err)?;
    }
    Ok(inserted == 1)
}

pub async fn update_message(txn: &DatabaseTransaction, t: Uuid, m: &Message) -> Result<()> {
    messages::Entity::update_many()
        .set(message_row(m))
        .filter(messages::Column::TenantId.eq(t))
        .filter(messages::Column::Id.eq(m.id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn message_by_id(txn: &DatabaseTransaction, t: Uuid, id: MessageId) -> Result<Option<Message>> {
    let row = messages::Entity::find_by_id((t, id.0)).one(txn).await.map_err(db_err)?;
    row.map(message).transpose()
}

pub async fn messages_of(txn: &DatabaseTransaction, t: Uuid, c: ConversationId, limit: u64) -> Result<Vec<Message>> {
    let mut rows = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(t))
        .filter(messages::Column::ConversationId.eq(c.0))
        .order_by_desc(messages::Column::Id)
        .limit(limit)
        .all(txn)
        .await
        .map_err(db_err)?;
    rows.reverse();
    rows.into_iter().map(message).collect()
}

pub async fn mark_read(
    txn: &DatabaseTransaction,
    t: Uuid,
    c: ConversationId,
    u: UserId,
    at: DateTime<Utc>,
) -> Result<()> {
    let row = conversation_reads::ActiveModel {
        tenant_id: Set(t),
        conversation_id: Set(c.0),
        user_id: Set(u.0),
        read_at: Set(at),
    };
    conversation_reads::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                conversation_reads::Column::TenantId,
                conversation_reads::Column::ConversationId,
                conversation_reads::Column::UserId,
            ])
            .update_column(conversation_reads::Column::ReadAt)
            .to_owned(),
        )
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn unread(txn: &DatabaseTransaction, t: Uuid, c: ConversationId, u: UserId) -> Result<u64> {
    let read_at = conversation_reads::Entity::find_by_id((t, c.0, u.0)).one(txn).await.map_err(db_err)?;
    let mut select = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(t))
        .filter(messages::Column::ConversationId.eq(c.0))
        .filter(messages::Column::Direction.eq("inbound"));
    if let Some(read) = read_at {
        select = select.filter(messages::Column::CreatedAt.gt(read.read_at));
    }
    select.count(txn).await.map_err(db_err)
}

pub async fn open_load(txn: &DatabaseTransaction, t: Uuid) -> Result<Vec<(UserId, u64)>> {
    let rows: Vec<(Option<Uuid>, i64)> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::AssigneeId)
        .column_as(conversations::Column::Id.count(), "n")
        .filter(conversations::Column::TenantId.eq(t))
        .filter(conversations::Column::Status.eq("open"))
        .filter(conversations::Column::AssigneeId.is_not_null())
        .group_by(conversations::Column::AssigneeId)
        .into_tuple()
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows.into_iter().filter_map(|(u, n)| Some((UserId(u?), u64::try_from(n).unwrap_or(0)))).collect())
}

pub async fn put_outbox(txn: &DatabaseTransaction, item: &OutboxItem) -> Result<()> {
    let row = outbox::ActiveModel {
        tenant_id: Set(item.tenant_id.0),
        message_id: Set(item.message_id.0),
        conversation_id: Set(item.conversation_id.0),
        attempts: Set(i32::try_from(item.attempts).unwrap_or(i32::MAX)),
        next_attempt_at: Set(item.next_attempt_at),
        last_error: Set(item.last_error.clone()),
    };
    outbox::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([outbox::Column::TenantId, outbox::Column::MessageId])
                .update_columns([outbox::Column::Attempts, outbox::Column::NextAttemptAt, outbox::Column::LastError])
                .to_owned(),
        )
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn claim_outbox(
    txn: &DatabaseTransaction,
    t: Uuid,
    m: MessageId,
    seen: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    let result = outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(until))
        .filter(outbox::Column::TenantId.eq(t))
        .filter(outbox::Column::MessageId.eq(m.0))
        .filter(outbox::Column::NextAttemptAt.eq(seen))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

pub async fn outbox_before(
    txn: &DatabaseTransaction,
    t: Uuid,
    c: ConversationId,
    m: MessageId,
) -> Result<Option<DateTime<Utc>>> {
    // Message ids are time-ordered (UUIDv7): a lower id was queued earlier.
    let row = outbox::Entity::find()
        .filter(outbox::Column::TenantId.eq(t))
        .filter(outbox::Column::ConversationId.eq(c.0))
        .filter(outbox::Column::MessageId.lt(m.0))
        .order_by_desc(outbox::Column::NextAttemptAt)
        .one(txn)
        .await
        .map_err(db_err)?;
    Ok(row.map(|r| r.next_attempt_at))
}

pub async fn delete_outbox(txn: &DatabaseTransaction, t: Uuid, m: MessageId) -> Result<()> {
    outbox::Entity::delete_many()
        .filter(outbox::Column::TenantId.eq(t))
        .filter(outbox::Column::MessageId.eq(m.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn insert_canned_reply(txn: &DatabaseTransaction, r: &CannedReply) -> Result<()> {
    let row = canned_replies::ActiveModel {
        tenant_id: Set(r.tenant_id.0),
        id: Set(r.id.0),
        title: Set(r.title.clone()),
        text: Set(r.text.clone()),
        created_at: Set(r.created_at),
    };
    canned_replies::Entity::insert(row).exec(txn).await.map_err(db_err)?;
    Ok(())
}

pub async fn delete_canned_reply(txn: &DatabaseTransaction, t: Uuid, id: CannedReplyId) -> Result<bool> {
    let result = canned_replies::Entity::delete_many()
        .filter(canned_replies::Column::TenantId.eq(t))
        .filter(canned_replies::Column::Id.eq(id.0))
        .exec(txn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected == 1)
}

pub async fn canned_replies_of(txn: &DatabaseTransaction, t: Uuid) -> Result<Vec<CannedReply>> {
    let rows = canned_replies::Entity::find()
        .filter(canned_replies::Column::TenantId.eq(t))
        .order_by_asc(canned_replies::Column::Title)
        .all(txn)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|m| CannedReply {
            id: CannedReplyId(m.id),
            tenant_id: TenantId(m.tenant_id),
            title: m.title,
            text: m.text,
            created_at: m.created_at,
        })
        .collect())
}
