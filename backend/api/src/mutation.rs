use crate::card_types::{
    ColumnMapping, CustomField, CustomFieldInput, CustomFieldKind, CustomerImport, CustomerMerge, Note, field_changes,
};
use crate::context::{client_address, principal, services};
use crate::error::ApiResult;
use crate::inbox_types::{Channel, Conversation, Message as InboxMessage};
use crate::query::{parse_id, parse_tenant};
use crate::types::*;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use crm_core::services::{CompanyPatch, TaskInput};
use crm_core::services::{
    CustomerInput, CustomerPatch, MetaInput, OutgoingFile, PbxServerInput, RegistrationInput, SignUp,
    TrunkInput as DomainTrunkInput,
};
use crm_core::{ApiTokenId, ConnectionId, ConversationId, CustomerId, PbxServerId, TaskId, TrunkId, UserId};

#[derive(Default)]
pub struct Mutation;

#[derive(InputObject)]
pub struct SignUpInput {
    /// The company's name.
    pub company: String,
    pub name: String,
    pub email: String,
    /// 10 to 256 characters.
    pub password: String,
    /// ISO 3166 code of the country whose local phone format staff type, e.g. "UZ".
    pub default_country: String,
    /// IANA time zone where the company's days begin, e.g. "Asia/Tashkent" (default UTC).
    pub time_zone: Option<String>,
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    pub name: String,
    /// In any common local or international format; stored as E.164.
    #[graphql(default)]
    pub phones: Vec<String>,
    #[graphql(default)]
    pub emails: Vec<String>,
    #[graphql(default)]
    pub tags: Vec<String>,
    pub custom_fields: Option<Vec<CustomFieldInput>>,
    pub responsible_user_id: Option<ID>,
}

#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub name: Option<String>,
    pub phones: Option<Vec<String>>,
    pub emails: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// The fields given are set (a null value clears one); others stay.
    pub custom_fields: Option<Vec<CustomFieldInput>>,
    /// null clears it; leaving it out keeps it.
    pub responsible_user_id: MaybeUndefined<ID>,
}

/// A task made by hand.
#[derive(InputObject)]
pub struct CreateTaskInput {
    pub title: String,
    pub customer_id: Option<ID>,
    /// Leave out for the company's queue.
    pub assignee_id: Option<ID>,
    pub due_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct TrunkInput {
    pub name: String,
    /// IP addresses or networks its calls come from (your Kerio Control's public address).
    pub sources: Vec<String>,
    /// Numbers it delivers, in any common format; stored as E.164.
    #[graphql(default)]
    pub numbers: Vec<String>,
    pub default_caller_id: Option<String>,
    /// Where outbound calls go: Kerio Control's (or the provider's) SIP address, `ip` or `ip:port`.
    pub address: Option<String>,
    /// Digest credentials the trunk must present with its calls (optional; never shown again).
    pub username: Option<String>,
    pub password: Option<String>,
    #[graphql(default = true)]
    pub qualify: bool,
    /// Register to the trunk's address with these (a provider that wants REGISTER); kept alive.
    pub registration: Option<TrunkRegistrationInput>,
}

/// A Facebook page's Messenger credentials, from the Meta app's settings.
#[derive(InputObject)]
pub struct MessengerInput {
    pub name: String,
    pub page_id: String,
    /// Stored encrypted; never shown again.
    pub page_access_token: String,
    /// Signs Meta's webhooks; stored encrypted.
    pub app_secret: String,
    /// What Meta presents when it checks the webhook address; stored hashed.
    pub verify_token: String,
}

#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    Image,
    Document,
}

/// A file to send, by an address the platform can fetch it from.
#[derive(InputObject)]
pub struct FileInput {
    pub kind: FileKind,
    pub url: String,
    pub name: Option<String>,
}

/// An Instagram professional account linked to a Facebook page.
#[derive(InputObject)]
pub struct InstagramInput {
    pub name: String,
    /// The Instagram professional account's id.
    pub account_id: String,
    /// Facebook login: the linked page's access token. Instagram login: the account's
    /// Instagram user access token. Stored encrypted.
    pub access_token: String,
    /// The app's secret (Instagram login: the Instagram app secret): it signs the webhooks.
    pub app_secret: String,
    pub verify_token: String,
    /// Which of Meta's two Instagram APIs the account is connected through.
    #[graphql(default_with = "InstagramLogin::Facebook")]
    pub login: InstagramLogin,
}

/// Meta's two ways to message as an Instagram professional account.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum InstagramLogin {
    /// The Instagram API with Facebook login: through the linked Facebook page (graph.facebook.com).
    Facebook,
    /// The Instagram API with Instagram login: no Facebook page needed (graph.instagram.com).
    Instagram,
}

/// An Asterisk the company runs for its calls, reached over ARI.
#[derive(InputObject)]
pub struct AsteriskServerInput {
    pub name: String,
    /// Asterisk's HTTP address, `http(s)://host:port`.
    pub ari_url: String,
    pub username: String,
    /// Stored encrypted; never shown again.
    pub password: String,
    /// The ARI application the CRM connects as (the one the dialplan's `Stasis()` names).
    pub app: String,
}

#[derive(InputObject)]
pub struct TrunkRegistrationInput {
    pub username: String,
    /// Stored encrypted; never shown again.
    pub password: String,
    /// The registrar's SIP domain, when it differs from the trunk's address.
    pub domain: Option<String>,
    /// Registration lifetime to ask for (60 to 86400 s; 600 by default).
    pub expires_secs: Option<u32>,
}

impl From<TrunkInput> for DomainTrunkInput {
    fn from(i: TrunkInput) -> Self {
        Self {
            name: i.name,
            sources: i.sources,
            numbers: i.numbers,
            default_caller_id: i.default_caller_id,
            address: i.address,
            username: i.username,
            password: i.password,
            qualify: i.qualify,
            registration: i.registration.map(|r| RegistrationInput {
                username: r.username,
                password: r.password,
                domain: r.domain,
                expires_secs: r.expires_secs,
            }),
        }
    }
}

#[Object(name = "BaseMutation")]
impl Mutation {
    /// Creates a company and its owner, and signs the owner in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> ApiResult<AuthPayload> {
        let tokens = services(ctx)
            .sign_up(SignUp {
                company: input.company,
                name: input.name,
                email: input.email,
                password: input.password,
                default_country: input.default_country,
                time_zone: input.time_zone,
            })
            .await?;
        Ok(tokens.into())
    }

    /// Signs in. With several companies, `companyId` picks one (default: the first joined).
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        company_id: Option<ID>,
    ) -> ApiResult<AuthPayload> {
        let tenant = parse_tenant(company_id)?;
        let tokens = services(ctx).login(&email, &password, tenant, &client_address(ctx)).await?;
        Ok(tokens.into())
    }

    /// Exchanges a refresh token for new tokens. Each refresh token works once.
    async fn refresh_session(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<AuthPayload> {
        Ok(services(ctx).refresh_session(&refresh_token).await?.into())
    }

    /// Ends the current session: its refresh token and access tokens stop working.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        services(ctx).logout(principal(ctx)?).await?;
        Ok(true)
    }

    /// Adds a person to the company (owners and admins).
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        email: String,
        name: String,
        role: RoleGql,
    ) -> ApiResult<Invitation> {
        let invited = services(ctx).invite_user(principal(ctx)?, &email, &name, role.into()).await?;
        Ok(Invitation { user: invited.member.into(), invite_token: invited.invite_token })
    }

    /// Sets a password for an invited person and signs them in.
    async fn accept_invite(&self, ctx: &Context<'_>, invite_token: String, password: String) -> ApiResult<AuthPayload> {
        Ok(services(ctx).accept_invite(&invite_token, &password).await?.into())
    }

    async fn update_user_role(&self, ctx: &Context<'_>, user_id: ID, role: RoleGql) -> ApiResult<User> {
        let user: UserId = parse_id("userId", &user_id)?;
        Ok(services(ctx).update_user_role(principal(ctx)?, user, role.into()).await?.into())
    }

    /// Changes the company's name, phone country, time zone, or how many days call recordings
    /// are kept (0: for ever; older ones are deleted and marked on their calls). Owners and admins.
    async fn update_company(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        default_country: Option<String>,
        time_zone: Option<String>,
        recording_retention_days: Option<u32>,
    ) -> ApiResult<Company> {
        let recording_retention_days = recording_retention_days.map(|d| (d > 0).then_some(d));
        let patch = CompanyPatch { name, default_country, time_zone, recording_retention_days };
        Ok(services(ctx).update_company(principal(ctx)?, patch).await?.into())
    }

    /// The caller's own switch: while away they keep their chats but are given no new ones.
    async fn set_away(&self, ctx: &Context<'_>, away: bool) -> ApiResult<User> {
        Ok(services(ctx).set_away(principal(ctx)?, away).await?.into())
    }

    /// Creates an API token for an integration. Scopes: customers:read, customers:write, users:read.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        scopes: Vec<String>,
    ) -> ApiResult<CreatedApiToken> {
        let created = services(ctx).create_api_token(principal(ctx)?, &name, scopes).await?;
        Ok(CreatedApiToken { api_token: created.token.into(), secret: created.plaintext })
    }

    /// Revokes an API token; it stops working on the next request.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ApiToken> {
        let id: ApiTokenId = parse_id("id", &id)?;
        Ok(services(ctx).revoke_api_token(principal(ctx)?, id).await?.into())
    }

    /// Adds a SIP trunk (owners and admins). A number can belong to one trunk only.
    async fn create_trunk(&self, ctx: &Context<'_>, input: TrunkInput) -> ApiResult<Trunk> {
        Ok(services(ctx).create_trunk(principal(ctx)?, input.into()).await?.into())
    }

    /// Replaces a trunk's settings.
    async fn update_trunk(&self, ctx: &Context<'_>, id: ID, input: TrunkInput) -> ApiResult<Trunk> {
        let id: TrunkId = parse_id("id", &id)?;
        Ok(services(ctx).update_trunk(principal(ctx)?, id, input.into()).await?.into())
    }

    async fn delete_trunk(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: TrunkId = parse_id("id", &id)?;
        services(ctx).delete_trunk(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Connects a Telegram bot (owners and admins): we check the token and set the bot's
    /// webhook to this server. The token is stored encrypted and never shown again.
    async fn connect_telegram(&self, ctx: &Context<'_>, name: String, bot_token: String) -> ApiResult<Channel> {
        Ok(services(ctx).connect_telegram(principal(ctx)?, &name, bot_token.into()).await?.into())
    }

    /// Connects a Facebook page for Messenger (owners and admins). Then enter the channel's
    /// webhook address and the verify token in the Meta app.
    async fn connect_messenger(&self, ctx: &Context<'_>, input: MessengerInput) -> ApiResult<Channel> {
        let input = MetaInput {
            name: input.name,
            account_id: input.page_id,
            account_field: "pageId",
            access_token: input.page_access_token.into(),
            token_field: "pageAccessToken",
            instagram_login: false,
            app_secret: input.app_secret.into(),
            verify_token: input.verify_token.into(),
        };
        let kind = crm_core::inbox::ChannelKind::Messenger;
        Ok(services(ctx).connect_meta(principal(ctx)?, kind, input).await?.into())
    }

    /// Connects an Instagram professional account, through its linked Facebook page (Facebook
    /// login, the default) or on its own (Instagram login). Meta's webhook delivers the
    /// account's messages; the token sends replies. Owners and admins.
    async fn connect_instagram(&self, ctx: &Context<'_>, input: InstagramInput) -> ApiResult<Channel> {
        let input = MetaInput {
            name: input.name,
            account_id: input.account_id,
            account_field: "accountId",
            access_token: input.access_token.into(),
            token_field: "accessToken",
            instagram_login: input.login == InstagramLogin::Instagram,
            app_secret: input.app_secret.into(),
            verify_token: input.verify_token.into(),
        };
        let kind = crm_core::inbox::ChannelKind::Instagram;
        Ok(services(ctx).connect_meta(principal(ctx)?, kind, input).await?.into())
    }

    async fn disconnect_channel(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: ConnectionId = parse_id("id", &id)?;
        services(ctx).disconnect_channel(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Replies in a conversation with a text, a file (an image or a document, by its public
    /// address), or both (Telegram: the text becomes the caption). The reply is queued and
    /// sent (retried when the platform is away or busy); its `status` becomes SENT, or FAILED
    /// with the platform's reason.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        text: Option<String>,
        file: Option<FileInput>,
    ) -> ApiResult<InboxMessage> {
        let id: ConversationId = parse_id("conversationId", &conversation_id)?;
        let file = file.map(|f| OutgoingFile {
            kind: match f.kind {
                FileKind::Image => "image",
                FileKind::Document => "file",
            },
            url: f.url,
            name: f.name,
        });
        Ok(services(ctx).send_message(principal(ctx)?, id, text.as_deref(), file).await?.into())
    }

    /// Adds a canned reply (owners and admins).
    async fn create_canned_reply(
        &self,
        ctx: &Context<'_>,
        title: String,
        text: String,
    ) -> ApiResult<crate::inbox_types::CannedReply> {
        Ok(services(ctx).create_canned_reply(principal(ctx)?, &title, &text).await?.into())
    }

    async fn delete_canned_reply(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: crm_core::CannedReplyId = parse_id("id", &id)?;
        services(ctx).delete_canned_reply(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Gives a conversation to a user, or (without one) back to nobody.
    async fn assign_conversation(&self, ctx: &Context<'_>, id: ID, user_id: Option<ID>) -> ApiResult<Conversation> {
        let id: ConversationId = parse_id("id", &id)?;
        let user: Option<UserId> = user_id.map(|u| parse_id("userId", &u)).transpose()?;
        Ok(services(ctx).assign_conversation(principal(ctx)?, id, user).await?.into())
    }

    async fn close_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let id: ConversationId = parse_id("id", &id)?;
        let status = crm_core::inbox::ConversationStatus::Closed;
        Ok(services(ctx).set_conversation_status(principal(ctx)?, id, status).await?.into())
    }

    async fn reopen_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let id: ConversationId = parse_id("id", &id)?;
        let status = crm_core::inbox::ConversationStatus::Open;
        Ok(services(ctx).set_conversation_status(principal(ctx)?, id, status).await?.into())
    }

    /// Everything in the conversation so far counts as read by the caller.
    async fn mark_conversation_read(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let id: ConversationId = parse_id("id", &id)?;
        Ok(services(ctx).mark_conversation_read(principal(ctx)?, id).await?.into())
    }

    /// Registers the company's own Asterisk (owners and admins): a CRM worker connects to its
    /// ARI, and the company's calls through it (and click-to-call) go that way.
    async fn add_asterisk_server(&self, ctx: &Context<'_>, input: AsteriskServerInput) -> ApiResult<AsteriskServer> {
        let input = PbxServerInput {
            name: input.name,
            ari_url: input.ari_url,
            username: input.username,
            password: input.password.into(),
            app: input.app,
        };
        Ok(services(ctx).add_asterisk_server(principal(ctx)?, input).await?.into())
    }

    async fn remove_asterisk_server(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: PbxServerId = parse_id("id", &id)?;
        services(ctx).remove_asterisk_server(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Gives a user a SIP login with a generated password (admins, or users for themselves).
    /// Replaces the user's earlier login.
    async fn create_sip_extension(&self, ctx: &Context<'_>, user_id: ID) -> ApiResult<CreatedSipExtension> {
        let user: UserId = parse_id("userId", &user_id)?;
        let created = services(ctx).create_sip_account(principal(ctx)?, user).await?;
        Ok(CreatedSipExtension {
            extension: SipExtension::new(created.account, Vec::new()),
            password: created.password,
        })
    }

    /// Click-to-call: rings your own phone; when you pick up, calls the number (or the
    /// customer's first phone) through the trunk, and records the call.
    async fn dial(
        &self,
        ctx: &Context<'_>,
        number: Option<String>,
        customer_id: Option<ID>,
        trunk_id: Option<ID>,
    ) -> ApiResult<Call> {
        let customer = customer_id.map(|id| parse_id("customerId", &id)).transpose()?;
        let trunk = trunk_id.map(|id| parse_id("trunkId", &id)).transpose()?;
        Ok(services(ctx).dial(principal(ctx)?, number, customer, trunk).await?.into())
    }

    async fn create_customer(&self, ctx: &Context<'_>, input: CreateCustomerInput) -> ApiResult<Customer> {
        let responsible_user_id = input.responsible_user_id.map(|id| parse_id("responsibleUserId", &id)).transpose()?;
        let input = CustomerInput {
            name: input.name,
            phones: input.phones,
            emails: input.emails,
            tags: input.tags,
            fields: field_changes(input.custom_fields),
            responsible_user_id,
        };
        Ok(services(ctx).create_customer(principal(ctx)?, input).await?.into())
    }

    async fn update_customer(&self, ctx: &Context<'_>, id: ID, input: UpdateCustomerInput) -> ApiResult<Customer> {
        let id: CustomerId = parse_id("id", &id)?;
        let responsible_user_id = match input.responsible_user_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(user) => Some(Some(parse_id("responsibleUserId", &user)?)),
        };
        let patch = CustomerPatch {
            name: input.name,
            phones: input.phones,
            emails: input.emails,
            tags: input.tags,
            fields: field_changes(input.custom_fields),
            responsible_user_id,
        };
        Ok(services(ctx).update_customer(principal(ctx)?, id, patch).await?.into())
    }

    /// Deletes a customer (owners and admins). Returns the deleted customer.
    async fn delete_customer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Customer> {
        let id: CustomerId = parse_id("id", &id)?;
        Ok(services(ctx).delete_customer(principal(ctx)?, id).await?.into())
    }

    /// Merges `mergedId` into `keptId`: calls, conversations, messenger identities, tasks and
    /// notes move over, phones, emails and tags are added, and the merged customer is deleted.
    /// The merge is recorded in the kept customer's `merges`.
    async fn merge_customers(&self, ctx: &Context<'_>, kept_id: ID, merged_id: ID) -> ApiResult<CustomerMerge> {
        let kept: CustomerId = parse_id("keptId", &kept_id)?;
        let merged: CustomerId = parse_id("mergedId", &merged_id)?;
        Ok(services(ctx).merge_customers(principal(ctx)?, kept, merged).await?.into())
    }

    /// Adds a field to the company's customer cards (owners and admins).
    async fn create_custom_field(
        &self,
        ctx: &Context<'_>,
        key: String,
        label: String,
        kind: CustomFieldKind,
        choices: Option<Vec<String>>,
    ) -> ApiResult<CustomField> {
        let choices = choices.unwrap_or_default();
        let field = services(ctx).create_custom_field(principal(ctx)?, &key, &label, kind.into(), &choices).await?;
        Ok(field.into())
    }

    async fn delete_custom_field(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let id: crm_core::FieldId = parse_id("id", &id)?;
        services(ctx).delete_custom_field(principal(ctx)?, id).await?;
        Ok(true)
    }

    /// Imports customers from CSV text (comma or semicolon separated, a header row first), with
    /// each column mapped. Every row is checked like `createCustomer`; rows that fail, or whose
    /// phone another customer has, are reported, not imported. `dryRun` only checks. Returns at
    /// once: follow `customerImport(id)` for progress. Owners and admins.
    async fn import_customers(
        &self,
        ctx: &Context<'_>,
        csv: String,
        mapping: Vec<ColumnMapping>,
        dry_run: Option<bool>,
    ) -> ApiResult<CustomerImport> {
        let dry_run = dry_run.unwrap_or(false);
        let mapping: Vec<(String, String)> = mapping.into_iter().map(|m| (m.column, m.target)).collect();
        Ok(services(ctx).import_customers(principal(ctx)?, &csv, &mapping, dry_run).await?.into())
    }

    /// All customers as a CSV file; returns a short-lived download link.
    async fn export_customers(&self, ctx: &Context<'_>) -> ApiResult<String> {
        Ok(services(ctx).export_customers(principal(ctx)?).await?)
    }

    /// Adds a note to the customer's timeline.
    async fn add_note(&self, ctx: &Context<'_>, customer_id: ID, text: String) -> ApiResult<Note> {
        let customer: CustomerId = parse_id("customerId", &customer_id)?;
        Ok(services(ctx).add_note(principal(ctx)?, customer, &text).await?.into())
    }

    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> ApiResult<Task> {
        let input = TaskInput {
            title: input.title,
            customer_id: input.customer_id.map(|id| parse_id("customerId", &id)).transpose()?,
            assignee_id: input.assignee_id.map(|id| parse_id("assigneeId", &id)).transpose()?,
            due_at: input.due_at,
        };
        Ok(services(ctx).create_task(principal(ctx)?, input).await?.into())
    }

    /// Marks a task done, or with `done: false` not done again.
    async fn complete_task(&self, ctx: &Context<'_>, id: ID, #[graphql(default = true)] done: bool) -> ApiResult<Task> {
        let id: TaskId = parse_id("id", &id)?;
        Ok(services(ctx).complete_task(principal(ctx)?, id, done).await?.into())
    }
}
