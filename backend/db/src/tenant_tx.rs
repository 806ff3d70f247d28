//! The one place tenant-owned rows are read and written: every statement here filters by,
//! or writes, `self.tenant`. On Postgres the transaction also carries `app.tenant_id`, so
//! row-level security would stop a statement that forgot it.
use crate::convert::{self, db_err};
use crate::entities::*;
use crate::inbox;
use crate::positional::Positional;
use crate::search_floors::SearchFloors;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_core::ImportId;
use crm_core::calls::{Call, CallQuery};
use crm_core::cards::{Duplicate, Identity, Merge, Moved, Note, TimelineEntry, TimelineKey};
use crm_core::fields::CustomField;
use crm_core::imports::CustomerImport;
use crm_core::inbox::{CannedReply, ChannelConnection, Conversation, ConversationStatus, Message, OutboxItem};
use crm_core::pbx::PbxServer;
use crm_core::ports::{
    Account, ApiToken, Customer, CustomerQuery, Invitation, Member, Page, Session, Tenant, TenantTx,
};
use crm_core::tasks::Task;
use crm_core::telephony::{SipAccount, Trunk};
use crm_core::webhooks::{Delivery, Endpoint};
use crm_core::{
    ApiTokenId, CallId, CannedReplyId, ConnectionId, ConversationId, CustomerId, Error, InvitationId, MessageId,
    NoteId, PbxServerId, Result, Role, SessionId, TaskId, TenantId, TrunkId, UserId,
};
use crm_core::{DeliveryId, FieldId, WebhookId};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, FromQueryResult, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

pub struct SqlTenantTx {
    txn: DatabaseTransaction,
    tenant: TenantId,
    floors: Arc<SearchFloors>,
}

impl SqlTenantTx {
    pub fn new(txn: DatabaseTransaction, tenant: TenantId, floors: Arc<SearchFloors>) -> Self {
        Self { txn, tenant, floors }
    }

    fn t(&self) -> Uuid {
        self.tenant.0
    }

    async fn update_member(&self, user: UserId, column: memberships::Column, value: sea_orm::Value) -> Result<()> {
        memberships::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(memberships::Column::TenantId.eq(self.t()))
            .filter(memberships::Column::UserId.eq(user.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
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
        Positional<E::Model>: FromQueryResult + Send + Sync,
    {
        let total = match with_total {
            true => Some(select.clone().count(&self.txn).await.map_err(db_err)?),
            false => None,
        };
        let select = match after {
            Some(after) => select.filter(id.lt(after)),
            None => select,
        };
        let rows = select.order_by_desc(id).limit(first + 1).into_model::<Positional<E::Model>>().all(&self.txn);
        let mut items: Vec<E::Model> = rows.await.map_err(db_err)?.into_iter().map(|row| row.0).collect();
        let has_next = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(Page { items, has_next, total })
    }

    /// The id of the company's `RECENT`th newest customer before `after`, if it has that many.
    /// A first page's (no `after`) is kept a while per company (`SearchFloors`).
    async fn search_floor(&self, after: Option<Uuid>) -> Result<Option<Uuid>> {
        const RECENT: u64 = 1000;
        if after.is_none()
            && let Some(kept) = self.floors.get(self.tenant)
        {
            return Ok(kept);
        }
        let mut newest = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .filter(customers::Column::TenantId.eq(self.t()));
        if let Some(after) = after {
            newest = newest.filter(customers::Column::Id.lt(after));
        }
        let floor = newest
            .order_by_desc(customers::Column::Id)
            .offset(RECENT - 1)
            .limit(1)
            .into_tuple()
            .one(&self.txn)
            .await
            .map_err(db_err)?;
        if after.is_none() {
            self.floors.put(self.tenant, floor);
        }
        Ok(floor)
    }

    /// A text search's page from the company's newest customers alone (from its search floor
    /// on), when they hold a whole page of matches: then the page is the same as from all of
    /// them. A common word matches thousands of customers, and collecting and sorting all of
    /// them to keep the newest twenty is what made such a search slow; a rare one falls
    /// through to the index.
    async fn recent_matches(
        &self,
        select: Select<customers::Entity>,
        search: &str,
        after: Option<Uuid>,
        first: u64,
        limit: Option<u64>,
    ) -> Result<Option<Page<customers::Model>>> {
        let Some(floor) = self.search_floor(after).await? else { return Ok(None) };
        let ids = crate::cards::search_ids(self.t(), search, Some(floor), after, limit);
        let select = select.filter(customers::Column::Id.gte(floor)).filter(customers::Column::Id.in_subquery(ids));
        let page = self.page(select, customers::Column::Id, after, first, false).await?;
        Ok(page.has_next.then_some(page))
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

    fn customer(
        &self,
        m: customers::Model,
        crate::cards::Details { phones, emails, tags }: crate::cards::Details,
    ) -> Customer {
        // Written by us as a JSON object; anything else reads as no values rather than failing.
        let fields = serde_json::from_str(&m.fields).unwrap_or_default();
        Customer {
            fields,
            id: CustomerId(m.id),
            tenant_id: self.tenant,
            name: m.name,
            phones,
            emails,
            tags,
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

    fn end_read(self: Box<Self>) {
        // Dropping the transaction queues its rollback (sea-orm, then sqlx).
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
            time_zone: Set(tenant.time_zone.clone()),
            recording_retention_days: Set(tenant.recording_retention_days.map(|d| d as i32)),
        };
        tenants::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn get_tenant(&mut self) -> Result<Tenant> {
        let row = tenants::Entity::find_by_id(self.t()).one(&self.txn).await.map_err(db_err)?;
        row.map(convert::tenant).ok_or(Error::NotFound)
    }

    async fn update_tenant(&mut self, tenant: &Tenant) -> Result<()> {
        let found = tenants::Entity::find_by_id(self.t()).one(&self.txn).await.map_err(db_err)?;
        let mut row = found.ok_or(Error::NotFound)?.into_active_model();
        row.name = Set(tenant.name.clone());
        row.default_country = Set(tenant.default_country.clone());
        row.time_zone = Set(tenant.time_zone.clone());
        row.recording_retention_days = Set(tenant.recording_retention_days.map(|d| d as i32));
        tenants::Entity::update(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn insert_member(&mut self, user: UserId, role: Role) -> Result<()> {
        let row = memberships::ActiveModel {
            tenant_id: Set(self.t()),
            user_id: Set(user.0),
            role: Set(role.as_str().to_owned()),
            created_at: Set(Utc::now()),
            seen_at: Set(None),
            away: Set(false),
            routed_at: Set(None),
        };
        memberships::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn member(&mut self, user: UserId) -> Result<Option<Member>> {
        let row = memberships::Entity::find_by_id((self.t(), user.0)).one(&self.txn).await.map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let account = accounts::Entity::find_by_id(user.0).one(&self.txn).await.map_err(db_err)?;
        let account = account.ok_or_else(|| Error::internal("membership without account"))?;
        convert::member(self.tenant, row, account).map(Some)
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
                convert::member(self.tenant, row, account)
            })
            .collect()
    }

    async fn set_seen(&mut self, user: UserId, at: Option<DateTime<Utc>>) -> Result<()> {
        self.update_member(user, memberships::Column::SeenAt, at.into()).await
    }

    async fn set_away(&mut self, user: UserId, away: bool) -> Result<()> {
        self.update_member(user, memberships::Column::Away, away.into()).await
    }

    async fn set_routed(&mut self, user: UserId, at: DateTime<Utc>) -> Result<()> {
        self.update_member(user, memberships::Column::RoutedAt, Some(at).into()).await
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

    async fn claim_update(&mut self, connection: ConnectionId, key: &str) -> Result<bool> {
        inbox::claim_update(&self.txn, self.t(), connection, key).await
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
        before: Option<TimelineKey>,
        limit: u64,
    ) -> Result<Vec<Conversation>> {
        inbox::conversations_of(&self.txn, self.t(), status, assignee, before, limit).await
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
        Ok(rows.into_iter().map(convert::task).collect())
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
            fields: Set(serde_json::to_string(&customer.fields).map_err(Error::internal)?),
        };
        customers::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        self.write_phones(customer).await?;
        crate::cards::write_details(&self.txn, self.t(), customer).await
    }

    async fn update_customer(&mut self, customer: &Customer) -> Result<()> {
        let found = customers::Entity::find_by_id((self.t(), customer.id.0)).one(&self.txn).await.map_err(db_err)?;
        let mut row = found.ok_or(Error::NotFound)?.into_active_model();
        row.name = Set(customer.name.clone());
        row.responsible_user_id = Set(customer.responsible_user_id.map(|u| u.0));
        row.updated_at = Set(customer.updated_at);
        row.fields = Set(serde_json::to_string(&customer.fields).map_err(Error::internal)?);
        customers::Entity::update(row).exec(&self.txn).await.map_err(db_err)?;
        self.write_phones(customer).await?;
        crate::cards::write_details(&self.txn, self.t(), customer).await
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
        let Some(mut customer) = self.customer_head(id).await? else { return Ok(None) };
        let details = crate::cards::details_of(&self.txn, self.t(), &[id.0]).await?.remove(&id.0).unwrap_or_default();
        (customer.phones, customer.emails, customer.tags) = (details.phones, details.emails, details.tags);
        Ok(Some(customer))
    }

    async fn customer_head(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        let row = customers::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        Ok(row.map(|row| SqlTenantTx::customer(self, row, crate::cards::Details::default())))
    }

    async fn customers(&mut self, query: &CustomerQuery) -> Result<Page<Customer>> {
        let mut select = customers::Entity::find().filter(customers::Column::TenantId.eq(self.t()));
        // A search that reads as a phone looks up that phone alone.
        if let Some(phone) = &query.phone {
            select = select.filter(
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
        if let Some(tag) = &query.tag {
            select = select.filter(crate::cards::tag_condition(self.t(), tag));
        }
        let after = query.after.map(|a| a.0);
        let search = query.search.as_deref().filter(|_| query.phone.is_none());
        // Without a tag or a total to keep exact, the page's ids come from the index alone.
        let limit = (query.tag.is_none() && !query.with_total).then_some(query.first + 1);
        let recent = match search {
            Some(search) if !query.with_total => {
                self.recent_matches(select.clone(), search, after, query.first, limit).await?
            }
            _ => None,
        };
        let Page { items: rows, has_next, total } = match (recent, search) {
            (Some(page), _) => page,
            (None, Some(search)) => {
                let ids = crate::cards::search_ids(self.t(), search, None, after, limit);
                let select = select.filter(customers::Column::Id.in_subquery(ids));
                self.page(select, customers::Column::Id, after, query.first, query.with_total).await?
            }
            (None, None) => self.page(select, customers::Column::Id, after, query.first, query.with_total).await?,
        };
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut details = crate::cards::details_of(&self.txn, self.t(), &ids).await?;
        let items = rows
            .into_iter()
            .map(|row| {
                let d = details.remove(&row.id).unwrap_or_default();
                SqlTenantTx::customer(self, row, d)
            })
            .collect();
        Ok(Page { items, has_next, total })
    }

    async fn identities_of(&mut self, customer: CustomerId) -> Result<Vec<Identity>> {
        crate::cards::identities_of(&self.txn, self.t(), customer).await
    }

    async fn move_customer_records(&mut self, merged: CustomerId, kept: CustomerId) -> Result<Moved> {
        crate::cards::move_records(&self.txn, self.t(), merged, kept).await
    }

    async fn insert_merge(&mut self, merge: &Merge) -> Result<()> {
        crate::cards::insert_merge(&self.txn, self.t(), merge).await
    }

    async fn merges_into(&mut self, customer: CustomerId) -> Result<Vec<Merge>> {
        crate::cards::merges_into(&self.txn, self.t(), customer).await
    }

    async fn duplicates(&mut self, of: Option<CustomerId>, first: u64) -> Result<Vec<Duplicate>> {
        crate::cards::duplicates(&self.txn, self.t(), of, first).await
    }

    async fn insert_note(&mut self, note: &Note) -> Result<()> {
        crate::cards::insert_note(&self.txn, self.t(), note).await
    }

    async fn note(&mut self, id: NoteId) -> Result<Option<Note>> {
        crate::cards::note(&self.txn, self.t(), id).await
    }

    async fn timeline_entries(&mut self, entries: &[TimelineEntry]) -> Result<crm_core::cards::TimelineEntries> {
        crate::cards::timeline_entries(&self.txn, self.t(), entries).await
    }

    async fn timeline(
        &mut self,
        customer: CustomerId,
        before: Option<TimelineKey>,
        first: u64,
    ) -> Result<Vec<(TimelineKey, TimelineEntry)>> {
        crate::cards::timeline(&self.txn, self.t(), customer, before, first).await
    }

    async fn call_groups(&mut self, bounds: &[DateTime<Utc>]) -> Result<Vec<crm_core::dashboard::CallGroup>> {
        crate::dashboard::call_groups(&self.txn, self.t(), bounds).await
    }

    async fn message_groups(&mut self, bounds: &[DateTime<Utc>]) -> Result<Vec<crm_core::dashboard::MessageGroup>> {
        crate::dashboard::message_groups(&self.txn, self.t(), bounds).await
    }

    async fn open_callbacks(&mut self) -> Result<u64> {
        crate::dashboard::open_callbacks(&self.txn, self.t()).await
    }

    async fn open_conversations(&mut self, user: UserId) -> Result<(u64, u64)> {
        crate::dashboard::open_conversations(&self.txn, self.t(), user).await
    }

    async fn first_replies(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(u64, f64)> {
        crate::dashboard::first_replies(&self.txn, self.t(), from, to).await
    }

    async fn recordings_before(&mut self, before: DateTime<Utc>, limit: u64) -> Result<Vec<Call>> {
        let rows = calls::Entity::find()
            .filter(calls::Column::TenantId.eq(self.t()))
            .filter(calls::Column::RecordingKey.is_not_null())
            .filter(calls::Column::RecordingDeletedAt.is_null())
            .filter(calls::Column::StartedAt.lt(before))
            .order_by_asc(calls::Column::StartedAt)
            .limit(limit)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(convert::call).collect()
    }

    async fn save_import(&mut self, import: &CustomerImport) -> Result<()> {
        let row = customer_imports::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(import.id.0),
            dry_run: Set(import.dry_run),
            status: Set(import.status.as_str().to_owned()),
            total: Set(import.total as i32),
            processed: Set(import.processed as i32),
            created: Set(import.created as i32),
            rejections: Set(serde_json::to_string(&import.rejections).map_err(Error::internal)?),
            error: Set(import.error.clone()),
            user_id: Set(import.user_id.map(|u| u.0)),
            created_at: Set(import.created_at),
            finished_at: Set(import.finished_at),
            progressed_at: Set(Some(import.progressed_at)),
        };
        customer_imports::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    customer_imports::Column::TenantId,
                    customer_imports::Column::Id,
                ])
                .update_columns([
                    customer_imports::Column::Status,
                    customer_imports::Column::Processed,
                    customer_imports::Column::Created,
                    customer_imports::Column::Rejections,
                    customer_imports::Column::Error,
                    customer_imports::Column::FinishedAt,
                    customer_imports::Column::ProgressedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn import(&mut self, id: ImportId) -> Result<Option<CustomerImport>> {
        let row = customer_imports::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        row.map(|r| {
            Ok(CustomerImport {
                id: ImportId(r.id),
                dry_run: r.dry_run,
                status: r.status.parse()?,
                total: u32::try_from(r.total).unwrap_or(0),
                processed: u32::try_from(r.processed).unwrap_or(0),
                created: u32::try_from(r.created).unwrap_or(0),
                rejections: serde_json::from_str(&r.rejections).map_err(Error::internal)?,
                error: r.error,
                user_id: r.user_id.map(UserId),
                progressed_at: r.progressed_at.unwrap_or(r.created_at),
                created_at: r.created_at,
                finished_at: r.finished_at,
            })
        })
        .transpose()
    }

    async fn custom_fields(&mut self) -> Result<Vec<CustomField>> {
        let rows = custom_fields::Entity::find()
            .filter(custom_fields::Column::TenantId.eq(self.t()))
            .order_by_asc(custom_fields::Column::CreatedAt)
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(CustomField {
                    id: FieldId(r.id),
                    key: r.key,
                    label: r.label,
                    kind: r.kind.parse()?,
                    choices: serde_json::from_str(&r.choices).map_err(Error::internal)?,
                    created_at: r.created_at,
                })
            })
            .collect()
    }

    async fn insert_custom_field(&mut self, field: &CustomField) -> Result<()> {
        let row = custom_fields::ActiveModel {
            tenant_id: Set(self.t()),
            id: Set(field.id.0),
            key: Set(field.key.clone()),
            label: Set(field.label.clone()),
            kind: Set(field.kind.as_str().to_owned()),
            choices: Set(serde_json::to_string(&field.choices).map_err(Error::internal)?),
            created_at: Set(field.created_at),
        };
        custom_fields::Entity::insert(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn delete_custom_field(&mut self, id: FieldId) -> Result<bool> {
        let result = custom_fields::Entity::delete_many()
            .filter(custom_fields::Column::TenantId.eq(self.t()))
            .filter(custom_fields::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn insert_webhook(&mut self, endpoint: &Endpoint) -> Result<()> {
        crate::webhooks::insert_endpoint(&self.txn, endpoint).await
    }

    async fn update_webhook(&mut self, endpoint: &Endpoint) -> Result<()> {
        crate::webhooks::update_endpoint(&self.txn, endpoint).await
    }

    async fn delete_webhook(&mut self, id: WebhookId) -> Result<bool> {
        crate::webhooks::delete_endpoint(&self.txn, self.t(), id).await
    }

    async fn webhooks(&mut self) -> Result<Vec<Endpoint>> {
        crate::webhooks::endpoints(&self.txn, self.t()).await
    }

    async fn insert_delivery(&mut self, delivery: &Delivery) -> Result<()> {
        crate::webhooks::insert_delivery(&self.txn, delivery).await
    }

    async fn stage_event(&mut self, event: &crm_core::events::Event, now_ms: i64) -> Result<()> {
        crate::events::stage(&self.txn, event, now_ms).await
    }

    async fn claim_event(&mut self, id: Uuid, seen_ms: i64, until_ms: i64) -> Result<bool> {
        crate::events::claim(&self.txn, self.t(), id, seen_ms, until_ms).await
    }

    async fn update_delivery(&mut self, delivery: &Delivery) -> Result<()> {
        crate::webhooks::update_delivery(&self.txn, delivery).await
    }

    async fn delivery(&mut self, id: DeliveryId) -> Result<Option<Delivery>> {
        crate::webhooks::delivery_by_id(&self.txn, self.t(), id).await
    }

    async fn deliveries(&mut self, endpoint: WebhookId, first: u64) -> Result<Vec<Delivery>> {
        crate::webhooks::deliveries(&self.txn, self.t(), endpoint, first).await
    }

    async fn record_webhook_attempt(&mut self, id: WebhookId, ok: bool) -> Result<Option<u32>> {
        crate::webhooks::record_attempt(&self.txn, self.t(), id, ok).await
    }

    async fn switch_off_webhook(&mut self, id: WebhookId, reason: &str) -> Result<bool> {
        crate::webhooks::switch_off(&self.txn, self.t(), id, reason).await
    }

    async fn claim_delivery(&mut self, id: DeliveryId, seen: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool> {
        crate::webhooks::claim_delivery(&self.txn, self.t(), id, seen, until).await
    }

    async fn task(&mut self, id: TaskId) -> Result<Option<Task>> {
        let row = tasks::Entity::find_by_id((self.t(), id.0)).one(&self.txn).await.map_err(db_err)?;
        Ok(row.map(convert::task))
    }

    async fn update_task(&mut self, task: &Task) -> Result<()> {
        let found = tasks::Entity::find_by_id((self.t(), task.id.0)).one(&self.txn).await.map_err(db_err)?;
        let mut row = found.ok_or(Error::NotFound)?.into_active_model();
        row.title = Set(task.title.clone());
        row.customer_id = Set(task.customer_id.map(|c| c.0));
        row.assignee_id = Set(task.assignee_id.map(|u| u.0));
        row.due_at = Set(task.due_at);
        row.done_at = Set(task.done_at);
        tasks::Entity::update(row).exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }
}
