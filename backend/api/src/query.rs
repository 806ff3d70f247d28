use crate::context::{principal, services};
use crate::error::{ApiResult, bad_id};
use crate::types::*;
use async_graphql::InputObject;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use crm_core::calls::{CallFilter, CallQuery};
use crm_core::ports::CustomerQuery;
use crm_core::{CallId, CustomerId, TenantId};

#[derive(Default)]
pub struct Query;

pub type CustomerConnection = Connection<String, Customer, CustomerConnectionFields, EmptyFields>;
pub type CallConnection = Connection<String, Call, CallConnectionFields, EmptyFields>;

#[derive(InputObject, Default)]
pub struct CallFilterInput {
    pub direction: Option<CallDirectionGql>,
    pub status: Option<CallStatusGql>,
    pub user_id: Option<ID>,
    pub customer_id: Option<ID>,
    /// Calls that started at or after this time.
    pub started_from: Option<DateTime<Utc>>,
    /// Calls that started before this time.
    pub started_before: Option<DateTime<Utc>>,
}

pub(crate) fn parse_id<T: std::str::FromStr>(field: &'static str, id: &ID) -> ApiResult<T> {
    id.parse::<T>().map_err(|_| bad_id(field))
}

#[Object(name = "BaseQuery")]
impl Query {
    /// The signed-in person and their company.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<Me> {
        let (member, tenant) = services(ctx).me(principal(ctx)?).await?;
        Ok(Me { user: member.into(), company: tenant.into() })
    }

    /// The company's members.
    async fn users(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        let members = services(ctx).users(principal(ctx)?).await?;
        Ok(members.into_iter().map(User::from).collect())
    }

    /// The company's API tokens (owners and admins).
    async fn api_tokens(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiToken>> {
        let tokens = services(ctx).api_tokens(principal(ctx)?).await?;
        Ok(tokens.into_iter().map(ApiToken::from).collect())
    }

    /// What an API token can be allowed (`createApiToken(scopes:)`).
    async fn api_token_scopes(&self) -> Vec<&'static str> {
        crm_core::auth::SCOPES.to_vec()
    }

    /// The company's Asterisk configuration, for companies that run Asterisk between Kerio
    /// Control and the CRM (owners and admins, signed in). The installation's own ARI
    /// credentials are not included.
    async fn asterisk_config(&self, ctx: &Context<'_>) -> ApiResult<Vec<ConfigFile>> {
        let files = services(ctx).asterisk_config(principal(ctx)?).await?;
        Ok(files.into_iter().map(|f| ConfigFile { path: f.path, content: f.content }).collect())
    }

    /// The ARI worker's link to Asterisk, when one runs in this server (owners and admins).
    async fn asterisk_status(&self, ctx: &Context<'_>) -> ApiResult<Option<AsteriskStatus>> {
        let status = services(ctx).pbx_link_status(principal(ctx)?)?;
        Ok(status.map(AsteriskStatus::from))
    }

    /// The company's connected messenger channels.
    async fn channels(&self, ctx: &Context<'_>) -> ApiResult<Vec<crate::inbox_types::Channel>> {
        let channels = services(ctx).channel_connections(principal(ctx)?).await?;
        Ok(channels.into_iter().map(Into::into).collect())
    }

    /// The company's canned replies, by title.
    async fn canned_replies(&self, ctx: &Context<'_>) -> ApiResult<Vec<crate::inbox_types::CannedReply>> {
        Ok(services(ctx).canned_replies(principal(ctx)?).await?.into_iter().map(Into::into).collect())
    }

    /// Conversations, most recent first: the caller's, unassigned ones, or all. Up to 100 at a
    /// time; `after` (a conversation's `cursor`) gives the ones after it.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "crate::inbox_types::ConversationScope::All")]
        scope: crate::inbox_types::ConversationScope,
        status: Option<crate::inbox_types::ConversationStatus>,
        #[graphql(default = 50)] first: u64,
        after: Option<String>,
    ) -> ApiResult<Vec<crate::inbox_types::Conversation>> {
        use crate::inbox_types::ConversationScope;
        let principal = principal(ctx)?;
        let assignee = match scope {
            ConversationScope::Mine => Some(Some(principal.user_id)),
            ConversationScope::Unassigned => Some(None),
            ConversationScope::All => None,
        };
        let list =
            services(ctx).conversations(principal, status.map(Into::into), assignee, first, after.as_deref()).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<crate::inbox_types::Conversation> {
        let id = parse_id("id", &id)?;
        Ok(services(ctx).conversation(principal(ctx)?, id).await?.into())
    }

    /// The company's own Asterisk servers and how their workers' links stand (owners and admins).
    async fn asterisk_servers(&self, ctx: &Context<'_>) -> ApiResult<Vec<AsteriskServer>> {
        let servers = services(ctx).asterisk_servers(principal(ctx)?).await?;
        Ok(servers.into_iter().map(AsteriskServer::from).collect())
    }

    /// The company's SIP trunks (owners and admins).
    async fn trunks(&self, ctx: &Context<'_>) -> ApiResult<Vec<Trunk>> {
        let services = services(ctx);
        let trunks = services.trunks(principal(ctx)?).await?;
        Ok(trunks
            .into_iter()
            .map(|t| {
                let (reachability, registration) =
                    (services.trunk_reachability(t.id), services.trunk_registration(t.id));
                Trunk::from(t).with_status(reachability, registration)
            })
            .collect())
    }

    /// SIP logins: all of the company's for admins, one's own for agents.
    async fn sip_extensions(&self, ctx: &Context<'_>) -> ApiResult<Vec<SipExtension>> {
        let services = services(ctx);
        let accounts = services.sip_accounts(principal(ctx)?).await?;
        Ok(accounts
            .into_iter()
            .map(|account| {
                let phones = services.registered_phones(&account);
                SipExtension::new(account, phones)
            })
            .collect())
    }

    /// Calls, newest first.
    async fn calls(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        filter: Option<CallFilterInput>,
    ) -> ApiResult<CallConnection> {
        let after = after.map(|cursor| parse_id::<CallId>("after", &ID(cursor))).transpose()?;
        let f = filter.unwrap_or_default();
        let filter = CallFilter {
            direction: f.direction.map(Into::into),
            status: f.status.map(Into::into),
            user_id: f.user_id.map(|id| parse_id("filter.userId", &id)).transpose()?,
            customer_id: f.customer_id.map(|id| parse_id("filter.customerId", &id)).transpose()?,
            started_from: f.started_from,
            started_before: f.started_before,
        };
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let query = CallQuery { first: u64::try_from(first).unwrap_or(0), after, filter, with_total };
        let page = services(ctx).calls(principal(ctx)?, query).await?;
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next,
            CallConnectionFields { total_count: page.total.unwrap_or_default() },
        );
        connection.edges.extend(page.items.into_iter().map(|c| Edge::new(c.id.to_string(), Call::from(c))));
        Ok(connection)
    }

    /// Tasks, soonest due first (open ones only, unless `open` is false).
    async fn tasks(&self, ctx: &Context<'_>, #[graphql(default = true)] open: bool) -> ApiResult<Vec<Task>> {
        Ok(services(ctx).tasks(principal(ctx)?, open).await?.into_iter().map(Task::from).collect())
    }

    /// Calls and chats from `from` to `to` (inclusive dates in the company's time zone; both
    /// default to today), with a series per day.
    async fn dashboard(
        &self,
        ctx: &Context<'_>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> ApiResult<crate::dashboard_types::Dashboard> {
        Ok(services(ctx).dashboard(principal(ctx)?, from, to).await?.into())
    }

    /// A CSV import of customers, while it runs and after.
    async fn customer_import(&self, ctx: &Context<'_>, id: ID) -> ApiResult<crate::card_types::CustomerImport> {
        let id: crm_core::ImportId = parse_id("id", &id)?;
        Ok(services(ctx).customer_import(principal(ctx)?, id).await?.into())
    }

    /// The fields the company added to its customer cards.
    async fn custom_fields(&self, ctx: &Context<'_>) -> ApiResult<Vec<crate::card_types::CustomField>> {
        Ok(services(ctx).custom_fields(principal(ctx)?).await?.into_iter().map(Into::into).collect())
    }

    /// Pairs of customers that share a phone or an email: candidates to merge.
    async fn duplicate_customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> ApiResult<Vec<crate::card_types::DuplicateSuggestion>> {
        let first = u64::try_from(first).unwrap_or(0);
        Ok(crate::card_types::duplicates(services(ctx).duplicates(principal(ctx)?, None, first).await?))
    }

    async fn call(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Call> {
        let id: CallId = parse_id("id", &id)?;
        Ok(services(ctx).call(principal(ctx)?, id).await?.into())
    }

    async fn customer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Customer> {
        crate::card_types::customer_and_timeline(ctx, parse_id("id", &id)?).await
    }

    /// Customers, newest first. `search` matches the beginning of the name or of any word in
    /// it, any phone (typed in any format), an email, or a messenger username; `tag` keeps
    /// those with the tag.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        search: Option<String>,
        tag: Option<String>,
    ) -> ApiResult<CustomerConnection> {
        let after = after.map(|cursor| parse_id::<CustomerId>("after", &ID(cursor))).transpose()?;
        // Counting is a query of its own: only when the client asks for totalCount.
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let first = u64::try_from(first).unwrap_or(0);
        let query = CustomerQuery { first, after, search, phone: None, tag, with_total };
        let page = services(ctx).customers(principal(ctx)?, query).await?;
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next,
            CustomerConnectionFields { total_count: page.total.unwrap_or_default() },
        );
        connection.edges.extend(page.items.into_iter().map(|c| Edge::new(c.id.to_string(), Customer::from(c))));
        Ok(connection)
    }
}

pub(crate) fn parse_tenant(id: Option<ID>) -> ApiResult<Option<TenantId>> {
    id.map(|id| parse_id("companyId", &id)).transpose()
}
