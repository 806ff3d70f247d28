//! The one place tenant-owned rows are read and written: every statement here filters by,
//! or writes, `self.tenant`. On Postgres the transaction also carries `app.tenant_id`, so
//! row-level security would stop a statement that forgot it.
use crate::convert::{self, db_err};
use crate::entities::*;
use crate::inbox;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_core::calls::{Call, CallQuery};
use crm_core::inbox::{CannedReply, ChannelConnection, Conversation, ConversationStatus, Message, OutboxItem};
use crm_core::pbx::PbxServer;
use crm_core::ports::{
    Account, ApiToken, Customer, CustomerQuery, Invitation, Member, Page, Session, Tenant, TenantTx,
};
use crm_core::tasks::Task;
use crm_core::telephony::{SipAccount, Trunk};
use crm_core::{
    ApiTokenId, CallId, CannedReplyId, ConnectionId, ConversationId, CustomerId, Error, InvitationId, MessageId,
    PbxServerId, Result, Role, SessionId, TaskId, TenantId, TrunkId, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::collections::HashMap;
use uuid::Uuid;

pub struct SqlTenantTx {
    txn: DatabaseTransaction,
    tenant: TenantId,
}

impl SqlTenantTx {
    pub fn new(txn: DatabaseTransaction, tenant: TenantId) -> Self {
        Self { txn, tenant }
    }

    fn t(&self) -> Uuid {
        self.tenant.0
    }

    async fn phones_of(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>> {
        let rows = customer_phones::Entity::find()
            .filter(customer_phones::Column::TenantId.eq(self.t()))
            .filter(customer_phones::Column::CustomerId.is_in(ids.iter().copied()))
            .order_by_asc(customer_phones::Column::Position)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut map: HashMap<Uuid, Vec<String>> = HashMap::new();
        for row in rows {
            map.entry(row.customer_id).or_default().push(row.e164);
        }
        Ok(map)
    }

    /// One page of `select`, newest first by its UUIDv7 `id`, after the cursor, with the total
    /// when asked for.
    async fn page<E>(
        &self,
        select: Select<E>,
        id: E::Column,
        after: Option<Uuid>,
        first: u64,
        with_total: bool,
    ) -> Result<Page<E::Model>>
    where
        E: EntityTrait,
        E::Model: Send + Sync,
    {
        let total = match with_total {
            true => Some(select.clone().count(&self.txn).await.map_err(db_err)?),
            false => None,
        };
        let select = match after {
            Some(after) => select.filter(id.lt(after)),
            None => select,
        };
        let mut items = select.order_by_desc(id).limit(first + 1).all(&self.txn).await.map_err(db_err)?;
        let has_next = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(Page { items, has_next, total })
    }

    async fn numbers_of(&self, trunks: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>> {
        let rows = trunk_numbers::Entity::find()
            .filter(trunk_numbers::Column::TenantId.eq(self.t()))
            .filter(trunk_numbers::Column::TrunkId.is_in(trunks.iter().copied()))
            .order_by_asc(trunk_numbers::Column::E164)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut map: HashMap<Uuid, Vec<String>> = HashMap::new();
        for row in rows {
            map.entry(row.trunk_id).or_default().push(row.e164);
        }
        Ok(map)
    }

    async fn write_phones(&self, customer: &Customer) -> Result<()> {
        customer_phones::Entity::delete_many()
            .filter(customer_phones::Column::TenantId.eq(self.t()))
            .filter(customer_phones::Column::CustomerId.eq(customer.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if customer.phones.is_empty() {
            return Ok(());
        }
        let rows = customer.phones.iter().enumerate().map(|(position, e164)| customer_phones::ActiveModel {
            tenant_id: Set(self.t()),
            customer_id: Set(customer.id.0),
            position: Set(position as i32),
            e164: Set(e164.clone()),
        });
        customer_phones::Entity::insert_many(rows).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn write_numbers(&self, trunk: &Trunk) -> Result<()> {
        trunk_numbers::Entity::delete_many()
            .filter(trunk_numbers::Column::TenantId.eq(self.t()))
            .filter(trunk_numbers::Column::TrunkId.eq(trunk.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if trunk.numbers.is_empty() {
            return Ok(());
        }
        let rows = trunk.numbers.iter().map(|e164| trunk_numbers::ActiveModel {
            tenant_id: Set(self.t()),
            trunk_id: Set(trunk.id.0),
            e164: Set(e164.clone()),
        });
        trunk_numbers::Entity::insert_many(rows).exec(&self.txn).await.map_err(|e| match db_err(e) {
            Error::Conflict(_) => Error::Conflict("one of these numbers is already delivered by another trunk".into()),
            other => other,
        })?;
        Ok(())
    }

    fn trunk_row(&self, trunk: &Trunk) -> trunks::ActiveModel {
        trunks::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(trunk.id.0),
            name: Set(trunk.name.clone()),
            sources: Set(trunk.sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")),
            default_caller_id: Set(trunk.default_caller_id.clone()),
            address: Set(trunk.address.map(|a| a.to_string())),
            username: Set(trunk.credentials.as_ref().map(|(u, _)| u.clone())),
            ha1: Set(trunk.credentials.as_ref().map(|(_, h)| h.clone())),
            reg_username: Set(trunk.registration.as_ref().map(|r| r.username.clone())),
            reg_password: Set(trunk.registration.as_ref().map(|r| r.sealed_password.clone())),
            reg_domain: Set(trunk.registration.as_ref().and_then(|r| r.domain.clone())),
            reg_expires: Set(trunk.registration.as_ref().map(|r| r.expires_secs as i32)),
            qualify: Set(trunk.qualify),
            created_at: Set(trunk.created_at),
            updated_at: Set(trunk.updated_at),
        }
    }

    fn customer(&self, m: customers::Model, phones: Vec<String>) -> Customer {
        Customer {
            id: CustomerId(m.id),
            tenant_id: self.tenant,
            name: m.name,
            phones,
            responsible_user_id: m.responsible_user_id.map(UserId),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[async_trait]
impl TenantTx for SqlTenantTx {
    fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.txn.commit().await.map_err(db_err)
    }

    async fn insert_account(&mut self, account: &Account) -> Result<()> {
        let row = accounts::ActiveModel {
            id: Set(account.id.0),
            email: Set(account.email.to_lowercase()),
            name: Set(account.name.clone()),
            password_hash: Set(account.password_hash.clone()),
            created_at: Set(account.created_at),
        };
        accounts::Entity::insert(row).exec(&self.txn).await.map_err(|e| match db_err(e) {
            Error::Conflict(_) => Error::Conflict("an account with this email already exists".into()),
            other => other,
        })?;
        Ok(())
    }

    async fn set_password(&mut self, id: UserId, hash: &str) -> Result<()> {
        accounts::Entity::update_many()
            .col_expr(accounts::Column::PasswordHash, Expr::value(hash.to_owned()))
            .filter(accounts::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_tenant(&mut self, tenant: &Tenant) -> Result<()> {
        if tenant.id != self.tenant {
            return Err(Error::internal("insert_tenant for another tenant"));
        }
        let row = tenants::ActiveModel {
            id: Set(tenant.id.0),
            name: Set(tenant.name.clone()),
            default_country: Set(tenant.default_country.clone()),
            created_at: Set(tenant.created_at),
        };
        tenants::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn get_tenant(&mut self) -> Result<Tenant> {
        let row = tenants::Entity::find_by_id(self.t()).one(&self.txn).await.map_err(db_err)?;
        row.map(convert::tenant).ok_or(Error::NotFound)
    }

    async fn insert_member(&mut self, user: UserId, role: Role) -> Result<()> {
        let row = memberships::ActiveModel {
            tenant_id: Set(self.t()),
            user_id: Set(user.0),
            role: Set(role.as_str().to_owned()),
            created_at: Set(Utc::now()),
        };
        memberships::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn member(&mut self, user: UserId) -> Result<Option<Member>> {
        let row = memberships::Entity::find_by_id((self.t(), user.0)).one(&self.txn).await.map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let account = accounts::Entity::find_by_id(user.0).one(&self.txn).await.map_err(db_err)?;
        let account = account.ok_or_else(|| Error::internal("membership without account"))?;
        Ok(Some(Member {
            account: convert::account(account),
            tenant_id: self.tenant,
            role: row.role.parse()?,
            joined_at: row.created_at,
        }))
    }

    async fn role_of(&mut self, user: UserId) -> Result<Option<Role>> {
        let row = memberships::Entity::find_by_id((self.t(), user.0)).one(&self.txn).await.map_err(db_err)?;
        row.map(|m| m.role.parse()).transpose()
    }

    async fn members(&mut self) -> Result<Vec<Member>> {
        let rows = memberships::Entity::find()
            .filter(memberships::Column::TenantId.eq(self.t()))
            .order_by_asc(memberships::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let accounts: HashMap<Uuid, accounts::Model> = accounts::Entity::find()
            .filter(accounts::Column::Id.is_in(rows.iter().map(|r| r.user_id)))
            .all(&self.txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        rows.into_iter()
            .map(|row| {
                let account =
                    accounts.get(&row.user_id).cloned().ok_or_else(|| Error::internal("membership without account"))?;
                Ok(Member {
                    account: convert::account(account),
                    tenant_id: self.tenant,
                    role: row.role.parse()?,
                    joined_at: row.created_at,
                })
            })
            .collect()
    }

    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()> {
        memberships::Entity::update_many()
            .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
            .filter(memberships::Column::TenantId.eq(self.t()))
            .filter(memberships::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_session(&mut self, session: &Session) -> Result<()> {
        let row = sessions::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(session.id.0),
            user_id: Set(session.user_id.0),
            token_hash: Set(session.token_hash.clone()),
            expires_at: Set(session.expires_at),
            revoked_at: Set(session.revoked_at),
            created_at: Set(Utc::now()),
        };
        sessions::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn session(&mut self, id: SessionId) -> Result<Option<Session>> {
        let row = sessions::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        Ok(row.map(convert::session))
    }

    async fn session_role(&mut self, id: SessionId, user: UserId) -> Result<Option<Role>> {
        use memberships::Column as M;
        use sessions::Column as S;
        let query = Query::select()
            .column((memberships::Entity, M::Role))
            .from(sessions::Entity)
            .inner_join(
                memberships::Entity,
                Expr::col((memberships::Entity, M::TenantId))
                    .equals((sessions::Entity, S::TenantId))
                    .and(Expr::col((memberships::Entity, M::UserId)).equals((sessions::Entity, S::UserId))),
            )
            .and_where(Expr::col((sessions::Entity, S::TenantId)).eq(self.t()))
            .and_where(Expr::col((sessions::Entity, S::Id)).eq(id.0))
            .and_where(Expr::col((sessions::Entity, S::UserId)).eq(user.0))
            .and_where(Expr::col((sessions::Entity, S::RevokedAt)).is_null())
            .to_owned();
        let row = self.txn.query_one(&query).await.map_err(db_err)?;
        let role: Option<String> = row.map(|r| r.try_get("", "role")).transpose().map_err(db_err)?;
        role.map(|r| r.parse()).transpose()
    }

    async fn rotate_session(
        &mut self,
        id: SessionId,
        expected: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::TokenHash, Expr::value(new_hash.to_owned()))
            .col_expr(sessions::Column::ExpiresAt, Expr::value(expires_at))
            .filter(sessions::Column::TenantId.eq(self.t()))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::TokenHash.eq(expected))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn revoke_session(&mut self, id: SessionId) -> Result<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(sessions::Column::TenantId.eq(self.t()))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_api_token(&mut self, token: &ApiToken) -> Result<()> {
        let row = api_tokens::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(token.id.0),
            name: Set(token.name.clone()),
            preview: Set(token.preview.clone()),
            token_hash: Set(token.token_hash.clone()),
            scopes: Set(token.scopes.join(" ")),
            created_by: Set(token.created_by.0),
            created_at: Set(token.created_at),
            last_used_at: Set(token.last_used_at),
            revoked_at: Set(token.revoked_at),
        };
        api_tokens::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn api_token(&mut self, id: ApiTokenId) -> Result<Option<ApiToken>> {
        let row = api_tokens::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        Ok(row.map(convert::api_token))
    }

    async fn api_tokens(&mut self) -> Result<Vec<ApiToken>> {
        let rows = api_tokens::Entity::find()
            .filter(api_tokens::Column::TenantId.eq(self.t()))
            .order_by_desc(api_tokens::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(convert::api_token).collect())
    }

    async fn touch_api_token(&mut self, id: ApiTokenId, at: DateTime<Utc>) -> Result<()> {
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::value(at))
            .filter(api_tokens::Column::TenantId.eq(self.t()))
            .filter(api_tokens::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_api_token(&mut self, id: ApiTokenId, at: DateTime<Utc>) -> Result<bool> {
        let exists = self.api_token(id).await?;
        let Some(token) = exists else { return Ok(false) };
        if token.revoked_at.is_none() {
            api_tokens::Entity::update_many()
                .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
                .filter(api_tokens::Column::TenantId.eq(self.t()))
                .filter(api_tokens::Column::Id.eq(id.0))
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(true)
    }

    async fn insert_invitation(&mut self, invitation: &Invitation) -> Result<()> {
        let row = invitations::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(invitation.id.0),
            user_id: Set(invitation.user_id.0),
            role: Set(invitation.role.as_str().to_owned()),
            token_hash: Set(invitation.token_hash.clone()),
            expires_at: Set(invitation.expires_at),
            accepted_at: Set(invitation.accepted_at),
            created_at: Set(Utc::now()),
        };
        invitations::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>> {
        let row = invitations::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        row.map(convert::invitation).transpose()
    }

    async fn accept_invitation(&mut self, id: InvitationId, at: DateTime<Utc>) -> Result<bool> {
        let result = invitations::Entity::update_many()
            .col_expr(invitations::Column::AcceptedAt, Expr::value(at))
            .filter(invitations::Column::TenantId.eq(self.t()))
            .filter(invitations::Column::Id.eq(id.0))
            .filter(invitations::Column::AcceptedAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_trunk(&mut self, trunk: &Trunk) -> Result<()> {
        trunks::Entity::insert(self.trunk_row(trunk)).exec(&self.txn).await.map_err(db_err)?;
        self.write_numbers(trunk).await
    }

    async fn update_trunk(&mut self, trunk: &Trunk) -> Result<()> {
        let result = trunks::Entity::update_many()
            .set(self.trunk_row(trunk))
            .filter(trunks::Column::TenantId.eq(self.t()))
            .filter(trunks::Column::Id.eq(trunk.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if result.rows_affected != 1 {
            return Err(Error::NotFound);
        }
        self.write_numbers(trunk).await
    }

    async fn delete_trunk(&mut self, id: TrunkId) -> Result<bool> {
        let result = trunks::Entity::delete_many()
            .filter(trunks::Column::TenantId.eq(self.t()))
            .filter(trunks::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn trunk(&mut self, id: TrunkId) -> Result<Option<Trunk>> {
        let row = trunks::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let numbers = self.numbers_of(&[row.id]).await?.remove(&row.id).unwrap_or_default();
        convert::trunk(row, numbers).map(Some)
    }

    async fn trunks(&mut self) -> Result<Vec<Trunk>> {
        let rows = trunks::Entity::find()
            .filter(trunks::Column::TenantId.eq(self.t()))
            .order_by_asc(trunks::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut numbers = self.numbers_of(&ids).await?;
        rows.into_iter()
            .map(|row| {
                let n = numbers.remove(&row.id).unwrap_or_default();
                convert::trunk(row, n)
            })
            .collect()
    }

    async fn put_sip_account(&mut self, account: &SipAccount) -> Result<()> {
        sip_accounts::Entity::delete_many()
            .filter(sip_accounts::Column::TenantId.eq(self.t()))
            .filter(sip_accounts::Column::UserId.eq(account.user_id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        let row = sip_accounts::ActiveModel {
            tenant_id: Set(self.t()),
            user_id: Set(account.user_id.0),
            username: Set(account.username.clone()),
            ha1: Set(account.ha1.clone()),
            created_at: Set(account.created_at),
        };
        sip_accounts::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn sip_accounts(&mut self) -> Result<Vec<SipAccount>> {
        let rows = sip_accounts::Entity::find()
            .filter(sip_accounts::Column::TenantId.eq(self.t()))
            .order_by_asc(sip_accounts::Column::Username)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(convert::sip_account).collect())
    }

    async fn insert_pbx_server(&mut self, server: &PbxServer) -> Result<()> {
        pbx_servers::Entity::insert(crate::pbx::server_row(server)).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn delete_pbx_server(&mut self, id: PbxServerId) -> Result<bool> {
        let result = pbx_servers::Entity::delete_many()
            .filter(pbx_servers::Column::TenantId.eq(self.t()))
            .filter(pbx_servers::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn pbx_servers(&mut self) -> Result<Vec<PbxServer>> {
        let rows = pbx_servers::Entity::find()
            .filter(pbx_servers::Column::TenantId.eq(self.t()))
            .order_by_asc(pbx_servers::Column::Id)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(crate::pbx::server).collect())
    }

    async fn insert_connection(&mut self, connection: &ChannelConnection) -> Result<()> {
        inbox::insert_connection(&self.txn, connection).await
    }

    async fn delete_connection(&mut self, id: ConnectionId) -> Result<bool> {
        inbox::delete_connection(&self.txn, self.t(), id).await
    }

    async fn connection(&mut self, id: ConnectionId) -> Result<Option<ChannelConnection>> {
        Ok(inbox::connections(&self.txn, self.t(), Some(id)).await?.pop())
    }

    async fn connections(&mut self) -> Result<Vec<ChannelConnection>> {
        inbox::connections(&self.txn, self.t(), None).await
    }

    async fn finish_update(&mut self, connection: ConnectionId, key: &str, outcome: &str) -> Result<()> {
        inbox::finish_update(&self.txn, self.t(), connection, key, outcome).await
    }

    async fn identity_owner(&mut self, kind: &str, external_id: &str) -> Result<Option<CustomerId>> {
        inbox::identity_owner(&self.txn, self.t(), kind, external_id).await
    }

    async fn insert_identity(
        &mut self,
        kind: &str,
        external_id: &str,
        customer: CustomerId,
        username: Option<&str>,
    ) -> Result<()> {
        inbox::insert_identity(&self.txn, self.t(), kind, external_id, customer, username).await
    }

    async fn conversation_by_thread(&mut self, connection: ConnectionId, thread: &str) -> Result<Option<Conversation>> {
        inbox::conversation_by_thread(&self.txn, self.t(), connection, thread).await
    }

    async fn conversation(&mut self, id: ConversationId) -> Result<Option<Conversation>> {
        inbox::conversation_by_id(&self.txn, self.t(), id).await
    }

    async fn conversations(
        &mut self,
        status: Option<ConversationStatus>,
        assignee: Option<Option<UserId>>,
        limit: u64,
    ) -> Result<Vec<Conversation>> {
        inbox::conversations_of(&self.txn, self.t(), status, assignee, limit).await
    }

    async fn insert_conversation(&mut self, conversation: &Conversation) -> Result<()> {
        inbox::insert_conversation(&self.txn, conversation).await
    }

    async fn update_conversation(&mut self, conversation: &Conversation) -> Result<()> {
        inbox::update_conversation(&self.txn, self.t(), conversation).await
    }

    async fn insert_message(&mut self, message: &Message) -> Result<bool> {
        inbox::insert_message(&self.txn, message).await
    }

    async fn update_message(&mut self, message: &Message) -> Result<()> {
        inbox::update_message(&self.txn, self.t(), message).await
    }

    async fn message(&mut self, id: MessageId) -> Result<Option<Message>> {
        inbox::message_by_id(&self.txn, self.t(), id).await
    }

    async fn messages(&mut self, conversation: ConversationId, limit: u64) -> Result<Vec<Message>> {
        inbox::messages_of(&self.txn, self.t(), conversation, limit).await
    }

    async fn mark_read(&mut self, conversation: ConversationId, user: UserId, at: DateTime<Utc>) -> Result<()> {
        inbox::mark_read(&self.txn, self.t(), conversation, user, at).await
    }

    async fn unread(&mut self, conversation: ConversationId, user: UserId) -> Result<u64> {
        inbox::unread(&self.txn, self.t(), conversation, user).await
    }

    async fn open_load(&mut self) -> Result<Vec<(UserId, u64)>> {
        inbox::open_load(&self.txn, self.t()).await
    }

    async fn insert_canned_reply(&mut self, reply: &CannedReply) -> Result<()> {
        inbox::insert_canned_reply(&self.txn, reply).await
    }

    async fn delete_canned_reply(&mut self, id: CannedReplyId) -> Result<bool> {
        inbox::delete_canned_reply(&self.txn, self.t(), id).await
    }

    async fn canned_replies(&mut self) -> Result<Vec<CannedReply>> {
        inbox::canned_replies_of(&self.txn, self.t()).await
    }

    async fn put_outbox(&mut self, item: &OutboxItem) -> Result<()> {
        inbox::put_outbox(&self.txn, item).await
    }

    async fn claim_outbox(&mut self, message: MessageId, seen: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool> {
        inbox::claim_outbox(&self.txn, self.t(), message, seen, until).await
    }

    async fn outbox_before(
        &mut self,
        conversation: ConversationId,
        message: MessageId,
    ) -> Result<Option<DateTime<Utc>>> {
        inbox::outbox_before(&self.txn, self.t(), conversation, message).await
    }

    async fn delete_outbox(&mut self, message: MessageId) -> Result<()> {
        inbox::delete_outbox(&self.txn, self.t(), message).await
    }

    async fn insert_call(&mut self, call: &Call) -> Result<()> {
        if call.tenant_id != self.tenant {
            return Err(Error::internal("insert_call for another tenant"));
        }
        calls::Entity::insert(convert::call_row(call)).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn update_call(&mut self, call: &Call) -> Result<()> {
        let result = calls::Entity::update_many()
            .set(convert::call_row(call))
            .filter(calls::Column::TenantId.eq(self.t()))
            .filter(calls::Column::Id.eq(call.id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        if result.rows_affected == 1 { Ok(()) } else { Err(Error::NotFound) }
    }

    async fn call(&mut self, id: CallId) -> Result<Option<Call>> {
        let row = calls::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        row.map(convert::call).transpose()
    }

    async fn calls(&mut self, query: &CallQuery) -> Result<Page<Call>> {
        let f = &query.filter;
        let mut select = calls::Entity::find().filter(calls::Column::TenantId.eq(self.t()));
        if let Some(direction) = f.direction {
            select = select.filter(calls::Column::Direction.eq(direction.as_str()));
        }
        if let Some(status) = f.status {
            select = select.filter(calls::Column::Status.eq(status.as_str()));
        }
        if let Some(user) = f.user_id {
            select = select.filter(calls::Column::UserId.eq(user.0));
        }
        if let Some(customer) = f.customer_id {
            select = select.filter(calls::Column::CustomerId.eq(customer.0));
        }
        if let Some(from) = f.started_from {
            select = select.filter(calls::Column::StartedAt.gte(from));
        }
        if let Some(before) = f.started_before {
            select = select.filter(calls::Column::StartedAt.lt(before));
        }
        let page =
            self.page(select, calls::Column::Id, query.after.map(|a| a.0), query.first, query.with_total).await?;
        let items = page.items.into_iter().map(convert::call).collect::<Result<_>>()?;
        Ok(Page { items, has_next: page.has_next, total: page.total })
    }

    async fn customer_by_phone(&mut self, e164: &str) -> Result<Option<Customer>> {
        let row = customer_phones::Entity::find()
            .filter(customer_phones::Column::TenantId.eq(self.t()))
            .filter(customer_phones::Column::E164.eq(e164))
            .order_by_asc(customer_phones::Column::CustomerId)
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        match row {
            Some(row) => TenantTx::customer(self, CustomerId(row.customer_id)).await,
            None => Ok(None),
        }
    }

    async fn insert_task(&mut self, task: &Task) -> Result<()> {
        let row = tasks::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(task.id.0),
            kind: Set(task.kind.clone()),
            title: Set(task.title.clone()),
            customer_id: Set(task.customer_id.map(|c| c.0)),
            call_id: Set(task.call_id.map(|c| c.0)),
            assignee_id: Set(task.assignee_id.map(|u| u.0)),
            due_at: Set(task.due_at),
            done_at: Set(task.done_at),
            created_at: Set(task.created_at),
        };
        tasks::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn tasks(&mut self, open_only: bool) -> Result<Vec<Task>> {
        let mut select = tasks::Entity::find().filter(tasks::Column::TenantId.eq(self.t()));
        if open_only {
            select = select.filter(tasks::Column::DoneAt.is_null());
        }
        let rows = select.order_by_asc(tasks::Column::DueAt).limit(500).all(&self.txn).await.map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|m| Task {
                id: TaskId(m.id),
                kind: m.kind,
                title: m.title,
                customer_id: m.customer_id.map(CustomerId),
                call_id: m.call_id.map(CallId),
                assignee_id: m.assignee_id.map(UserId),
                due_at: m.due_at,
                done_at: m.done_at,
                created_at: m.created_at,
            })
            .collect())
    }

    async fn close_callbacks(&mut self, customer: CustomerId, at: DateTime<Utc>) -> Result<u64> {
        let result = tasks::Entity::update_many()
            .col_expr(tasks::Column::DoneAt, Expr::value(at))
            .filter(tasks::Column::TenantId.eq(self.t()))
            .filter(tasks::Column::CustomerId.eq(customer.0))
            .filter(tasks::Column::Kind.eq("callback"))
            .filter(tasks::Column::DoneAt.is_null())
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }

    async fn insert_customer(&mut self, customer: &Customer) -> Result<()> {
        let row = customers::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(customer.id.0),
            name: Set(customer.name.clone()),
            responsible_user_id: Set(customer.responsible_user_id.map(|u| u.0)),
            created_at: Set(customer.created_at),
            updated_at: Set(customer.updated_at),
        };
        customers::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        self.write_phones(customer).await
    }

    async fn update_customer(&mut self, customer: &Customer) -> Result<()> {
        let found = customers::Entity::find_by_id((self.t(), customer.id.0)).one(&self.txn).await.map_err(db_err)?;
        let mut row = found.ok_or(Error::NotFound)?.into_active_model();
        row.name = Set(customer.name.clone());
        row.responsible_user_id = Set(customer.responsible_user_id.map(|u| u.0));
        row.updated_at = Set(customer.updated_at);
        customers::Entity::update(row).exec(&self.txn).await.map_err(db_err)?;
        self.write_phones(customer).await
    }

    async fn delete_customer(&mut self, id: CustomerId) -> Result<bool> {
        let result = customers::Entity::delete_many()
            .filter(customers::Column::TenantId.eq(self.t()))
            .filter(customers::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        let row = customers::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let phones = self.phones_of(&[row.id]).await?.remove(&row.id).unwrap_or_default();
        Ok(Some(SqlTenantTx::customer(self, row, phones)))
    }

    async fn customers(&mut self, query: &CustomerQuery) -> Result<Page<Customer>> {
        let mut select = customers::Entity::find().filter(customers::Column::TenantId.eq(self.t()));
        if let Some(search) = &query.search {
            let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let mut any = Condition::any().add(
                Expr::expr(Func::lower(Expr::col(customers::Column::Name)))
                    .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
            );
            if let Some(phone) = &query.phone {
                any = any.add(
                    customers::Column::Id.in_subquery(
                        Query::select()
                            .column(customer_phones::Column::CustomerId)
                            .from(customer_phones::Entity)
                            .and_where(customer_phones::Column::TenantId.eq(self.t()))
                            .and_where(customer_phones::Column::E164.eq(phone.clone()))
                            .to_owned(),
                    ),
                );
            }
            select = select.filter(any);
        }
        let Page { items: rows, has_next, total } =
            self.page(select, customers::Column::Id, query.after.map(|a| a.0), query.first, query.with_total).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut phones = self.phones_of(&ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let p = phones.remove(&row.id).unwrap_or_default();
                SqlTenantTx::customer(self, row, p)
            })
            .collect();
        Ok(Page { items, has_next, total })
    }
}
